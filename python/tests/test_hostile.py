"""Every case of tests/hostile/ (see the README there) through ``db.execute``: each ends with
its expected outcome (the exception class of its code, ``code``, ``message_contains``, or the
exact result), inside its time bound, and the interpreter survives it.

Time: only the ``execute`` call is timed; ``max_ms`` is for release builds and is multiplied
by 20 when the extension is a debug build (``maturin develop``), as the Rust runner does. A
case over its bound runs once more on a fresh database and is judged by the faster run; it is
within its bound when its wall time or the process's CPU time (``time.process_time``, every
thread) is: on a loaded machine the wall time also counts waiting for a core, the CPU time
only the work the input caused.

Memory: tracemalloc sees only the Python heap, not the engine's, so the bound is on the
process's peak resident set instead: the kernel's high-water mark (``VmHWM``) is reset before
the call (``/proc/self/clear_refs``) and compared with the resident set before it. RSS counts
pages the allocator keeps after freeing, so the bound is generous: twice ``max_mb``. Where
``/proc`` cannot be used (not Linux) memory is not checked.

The variable nested 100,000 lists deep is built natively (a loop, no recursion): the binding
refuses it with ``ValidationError`` at its 64-level bound before the engine sees it, which is
the expected outcome, and Python frees the nesting without recursing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aurora_db
import pytest
from aurora_db import _native

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "hostile"
SCALE = 20 if _native.DEBUG_BUILD else 1
ERROR_CLASSES: dict[str, type[aurora_db.AuroraError]] = {
    "SYNTAX": aurora_db.AqlSyntaxError,
    "VALIDATION": aurora_db.ValidationError,
    "NOT_FOUND": aurora_db.NotFound,
    "TYPE_ERROR": aurora_db.SchemaTypeError,
    "LIMIT": aurora_db.LimitExceeded,
}


def load_cases() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for f in sorted(CORPUS.glob("*.json")):
        for case in json.loads(f.read_text())["cases"]:
            cases.append((f.name, case))
    return cases


CASES = load_cases()


def build_text(aql: str | list[dict[str, Any]]) -> str:
    """The AQL text of a case: a string, or parts to concatenate (see the corpus README)."""
    if isinstance(aql, str):
        return aql
    out = []
    for part in aql:
        if "text" in part:
            out.append(part["text"])
            continue
        r, n = part["repeat"], part["count"]
        if "{i" in r:
            out.extend(r.replace("{i+1}", str(i + 1)).replace("{i}", str(i)) for i in range(n))
        else:
            out.append(r * n)
    return "".join(out)


def build_variables(case: dict[str, Any]) -> dict[str, Any] | None:
    gen = case.get("variables_gen")
    if gen is None:
        variables: dict[str, Any] | None = case.get("variables")
        return variables
    if "list" in gen:
        return {gen["name"]: list(range(gen["list"]))}
    v: Any = 1
    for _ in range(gen["nest"]):
        v = [v]
    return {gen["name"]: v}


def status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def short(s: str) -> str:
    return s if len(s) <= 200 else f"{s[:200]}... ({len(s)} chars)"


def test_the_corpus_has_cases() -> None:
    assert len(CASES) >= 20, f"only {len(CASES)} hostile cases in {CORPUS}"


class Run:
    """One run of a case on a fresh database: its outcome, wall and CPU time, memory growth."""

    def __init__(self, case: dict[str, Any], path: Path) -> None:
        self.error: aurora_db.AuroraError | None = None
        self.result: Any = None
        with aurora_db.open(str(path)) as db:
            for statement in case.get("setup", []):
                db.execute(statement)
            text = build_text(case["aql"])
            variables = build_variables(case)
            rss_before = status_kib("VmRSS")
            measured = rss_before is not None and reset_peak_rss()
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                self.result = db.execute(text, variables)
            except aurora_db.AuroraError as e:
                self.error = e
            self.wall_ms = (time.perf_counter() - wall) * 1000
            self.cpu_ms = (time.process_time() - cpu) * 1000
            peak = status_kib("VmHWM")
            self.grown_mib = (peak - rss_before) / 1024 if measured and peak and rss_before else None
            # The database still answers after the case.
            db.execute("schema { define collection alive_after { a: Int } }")
            assert db.execute("query { alive_after { a } }") == {"alive_after": []}


def check_outcome(where: str, case: dict[str, Any], run: Run) -> None:
    expect = case["expect"]
    code, error = expect.get("code"), run.error
    if code is not None:
        assert error is not None, f"{where}: expected {code}, got a result {short(str(run.result))}"
        assert error.code == code, f"{where}: expected {code}, got [{error.code}] {short(str(error))}"
        assert isinstance(error, ERROR_CLASSES[code]), f"{where}: {type(error).__name__} for code {code}"
        needle = expect.get("message_contains")
        assert needle is None or needle in str(error), f"{where}: message {short(str(error))!r} lacks {needle!r}"
    else:
        assert error is None, f"{where}: unexpected error [{error.code}] {short(str(error))}"
        if "result" in expect:
            assert run.result == expect["result"], f"{where}: expected {expect['result']}, got {short(str(run.result))}"


@pytest.mark.parametrize(("file", "case"), CASES, ids=[f"{f}::{c['name']}" for f, c in CASES])
def test_hostile_case(file: str, case: dict[str, Any], tmp_path: Path) -> None:
    where = f"{file} :: {case['name']}"
    max_ms = case.get("max_ms", 100) * SCALE
    runs = [Run(case, tmp_path / "db0")]
    check_outcome(where, case, runs[0])
    if runs[0].wall_ms > max_ms:
        runs.append(Run(case, tmp_path / "db1"))
        check_outcome(where, case, runs[1])
    wall, cpu = min(r.wall_ms for r in runs), min(r.cpu_ms for r in runs)
    grown = runs[-1].grown_mib
    memory = "not measured" if grown is None else f"+{grown:.1f} MiB"
    print(f"{where}: {wall:.1f} ms ({cpu:.1f} ms CPU), peak RSS {memory}")  # shown with pytest -s
    assert wall <= max_ms or cpu <= max_ms, f"{where}: took {wall:.0f} ms ({cpu:.0f} ms CPU), more than {max_ms} ms"
    if grown is not None:
        bound = 2 * case.get("max_mb", 64)
        assert grown <= bound, f"{where}: peak RSS grew {grown:.1f} MiB, more than {bound} MiB"


def test_a_value_nested_past_the_bound_is_a_validation_error_and_the_bound_itself_is_accepted(tmp_path: Path) -> None:
    with aurora_db.open(str(tmp_path / "db")) as db:
        db.execute("schema { define collection users { a: Int  o: Any } }")
        query = "query Q($v: Any) { users(where: { o: { eq: $v } }) { a } }"
        cyclic: list[Any] = []
        cyclic.append(cyclic)
        for deep in ({"v": cyclic}, {"v": {"k": cyclic}}):
            with pytest.raises(aurora_db.ValidationError) as e:
                db.execute(query, deep)
            assert e.value.code == "VALIDATION" and "nested deeper than 64" in str(e.value)
        shallow: Any = 1
        for _ in range(10):
            shallow = [shallow]
        assert db.execute(query, {"v": shallow}) == {"users": []}


def test_limits_in_the_config(tmp_path: Path) -> None:
    with aurora_db.open(str(tmp_path / "db"), limits={"maxQueryBytes": 1000}) as db:
        db.execute("schema { define collection users { a: Int } }")
        assert db.execute("query { users { a } }") == {"users": []}
        with pytest.raises(aurora_db.LimitExceeded) as e:
            db.execute("query { users { a } } #" + "x" * 1000)
        assert e.value.code == "LIMIT" and "max_query_bytes" in str(e.value)
    with pytest.raises(aurora_db.ValidationError) as bad:
        aurora_db.open(str(tmp_path / "db2"), limits={"max_query_byte": 1})
    assert "max_query_bytes" in str(bad.value)
