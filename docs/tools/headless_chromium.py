"""Headless Chromium as every documentation tool and browser test starts it: offline, with
a throwaway profile, so a screenshot never depends on the network or on an earlier run.

Imported by docs/tools/*_screenshot.py and the tests that open pages in a browser
(tests/doc_tools.py loads the tools); Debian's `chromium` is installed by
.ci/install-chromium.sh.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# Headless, offline, throwaway: no GPU, no QUIC, no first-run UI, nothing phoned home.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


def _base(chromium: str, profile: Path, size: tuple[int, int]) -> list[str]:
    return [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
            f"--window-size={size[0]},{size[1]}"]  # fmt: skip


def chromium_command(chromium: str, profile: Path, size: tuple[int, int]) -> list[str]:
    """Headless Chromium with a new, empty profile, driven over the DevTools protocol on a
    loopback port it picks itself (written to DevToolsActivePort in the profile)."""
    return [*_base(chromium, profile, size), "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0", "about:blank"]  # fmt: skip


def one_shot_command(chromium: str, profile: Path, size: tuple[int, int], *args: str) -> list[str]:
    """Chromium for a single page and action, then exit: no DevTools port, `args` (e.g.
    `--dump-dom` or `--screenshot=FILE`, then the page's URL) at the end."""
    return [*_base(chromium, profile, size), *args]


def run_once(command: list[str], seconds: float = 180) -> str:
    """Run a one-shot command; its standard output (the DOM for --dump-dom). A failure
    raises with Chromium's own last words, which say why (a missing library, a bad URL)."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout
