"""Aurora DB: an embedded, real-time document database.

Storage, a query language (AQL), change events, live queries and a durable job queue in
one library, with no server to run::

    import aurora_db

    with aurora_db.open("app.db") as db:
        db.execute("schema { define collection users { email: String! @unique  age: Int @indexed } }")
        db.execute(
            'mutation($e: String!) { insertInto(collection: "users", data: {email: $e, age: 30}) { email } }',
            {"e": "a@x.io"},
        )
        print(db.execute("query { users(where: {age: {gt: 25}}) { email age } }"))

Pass values as variables (``$name``), never by formatting them into the AQL text: variables
are typed and checked, which keeps queries safe from injection.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import inspect
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any, Callable, TypeVar, Union, overload

from ._native import (
    AqlSyntaxError,
    AuroraError,
    ClosedError,
    HandlerError,
    InternalError,
    LimitExceeded,
    NativeDatabase,
    NativeStatement,
    NativeSubscription,
    NotFound,
    SchemaTypeError,
    StorageError,
    UniqueViolation,
    ValidationError,
)

__all__ = [
    "AqlSyntaxError",
    "Aurora",
    "AuroraError",
    "ClosedError",
    "HandlerError",
    "InternalError",
    "Job",
    "LimitExceeded",
    "NotFound",
    "SchemaTypeError",
    "Statement",
    "StorageError",
    "Subscription",
    "UniqueViolation",
    "ValidationError",
    "open",
]

__version__ = "0.1.0"

JSON = Any

# How often a waiting async iterator re-checks for cancellation (seconds).
_ASYNC_POLL = 0.25


class Job(dict[str, Any]):
    """A job as a handler receives it: a dict (``job["payload"]``, ``job["attempts"]``...) that
    also tells whether its attempt was cancelled (it timed out, or the workers are stopping).
    """

    def __init__(self, fields: dict[str, Any], cancelled: Callable[[], bool]) -> None:
        super().__init__(fields)
        self._cancelled = cancelled

    @property
    def cancelled(self) -> bool:
        """True once the attempt was cancelled: a long handler checks it and returns early."""
        return self._cancelled()


# A handler receives a `Job` (a dict); one annotated with `dict[str, Any]` is accepted too.
Handler = Callable[[Job], Union[None, Awaitable[None]]]
H = TypeVar("H", bound=Handler)


class Subscription:
    """A live AQL subscription or change listener.

    Iterate it (``for event in sub``; blocks, GIL released) or ``async for event in sub``.
    ``next(timeout)`` returns ``None`` when nothing arrived in time. Closing it (``close()``,
    ``with``, ``break`` inside ``with``, or garbage collection) unsubscribes.
    """

    def __init__(self, native: NativeSubscription) -> None:
        self._native = native

    def next(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next event, or ``None`` if ``timeout`` seconds pass first."""
        event: dict[str, Any] | None = self._native.next(timeout)
        return event

    def close(self) -> None:
        """Stops the subscription; a thread blocked in ``next`` gets ``ClosedError``."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """True once closed."""
        return bool(self._native.closed)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        try:
            event = self._native.next(None)
        except ClosedError:
            raise StopIteration from None
        if event is None:
            raise StopIteration
        result: dict[str, Any] = event
        return result

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        while True:
            try:
                event = await loop.run_in_executor(None, self._native.next, _ASYNC_POLL)
            except ClosedError:
                raise StopAsyncIteration from None
            if event is not None:
                result: dict[str, Any] = event
                return result

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


def _run_coroutine_handler(
    fn: Callable[[Job], Awaitable[None]],
) -> Callable[[Job], None]:
    """Runs an ``async def`` handler to completion on the calling worker thread."""

    @functools.wraps(fn)
    def run(job: Job) -> None:
        asyncio.run(_await(fn(job)))

    return run


async def _await(aw: Awaitable[None]) -> None:
    await aw


# Every database not yet garbage collected, for the exit hook below.
_open_databases: weakref.WeakSet[Aurora] = weakref.WeakSet()


@atexit.register
def _stop_workers_at_exit() -> None:
    """Stops the job workers of every database still open when the interpreter exits.

    A worker thread running a Python handler must take the GIL again when the handler returns
    or sleeps; once the interpreter is finalizing, CPython (before 3.14) ends such a thread
    with ``pthread_exit``, which aborts the process inside the Rust frames. Stopping the
    workers here, while the interpreter is still whole, lets running handlers finish first.
    Subscriptions are left alone: waking a thread blocked in ``next`` now would race with
    finalization the same way.
    """
    for db in list(_open_databases):
        try:
            if not db.closed:
                db.stop_workers()
        except AuroraError:
            pass


class Statement:
    """A prepared AQL statement (``db.prepare(aql)``): parsed and planned once, run with new
    variables. Once its database is closed every run raises ``ClosedError``; a schema
    change keeps it valid.
    """

    __slots__ = ("_native",)

    def __init__(self, native: NativeStatement) -> None:
        self._native = native

    @property
    def text(self) -> str:
        """The AQL text it was prepared from."""
        return self._native.text

    def execute(self, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Runs the statement and returns the result keyed by root field (SPEC §4.11)."""
        result: dict[str, Any] = self._native.execute(variables)
        return result

    async def execute_async(self, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Like ``execute``, without blocking the asyncio event loop."""
        loop = asyncio.get_running_loop()
        result: dict[str, Any] = await loop.run_in_executor(None, self._native.execute, variables)
        return result

    def __repr__(self) -> str:
        return f"Statement({self._native.text!r})"


class Aurora:
    """An open database. ``Aurora(path, **config)``; see the README for config options
    (``durability_mode="strict"``, ``hot_cache_size_mb=64``, ``workers_enabled=True``...).
    ``limits`` bounds what one request may cost, e.g. ``limits={"max_query_bytes": 65536}``
    (any limit left out keeps its default); a request past a limit raises ``LimitExceeded``.
    """

    def __init__(self, path: str, **config: Any) -> None:
        self._native = NativeDatabase(str(path), config or None)
        _open_databases.add(self)

    def execute(
        self,
        aql: str,
        variables: dict[str, Any] | None = None,
        *,
        debug_audit: bool = False,
        operation_name: str | None = None,
    ) -> dict[str, Any]:
        """Runs AQL and returns the result keyed by root field (SPEC §4.11).

        ``debug_audit`` adds ``_sid`` to every returned document; ``operation_name`` runs only
        that operation of a document holding several.
        """
        result: dict[str, Any] = self._native.execute(aql, variables, debug_audit, operation_name)
        return result

    async def execute_async(self, aql: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Like ``execute``, without blocking the asyncio event loop."""
        loop = asyncio.get_running_loop()
        result: dict[str, Any] = await loop.run_in_executor(None, self._native.execute, aql, variables, False)
        return result

    def prepare(self, aql: str) -> Statement:
        """Parses and plans ``aql`` once and returns a ``Statement`` to run with new variables.

        Raises ``AqlSyntaxError`` (with line and column) for text that does not parse.
        """
        return Statement(self._native.prepare(aql))

    def stream(self, aql: str, variables: dict[str, Any] | None = None) -> Subscription:
        """Starts an AQL subscription: ``db.stream("subscription { orders { id } }")``."""
        return Subscription(self._native.stream(aql, variables))

    def listen(self, collection: str) -> Subscription:
        """Change events of one collection (``"*"`` for every collection)."""
        return Subscription(self._native.listen(collection))

    @overload
    def register_handler(self, job_type: str) -> Callable[[H], H]: ...

    @overload
    def register_handler(self, job_type: str, fn: H) -> H: ...

    def register_handler(self, job_type: str, fn: H | None = None) -> H | Callable[[H], H]:
        """Registers a job handler (plain or ``async def``); an exception fails the attempt and
        triggers a retry. Also usable as a decorator: ``@db.register_handler("email")``.
        """

        native = self._native

        def register(f: H) -> H:
            target: Callable[[Job], Any] = f
            if inspect.iscoroutinefunction(f):
                target = _run_coroutine_handler(f)

            def call(fields: dict[str, Any]) -> Any:
                job_id = str(fields.get("id", ""))
                return target(Job(fields, lambda: native.job_cancelled(job_id)))

            native.register_handler(job_type, call)
            return f

        if fn is None:
            return register
        return register(fn)

    def handler(self, job_type: str) -> Callable[[H], H]:
        """Decorator form of ``register_handler``."""
        return self.register_handler(job_type)

    def enqueue(
        self,
        job_type: str,
        payload: dict[str, Any] | None = None,
        priority: str = "normal",
        max_retries: int | None = None,
    ) -> str:
        """Adds a durable job; ``priority`` is low, normal, high or critical (any case)."""
        job_id: str = self._native.enqueue(job_type, payload, priority, max_retries)
        return job_id

    def start_workers(self, concurrency: int | None = None) -> None:
        """Starts the worker pool that runs registered handlers."""
        self._native.start_workers(concurrency)

    def stop_workers(self) -> None:
        """Stops the workers; unfinished jobs return to pending."""
        self._native.stop_workers()

    def job_status(self, job_id: str) -> dict[str, Any] | None:
        """The job as a dict (``status``, ``attempts``, ``lastError``...), or None."""
        status: dict[str, Any] | None = self._native.job_status(job_id)
        return status

    def explain(self, aql: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """How each root field of a query runs, keyed like its result: ``strategy``
        (``indexWalk``, ``indexLookup``, ``fullScan``, ``counter``, ``indexCount``), ``indexes``,
        ``estimatedRows``, ``examinedRows``, ``actualRows``, ``residualFilter`` and ``sort``.
        The query runs, so the counts are real."""
        return self._native.explain(aql, variables)

    def memory_stats(self) -> dict[str, int]:
        """Bytes each cache and buffer holds, next to its budget (``hotCacheBytes``,
        ``hotCacheBudget``, ``indexCacheBytes``, ``indexCacheBudget``, ``writeBufferBytes``,
        ``writeBufferEntries``, ``planCacheBytes``, ``coldCacheBudget``, ...)."""
        stats: dict[str, int] = self._native.memory_stats()
        return stats

    def dead_letters(self) -> list[dict[str, Any]]:
        """Jobs that ran out of retries."""
        jobs: list[dict[str, Any]] = self._native.dead_letters()
        return jobs

    def close(self) -> None:
        """Flushes and closes the database; later calls raise ``ClosedError``."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """True once closed."""
        return bool(self._native.closed)

    def __enter__(self) -> Aurora:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open(path: str, **config: Any) -> Aurora:
    """Opens (or creates) the database in directory ``path``."""
    return Aurora(path, **config)
