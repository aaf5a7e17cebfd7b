"""Seeded fleets: the same seed builds the same fleet, conditions come in the documented
shares, and each host really is in the condition its truth says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from fleetfix.errors import LabError
from fleetfix.lab.api import Service
from fleetfix.lab.boot import BootState, has_bad_channel_file
from fleetfix.lab.clock import LabClock
from fleetfix.lab.host import LabContext
from fleetfix.lab.machine import ServiceStatus
from fleetfix.lab.scenarios import SCENARIOS, build_fleet, lab_addresses
from fleetfix.lab.truth import Condition

PASSWORD = "Lab-Passw0rd!"


def truth_of(scenario: str, *, hosts: int, seed: int) -> dict[str, object]:
    clock = LabClock(time_scale=1.0)
    return build_fleet(scenario, hosts=hosts, seed=seed, clock=clock, password=PASSWORD).truth()


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_same_seed_builds_the_same_truth(scenario: str) -> None:
    assert truth_of(scenario, hosts=60, seed=11) == truth_of(scenario, hosts=60, seed=11)
    assert truth_of(scenario, hosts=60, seed=11) != truth_of(scenario, hosts=60, seed=12)


def test_the_same_seed_builds_the_same_truth_in_another_process() -> None:
    # String hashing is salted per process; a fleet built from a set's order would differ.
    code = (
        "import json; from fleetfix.lab.clock import LabClock;"
        "from fleetfix.lab.scenarios import build_fleet;"
        "print(json.dumps(build_fleet('mixed', hosts=40, seed=5, clock=LabClock(),"
        " password='x').truth()))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(salt)},
        ).stdout
        for salt in (1, 2)
    ]
    assert runs[0] == runs[1]
    assert json.loads(runs[0]) == truth_of("mixed", hosts=40, seed=5)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_thousand_hosts_come_in_the_documented_shares(scenario: str) -> None:
    truth = truth_of(scenario, hosts=1000, seed=2024)
    counts = truth["counts"]
    assert isinstance(counts, dict)
    assert sum(counts.values()) == 1000
    for condition in Condition:
        share = SCENARIOS[scenario].get(condition, 0.0)
        assert abs(counts[str(condition)] - share * 1000) <= 5, condition
    hosts = truth["hosts"]
    assert isinstance(hosts, list)
    assert len({h["address"] for h in hosts}) == 1000
    assert len({h["name"] for h in hosts}) == 1000
    roles = Counter(h["tags"][0] for h in hosts)
    assert roles["role=pacs"] > roles["role=vna"] > 0


def test_service_outage_hosts_all_boot_and_some_services_are_broken() -> None:
    fleet = build_fleet("service-outage", hosts=50, seed=3, clock=LabClock(), password=PASSWORD)
    for host, truth in zip(fleet.hosts, fleet.truths, strict=True):
        assert host.state is BootState.UP
        assert not has_bad_channel_file(host.machine)
        if truth.condition is Condition.HEALTHY:
            assert truth.service is None
            continue
        assert truth.service is not None
        service = host.machine.services.get(truth.service)
        assert service is not None
        expected = {
            Condition.SERVICE_STOPPED: ServiceStatus.STOPPED,
            Condition.SERVICE_HUNG: ServiceStatus.STOP_PENDING,
        }[truth.condition]
        assert service.status is expected


def test_each_crowdstrike_host_starts_in_its_true_condition() -> None:
    fleet = build_fleet("crowdstrike-291", hosts=80, seed=9, clock=LabClock(), password=PASSWORD)
    fleet.context.scheduler.run_due(until=0.0)
    for host, truth in zip(fleet.hosts, fleet.truths, strict=True):
        assert has_bad_channel_file(host.machine) is truth.affected, truth.name
        assert host.machine.tamper_protection is truth.tamper_protected
        if truth.condition in (Condition.HEALTHY, Condition.AFFECTED_UP):
            assert host.is_listening(Service.WINRM)
        if truth.condition is Condition.AFFECTED_TAMPER_PROTECTED:
            assert host.state is BootState.UP
            assert host.machine.tamper_protection
        if truth.boot_loop:
            assert host.state in (BootState.CRASHED, BootState.BOOTING)
            assert host.profile.window_chance > 0 or truth.never_reachable
        if truth.condition is Condition.BITLOCKER_RECOVERY:
            assert host.state is BootState.BITLOCKER_RECOVERY
            assert truth.recovery_key_ids


def test_truth_names_key_ids_but_never_recovery_passwords() -> None:
    fleet = build_fleet("crowdstrike-291", hosts=30, seed=4, clock=LabClock(), password=PASSWORD)
    text = json.dumps(fleet.truth())
    keys = fleet.recovery_keys()
    assert len(keys) == 30
    for entry in keys:
        assert entry.key_id in text
        assert entry.recovery_password not in text
        assert entry.recovery_password not in repr(entry)
    assert PASSWORD not in text


def test_names_from_an_inventory_are_kept_with_their_tags() -> None:
    names = [("emr-db-01", ("site=north",)), ("EMR-DB-02", ("site=south", "role=db"))]
    fleet = build_fleet(
        "mixed", hosts=999, seed=1, clock=LabClock(), names=names, password=PASSWORD
    )
    assert [h.name for h in fleet.hosts] == ["emr-db-01", "EMR-DB-02"]
    assert [t.tags for t in fleet.truths] == [("site=north",), ("site=south", "role=db")]
    assert fleet.host("EMR-DB-01") is fleet.hosts[0]


def test_addresses_come_from_the_callers_iterator() -> None:
    addresses = iter(["127.1.2.3", "127.1.2.4"])
    fleet = build_fleet(
        "crowdstrike-291", hosts=2, seed=1, clock=LabClock(), addresses=addresses,
        password=PASSWORD,
    )  # fmt: skip
    assert [h.address for h in fleet.hosts] == ["127.1.2.3", "127.1.2.4"]
    assert all(h.machine.ip_address == h.address for h in fleet.hosts)


def test_default_addresses_skip_network_and_broadcast_octets() -> None:
    addresses = list(lab_addresses())
    assert addresses[0] == "127.77.0.1"
    assert addresses[253] == "127.77.0.254"
    assert addresses[254] == "127.77.1.1"
    assert not any(a.endswith((".0", ".255")) for a in addresses)


def test_hosts_share_the_context_they_are_given() -> None:
    clock = LabClock()
    context = LabContext.create(clock)
    fleet = build_fleet(
        "service-outage", hosts=3, seed=1, clock=clock, password=PASSWORD, context=context
    )
    assert fleet.context is context
    with pytest.raises(LabError, match="clock"):
        build_fleet("mixed", hosts=1, seed=1, clock=LabClock(), password="x", context=context)


def test_an_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(LabError, match="crowdstrike-291"):
        build_fleet("y2k", hosts=1, seed=1, clock=LabClock(), password=PASSWORD)


def test_every_host_has_the_lab_administrator() -> None:
    fleet = build_fleet("mixed", hosts=5, seed=8, clock=LabClock(), password=PASSWORD)
    assert all(h.check_password("Administrator", PASSWORD) for h in fleet.hosts)
