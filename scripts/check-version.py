#!/usr/bin/env python3
"""Checks that every package declares the one version of the workspace and prints it.

The source of truth is `[workspace.package] version` in the root Cargo.toml. Every crate
inherits it (so the C `aurora_version()` and UniFFI `auroraVersion()` report it), the wheel
takes it from Cargo (`dynamic = ["version"]` in pyproject.toml), and the files below must
repeat it. The built artifacts are checked against it by scripts/test-packages.sh.

    python3 scripts/check-version.py    # prints 0.1.0, or lists each mismatch and exits 1
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    version = cargo["workspace"]["package"]["version"]
    problems = []

    def expect(what: str, found: object) -> None:
        if found != version:
            problems.append(f"{what}: {found!r}, expected {version!r}")

    for member in cargo["workspace"]["members"]:
        package = tomllib.loads((ROOT / member / "Cargo.toml").read_text())["package"]
        if package.get("version") != {"workspace": True}:
            problems.append(f"{member}/Cargo.toml: set `version.workspace = true`")

    project = tomllib.loads((ROOT / "python/pyproject.toml").read_text())["project"]
    if "version" in project or "version" not in project.get("dynamic", []):
        problems.append('python/pyproject.toml: use `dynamic = ["version"]` (maturin reads Cargo.toml)')
    init = (ROOT / "python/python/aurora_db/__init__.py").read_text()
    m = re.search(r'^__version__ = "([^"]+)"$', init, re.M)
    expect("python/python/aurora_db/__init__.py __version__", m and m.group(1))

    expect("node/package.json", json.loads((ROOT / "node/package.json").read_text())["version"])
    lock = json.loads((ROOT / "node/package-lock.json").read_text())
    expect("node/package-lock.json", lock["version"])
    expect('node/package-lock.json packages[""]', lock["packages"][""]["version"])

    if problems:
        print("version mismatch:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
