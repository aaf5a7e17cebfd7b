"""Time as the store keeps it: ISO 8601 in UTC, from a clock the caller may pin.

Stored strings always carry microseconds and a `Z`, so they sort as text in time order, and
an incident timeline can be read straight out of SQLite without knowing where it was written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fleetfix.errors import StoreError

#: Any callable returning an aware datetime; tests pass one that returns a pinned time.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """`2024-07-19T04:09:00.000000Z` for any aware datetime, whatever its zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A naive time would be read back as UTC and silently shift the incident timeline.
        raise StoreError(
            f"the store's clock returned a naive datetime ({moment!r}); give it a zone"
        )
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str) -> datetime:
    """Read back what `to_iso` wrote (or any ISO 8601 string with `Z` or an offset)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def optional_from_iso(text: str | None) -> datetime | None:
    return None if text is None else from_iso(text)
