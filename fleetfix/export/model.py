"""The report as frozen values: the only fields any export may show.

Times are aware UTC datetimes and durations are seconds; renderers format them (UTC ISO 8601,
or local time with --local-time) so the model never depends on where it is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fleetfix.models import HostState

#: Hosts still hit: diagnosed bad and not yet recovered (unreachable is counted on its own,
#: because nothing proves an unreachable host was hit at all).
STILL_AFFECTED = frozenset(
    {
        HostState.AFFECTED,
        HostState.BOOT_LOOP,
        HostState.REMEDIATING,
        HostState.AWAITING_REBOOT,
        HostState.NEEDS_HANDS_ON,
        HostState.FAILED,
    }
)
#: The tag keys the summary breaks down by, in the order shown.
BREAKDOWN_KEYS = ("site", "role", "criticality")
UNTAGGED = "(none)"


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Recovery numbers for a set of hosts: the whole report (`dimension` "all") or one tag
    value (`dimension` "site", `value` "paris")."""

    dimension: str
    value: str
    hosts: int
    #: Hosts per state, every HostState present, in HostState order.
    counts: tuple[tuple[HostState, int], ...]
    #: Hosts diagnosed affected or boot-looping at some time, plus any host now recovered.
    hit: int
    recovered: int
    #: recovered / hit, None when no host was hit.
    share_recovered: float | None
    median_seconds_to_recover: float | None
    p90_seconds_to_recover: float | None

    def count(self, state: HostState) -> int:
        return dict(self.counts)[state]


@dataclass(frozen=True, slots=True)
class Summary:
    incident_start: datetime | None
    first_detection: datetime | None
    first_fix: datetime | None
    last_change: datetime | None
    overall: GroupStats
    by_tag: tuple[GroupStats, ...]


@dataclass(frozen=True, slots=True)
class TimelineSample:
    at: datetime
    recovered: int
    still_affected: int


@dataclass(frozen=True, slots=True)
class ChannelFileEvidence:
    name: str
    verdict: str  # "bad" or "suspect" (fleetfix.probe.rules.ChannelVerdict)
    last_write_utc: datetime | None
    sha256: str | None


@dataclass(frozen=True, slots=True)
class Bugcheck:
    code: str  # "0x50"
    events: int


@dataclass(frozen=True, slots=True)
class Evidence:
    collected_at: datetime
    channel_files: tuple[ChannelFileEvidence, ...]
    bugchecks: tuple[Bugcheck, ...]


@dataclass(frozen=True, slots=True)
class ActionLine:
    started_at: datetime
    finished_at: datetime | None
    step: str
    attempt: int
    result: str  # the outcome status (ok, failed, error, pending ...), never the output
    actor: str


@dataclass(frozen=True, slots=True)
class HostReport:
    name: str
    tags: tuple[str, ...]
    diagnosis: HostState | None
    diagnosed_at: datetime | None
    diagnosis_reason: str
    evidence: Evidence | None
    actions: tuple[ActionLine, ...]
    fixed_by: str | None  # "remote", "safe-mode cycle" or "by hand"; None if not recovered
    state: HostState
    state_since: datetime
    seconds_to_recover: float | None
    actors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OpenItem:
    kind: str  # "needs_hands_on", "failed" or "key_rotation"
    host: str
    since: datetime
    detail: str


@dataclass(frozen=True, slots=True)
class KeyAccess:
    at: datetime
    event: str
    key_id: str
    host: str
    actor: str
    reason: str
    purpose: str
    provider: str


@dataclass(frozen=True, slots=True)
class TamperEvidence:
    ok: bool
    rows_checked: int
    first_bad_row: int | None
    problem: str | None
    last_row_hash: str | None


@dataclass(frozen=True, slots=True)
class Filters:
    tags: tuple[str, ...]
    since: datetime | None


@dataclass(frozen=True, slots=True)
class Report:
    filters: Filters
    summary: Summary
    timeline: tuple[TimelineSample, ...]
    hosts: tuple[HostReport, ...]
    open_items: tuple[OpenItem, ...]
    key_access: tuple[KeyAccess, ...]
    tamper: TamperEvidence
