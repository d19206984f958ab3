"""Scripts (docs/tools/, bench/) loaded as modules by the tests that check them: they are
scripts, not a package, so they are loaded from their files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from common.paths import PROJECT_ROOT

TOOLS = PROJECT_ROOT / "docs" / "tools"


def load_script(path: Path, name: str) -> ModuleType:
    """The script at `path` as module `name` (loaded once per test session)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_tool(name: str) -> ModuleType:
    """docs/tools/{name}.py as module `name`."""
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))  # the tools import headless_chromium beside them
    return load_script(TOOLS / f"{name}.py", name)
