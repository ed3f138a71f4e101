"""Python-side benchmark: per-call overhead of `execute` and a 20,000-insert + 1,000-lookup
workload against the standard library's sqlite3 doing the same work.

Run: python python/bench/bench.py   (after `maturin develop --release` or `pip install ./python`)
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import aurora_db

N = 20_000
LOOKUPS = 1_000
LOOKUP = "query Q($e: String) { users(where: {email: {eq: $e}}) { name age } }"
INSERT = 'mutation($d: Object) { insertInto(collection: "users", data: $d) { email } }'


def docs() -> list[dict[str, object]]:
    return [{"name": f"user{i}", "email": f"u{i}@x.io", "age": 18 + (i * 7919) % 62} for i in range(N)]


def bench_aurora(tmp: Path) -> tuple[float, float, float]:
    with aurora_db.open(str(tmp / "aurora")) as db:
        db.execute("schema { define collection users { name: String  email: String! @unique  age: Int @indexed } }")
        t = time.perf_counter()
        for d in docs():
            db.execute(INSERT, {"d": d})
        insert_s = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(0, N, N // LOOKUPS):
            r = db.execute(LOOKUP, {"e": f"u{i}@x.io"})
            assert r["users"]
        lookup_s = time.perf_counter() - t
        per_call = []
        for i in range(2_000):
            t0 = time.perf_counter()
            db.execute(LOOKUP, {"e": f"u{i}@x.io"})
            per_call.append(time.perf_counter() - t0)
        return insert_s, lookup_s, statistics.median(per_call)


def bench_sqlite(tmp: Path) -> tuple[float, float]:
    con = sqlite3.connect(str(tmp / "sqlite.db"), isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE users(id INTEGER PRIMARY KEY, doc TEXT)")
    con.execute("CREATE UNIQUE INDEX users_email ON users(json_extract(doc, '$.email'))")
    con.execute("CREATE INDEX users_age ON users(json_extract(doc, '$.age'))")
    t = time.perf_counter()
    for d in docs():
        con.execute("INSERT INTO users(doc) VALUES (?)", (json.dumps(d),))
    insert_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, N, N // LOOKUPS):
        row = con.execute(
            "SELECT json_extract(doc,'$.name'), json_extract(doc,'$.age') FROM users "
            "WHERE json_extract(doc,'$.email') = ?",
            (f"u{i}@x.io",),
        ).fetchone()
        assert row
    lookup_s = time.perf_counter() - t
    con.close()
    return insert_s, lookup_s


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        a_ins, a_look, per_call = bench_aurora(tmp)
        s_ins, s_look = bench_sqlite(tmp)
    print(f"{'':32}{'aurora':>12}{'sqlite3':>12}{'ratio':>8}")
    print(f"{'20,000 inserts (autocommit)':32}{a_ins:>11.3f}s{s_ins:>11.3f}s{s_ins / a_ins:>7.2f}x")
    print(f"{'1,000 unique-key lookups':32}{a_look:>11.3f}s{s_look:>11.3f}s{s_look / a_look:>7.2f}x")
    total_a, total_s = a_ins + a_look, s_ins + s_look
    print(f"{'whole workload':32}{total_a:>11.3f}s{total_s:>11.3f}s{total_s / total_a:>7.2f}x")
    print(f"execute() point lookup from Python, median per call: {per_call * 1e6:.2f} µs")


if __name__ == "__main__":
    main()
