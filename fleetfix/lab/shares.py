"""The numbers the lab's scenarios are built from, and their description for `lab up --help`.

Kept apart from `scenarios.py` (which builds hosts and pulls in the whole host model) so
the CLI can print the shares without loading the lab, and so the help text is made from
the very numbers the scenarios use.
"""

from __future__ import annotations

from collections.abc import Mapping

from fleetfix.lab.truth import Condition

C = Condition

CROWDSTRIKE_291: Mapping[Condition, float] = {
    C.HEALTHY: 0.20,
    C.AFFECTED_UP: 0.15,
    C.AFFECTED_TAMPER_PROTECTED: 0.10,
    C.BOOT_LOOP_WINDOW: 0.30,
    C.BOOT_LOOP_UNREACHABLE: 0.15,
    C.BITLOCKER_RECOVERY: 0.10,
}
SERVICE_OUTAGE: Mapping[Condition, float] = {
    C.HEALTHY: 0.40,
    C.SERVICE_STOPPED: 0.50,
    C.SERVICE_HUNG: 0.10,
}

# A boot-looping host with windows draws, per host, from these ranges (low, high): the share
# of its boots that answer, how many lab seconds they answer for, and the share that heal.
WINDOW_CHANCE = (0.3, 0.8)
WINDOW_SECONDS = (3.0, 10.0)
HEAL_CHANCE = (0.02, 0.1)


def _half_and_half(
    first: Mapping[Condition, float], second: Mapping[Condition, float]
) -> dict[Condition, float]:
    return {c: (first.get(c, 0.0) + second.get(c, 0.0)) / 2 for c in Condition}


#: Scenario name -> share of hosts in each condition.
SCENARIOS: Mapping[str, Mapping[Condition, float]] = {
    "crowdstrike-291": CROWDSTRIKE_291,
    "service-outage": SERVICE_OUTAGE,
    "mixed": _half_and_half(CROWDSTRIKE_291, SERVICE_OUTAGE),
}

#: How `describe` names each condition.
LABELS: Mapping[Condition, str] = {
    C.HEALTHY: "healthy",
    C.AFFECTED_UP: "affected but up",
    C.AFFECTED_TAMPER_PROTECTED: "affected, up and tamper-protected",
    C.BOOT_LOOP_WINDOW: "boot-looping with short reachable windows",
    C.BOOT_LOOP_UNREACHABLE: "boot-looping and never reachable",
    C.BITLOCKER_RECOVERY: "at the BitLocker recovery screen",
    C.SERVICE_STOPPED: "with a service stopped",
    C.SERVICE_HUNG: "with Spooler hung in StopPending",
}


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


def _range(low: float, high: float, *, percent: bool) -> str:
    if percent:
        return f"{low * 100:g}-{high * 100:g}%"
    return f"{low:g}-{high:g}"


def describe(scenario: str) -> str:
    """The scenario's shares in words: "20% healthy; 15% affected but up; ..."."""
    parts = []
    for condition, share in SCENARIOS[scenario].items():
        if not share:
            continue
        part = f"{_percent(share)} {LABELS[condition]}"
        if condition is C.BOOT_LOOP_WINDOW:
            part += (
                f" ({_range(*WINDOW_CHANCE, percent=True)} of boots answer for "
                f"{_range(*WINDOW_SECONDS, percent=False)} lab seconds, "
                f"{_range(*HEAL_CHANCE, percent=True)} heal)"
            )
        parts.append(part)
    return "; ".join(parts)
