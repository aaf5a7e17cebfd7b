"""Cancelling a task whose work runs in a worker thread: what the cancelled task waits for,
and that nothing is left unread. Real threads, a real executor, a real event loop."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from fleetfix.transports.worker import Cancelled, run_cancellable


@pytest.fixture
def one_thread() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1, thread_name_prefix="test-worker")
    yield pool
    pool.shutdown(wait=True)


def stops_slowly(cancelled: threading.Event) -> None:
    """A command that notices the flag, then takes a while to stop and clean up."""
    cancelled.wait(10)
    time.sleep(0.3)
    raise Cancelled


async def test_a_second_cancel_while_the_worker_cleans_up_leaves_nothing_unread(
    one_thread: ThreadPoolExecutor,
) -> None:
    loop = asyncio.get_running_loop()
    unread: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unread.append(context))
    try:
        task = asyncio.ensure_future(run_cancellable(one_thread, stops_slowly))
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.sleep(0.05)
        task.cancel()  # a second Ctrl-C while the first one waits for the worker
        with pytest.raises(asyncio.CancelledError):
            await task
        await loop.run_in_executor(None, one_thread.shutdown)  # the worker has stopped
        await asyncio.sleep(0.05)  # its outcome reaches the loop
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert [context["message"] for context in unread] == []


async def test_cancelling_a_job_still_queued_for_a_thread_returns_at_once(
    one_thread: ThreadPoolExecutor,
) -> None:
    release = threading.Event()
    ran: list[str] = []
    busy = one_thread.submit(release.wait, 10)  # the only thread runs another host's command
    try:
        task = asyncio.ensure_future(run_cancellable(one_thread, lambda _: ran.append("ran")))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        took = time.monotonic() - started
    finally:
        release.set()
    busy.result()
    one_thread.shutdown(wait=True)
    assert took < 0.5, f"the cancellation waited {took:.1f} s for a thread"
    assert ran == []  # dropped from the queue: it never ran


async def test_a_running_job_is_waited_for_until_it_has_stopped(
    one_thread: ThreadPoolExecutor,
) -> None:
    stopped = threading.Event()

    def work(cancelled: threading.Event) -> None:
        cancelled.wait(10)
        time.sleep(0.2)
        stopped.set()
        raise Cancelled

    task = asyncio.ensure_future(run_cancellable(one_thread, work))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped.is_set()  # the cancellation went on only once the command was stopped
