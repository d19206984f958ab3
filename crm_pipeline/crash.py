"""Fault injection for the restart tests: the named points where a run can be killed."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)


def crash_point(name: str) -> None:
    """Fault injection for the restart tests: SIGKILL this process at the named point.

    Inert unless CRM_CRASH_AT names this point (e.g. `after:merge`, `ingest:RTL_ACCT_ZJ_20261124.dat`,
    `load:stg_account:2`). A kill, not an exception: nothing gets to clean up, as in a real crash.

    With CRM_CRASH_HOLD set to a file path, the process does not kill itself there: it writes
    that file (its pid) and blocks, so a test can kill the whole machine around it (every
    process of an Airflow Celery worker, tests/distributed) at exactly this point.
    """
    if os.environ.get("CRM_CRASH_AT") == name:
        hold = os.environ.get("CRM_CRASH_HOLD")
        if hold:
            log.warning("CRM_CRASH_AT=%s: holding here until killed (%s)", name, hold)
            Path(hold).write_text(str(os.getpid()))
            while True:
                time.sleep(60)
        log.warning("CRM_CRASH_AT=%s: killing the process", name)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)
