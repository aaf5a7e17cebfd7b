"""Seeded fleets for the lab: the same scenario, size and seed always build the same fleet.

Scenarios and the share of hosts in each condition (exact counts, rounded; what rounding
leaves over is healthy). The numbers live in `shares.py`, which `lab up --help` reads too:

``crowdstrike-291`` (19 July 2024, an hour into the outage)
    20% healthy; 15% affected but up (bad file on disk, next normal boot crash-loops);
    10% affected, up and tamper-protected (deleting the file is denied outside safe mode);
    30% boot-looping with short reachable windows (per host: 30-80% of boots answer for
    3-10 lab seconds, 2-10% of boots heal); 15% boot-looping and never reachable (no window,
    no healing); 10% at the BitLocker recovery screen. Boot-looping hosts are tamper-protected
    at random, half of them.
``service-outage``
    Every host boots fine. 40% healthy; 50% one service stopped with exit code 1067
    (CSFalconService or Spooler, 3 to 2); 10% Spooler hung in StopPending.
``mixed``
    Half the crowdstrike-291 shares and half the service-outage shares.

Hosts are named after hospital roles (`PACS-WS-0001`, `EMR-APP-0003`, ...) with `role=`,
`site=` and `criticality=` tags, unless `names` mirrors a real inventory. Each host has a
local Administrator with the caller's password and BitLocker on C:; 30% run Server 2019,
the rest Server 2022. Per host a boot takes 60-120 lab seconds, a crash 15-30 more before the
boot loader runs again, and the bugcheck is 0x50 or 0x7E (even odds).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from fleetfix.errors import LabError
from fleetfix.lab.boot import (
    CHANNEL_291_PATTERN,
    PAGE_FAULT_IN_NONPAGED_AREA,
    SYSTEM_THREAD_EXCEPTION_NOT_HANDLED,
    BootProfile,
)
from fleetfix.lab.clock import LabClock
from fleetfix.lab.host import LabContext, LabHost
from fleetfix.lab.machine import Machine, ServiceStatus, add_channel_file
from fleetfix.lab.shares import HEAL_CHANCE, WINDOW_CHANCE, WINDOW_SECONDS
from fleetfix.lab.shares import SCENARIOS as SCENARIOS  # re-exported: scenarios by name
from fleetfix.lab.truth import Condition, HostTruth, truth_document

C = Condition

# (name prefix, role, criticality, weight): a hospital's Windows estate.
_ROLES = (
    ("PACS-WS", "pacs", "high", 30),
    ("RIS-WS", "ris", "medium", 15),
    ("EMR-APP", "emr", "critical", 10),
    ("VNA-SRV", "vna", "high", 5),
    ("LAB-WS", "lab", "medium", 20),
    ("ADMIN-WS", "admin", "low", 20),
)
_SITES = ("main-campus", "north", "south", "clinic-east")
_BITLOCKER_LOOP_CRASHES = 3


def lab_addresses(prefix: str = "127.77") -> Iterator[str]:
    """127.77.0.1, 127.77.0.2, ... skipping .0 and .255 in the last octet."""
    for third in range(256):
        for fourth in range(1, 255):
            yield f"{prefix}.{third}.{fourth}"


@dataclass(frozen=True, slots=True)
class RecoveryKeyEntry:
    """One escrowed BitLocker recovery password, for building a key-escrow fixture.
    A secret: never print it or log it; the lab writes it only to its escrow.csv (0600)."""

    host: str
    key_id: str
    recovery_password: str

    def __repr__(self) -> str:
        return f"RecoveryKeyEntry(host={self.host!r}, key_id={self.key_id!r}, ***)"


@dataclass(frozen=True, slots=True)
class Fleet:
    scenario: str
    seed: int
    context: LabContext
    hosts: tuple[LabHost, ...]
    truths: tuple[HostTruth, ...]

    def truth(self) -> dict[str, object]:
        start = self.context.clock.start.isoformat()
        return truth_document(
            scenario=self.scenario, seed=self.seed, lab_start=start, hosts=self.truths
        )

    def host(self, name: str) -> LabHost | None:
        return next((h for h in self.hosts if h.name.lower() == name.lower()), None)

    def recovery_keys(self) -> list[RecoveryKeyEntry]:
        return [
            RecoveryKeyEntry(host.name, protector.key_protector_id, protector.recovery_password)
            for host in self.hosts
            for volume in host.machine.bitlocker
            for protector in volume.recovery_passwords
        ]


def build_fleet(
    scenario: str,
    *,
    hosts: int,
    seed: int,
    clock: LabClock,
    names: Sequence[tuple[str, tuple[str, ...]]] | None = None,
    password: str,
    addresses: Iterator[str] | None = None,
    context: LabContext | None = None,
) -> Fleet:
    """Builds a seeded fleet. With `names` (from an inventory) the fleet has exactly those
    hosts and tags and `hosts` is not used. `context` lets a lab share its scheduler and
    fleet-wide faults; by default a new one is made on `clock`."""
    shares = SCENARIOS.get(scenario)
    if shares is None:
        raise LabError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    master = random.Random(f"{seed}/{scenario}/fleet")
    roster = list(names) if names is not None else _hospital_names(hosts, master)
    conditions = _deal_conditions(shares, len(roster), master)
    address_source = addresses or lab_addresses()
    if context is not None and context.clock is not clock:
        raise LabError("build_fleet: the context runs on another clock than the one given")
    lab = context or LabContext.create(clock)
    built = [
        _build_host(
            lab,
            seed=seed,
            index=i,
            name=name,
            tags=tags,
            condition=condition,
            address=next(address_source),
            password=password,
        )
        for i, ((name, tags), condition) in enumerate(zip(roster, conditions, strict=True))
    ]
    return Fleet(scenario, seed, lab, tuple(h for h, _ in built), tuple(t for _, t in built))


def _hospital_names(count: int, rng: random.Random) -> list[tuple[str, tuple[str, ...]]]:
    weights = [role[3] for role in _ROLES]
    numbers: dict[str, int] = {}
    roster: list[tuple[str, tuple[str, ...]]] = []
    for _ in range(count):
        prefix, role, criticality, _ = rng.choices(_ROLES, weights=weights)[0]
        numbers[prefix] = numbers.get(prefix, 0) + 1
        tags = (f"role={role}", f"site={rng.choice(_SITES)}", f"criticality={criticality}")
        roster.append((f"{prefix}-{numbers[prefix]:04d}", tags))
    return roster


def _deal_conditions(
    shares: Mapping[Condition, float], count: int, rng: random.Random
) -> list[Condition]:
    # Enum order, not the mapping's: the deal must not depend on how a mapping was built.
    dealt = [c for c in Condition for _ in range(round(shares.get(c, 0.0) * count))]
    dealt = dealt[:count] + [Condition.HEALTHY] * max(0, count - len(dealt))
    rng.shuffle(dealt)
    return dealt


def _build_host(
    context: LabContext,
    *,
    seed: int,
    index: int,
    name: str,
    tags: tuple[str, ...],
    condition: Condition,
    address: str,
    password: str,
) -> tuple[LabHost, HostTruth]:
    # Per-host rngs seeded by (seed, index): a host's build and boots do not depend on how
    # many random numbers the hosts before it drew.
    rng = random.Random(f"{seed}/{index}/setup")
    clock = context.clock
    booted = clock.start - timedelta(hours=rng.uniform(2, 24 * 30))
    machine = Machine.default(
        hostname=name,
        rng=random.Random(f"{seed}/{index}/machine"),
        server_2019=rng.random() < 0.3,
        administrator_password=password,
        at=booted,
    )
    machine.ip_address = address
    profile = _profile_for(condition, rng)
    host = LabHost(
        name=name,
        address=address,
        machine=machine,
        context=context,
        profile=profile,
        rng=random.Random(f"{seed}/{index}/boot"),
    )
    service = _apply_condition(host, condition, rng)
    truth = HostTruth(
        name=name,
        address=address,
        condition=condition,
        tags=tuple(tags),
        tamper_protected=machine.tamper_protection,
        window_chance=profile.window_chance,
        heal_chance=profile.heal_chance,
        service=service,
        recovery_key_ids=tuple(
            k.key_protector_id for v in machine.bitlocker for k in v.recovery_passwords
        ),
    )
    return host, truth


def _profile_for(condition: Condition, rng: random.Random) -> BootProfile:
    code = rng.choice((PAGE_FAULT_IN_NONPAGED_AREA, SYSTEM_THREAD_EXCEPTION_NOT_HANDLED))
    boot_seconds = rng.uniform(60, 120)
    restart = rng.uniform(15, 30)
    if condition is Condition.BOOT_LOOP_WINDOW:
        return BootProfile(
            boot_seconds=boot_seconds,
            crash_restart_seconds=restart,
            window_chance=rng.uniform(*WINDOW_CHANCE),
            window_seconds=rng.uniform(*WINDOW_SECONDS),
            heal_chance=rng.uniform(*HEAL_CHANCE),
            bugcheck_code=code,
        )
    recovery = _BITLOCKER_LOOP_CRASHES if condition is Condition.BITLOCKER_RECOVERY else None
    return BootProfile(
        boot_seconds=boot_seconds,
        crash_restart_seconds=restart,
        bitlocker_recovery_after=recovery,
        bugcheck_code=code,
    )


def _apply_condition(host: LabHost, condition: Condition, rng: random.Random) -> str | None:
    """Puts the host in its condition; returns the broken service's name, if any."""
    machine = host.machine
    machine.tamper_protection = condition is Condition.AFFECTED_TAMPER_PROTECTED or (
        condition in (Condition.BOOT_LOOP_WINDOW, Condition.BOOT_LOOP_UNREACHABLE)
        and rng.random() < 0.5
    )
    if condition in (Condition.HEALTHY, Condition.SERVICE_STOPPED, Condition.SERVICE_HUNG):
        return _break_service(host, condition, rng)
    # Affected: the 04:09 content replaced whatever channel 291 file the host had.
    for entry in machine.files.glob(CHANNEL_291_PATTERN):
        machine.files.remove(entry.path)
    add_channel_file(machine, bad=True)
    # Loops started when the content arrived; spread them so the fleet is not in lockstep.
    last_crash = -rng.uniform(0, 600)
    if condition in (Condition.BOOT_LOOP_WINDOW, Condition.BOOT_LOOP_UNREACHABLE):
        phase = rng.uniform(0, host.profile.boot_seconds + host.profile.crash_restart_seconds)
        host.crash(at=last_crash, restart_after=-last_crash + phase)
    elif condition is Condition.BITLOCKER_RECOVERY:
        host.stop_at_bitlocker_recovery(crashes=_BITLOCKER_LOOP_CRASHES, at=last_crash)
    return None


def _break_service(host: LabHost, condition: Condition, rng: random.Random) -> str | None:
    if condition is Condition.HEALTHY:
        return None
    if condition is Condition.SERVICE_HUNG:
        name = "Spooler"
        status = ServiceStatus.STOP_PENDING
    else:
        name = rng.choices(("CSFalconService", "Spooler"), weights=(3, 2))[0]
        status = ServiceStatus.STOPPED
    service = host.machine.services.get(name)
    if service is None:
        raise LabError(f"the lab machine has no {name} service to break")
    service.status = status
    # 1067: "The process terminated unexpectedly", what a crashed service reports.
    service.win32_exit_code = 1067 if status is ServiceStatus.STOPPED else 0
    return name
