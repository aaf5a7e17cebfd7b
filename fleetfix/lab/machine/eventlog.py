"""The System event log: the records a crash loop and a recovery leave behind."""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

# Windows caps a log by size (System: 20 MB by default) and overwrites the oldest events
# when full. The lab's records have no byte size, so it caps by count: roughly what 20 MB
# of short System events holds.
DEFAULT_MAX_RECORDS = 20_000


class EventLevel(enum.IntEnum):
    CRITICAL = 1
    ERROR = 2
    WARNING = 3
    INFORMATION = 4

    @property
    def display(self) -> str:
        return self.name.capitalize()


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    provider_name: str
    time_created: datetime
    level: EventLevel
    message: str
    # Named event data (e.g. BugcheckCode for 41), in the order the event schema lists them.
    properties: tuple[tuple[str, object], ...] = ()
    record_id: int = 0
    log_name: str = "System"


@dataclass(slots=True)
class EventLog:
    """A log that keeps its newest `max_records` events. RecordId counts every event ever
    written, so it keeps rising after the oldest are overwritten, as on Windows."""

    name: str = "System"
    max_records: int = DEFAULT_MAX_RECORDS
    records: deque[EventRecord] = field(default_factory=deque)
    last_record_id: int = 0

    def __post_init__(self) -> None:
        if self.max_records < 1:
            raise ValueError("an event log must hold at least one record")
        self.records = deque(self.records, maxlen=self.max_records)
        self.last_record_id = max([self.last_record_id, *(r.record_id for r in self.records)])

    def write(
        self,
        *,
        event_id: int,
        provider_name: str,
        time_created: datetime,
        level: EventLevel,
        message: str,
        properties: tuple[tuple[str, object], ...] = (),
    ) -> EventRecord:
        record = EventRecord(
            event_id,
            provider_name,
            time_created,
            level,
            message,
            properties,
            record_id=self.last_record_id + 1,
            log_name=self.name,
        )
        self.last_record_id = record.record_id
        self.records.append(record)  # the deque's maxlen drops the oldest
        return record

    def query(
        self,
        *,
        ids: Collection[int] = (),
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        max_events: int | None = None,
    ) -> list[EventRecord]:
        """Newest first, as Get-WinEvent returns them."""
        found = [
            r
            for r in reversed(self.records)
            if (not ids or r.id in ids)
            and (start_time is None or r.time_created >= start_time)
            and (end_time is None or r.time_created <= end_time)
        ]
        return found if max_events is None else found[:max_events]


# Event messages as Windows words them, so a script matching on them meets the real text.
def kernel_power_41_message() -> str:
    return (
        "The system has rebooted without cleanly shutting down first. This error could be "
        "caused if the system stopped responding, crashed, or lost power unexpectedly."
    )


def bugcheck_1001_message(*, code: int, parameters: tuple[int, int, int, int]) -> str:
    params = ", ".join(f"0x{p:016x}" for p in parameters)
    return (
        f"The computer has rebooted from a bugcheck.  The bugcheck was: 0x{code:08x} "
        f"({params}). A dump was saved in: C:\\Windows\\MEMORY.DMP. Report Id: "
    )


def unexpected_shutdown_6008_message(*, at: datetime) -> str:
    return f"The previous system shutdown at {at:%H:%M:%S} on {at:%m/%d/%Y} was unexpected."
