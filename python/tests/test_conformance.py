"""Every vector of tests/conformance gives the identical result through Python."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import aurora_db
import pytest

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "conformance"


def load_cases() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for f in sorted(VECTORS.glob("*.json")):
        for case in json.loads(f.read_text())["cases"]:
            cases.append((f"{f.name}::{case['name']}", case))
    return cases


CASES = load_cases()


def check(expected: Any, actual: Any, path: str = "") -> None:
    if expected == "<any>":
        return
    if expected == "<string>":
        assert isinstance(actual, str), f"{path}: expected a string, got {actual!r}"
        return
    if expected == "<uuid>":
        assert isinstance(actual, str), f"{path}: expected a UUID, got {actual!r}"
        uuid.UUID(actual)
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        assert set(expected) == set(actual), f"{path}: keys differ: {sorted(expected)} vs {sorted(actual)}"
        for k in expected:
            check(expected[k], actual[k], f"{path}/{k}")
        return
    if isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (
            f"{path}: expected {expected!r}, got {actual!r}"
        )
        for i, (e, a) in enumerate(zip(expected, actual)):
            check(e, a, f"{path}/{i}")
        return
    # bool is an int in Python, and 20 == 20.0: compare types too, as the Rust runner does.
    assert type(expected) is type(actual) and expected == actual, f"{path}: expected {expected!r}, got {actual!r}"


def pointer(doc: Any, ptr: str) -> Any:
    for part in ptr.split("/")[1:]:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def test_there_are_enough_vectors() -> None:
    assert len(CASES) >= 80


@pytest.mark.parametrize("name,case", CASES, ids=[c[0] for c in CASES])
def test_vector(tmp_path: Path, name: str, case: dict[str, Any]) -> None:
    captured: dict[str, Any] = {}
    with aurora_db.open(str(tmp_path / "db")) as db:
        for i, step in enumerate(case["steps"]):
            variables = {**captured, **step.get("variables", {})}
            debug = bool(step.get("options", {}).get("debug_audit", False))
            op_name = step.get("options", {}).get("operation_name")
            if "expect_error" in step:
                exp = step["expect_error"]
                with pytest.raises(aurora_db.AuroraError) as info:
                    db.execute(step["aql"], variables, debug_audit=debug, operation_name=op_name)
                err = info.value
                if "code" in exp:
                    assert err.code == exp["code"], f"step {i}: {err}"
                if "line" in exp:
                    assert err.line == exp["line"], f"step {i}: {err}"
                if "column" in exp:
                    assert err.column == exp["column"], f"step {i}: {err}"
                if "message_contains" in exp:
                    assert exp["message_contains"] in str(err), f"step {i}: {err}"
                continue
            got = db.execute(step["aql"], variables, debug_audit=debug, operation_name=op_name)
            for var, ptr in step.get("capture", {}).items():
                captured[var] = pointer(got, ptr)
            if "expect" in step:
                check(step["expect"], got, f"step {i}")
