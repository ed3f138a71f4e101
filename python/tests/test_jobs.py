"""Job attempts as a handler sees them: a per-attempt timeout (set with AQL ``enqueueJob(...,
timeoutMs)``) cancels the attempt, attempts of one job never overlap, and ``stop_workers`` /
``close`` return only once a running handler has returned. Every wait polls with a generous
deadline; no sleep is an assertion.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

import aurora_db
import pytest

DEADLINE = 20.0
# A handler that waits for its cancellation gives up after this long (so a missing signal
# fails the test instead of hanging it).
GIVE_UP = 3.0


def wait_until(cond: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def enqueue_timed(db: aurora_db.Aurora, job_type: str, max_retries: int) -> str:
    r = db.execute(
        f'mutation {{ enqueueJob(jobType: "{job_type}", timeoutMs: 100, maxRetries: {max_retries}) {{ id }} }}'
    )
    job_id: str = r["enqueueJob"]["id"]
    return job_id


def status_of(db: aurora_db.Aurora, job_id: str) -> str | None:
    job = db.job_status(job_id)
    return None if job is None else str(job["status"])


def test_a_handler_looping_until_cancelled_ends_early_and_the_job_is_dead_lettered(tmp_path: Path) -> None:
    ends: list[tuple[bool, float]] = []

    def spin(job: aurora_db.Job) -> None:
        started = time.monotonic()
        while not job.cancelled and time.monotonic() - started < GIVE_UP:
            time.sleep(0.002)
        ends.append((job.cancelled, time.monotonic() - started))

    with aurora_db.open(str(tmp_path / "db")) as db:
        db.register_handler("spin", spin)
        db.start_workers(2)
        job_id = enqueue_timed(db, "spin", 0)
        wait_until(lambda: status_of(db, job_id) == "DEAD_LETTER", "the dead letter")
        job = db.job_status(job_id)
        assert job is not None and "timed out" in str(job["lastError"]) and job["attempts"] == 1, job
        assert len(ends) == 1, ends
        saw_it, ran_for = ends[0]
        assert saw_it, "the handler saw job.cancelled turn true"
        assert ran_for < GIVE_UP, f"the handler saw its cancellation only after {ran_for:.2f} s"


def test_attempts_of_one_job_never_overlap_even_when_the_handler_ignores_the_timeout(tmp_path: Path) -> None:
    lock = threading.Lock()
    running = [0]
    most = [0]
    calls = [0]

    def sleepy(job: aurora_db.Job) -> None:
        with lock:
            running[0] += 1
            calls[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.3)  # three times the timeout, ignoring the signal
        finally:
            with lock:
                running[0] -= 1

    with aurora_db.open(str(tmp_path / "db")) as db:
        db.register_handler("sleepy", sleepy)
        db.start_workers(4)
        job_id = enqueue_timed(db, "sleepy", 2)
        wait_until(lambda: status_of(db, job_id) == "DEAD_LETTER", "the dead letter")
        job = db.job_status(job_id)
        assert job is not None and job["attempts"] == 3 and "timed out" in str(job["lastError"]), job
        with lock:
            assert (calls[0], most[0]) == (3, 1), f"{calls[0]} calls, at most {most[0]} at once"


@pytest.mark.parametrize("how", ["stop_workers", "close"])
def test_stopping_returns_only_after_the_running_handler_returned(tmp_path: Path, how: str) -> None:
    started = threading.Event()
    finished: list[Any] = []

    def slow(job: aurora_db.Job) -> None:
        started.set()
        time.sleep(0.3)
        finished.append(job["id"])  # the handler's very last statement

    db = aurora_db.open(str(tmp_path / "db"))
    try:
        db.register_handler("slow", slow)
        db.start_workers(2)
        job_id = db.enqueue("slow")
        assert started.wait(DEADLINE), "the handler never started"
        if how == "close":
            db.close()
        else:
            db.stop_workers()
        assert finished == [job_id], f"{how} returned while the handler was still running"
    finally:
        db.close()
