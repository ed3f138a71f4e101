"""Shared fixtures for the Python suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aurora_db
import pytest


@pytest.fixture
def db(tmp_path: Path) -> Iterator[aurora_db.Aurora]:
    with aurora_db.open(str(tmp_path / "db")) as d:
        d.execute("schema { define collection users { email: String! @unique  name: String  age: Int @indexed } }")
        yield d
