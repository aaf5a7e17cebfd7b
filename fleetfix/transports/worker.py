"""Running a synchronous client call in a worker thread so that cancelling the task stops it.

`asyncio` cancels the awaiting task, never the thread: left alone, a cancelled command would
run on to its own deadline and its shell would be deleted only when `close()` got the lock.
So the worker is handed a flag, and a cancelled task either drops a job that is still queued
for a thread (it never started: there is nothing to stop), or sets the flag and waits for the
job to stop and clean up before the cancellation goes on.

How long that wait is depends on the job. A WS-Man session looks at the flag while it waits
for the session (every 50 ms) and between its requests, so it returns once the request in
flight is answered or times out (a Receive: its slice, 1 s growing to 5 s while the command
stays quiet; a Command or Send: up to 7 s), then after Signal and Delete, up to 3 s each (not
sent to a host that has stopped answering). On a host that answers, about one Receive slice;
at worst the request in flight plus 6 s.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

_T = TypeVar("_T")


class Cancelled(Exception):  # noqa: N818 - a state the worker reports, read as an outcome
    """The worker stopped because the task awaiting it was cancelled; nobody reads its result."""


async def run_cancellable(executor: Executor, work: Callable[[threading.Event], _T]) -> _T:
    """`work(cancelled)` in `executor`. When the awaiting task is cancelled, a job still
    queued is dropped at once; a running one has `cancelled` set and is waited for (see the
    module's docstring for how long), then the cancellation propagates: no thread is left
    running the command."""
    cancelled = threading.Event()
    job = executor.submit(work, cancelled)
    future = asyncio.wrap_future(job)
    # Its outcome is read even when nobody awaits it any more (a second Ctrl-C while the
    # first one waits): Cancelled, or a late failure, but never a "was never retrieved".
    future.add_done_callback(_retrieve)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancelled.set()
        if not job.cancel():  # it runs already: let it stop its command and clean up
            await asyncio.wait([future])
        raise


def _retrieve(future: asyncio.Future[_T]) -> None:
    if not future.cancelled():
        future.exception()
