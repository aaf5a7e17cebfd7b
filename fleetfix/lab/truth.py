"""What is really wrong with each lab host, as the scenario built it: the answer key that
tests and benchmarks grade fleetfix's diagnosis against (`truth.json`).

The truth holds no secrets: BitLocker key protector IDs appear, recovery passwords never do.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class Condition(enum.StrEnum):
    """A host's condition when the lab starts."""

    HEALTHY = "healthy"
    # Bad channel file on disk, host up in normal mode: the next normal boot crash-loops.
    AFFECTED_UP = "affected_up"
    # As AFFECTED_UP, and the sensor's tamper protection denies deleting its files until the
    # host is in safe mode.
    AFFECTED_TAMPER_PROTECTED = "affected_tamper_protected"
    # Crash loop; some boots answer WinRM/SSH for a few seconds before the crash; may heal.
    BOOT_LOOP_WINDOW = "boot_loop_window"
    # Crash loop that never answers and never heals: only hands at the console fix it.
    BOOT_LOOP_UNREACHABLE = "boot_loop_unreachable"
    # The loop ended at the BitLocker recovery screen: needs the key typed at the console.
    BITLOCKER_RECOVERY = "bitlocker_recovery"
    # service-outage: boots fine, one service stopped, or hung in StopPending.
    SERVICE_STOPPED = "service_stopped"
    SERVICE_HUNG = "service_hung"


_AFFECTED = frozenset(
    {
        Condition.AFFECTED_UP,
        Condition.AFFECTED_TAMPER_PROTECTED,
        Condition.BOOT_LOOP_WINDOW,
        Condition.BOOT_LOOP_UNREACHABLE,
        Condition.BITLOCKER_RECOVERY,
    }
)
_BOOT_LOOP = frozenset({Condition.BOOT_LOOP_WINDOW, Condition.BOOT_LOOP_UNREACHABLE})
_NEVER_REACHABLE = frozenset({Condition.BOOT_LOOP_UNREACHABLE, Condition.BITLOCKER_RECOVERY})


@dataclass(frozen=True, slots=True)
class HostTruth:
    name: str
    address: str
    condition: Condition
    tags: tuple[str, ...]
    tamper_protected: bool
    window_chance: float = 0.0
    heal_chance: float = 0.0
    service: str | None = None  # the broken service, for service conditions
    recovery_key_ids: tuple[str, ...] = ()

    @property
    def affected(self) -> bool:
        """Has the bad channel 291 content (crashing or waiting to crash)."""
        return self.condition in _AFFECTED

    @property
    def boot_loop(self) -> bool:
        return self.condition in _BOOT_LOOP

    @property
    def never_reachable(self) -> bool:
        """Nothing on the network will ever answer without a technician at the console."""
        return self.condition in _NEVER_REACHABLE

    @property
    def healthy(self) -> bool:
        return self.condition is Condition.HEALTHY

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "condition": str(self.condition),
            "tags": list(self.tags),
            "healthy": self.healthy,
            "affected": self.affected,
            "boot_loop": self.boot_loop,
            "reachable_window": self.condition is Condition.BOOT_LOOP_WINDOW,
            "never_reachable": self.never_reachable,
            "bitlocker_recovery": self.condition is Condition.BITLOCKER_RECOVERY,
            "tamper_protected": self.tamper_protected,
            "window_chance": round(self.window_chance, 4),
            "heal_chance": round(self.heal_chance, 4),
            "service": self.service,
            "recovery_key_ids": list(self.recovery_key_ids),
        }


def truth_document(
    *, scenario: str, seed: int, lab_start: str, hosts: Sequence[HostTruth]
) -> dict[str, Any]:
    """The JSON-able content of truth.json."""
    counts = Counter(str(h.condition) for h in hosts)
    return {
        "scenario": scenario,
        "seed": seed,
        "lab_start": lab_start,
        "host_count": len(hosts),
        "counts": {str(c): counts.get(str(c), 0) for c in Condition},
        "hosts": [h.as_dict() for h in hosts],
    }
