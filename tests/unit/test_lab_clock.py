"""LabClock and LabScheduler: lab time runs `time_scale` times faster than real time, and one
heap runs every host's events in lab-time order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from fleetfix.lab.clock import OUTAGE_MORNING, LabClock, LabScheduler


class SteppedTime:
    """A real-time source that moves only when told: the one thing these maths tests
    cannot get from time.monotonic."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


def test_lab_time_starts_an_hour_into_the_outage_by_default() -> None:
    clock = LabClock(time_scale=1.0)
    assert clock.start == datetime(2024, 7, 19, 5, 0, tzinfo=UTC)
    assert clock.start == OUTAGE_MORNING
    assert clock.now() >= OUTAGE_MORNING
    assert clock.now().utcoffset() == timedelta(0)


def test_lab_time_advances_by_real_time_times_the_scale() -> None:
    real = SteppedTime()
    start = datetime(2024, 7, 19, 4, 0, tzinfo=UTC)
    clock = LabClock(time_scale=60.0, start=start, real_clock=real)
    real.value += 2.5
    assert clock.elapsed() == 150.0
    assert clock.now() == start + timedelta(seconds=150)


def test_real_and_lab_seconds_convert_both_ways() -> None:
    clock = LabClock(time_scale=1000.0)
    assert clock.time_scale == 1000.0
    assert clock.to_real(90.0) == pytest.approx(0.09)
    assert clock.to_lab(0.09) == pytest.approx(90.0)


def test_offsets_and_instants_convert_both_ways() -> None:
    clock = LabClock()
    instant = datetime(2024, 7, 19, 4, 9, tzinfo=UTC)
    assert clock.offset_of(instant) == -51 * 60
    assert clock.at(clock.offset_of(instant)) == instant


@pytest.mark.parametrize("scale", [0.0, -1.0])
def test_a_time_scale_that_is_not_positive_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="time_scale"):
        LabClock(time_scale=scale)


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        LabClock(start=datetime(2024, 7, 19, 5, 0))


async def test_sleep_waits_lab_seconds_at_the_time_scale() -> None:
    clock = LabClock(time_scale=10_000.0)
    before = clock.elapsed()
    await clock.sleep(50.0)
    assert clock.elapsed() - before >= 50.0


def test_due_events_run_in_lab_time_order_not_scheduling_order() -> None:
    real = SteppedTime()
    clock = LabClock(real_clock=real)
    scheduler = LabScheduler(clock)
    seen: list[tuple[str, float]] = []
    scheduler.call_at(30.0, lambda due: seen.append(("late", due)))
    scheduler.call_at(10.0, lambda due: seen.append(("early", due)))
    scheduler.call_at(99.0, lambda due: seen.append(("future", due)))
    real.value += 40.0
    assert scheduler.run_due() == 2
    assert seen == [("early", 10.0), ("late", 30.0)]
    assert scheduler.pending == 1


def test_events_scheduled_by_an_event_run_in_the_same_pass_when_due() -> None:
    real = SteppedTime()
    clock = LabClock(real_clock=real)
    scheduler = LabScheduler(clock)
    seen: list[float] = []

    def boot(due: float) -> None:
        seen.append(due)
        if len(seen) < 3:
            scheduler.call_at(due + 10.0, boot)

    scheduler.call_at(0.0, boot)
    real.value += 100.0
    scheduler.run_due()
    # Each step is stamped with its own due time, not with when the pass ran.
    assert seen == [0.0, 10.0, 20.0]


def test_a_failing_event_is_recorded_and_later_events_still_run() -> None:
    real = SteppedTime()
    clock = LabClock(real_clock=real)
    scheduler = LabScheduler(clock)
    seen: list[float] = []

    def broken(due: float) -> None:
        raise RuntimeError("lab bug")

    scheduler.call_at(1.0, broken)
    scheduler.call_at(2.0, seen.append)
    real.value += 5.0
    scheduler.run_due()
    assert seen == [2.0]
    assert [str(e) for e in scheduler.errors] == ["lab bug"]


async def test_running_scheduler_fires_events_as_lab_time_reaches_them() -> None:
    clock = LabClock(time_scale=10_000.0)
    scheduler = LabScheduler(clock)
    fired = asyncio.Event()
    stamps: list[float] = []

    def record(due: float) -> None:
        stamps.append(clock.elapsed())
        fired.set()

    scheduler.call_later(1e9, lambda due: None)
    runner = asyncio.create_task(scheduler.run())
    try:
        await asyncio.sleep(0)
        # Scheduled after the loop went to sleep until a far event: it must wake up for it.
        scheduler.call_later(200.0, record)
        await asyncio.wait_for(fired.wait(), timeout=30)
    finally:
        runner.cancel()
    assert stamps
    assert stamps[0] >= 200.0
    assert scheduler.errors == []


def test_run_due_stops_after_max_events_and_keeps_the_rest() -> None:
    real = SteppedTime()
    scheduler = LabScheduler(LabClock(real_clock=real))
    seen: list[float] = []
    for due in range(5):
        scheduler.call_at(float(due), seen.append)
    real.value += 10.0
    assert scheduler.run_due(max_events=3) == 3
    assert seen == [0.0, 1.0, 2.0]
    assert scheduler.run_due() == 2
    assert seen == [0.0, 1.0, 2.0, 3.0, 4.0]


async def test_a_backlog_is_worked_off_in_batches_that_let_other_tasks_run() -> None:
    clock = LabClock(time_scale=1.0)
    scheduler = LabScheduler(clock)
    order: list[str] = []
    for _ in range(2_500):
        scheduler.call_at(-1.0, lambda due: order.append("event"))

    async def server() -> None:
        await asyncio.sleep(0)
        order.append("server")

    runner = asyncio.create_task(scheduler.run())
    answered = asyncio.create_task(server())
    try:
        await answered
        while scheduler.pending:
            await asyncio.sleep(0)
    finally:
        runner.cancel()
    assert order.count("event") == 2_500
    assert 0 < order.index("server") < 2_500
