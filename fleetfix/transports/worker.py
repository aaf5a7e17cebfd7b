"""Running a synchronous client call in a worker thread so that cancelling the task stops it.

`asyncio` cancels the awaiting task, never the thread: left alone, a cancelled command would
run on to its own deadline and its shell would be deleted only when `close()` got the lock.
So the worker is handed a flag that it checks on each Receive slice, and the cancelled task
waits for it to stop and clean up before the cancellation goes on: about one slice, or, when
the host has stopped answering, until the request in flight hits its HTTP read timeout.
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
    """`work(cancelled)` in `executor`. When the awaiting task is cancelled, `cancelled` is
    set and the task waits for `work` to return (it stops and cleans up within about one
    Receive slice), then the cancellation propagates: no thread is left running the command."""
    cancelled = threading.Event()
    future = asyncio.get_running_loop().run_in_executor(executor, work, cancelled)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancelled.set()
        await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieved: it is Cancelled or a late failure nobody awaits
        raise
