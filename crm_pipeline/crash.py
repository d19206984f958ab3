"""Fault injection for the restart tests: the named points where a run can be killed."""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)


def crash_point(name: str) -> None:
    """Fault injection for the restart tests: SIGKILL this process at the named point.

    Inert unless CRM_CRASH_AT names this point (e.g. `after:merge`, `ingest:RTL_ACCT_ZJ_20261124.dat`,
    `load:stg_account:2`). A kill, not an exception: nothing gets to clean up, as in a real crash.
    """
    if os.environ.get("CRM_CRASH_AT") == name:
        log.warning("CRM_CRASH_AT=%s: killing the process", name)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)
