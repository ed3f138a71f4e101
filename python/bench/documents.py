"""Documents as users store them, through the Python API of aurora_db vs the standard
library's sqlite3 storing the same documents as JSON text (expression indexes, ``json.loads``
of each result).

Run: python python/bench/documents.py [--docs 20000] [--lookups 2000] [--slices 10] [--passes 7]

Two shapes: ``user`` = {username, email, age, active, tags: [..]} and ``nested`` = the same plus
profile: {city, zip, joined}. aurora_db inserts with one variable per field and looks up by
the unique email, with a prepared statement and with the AQL text on every call; SQLite
inserts ``json.dumps(doc)`` (one transaction per document, WAL, synchronous=NORMAL, as Aurora's
default WAL mode) and looks up through a unique expression index. The sides take turns slice
by slice and pass by pass; each figure is the median slice or pass.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import aurora_db

TAGS = ["red", "green", "blue", "admin", "beta", "ops"]
CITIES = ["Oslo", "Lima", "Pune", "Kyiv"]


def user(i: int) -> dict[str, Any]:
    return {
        "username": f"user{i}",
        "email": f"user{i}@example.com",
        "age": 18 + i % 62,
        "active": i % 3 != 0,
        "tags": [TAGS[i % 6], TAGS[(i * 7) % 6]],
    }


def nested(i: int) -> dict[str, Any]:
    d = user(i)
    d["profile"] = {"city": CITIES[i % 4], "zip": 10000 + i % 9000, "joined": f"2026-0{1 + i % 9}-15"}
    return d


FIELDS = "username: String! @unique  email: String! @unique  age: Int @indexed  active: Boolean  tags: [String]"
SHAPES: dict[str, dict[str, Any]] = {
    "user": {
        "doc": user,
        "schema": f"schema {{ define collection users {{ {FIELDS} }} }}",
        "insert": "mutation($u: String!, $e: String!, $a: Int, $ac: Boolean, $t: [String]) "
        '{ insertInto(collection: "users", data: {username: $u, email: $e, age: $a, active: $ac, tags: $t}) '
        "{ username } }",
        "vars": lambda d: {"u": d["username"], "e": d["email"], "a": d["age"], "ac": d["active"], "t": d["tags"]},
        "lookup": "query($e: String) { users(where: {email: {eq: $e}}) { username email age active tags } }",
    },
    "nested": {
        "doc": nested,
        "schema": f"schema {{ define collection users {{ {FIELDS}  profile: Object }} }}",
        "insert": "mutation($u: String!, $e: String!, $a: Int, $ac: Boolean, $t: [String], $p: Object) "
        '{ insertInto(collection: "users", data: {username: $u, email: $e, age: $a, active: $ac, tags: $t, '
        "profile: $p}) { username } }",
        "vars": lambda d: {
            "u": d["username"],
            "e": d["email"],
            "a": d["age"],
            "ac": d["active"],
            "t": d["tags"],
            "p": d["profile"],
        },
        "lookup": "query($e: String) { users(where: {email: {eq: $e}}) { username email age active tags profile } }",
    },
}

Side = tuple[Callable[[dict[str, Any]], Any], Callable[[str], Any], Callable[[], None]]


def aurora_side(path: Path, shape: dict[str, Any], prepared: bool) -> Side:
    db = aurora_db.open(str(path))
    db.execute(shape["schema"])
    to_vars = shape["vars"]
    if prepared:
        ins, get = db.prepare(shape["insert"]), db.prepare(shape["lookup"])
        return (lambda d: ins.execute(to_vars(d)), lambda e: get.execute({"e": e})["users"][0], db.close)
    insert, lookup = shape["insert"], shape["lookup"]
    return (
        lambda d: db.execute(insert, to_vars(d)),
        lambda e: db.execute(lookup, {"e": e})["users"][0],
        db.close,
    )


def sqlite_side(path: Path) -> Side:
    con = sqlite3.connect(str(path), isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.executescript(
        """CREATE TABLE users (id INTEGER PRIMARY KEY, doc TEXT NOT NULL);
        CREATE UNIQUE INDEX users_username ON users(json_extract(doc, '$.username'));
        CREATE UNIQUE INDEX users_email ON users(json_extract(doc, '$.email'));
        CREATE INDEX users_age ON users(json_extract(doc, '$.age'));"""
    )

    def insert(d: dict[str, Any]) -> None:
        con.execute("INSERT INTO users (doc) VALUES (?)", (json.dumps(d),))

    def lookup(e: str) -> Any:
        row = con.execute("SELECT doc FROM users WHERE json_extract(doc, '$.email') = ?", (e,)).fetchone()
        return json.loads(row[0])

    return insert, lookup, con.close


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--lookups", type=int, default=2_000)
    ap.add_argument("--slices", type=int, default=10)
    ap.add_argument("--passes", type=int, default=7)
    args = ap.parse_args()
    n = args.docs
    print(
        f"aurora_db vs sqlite3 (JSON documents): {n} inserts in {args.slices} slices, "
        f"{args.lookups} lookups by unique email x {args.passes} passes; medians"
    )
    print(f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape in SHAPES.items():
            base = Path(tmp) / name
            base.mkdir()
            sides = {
                "sqlite3": sqlite_side(base / "sqlite.db"),
                "prepared": aurora_side(base / "prepared", shape, True),
                "text": aurora_side(base / "text", shape, False),
            }
            docs = [shape["doc"](i) for i in range(n)]
            per = -(-n // args.slices)
            ins_us: dict[str, list[float]] = {k: [] for k in sides}
            for s in range(args.slices):
                chunk = docs[s * per : (s + 1) * per]
                for k, (insert, _, _) in sides.items():
                    t = time.perf_counter()
                    for d in chunk:
                        insert(d)
                    ins_us[k].append((time.perf_counter() - t) * 1e6 / len(chunk))
            order = [f"user{(j * 7919) % n}@example.com" for j in range(args.lookups)]
            get_us: dict[str, list[float]] = {k: [] for k in sides}
            for p in range(args.passes + 1):
                for k, (_, lookup, _) in sides.items():
                    t = time.perf_counter()
                    for e in order:
                        assert lookup(e)["email"] == e
                    if p > 0:  # pass 0 warms up
                        get_us[k].append((time.perf_counter() - t) * 1e6 / len(order))
            for _, _, close in sides.values():
                close()
            base_ins, base_get = statistics.median(ins_us["sqlite3"]), statistics.median(get_us["sqlite3"])
            print(f"\n{name:<10} insert µs  inserts/s  vs sqlite3  lookup µs  vs sqlite3")
            for k in sides:
                i, g = statistics.median(ins_us[k]), statistics.median(get_us[k])
                print(f"{k:<10} {i:9.2f}  {1e6 / i:9.0f}  {base_ins / i:9.2f}x  {g:9.2f}  {base_get / g:9.2f}x")
    print('\n"vs sqlite3" is speed relative to sqlite3: above 1.00x is faster.')


if __name__ == "__main__":
    main()
