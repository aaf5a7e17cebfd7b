"""What the store hands out: frozen values, never rows or dicts.

A record is a snapshot taken when it was read; the store never updates one in place, so the
engine, the TUI and the report can pass them across threads freely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from fleetfix.models import HostState, Transport


@dataclass(frozen=True, slots=True)
class HostRecord:
    """A host as the store knows it: the inventory's view plus its recovery state."""

    name: str
    address: str | None
    port: int | None
    transport: Transport
    tags: tuple[str, ...]
    state: HostState
    reason: str
    since: datetime
    #: How many times remediation has started on this host (entries into `remediating`).
    attempts: int
    #: The last remediation step recorded for the host, with its outcome once known.
    last_action: str | None
    source: str
    first_seen: datetime
    last_seen_in_inventory: datetime
    #: The transport `auto` settled on when the inventory says `auto`; None until learned.
    learned_transport: Transport | None = None


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """One row of a host's history. `from_state` is None for the import that created it."""

    id: int
    host: str
    from_state: HostState | None
    to_state: HostState
    reason: str
    actor: str
    run_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an inventory import did. `duplicates` counts names repeated within the import."""

    added: int
    updated: int
    unchanged: int
    duplicates: int = 0

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged


@dataclass(frozen=True, slots=True)
class StateCounts:
    """Hosts per state, every state present (zeros included), so a status line never guesses."""

    counts: Mapping[HostState, int]

    def __getitem__(self, state: HostState) -> int:
        return self.counts[state]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The result of walking the audit chain. `first_bad_row` is the id where it stopped."""

    ok: bool
    rows_checked: int
    first_bad_row: int | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    command: str
    actor: str
    pack: str | None
    options: Mapping[str, object]
    status: str
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """An intent (and, once known, its outcome) for one step on one host."""

    id: int
    run_id: int
    host: str
    step: str
    destructive: bool
    params: Mapping[str, object]
    attempt: int
    intent_at: datetime
    outcome_at: datetime | None
    status: str
    detail: str


@dataclass(frozen=True, slots=True)
class FactsRecord:
    id: int
    host: str
    run_id: int | None
    collected_at: datetime
    facts: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class ReachabilityRecord:
    """One attempt to reach a host. `answered` is what the network saw (an auth failure
    answered); `status` is the attempt's outcome (`ok`, `unreachable`, `auth_failed`, ...)."""

    id: int
    host: str
    run_id: int | None
    at: datetime
    answered: bool
    transport: str | None
    status: str
    detail: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit row as stored; `details` is what the caller gave (never a secret)."""

    id: int
    at: datetime
    actor: str
    event: str
    host: str | None
    details: Mapping[str, object]
