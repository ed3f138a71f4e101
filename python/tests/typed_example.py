"""A typed program that uses the whole Python API; the suite checks it with `mypy --strict`."""

from __future__ import annotations

import asyncio
from typing import Any

import aurora_db


def main(path: str) -> None:
    with aurora_db.open(path, durability_mode="strict", limits={"max_query_bytes": 65536}) as db:
        db.execute("schema { define collection users { email: String! @unique } }")
        res: dict[str, Any] = db.execute(
            "query Q($e: String) { users(where: {email: {eq: $e}}) { email } }", {"e": "x"}
        )
        print(res["users"])
        stmt: aurora_db.Statement = db.prepare("query Q($e: String) { users(where: {email: {eq: $e}}) { email } }")
        again: dict[str, Any] = stmt.execute({"e": "x"})
        print(again, stmt.text)

        @db.register_handler("mail")
        def mail(job: dict[str, Any]) -> None:
            print(job["payload"])

        @db.register_handler("long")
        def long(job: aurora_db.Job) -> None:
            while not job.cancelled:
                break

        job_id: str = db.enqueue("mail", {"to": "a@x.io"}, priority="high", max_retries=3)
        db.start_workers()
        status: dict[str, Any] | None = db.job_status(job_id)
        print(status)
        db.stop_workers()
        with db.stream("subscription { users { email } }") as sub:
            event: dict[str, Any] | None = sub.next(timeout=0.01)
            print(event)
        try:
            db.execute("query {")
        except aurora_db.LimitExceeded as e:
            print(e.code)
        except aurora_db.AqlSyntaxError as e:
            line: int | None = e.line
            print(e.code, line, e.column)

        async def run() -> None:
            r = await db.execute_async("query { users { email } }")
            print(r)
            async with db.listen("users") as events:
                async for ev in events:
                    print(ev)
                    break

        asyncio.run(run())


if __name__ == "__main__":
    main("typed-example.db")
