"""Key IDs, their prefixes, and recovery passwords as BitLocker defines them (FACTS.md).

A key ID is the GUID of a recovery password protector. The recovery screen shows it and
technicians read its first 8 hex characters, so lookups start from a prefix. A recovery
password is 8 groups of 6 digits, each 11 times a 16-bit number: checking that catches a
corrupt escrow entry before a technician types 48 digits into a console for nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from fleetfix.credentials import Secret
from fleetfix.keys.errors import BadRecoveryPasswordError, KeyLookupError

MIN_PREFIX_HEX = 8
_HEX = re.compile(r"\A[0-9A-F]*\Z")
_PASSWORD = re.compile(r"\A(\d{6}-){7}\d{6}\Z")
# Where hyphens fall in a GUID's 32 hex digits: 8-4-4-4-12.
_GUID_BREAKS = (8, 12, 16, 20)


def _hex_digits(text: str) -> str:
    return text.strip().strip("{}").replace("-", "").upper()


def as_guid(hex_digits: str) -> str:
    """`1A2B3C4D5E6F...` (any length up to 32) laid out as a GUID: `1A2B3C4D-5E6F-...`."""
    parts: list[str] = []
    start = 0
    for end in (*_GUID_BREAKS, 32):
        if start >= len(hex_digits):
            break
        parts.append(hex_digits[start:end])
        start = end
    return "-".join(parts)


@dataclass(frozen=True, slots=True)
class KeyIdPrefix:
    """The start of a key ID: 8 to 32 hex digits, braces and hyphens ignored, case folded."""

    hex_digits: str

    @classmethod
    def parse(cls, text: str) -> KeyIdPrefix:
        digits = _hex_digits(text)
        if not _HEX.match(digits) or len(digits) > 32:
            raise KeyLookupError(
                "that is not a key ID: use the hex digits shown on the recovery screen"
            )
        if len(digits) < MIN_PREFIX_HEX:
            raise KeyLookupError(
                f"key ID {digits} is too short: give at least {MIN_PREFIX_HEX} hex digits "
                "(the first block on the recovery screen)"
            )
        return cls(digits)

    @property
    def is_full(self) -> bool:
        return len(self.hex_digits) == 32

    @property
    def guid_prefix(self) -> str:
        return as_guid(self.hex_digits)

    def matches(self, key_id: KeyId) -> bool:
        return key_id.hex_digits.startswith(self.hex_digits)

    def __str__(self) -> str:
        return self.guid_prefix


@dataclass(frozen=True, slots=True)
class KeyId:
    """A full key ID (recovery password protector GUID), kept as 32 upper-case hex digits."""

    hex_digits: str

    @classmethod
    def parse(cls, text: str) -> KeyId:
        digits = _hex_digits(text)
        if len(digits) != 32 or not _HEX.match(digits):
            # The text is not echoed: a mixed-up column could put a recovery password here.
            raise KeyLookupError("that is not a full key ID (a GUID of 32 hex digits)")
        return cls(digits)

    @property
    def guid(self) -> str:
        """`1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D`: the form the recovery ISO's CSV uses."""
        return as_guid(self.hex_digits)

    def __str__(self) -> str:
        return self.guid


@dataclass(frozen=True, slots=True)
class RecoveryKeyInfo:
    """What a provider knows about a key without reading it: safe to list, log and store."""

    key_id: KeyId
    provider: str
    host: str | None = None
    created: datetime | None = None
    volume: str | None = None
    # Where the provider finds the key again (a DN, a Graph key id, a CSV line); no secret.
    locator: str = ""

    def describe(self) -> str:
        created = self.created.isoformat() if self.created else "created ?"
        return (
            f"{self.key_id}  host {self.host or '?'}  {created}  "
            f"volume {self.volume or '?'}  ({self.provider})"
        )


def is_recovery_password(text: str) -> bool:
    if not _PASSWORD.match(text):
        return False
    return all(int(group) % 11 == 0 and int(group) // 11 < 65536 for group in text.split("-"))


def checked_recovery_password(text: str, *, key_id: KeyId, provider: str) -> Secret:
    """Wrap a provider's answer as a Secret, or refuse it. The message never echoes the text."""
    candidate = text.strip()
    if not is_recovery_password(candidate):
        raise BadRecoveryPasswordError(
            f"{provider} returned a value for key ID {key_id} that is not a valid recovery "
            "password (48 digits in 8 groups, each divisible by 11); it was not shown. "
            "Check the escrow entry, or look the key up in another provider."
        )
    return Secret(candidate)
