"""What a run tells its observers. The engine is one coroutine yielding these; the CLI prints
them, the TUI will draw them, and `--json` streams them as JSON Lines. Each is a frozen value
with a `kind` and a JSON-ready `as_dict()`; none ever carries a secret."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar

from fleetfix.models import HostState


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    kind: ClassVar[str] = "event"
    at: datetime = field(default_factory=_now)

    def as_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"event": self.kind}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, datetime):
                value = value.isoformat().replace("+00:00", "Z")
            elif isinstance(value, HostState):
                value = str(value)
            elif isinstance(value, Mapping):
                value = {str(k): v for k, v in value.items()}
            elif isinstance(value, tuple):
                value = list(value)
            record[item.name] = value
        return record


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    run_id: int
    pack: str
    hosts: int
    waves: tuple[int, ...]
    dry_run: bool
    resumed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveStarted(Event):
    kind: ClassVar[str] = "wave_started"
    wave: int
    hosts: int
    canary: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class HostChanged(Event):
    """A host moved to another state (a transition committed to the store)."""

    kind: ClassVar[str] = "host_changed"
    host: str
    from_state: HostState | None
    to_state: HostState
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted(Event):
    kind: ClassVar[str] = "step_started"
    host: str
    step: str
    attempt: int
    destructive: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFinished(Event):
    kind: ClassVar[str] = "step_finished"
    host: str
    step: str
    attempt: int
    status: str  # ok | failed | error | skipped
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryScheduled(Event):
    kind: ClassVar[str] = "retry_scheduled"
    host: str
    step: str
    attempt: int  # the attempt that failed
    error: str
    wait: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Planned(Event):
    """Dry run: what would happen to a host, and nothing more."""

    kind: ClassVar[str] = "planned"
    host: str
    state: HostState
    plan: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowCaught(Event):
    """A boot-looping host answered during one of its short windows and was given the fix."""

    kind: ClassVar[str] = "window_caught"
    host: str
    waited: float


@dataclass(frozen=True, slots=True, kw_only=True)
class HandsOn(Event):
    kind: ClassVar[str] = "hands_on"
    host: str
    instructions: str
    key_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerTripped(Event):
    kind: ClassVar[str] = "breaker_tripped"
    breaker: str  # auth | failures
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPaused(Event):
    """An operator paused the run: no new host starts; hosts in flight go on."""

    kind: ClassVar[str] = "run_paused"
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContinued(Event):
    kind: ClassVar[str] = "run_continued"
    actor: str
    paused_for: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress(Event):
    kind: ClassVar[str] = "progress"
    counts: Mapping[str, int]
    done: int
    total: int
    rate_per_minute: float
    eta_seconds: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HostDone(Event):
    """The run has finished with a host: its final state for this run."""

    kind: ClassVar[str] = "host_done"
    host: str
    state: HostState
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    run_id: int
    status: str  # finished | stopped_by_breaker | interrupted
    counts: Mapping[str, int]
    windows_caught: int
    duration: float
