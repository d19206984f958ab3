"""constraints.txt pins every requirement of setup.cfg inside the range setup.cfg allows.

The Makefile installs with `pip install -c constraints.txt`; a requirement missing from the
file would float to whatever is newest that day, and a pin outside its range would make
pip refuse the install. Both are caught here, without a network.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version and " " not in line, f"constraints.txt:{number}: {line!r}"
        key = canonicalize_name(name)
        assert key not in found, f"constraints.txt:{number}: {name} pinned twice"
        found[key] = version
    return found


def requirements() -> list[Requirement]:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    lines = setup["options"]["install_requires"].splitlines()
    for extra in ("test", "airflow"):
        lines += setup["options.extras_require"][extra].splitlines()
    return [Requirement(line) for line in lines if line.strip()]


def test_every_requirement_is_pinned_inside_its_range() -> None:
    pinned = pins()
    reqs = requirements()
    assert len(reqs) > 20  # the three lists were read
    for req in reqs:
        version = pinned.get(canonicalize_name(req.name))
        assert version is not None, f"{req.name} is not in constraints.txt: run make constraints"
        assert req.specifier.contains(version, prereleases=True), (
            f"constraints.txt pins {req.name}=={version}, outside setup.cfg's {req.specifier}"
        )
    for tool in ("pip", "setuptools", "wheel"):  # the venv's own tooling is pinned too
        assert tool in pinned


def test_the_makefile_installs_with_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -q -c $(CONSTRAINTS) -e '.[test,airflow]'" in makefile
    assert "CONSTRAINTS := constraints.txt" in makefile
    assert "\nconstraints:" in makefile
