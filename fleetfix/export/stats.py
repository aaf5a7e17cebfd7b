"""Numbers over many hosts: per-host time to recover, percentiles, group stats, the timeline."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import datetime

from fleetfix.export.model import STILL_AFFECTED, GroupStats, TimelineSample
from fleetfix.models import HostState
from fleetfix.store.records import HostRecord, TransitionRecord

DETECTED = frozenset({HostState.AFFECTED, HostState.BOOT_LOOP})
#: More samples than this and the chart is drawn from an even time grid instead.
MAX_TIMELINE_SAMPLES = 500


def detected_at(history: Sequence[TransitionRecord]) -> datetime | None:
    """When the host was first seen hit; else when it first left `new` (an unreachable host
    fixed by hand was never diagnosed, but its recovery started when we first looked)."""
    for record in history:
        if record.to_state in DETECTED:
            return record.at
    return next((r.at for r in history if r.from_state is not None), None)


def was_hit(host: HostRecord, history: Sequence[TransitionRecord]) -> bool:
    return host.state is HostState.RECOVERED or any(r.to_state in DETECTED for r in history)


def seconds_to_recover(host: HostRecord, history: Sequence[TransitionRecord]) -> float | None:
    """From detection to the transition that made the host recovered, for recovered hosts."""
    if host.state is not HostState.RECOVERED or not history:
        return None
    start = detected_at(history)
    if start is None:
        return None
    return (history[-1].at - start).total_seconds()


def p90(values: Sequence[float]) -> float | None:
    """Nearest-rank 90th percentile: a value that really occurred, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def group_stats(
    dimension: str,
    value: str,
    hosts: Sequence[HostRecord],
    history: dict[str, list[TransitionRecord]],
) -> GroupStats:
    counts = dict.fromkeys(HostState, 0)
    hit = 0
    durations: list[float] = []
    for host in hosts:
        counts[host.state] += 1
        past = history.get(host.name, [])
        hit += was_hit(host, past)
        seconds = seconds_to_recover(host, past)
        if seconds is not None:
            durations.append(seconds)
    recovered = counts[HostState.RECOVERED]
    return GroupStats(
        dimension=dimension,
        value=value,
        hosts=len(hosts),
        counts=tuple(counts.items()),
        hit=hit,
        recovered=recovered,
        share_recovered=recovered / hit if hit else None,
        median_seconds_to_recover=median(durations),
        p90_seconds_to_recover=p90(durations),
    )


def timeline(
    transitions: Sequence[TransitionRecord], *, since: datetime | None
) -> tuple[TimelineSample, ...]:
    """Recovered and still-affected hosts after each moment anything changed. From `since`
    on, the timeline opens with the counts in effect at `since`, not at the next change."""
    changes = _counts_after_each_time(transitions)
    if since is not None:
        changes = _from(changes, since)
    if len(changes) > MAX_TIMELINE_SAMPLES:
        changes = _even_grid(changes, MAX_TIMELINE_SAMPLES)
    return tuple(
        TimelineSample(at=at, recovered=recovered, still_affected=affected)
        for at, recovered, affected in changes
    )


def _from(
    changes: list[tuple[datetime, int, int]], since: datetime
) -> list[tuple[datetime, int, int]]:
    """The changes from `since` on, after a sample at `since` with the counts then (those of
    the last change before it; none before it: nothing was counted yet)."""
    before = [change for change in changes if change[0] < since]
    later = [change for change in changes if change[0] >= since]
    if later and later[0][0] == since:
        return later  # a change at `since` itself already says what held then
    _, recovered, affected = before[-1] if before else (since, 0, 0)
    return [(since, recovered, affected), *later]


def _counts_after_each_time(
    transitions: Sequence[TransitionRecord],
) -> list[tuple[datetime, int, int]]:
    state: dict[str, HostState] = {}
    recovered = affected = 0
    samples: list[tuple[datetime, int, int]] = []
    for record in sorted(transitions, key=lambda r: (r.at, r.id)):
        before = state.get(record.host)
        recovered -= before is HostState.RECOVERED
        affected -= before in STILL_AFFECTED
        state[record.host] = record.to_state
        recovered += record.to_state is HostState.RECOVERED
        affected += record.to_state in STILL_AFFECTED
        if samples and samples[-1][0] == record.at:
            samples[-1] = (record.at, recovered, affected)
        elif not samples or samples[-1][1:] != (recovered, affected):
            samples.append((record.at, recovered, affected))
    return samples


def _even_grid(
    changes: list[tuple[datetime, int, int]], size: int
) -> list[tuple[datetime, int, int]]:
    """`size` samples evenly spaced from first to last change, each the counts at that time."""
    first, last = changes[0][0], changes[-1][0]
    step = (last - first) / (size - 1)
    grid: list[tuple[datetime, int, int]] = []
    index = 0
    for number in range(size):
        moment = last if number == size - 1 else first + step * number
        while index + 1 < len(changes) and changes[index + 1][0] <= moment:
            index += 1
        grid.append((moment, changes[index][1], changes[index][2]))
    return grid
