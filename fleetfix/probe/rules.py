"""Diagnosis: pure functions from a host's facts (and what the network saw of it) to a state
and a reason a sysadmin can read, e.g. "2 bad channel files (04:09 UTC); 5 bugchecks 0x50 in
the last hour".

Two rules judge a channel 291 file by its time stamp (FACTS.md):

- `ADVISORY`: CrowdStrike's advisory. Content stamped from 04:09 UTC up to (not including)
  05:27 UTC is the bad content; 05:27 UTC or later is the reverted, good content.
- `STRICT` (the default): CrowdStrike's own status script. A file is good only if its
  LastWriteTimeUtc is after 2024-07-19 06:27 UTC (epoch 1721370420); anything not later is
  treated as bad.

STRICT is the default because it is the safe way to be wrong: it never calls a host healthy on
a file the vendor's script would not, and it cannot make fleetfix delete good content, because
a file is only ever *bad* (and deletable) when its first 8 bytes are also the bad header
`AA AA AA AA 01 00 23 01`. A file that fails the time rule but has another header is reported
as suspect and left alone.
"""

from __future__ import annotations

import enum
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fleetfix.models import HostState
from fleetfix.probe.facts import ChannelFile, ProbeFacts, SafeMode, ServiceStatus

BAD_HEADER = bytes.fromhex("AAAAAAAA01002301")
BAD_CONTENT_FROM = datetime(2024, 7, 19, 4, 9, tzinfo=UTC)
ADVISORY_GOOD_FROM = datetime(2024, 7, 19, 5, 27, tzinfo=UTC)
STRICT_GOOD_AFTER = datetime.fromtimestamp(1721370420, tz=UTC)  # 2024-07-19 06:27 UTC

# Kernel-Power 41 within this window before the probe count as "recent" bugchecks.
RECENT = timedelta(hours=1)
# Three crashes in an hour is no coincidence; a host that answered and vanished twice within
# the reachability window is cycling as seen from the network.
LOOP_CRASHES = 3
LOOP_VANISHINGS = 2
REACHABILITY_WINDOW = timedelta(minutes=30)
# A host that booted this recently and crashed this often is in a window of its loop.
SHORT_UPTIME_SECONDS = 15 * 60


class TimestampRule(enum.StrEnum):
    STRICT = "strict"
    ADVISORY = "advisory"


DEFAULT_RULE = TimestampRule.STRICT


class ChannelVerdict(enum.StrEnum):
    BAD = "bad"  # fails the time rule and carries the bad header (or the header is unknown)
    SUSPECT = "suspect"  # fails the time rule, but another header: not deleted
    GOOD = "good"


@dataclass(frozen=True, slots=True)
class Reachability:
    """One attempt to reach a host: when, and whether it answered."""

    at: datetime
    answered: bool


@dataclass(frozen=True, slots=True)
class Diagnosis:
    state: HostState
    reason: str
    bad_channel_files: tuple[str, ...] = ()
    recent_bugchecks: int = 0


def bad_by_time(stamp: datetime | None, rule: TimestampRule = DEFAULT_RULE) -> bool:
    """True when `rule` says a file with this LastWriteTimeUtc holds bad content. An unknown
    time fails both rules: nothing proves the file is the reverted one."""
    if stamp is None:
        return True
    if rule is TimestampRule.ADVISORY:
        return BAD_CONTENT_FROM <= stamp < ADVISORY_GOOD_FROM
    return stamp <= STRICT_GOOD_AFTER


def judge_channel_file(file: ChannelFile, rule: TimestampRule = DEFAULT_RULE) -> ChannelVerdict:
    if not bad_by_time(file.last_write_utc, rule):
        return ChannelVerdict.GOOD
    if file.header is not None and file.header[: len(BAD_HEADER)] != BAD_HEADER:
        return ChannelVerdict.SUSPECT
    return ChannelVerdict.BAD


def vanishings(history: Sequence[Reachability], *, now: datetime) -> int:
    """How often, within the reachability window before `now`, the host answered and then
    stopped answering."""
    recent = sorted((r for r in history if now - r.at <= REACHABILITY_WINDOW), key=lambda r: r.at)
    return sum(1 for a, b in itertools.pairwise(recent) if a.answered and not b.answered)


def diagnose(
    facts: ProbeFacts | None,
    history: Sequence[Reachability] = (),
    *,
    now: datetime | None = None,
    rule: TimestampRule = DEFAULT_RULE,
) -> Diagnosis:
    """The host's state and why. `facts` is None when the host did not answer the probe;
    `now` defaults to the facts' collection time, else the newest reachability record."""
    moment = now or (facts.collected_at if facts else _newest(history))
    cycles = 0 if moment is None else vanishings(history, now=moment)
    if facts is None:
        return _silent(history, cycles)
    return _answered(facts, cycles, rule)


def _newest(history: Sequence[Reachability]) -> datetime | None:
    return max((r.at for r in history), default=None)


def _silent(history: Sequence[Reachability], cycles: int) -> Diagnosis:
    if cycles >= LOOP_VANISHINGS:
        return Diagnosis(
            HostState.BOOT_LOOP,
            f"answered and vanished {cycles} times in the last {_minutes(REACHABILITY_WINDOW)} min",
        )
    answered = [r.at for r in history if r.answered]
    if not answered:
        return Diagnosis(HostState.UNREACHABLE, "never answered")
    return Diagnosis(HostState.UNREACHABLE, f"no answer since {_clock(max(answered))}")


def _answered(facts: ProbeFacts, cycles: int, rule: TimestampRule) -> Diagnosis:
    verdicts = [(f, judge_channel_file(f, rule)) for f in facts.channel_files]
    bad = [f for f, v in verdicts if v is ChannelVerdict.BAD]
    suspect = [f for f, v in verdicts if v is ChannelVerdict.SUSPECT]
    crashes = _recent_bugchecks(facts)
    parts = [p for p in (_files_text(bad), _bugchecks_text(crashes)) if p]
    if cycles:
        parts.append(f"answered and vanished {cycles} times in the last "
                     f"{_minutes(REACHABILITY_WINDOW)} min")  # fmt: skip
    looping = len(crashes) >= LOOP_CRASHES or cycles >= LOOP_VANISHINGS
    short_uptime = facts.uptime_seconds is not None and facts.uptime_seconds < SHORT_UPTIME_SECONDS
    bad_names = tuple(f.name for f in bad)
    if bad and facts.safe_mode is SafeMode.NORMAL and looping and short_uptime:
        return Diagnosis(HostState.BOOT_LOOP, "; ".join(parts), bad_names, len(crashes))
    if bad:
        if facts.safe_mode is not SafeMode.NORMAL:
            parts.append(f"running in safe mode ({facts.safe_mode})")
        return Diagnosis(HostState.AFFECTED, "; ".join(parts), bad_names, len(crashes))
    return _without_bad_files(facts, parts, suspect, crashes, looping=looping)


def _without_bad_files(
    facts: ProbeFacts,
    parts: list[str],
    suspect: list[ChannelFile],
    crashes: list[int],
    *,
    looping: bool,
) -> Diagnosis:
    if looping:
        # Not channel 291: another driver or content file. The bugcheck codes say which.
        parts.insert(0, "no bad channel file")
        return Diagnosis(HostState.AFFECTED, "; ".join(parts), (), len(crashes))
    if facts.safe_mode is not SafeMode.NORMAL:
        reason = f"running in safe mode ({facts.safe_mode}); no bad channel file: clear safe boot"
        return Diagnosis(HostState.AFFECTED, reason, (), len(crashes))
    sensor = facts.service("CSFalconService")
    if sensor is not None and sensor.status is not ServiceStatus.RUNNING:
        return Diagnosis(HostState.AFFECTED, f"CSFalconService is {sensor.status}", (), 0)
    notes = ["no bad channel file"]
    if suspect:
        notes.append(f"{len(suspect)} channel file(s) stamped in the bad window with another "
                     "header, left alone")  # fmt: skip
    notes.append(_bugchecks_text(crashes) or f"no bugcheck in the last {_hours(RECENT)}")
    return Diagnosis(HostState.HEALTHY, "; ".join(notes), (), len(crashes))


def _recent_bugchecks(facts: ProbeFacts) -> list[int]:
    """Bugcheck codes of Kernel-Power 41 events in the last hour before the probe (41 with
    code 0 is a power loss, not a bugcheck)."""
    since = facts.collected_at - RECENT
    return [
        event.bugcheck_code
        for event in facts.crash_events
        if event.event_id == 41 and event.bugcheck_code and event.at >= since
    ]


def _files_text(bad: list[ChannelFile]) -> str:
    if not bad:
        return ""
    stamps = sorted({_clock(f.last_write_utc) for f in bad if f.last_write_utc is not None})
    noun = "bad channel file" if len(bad) == 1 else "bad channel files"
    when = f" ({', '.join(stamps)})" if stamps else ""
    return f"{len(bad)} {noun}{when}"


def _bugchecks_text(codes: list[int]) -> str:
    if not codes:
        return ""
    counted = Counter(codes).most_common()
    pieces = [f"{n} {'bugcheck' if n == 1 else 'bugchecks'} 0x{code:X}" for code, n in counted]
    return f"{', '.join(pieces)} in the last {_hours(RECENT)}"


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M UTC")


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return "hour" if hours == 1 else f"{hours:g} hours"
