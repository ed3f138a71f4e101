"""The Python API: errors, closed handles, subscriptions, threads, asyncio, handlers, fork."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aurora_db
import pytest

INSERT = 'mutation($e: String!, $a: Int) { insertInto(collection: "users", data: {email: $e, age: $a}) { email } }'


def test_ints_floats_and_nested_values_round_trip(tmp_path: Path) -> None:
    with aurora_db.Aurora(str(tmp_path / "db"), hot_cache_size_mb=8, durability_mode="strict") as db:
        db.execute("schema { define collection m { i: Int  f: Float  o: Object  l: [Int] } }")
        out = db.execute(
            'mutation($o: Object) { insertInto(collection: "m", data: {i: 2, f: 2, o: $o, l: [1, 2]}) { i f o l } }',
            {"o": {"deep": {"x": [1.5, None, True, "s"]}}},
        )
        assert out == {"insertInto": {"i": 2, "f": 2.0, "o": {"deep": {"x": [1.5, None, True, "s"]}}, "l": [1, 2]}}
        assert isinstance(out["insertInto"]["i"], int) and isinstance(out["insertInto"]["f"], float)


def test_memory_stats_report_each_cache_against_its_budget(tmp_path: Path) -> None:
    with aurora_db.Aurora(str(tmp_path / "db"), hot_cache_size_mb=8) as db:
        db.execute("schema { define collection u { k: Int @unique } }")
        for i in range(50):
            db.execute('mutation($k: Int) { insertInto(collection: "u", data: {k: $k}) { k } }', {"k": i})
        m = db.memory_stats()
        assert m["hotCacheBudget"] == 8 << 20
        assert m["writeBufferEntries"] > 0 and m["writeBufferBytes"] > 0
        assert 0 <= m["indexCacheBytes"] <= m["indexCacheBudget"]
        assert m["coldCacheBudget"] > 0
    with pytest.raises(aurora_db.ClosedError):
        db.memory_stats()


def test_explain_reports_each_root_field_plan_and_refuses_mutations(tmp_path: Path) -> None:
    with aurora_db.Aurora(str(tmp_path / "db")) as db:
        db.execute("schema { define collection u { k: Int @unique  name: String } }")
        for i in range(20):
            db.execute('mutation($k: Int) { insertInto(collection: "u", data: {k: $k, name: "n"}) { k } }', {"k": i})
        plan = db.explain("query($k: Int) { one: u(where: {k: {eq: $k}}) { name } all: u { name } }", {"k": 3})
        assert plan["one"]["strategy"] == "indexLookup" and plan["one"]["indexes"] == ["k"]
        assert (plan["one"]["examinedRows"], plan["one"]["actualRows"]) == (1, 1)
        assert plan["all"]["strategy"] == "fullScan" and plan["all"]["actualRows"] == 20
        assert db.execute("query @explain { u { name } }") == {"u": plan["all"]}
        with pytest.raises(aurora_db.ValidationError):
            db.explain('mutation { deleteFrom(collection: "u") { k } }')
        assert db.execute("query { u { aggregate { count } } }") == {"u": {"aggregate": {"count": 20}}}
        with pytest.raises(aurora_db.AqlSyntaxError):
            db.explain("query { u( }")
    with pytest.raises(aurora_db.ClosedError):
        db.explain("query { u { name } }")


def test_errors_map_to_exception_classes_with_positions(db: aurora_db.Aurora) -> None:
    with pytest.raises(aurora_db.AqlSyntaxError) as e:
        db.execute("query {\n  users { email ")
    assert e.value.code == "SYNTAX" and e.value.line == 2 and e.value.column is not None
    assert isinstance(e.value, aurora_db.AuroraError)
    db.execute(INSERT, {"e": "a@x.io", "a": 1})
    with pytest.raises(aurora_db.UniqueViolation) as u:
        db.execute(INSERT, {"e": "a@x.io", "a": 1})
    assert u.value.code == "UNIQUE_VIOLATION"
    with pytest.raises(aurora_db.NotFound):
        db.execute("query { nope { a } }")
    with pytest.raises(aurora_db.ValidationError):
        db.execute("query Q($a: Int) { users(where: {age: {gt: $a}}) { email } }", {"a": "x"})
    with pytest.raises(aurora_db.SchemaTypeError):
        db.execute('mutation { insertInto(collection: "users", data: {email: "b@x.io", age: "old"}) { email } }')
    with pytest.raises(TypeError):
        db.execute("query { users { email } }", {"x": object()})
    with pytest.raises(aurora_db.ValidationError):
        aurora_db.Aurora("/tmp/never", bogus_option=1)


def test_closed_database_raises_closed_error(tmp_path: Path) -> None:
    db = aurora_db.open(str(tmp_path / "db"))
    db.close()
    db.close()
    assert db.closed
    with pytest.raises(aurora_db.ClosedError) as e:
        db.execute("query { users { email } }")
    assert e.value.code == "CLOSED"
    # Reopening the same directory in the same process works once closed.
    with aurora_db.open(str(tmp_path / "db")) as again:
        assert again.execute("schema { define collection c { a: Int } }")["schema"][0]["status"] == "created"


def test_stream_iterator_receives_inserts_from_another_thread(db: aurora_db.Aurora) -> None:
    got: list[dict[str, Any]] = []
    with db.stream("subscription { users(where: {age: {gte: 18}}) { email age } }") as sub:

        def writer() -> None:
            for i in range(5):
                db.execute(INSERT, {"e": f"{i}@x.io", "a": 10 + i * 5})

        t = threading.Thread(target=writer)
        t.start()
        for ev in sub:
            got.append(ev)
            if len(got) == 3:
                break
        t.join()
    assert [g["data"]["age"] for g in got] == [20, 25, 30]
    assert all(g["operation"] == "insert" for g in got)
    assert sub.closed
    with pytest.raises(aurora_db.ClosedError):
        sub.next(0.01)


def test_blocked_next_releases_the_gil_and_close_wakes_it(db: aurora_db.Aurora) -> None:
    sub = db.listen("users")
    ticks = 0
    result: list[Any] = []

    def blocked() -> None:
        try:
            result.append(sub.next())
        except aurora_db.ClosedError as e:
            result.append(e)

    t = threading.Thread(target=blocked)
    t.start()
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        ticks += 1
    assert ticks > 1000, "the main thread kept running while another waited in next()"
    sub.close()
    t.join(timeout=5)
    assert not t.is_alive()
    assert isinstance(result[0], aurora_db.ClosedError)


def test_timeout_returns_none(db: aurora_db.Aurora) -> None:
    with db.listen("users") as sub:
        t0 = time.monotonic()
        assert sub.next(timeout=0.05) is None
        assert time.monotonic() - t0 >= 0.04
        with pytest.raises(ValueError):
            sub.next(timeout=-1)


async def test_async_iteration_and_execute_async_do_not_block_the_loop(db: aurora_db.Aurora) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    tick_task = asyncio.create_task(ticker())
    sub = db.stream("subscription { users { email } }")

    async def produce() -> None:
        for i in range(3):
            await db.execute_async(INSERT, {"e": f"as{i}@x.io", "a": i})
            await asyncio.sleep(0.01)

    prod = asyncio.create_task(produce())
    seen = []
    async with sub:
        async for ev in sub:
            seen.append(ev["data"]["email"])
            if len(seen) == 3:
                break
    await prod
    stop.set()
    await tick_task
    assert seen == ["as0@x.io", "as1@x.io", "as2@x.io"]
    assert ticks > 10, "the event loop kept ticking"
    res = await db.execute_async("query { users(orderBy: {email: ASC}) { email } }")
    assert len(res["users"]) == 3


def wait_for(cond: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_handlers_sync_async_raising_and_decorator(db: aurora_db.Aurora) -> None:
    seen: list[Any] = []

    @db.register_handler("sync")
    def handle(job: dict[str, Any]) -> None:
        seen.append(job["payload"]["n"])

    @db.handler("async")
    async def ahandle(job: dict[str, Any]) -> None:
        await asyncio.sleep(0.001)
        seen.append(("async", job["attempts"]))

    calls = {"n": 0}

    def flaky(job: dict[str, Any]) -> None:
        calls["n"] += 1
        raise RuntimeError("smtp down")

    db.register_handler("flaky", flaky)
    db.start_workers(2)
    a = db.enqueue("sync", {"n": 7}, priority="HIGH")
    b = db.enqueue("async", {}, priority="low")
    c = db.enqueue("flaky", {}, max_retries=1)
    with pytest.raises(aurora_db.ValidationError):
        db.enqueue("sync", {}, priority="urgent")
    wait_for(lambda: (db.job_status(a) or {}).get("status") == "COMPLETED")
    wait_for(lambda: (db.job_status(b) or {}).get("status") == "COMPLETED")
    wait_for(lambda: (db.job_status(c) or {}).get("status") == "DEAD_LETTER")
    status = db.job_status(c)
    assert status is not None and status["attempts"] == 2 and "smtp down" in status["lastError"]
    assert calls["n"] == 2, "the raising handler was retried once"
    assert 7 in seen and ("async", 1) in seen
    assert [j["id"] for j in db.dead_letters()] == [c]
    assert db.job_status("nope") is None
    db.stop_workers()


def test_garbage_collected_subscriptions_are_released(db: aurora_db.Aurora) -> None:
    for _ in range(200):
        s = db.stream("subscription { users { email } }")
        del s
    gc.collect()
    db.execute(INSERT, {"e": "gc@x.io", "a": 1})
    assert db.execute("query { users { email } }")["users"] == [{"email": "gc@x.io"}]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_fork_child_gets_a_clear_error_instead_of_hanging(db: aurora_db.Aurora, tmp_path: Path) -> None:
    db.execute(INSERT, {"e": "parent@x.io", "a": 1})
    pid = os.fork()
    if pid == 0:  # child: every use of Aurora fails fast with an explanation
        code = 1
        try:
            try:
                db.execute("query { users { email } }")
            except aurora_db.ClosedError as e:
                assert "fork" in str(e)
                try:
                    aurora_db.open(str(tmp_path / "child-db"))
                except aurora_db.ValidationError as e2:
                    if "fork" in str(e2):
                        code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        assert time.monotonic() < deadline, "forked child hung"
        time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert db.execute("query { users { email } }")["users"] == [{"email": "parent@x.io"}]


def test_a_fresh_process_opens_databases_normally(tmp_path: Path) -> None:
    code = (
        "import aurora_db, sys\n"
        f"with aurora_db.open({str(tmp_path / 'spawned')!r}) as d:\n"
        "    d.execute('schema { define collection c { a: Int } }')\n"
        "    d.execute('mutation { insertInto(collection: \"c\", data: {a: 1}) { a } }')\n"
        "    sys.exit(0 if d.execute('query { c { a } }') == {'c': [{'a': 1}]} else 1)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_mypy_strict_accepts_a_typed_program_using_the_whole_api() -> None:
    example = Path(__file__).with_name("typed_example.py")
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(example)], check=False, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_prepared_statements_run_with_new_variables_and_fail_cleanly(tmp_path: Path) -> None:
    db = aurora_db.Aurora(str(tmp_path / "db"))
    db.execute("schema { define collection users { email: String! @unique  age: Int  tags: [String] } }")
    insert = db.prepare(
        "mutation($e: String!, $a: Int, $t: [String]) "
        '{ insertInto(collection: "users", data: {email: $e, age: $a, tags: $t}) { email } }'
    )
    lookup = db.prepare("query($e: String) { users(where: {email: {eq: $e}}) { email age tags } }")
    assert lookup.text.startswith("query($e: String)")
    for i in range(20):
        assert insert.execute({"e": f"u{i}", "a": i, "t": ["x", str(i)]}) == {"insertInto": {"email": f"u{i}"}}
    assert lookup.execute({"e": "u7"}) == {"users": [{"email": "u7", "age": 7, "tags": ["x", "7"]}]}
    assert lookup.execute({"e": "u7"}) == db.execute(lookup.text, {"e": "u7"})
    assert asyncio.run(lookup.execute_async({"e": "u3"}))["users"][0]["age"] == 3
    with pytest.raises(aurora_db.UniqueViolation):
        insert.execute({"e": "u1", "a": 1})
    with pytest.raises(aurora_db.ValidationError):
        lookup.execute({"e": 5})
    with pytest.raises(aurora_db.AqlSyntaxError) as syntax:
        db.prepare("query { users { email ")
    assert syntax.value.line == 1
    # A schema change keeps statements valid.
    db.execute('migrate { "v2": { alter collection users { add name: String } } }')
    assert lookup.execute({"e": "u2"})["users"][0]["age"] == 2
    db.close()
    with pytest.raises(aurora_db.ClosedError):
        lookup.execute({"e": "u1"})
    with pytest.raises(aurora_db.ClosedError):
        db.prepare("query { users { email } }")
