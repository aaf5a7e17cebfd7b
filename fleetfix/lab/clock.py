"""Lab time: the simulated fleet's own clock, running `time_scale` times faster than real time.

A boot takes 90 lab seconds; at a time scale of 1,000 that is 90 real milliseconds, which is
how tests watch a dozen crash-loop cycles without waiting minutes. Lab time starts at a chosen
instant (by default 05:00 UTC on 19 July 2024, an hour into the outage) so that event log
entries and file times look like the day they model.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

#: An hour after the bad channel file went out (04:09 UTC) and before the revert (05:27 UTC).
OUTAGE_MORNING = datetime(2024, 7, 19, 5, 0, tzinfo=UTC)

_log = logging.getLogger(__name__)
_BATCH = 1000


class LabClock:
    """lab time = start + (real seconds elapsed since creation) * time_scale."""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        start: datetime = OUTAGE_MORNING,
        real_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        self._time_scale = time_scale
        self._start = start.astimezone(UTC)
        self._real_clock = real_clock
        self._real_origin = real_clock()

    @property
    def time_scale(self) -> float:
        """Lab seconds per real second."""
        return self._time_scale

    @property
    def start(self) -> datetime:
        return self._start

    def elapsed(self) -> float:
        """Lab seconds since the clock started."""
        return (self._real_clock() - self._real_origin) * self._time_scale

    def now(self) -> datetime:
        return self.at(self.elapsed())

    def at(self, lab_offset: float) -> datetime:
        """The lab instant `lab_offset` lab seconds after the start."""
        return self._start + timedelta(seconds=lab_offset)

    def offset_of(self, instant: datetime) -> float:
        """Lab seconds from the start to `instant` (negative before the start)."""
        return (instant - self._start).total_seconds()

    def to_real(self, lab_seconds: float) -> float:
        return lab_seconds / self._time_scale

    def to_lab(self, real_seconds: float) -> float:
        return real_seconds * self._time_scale

    async def sleep(self, lab_seconds: float) -> None:
        await asyncio.sleep(max(0.0, self.to_real(lab_seconds)))

    async def sleep_until(self, lab_offset: float) -> None:
        """Sleeps until the lab clock reads `lab_offset`; returns at once if it is past."""
        await self.sleep(lab_offset - self.elapsed())


#: What a scheduled event runs: called with the lab offset it was due at, so a chain of events
#: (boot -> crash -> boot) keeps exact lab times even when the event loop runs late.
LabAction = Callable[[float], None]


class LabScheduler:
    """One timer heap for the whole fleet.

    2,000 hosts each crash-looping every couple of lab minutes would be 2,000 sleeping tasks;
    one heap of (due, sequence, action) and one task that sleeps until the earliest is cheaper
    and keeps events in lab-time order. Actions are synchronous and must not block.
    """

    def __init__(self, clock: LabClock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, LabAction]] = []
        self._sequence = itertools.count()
        self._wakeup: asyncio.Event | None = None
        # A failing action is a lab bug; it must not stop every other host's clock, so it is
        # logged and kept here for tests to assert on.
        self.errors: list[BaseException] = []

    @property
    def pending(self) -> int:
        return len(self._heap)

    def call_at(self, lab_offset: float, action: LabAction) -> None:
        """Runs `action` when the lab clock reaches `lab_offset` (seconds after its start)."""
        heapq.heappush(self._heap, (lab_offset, next(self._sequence), action))
        if self._wakeup is not None and self._heap[0][0] == lab_offset:
            self._wakeup.set()

    def call_later(self, lab_seconds: float, action: LabAction) -> None:
        self.call_at(self.clock.elapsed() + lab_seconds, action)

    def run_due(self, *, until: float | None = None, max_events: int | None = None) -> int:
        """Runs every action due by `until` (default: now), including ones they schedule,
        at most `max_events` of them. Returns how many ran."""
        limit = self.clock.elapsed() if until is None else until
        ran = 0
        while self._heap and self._heap[0][0] <= limit and ran != max_events:
            due, _, action = heapq.heappop(self._heap)
            try:
                action(due)
            except Exception as exc:
                _log.exception("lab event failed")
                self.errors.append(exc)
            ran += 1
        return ran

    async def run(self) -> None:
        """Runs events as lab time reaches them, until cancelled."""
        self._wakeup = asyncio.Event()
        try:
            while True:
                # A backlog (a stalled loop, a huge time scale) is worked off in batches so
                # the servers sharing this event loop still get to answer in between.
                if self.run_due(max_events=_BATCH) == _BATCH:
                    await asyncio.sleep(0)
                    continue
                self._wakeup.clear()
                timeout = None
                if self._heap:
                    timeout = max(0.0, self.clock.to_real(self._heap[0][0] - self.clock.elapsed()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout)
        finally:
            self._wakeup = None
