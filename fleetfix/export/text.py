"""Formatting shared by every renderer: times, durations, shares, and the last-line scrub."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# A BitLocker recovery password (8 groups of 6 digits). Free text we export (reasons an
# operator typed) is scrubbed of anything shaped like one, in case someone pasted a key.
_RECOVERY_PASSWORD = re.compile(r"\d{6}(?:-\d{6}){7}")
REDACTED = "[redacted]"


def scrub(text: str) -> str:
    return _RECOVERY_PASSWORD.sub(REDACTED, text)


def time_text(moment: datetime | None, *, local: bool) -> str:
    """UTC ISO 8601 (`2024-07-19T04:09:00Z`), or the machine's local time with its offset."""
    if moment is None:
        return ""
    if local:
        return moment.astimezone().isoformat(timespec="seconds")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds_text(seconds: float | None) -> str:
    """Seconds with at most millisecond precision and no trailing zeros: `1800`, `12.5`."""
    if seconds is None:
        return ""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def duration_text(seconds: float | None) -> str:
    """For people: `1h 02m 03s`, `4m 05s`, `7s`."""
    if seconds is None:
        return ""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def share_value(share: float | None) -> float | None:
    return None if share is None else round(share, 4)


def percent_text(share: float | None) -> str:
    return "" if share is None else f"{share * 100:.1f} %"
