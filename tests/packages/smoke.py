"""Smoke test of an installed aurora-db wheel (scripts/test-packages.sh).

Usage: python smoke.py EXPECTED_VERSION DB_DIR -- prints one line per check, exits 1 on a failure.
"""

from __future__ import annotations

import sys
import threading
import time
from importlib.metadata import version

import aurora_db

failures = 0


def check(ok: bool, what: str) -> None:
    global failures
    print(("ok: " if ok else "FAILED: ") + what)
    failures += 0 if ok else 1


def main(expected: str, path: str) -> int:
    check(version("aurora-db") == expected and aurora_db.__version__ == expected, f"version {expected}")
    check("site-packages" in aurora_db.__file__, f"imported from the installed wheel ({aurora_db.__file__})")
    with aurora_db.open(path) as db:
        db.execute("schema { define collection users { email: String! @unique  age: Int } }")
        events = db.stream("subscription { users { email } }")
        insert = (
            'mutation ($e: String!, $a: Int) { insertInto(collection: "users", data: {email: $e, age: $a}) { email } }'
        )
        inserted = db.execute(insert, {"e": "ann@x.io", "a": 41})
        check(inserted == {"insertInto": {"email": "ann@x.io"}}, f"insert with variables: {inserted}")
        found = db.execute("query ($min: Int) { users(where: {age: {gte: $min}}) { email age } }", {"min": 40})
        check(found == {"users": [{"email": "ann@x.io", "age": 41}]}, f"query: {found}")
        event = events.next(timeout=10)
        check(event is not None and event["data"]["email"] == "ann@x.io", f"subscription event: {event}")
        events.close()

        seen: list[dict[str, object]] = []
        done = threading.Event()

        @db.register_handler("greet")
        def greet(job: dict[str, object]) -> None:
            seen.append(job)
            done.set()

        db.start_workers()
        job_id = db.enqueue("greet", {"to": "ann@x.io"})
        done.wait(20)
        deadline = time.monotonic() + 20
        while (db.job_status(job_id) or {}).get("status") != "COMPLETED" and time.monotonic() < deadline:
            time.sleep(0.02)
        status = db.job_status(job_id)
        ran = [j.get("payload") for j in seen]
        check(ran == [{"to": "ann@x.io"}] and status is not None and status["status"] == "COMPLETED", f"job: {ran}")

        try:
            db.execute("query { nope { x } }")
            check(False, "unknown collection raises")
        except aurora_db.NotFound as e:
            check(e.code == "NOT_FOUND", f"error code {e.code}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
