"""`probe_hosts` against a real crowdstrike-291 lab on loopback, through the real clients, with
a real incident database: what it records, how it diagnoses, and what it refuses to move.

The lab runs in real time (time_scale 1): a boot-looping host's reachable windows are seconds
in a 75-150 s cycle, so the hosts the lab built as up stay up and the others stay down for the
length of a test, and the lab's ground truth (truth.py) is the answer key.
"""

from __future__ import annotations

import csv
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fleetfix.inventory import load_inventory
from fleetfix.lab.api import Fault, FaultKind
from fleetfix.lab.fleet import Lab
from fleetfix.lab.truth import HostTruth
from fleetfix.models import Host, HostState, Transport
from fleetfix.probe.rules import TimestampRule
from fleetfix.probe.run import ProbeOutcome, ProbeStatus, probe_hosts
from fleetfix.store import Store, open_reader
from fleetfix.transports.runner import RunOptions
from tests.integration.test_transport_support import PASSWORD, options

pytestmark = pytest.mark.integration

SEED = 291
HOSTS = 10
RUN = RunOptions(concurrency=10, timeout=30.0, connect_timeout=3.0)


async def start_outage(directory: Path, *, hosts: int = HOSTS) -> Lab:
    return await Lab.start(
        hosts=hosts, scenario="crowdstrike-291", seed=SEED, time_scale=1.0,
        directory=directory, password=PASSWORD, ssh_port=0, winrm_port=0, winrms_port=0,
    )  # fmt: skip


@pytest.fixture
async def outage(tmp_path: Path) -> AsyncIterator[Lab]:
    running = await start_outage(tmp_path / "lab")
    yield running
    await running.stop()


def expected_state(truth: HostTruth) -> HostState:
    """What a correct diagnosis of a host that answered says, by the lab's answer key."""
    if truth.healthy:
        return HostState.HEALTHY
    if truth.boot_loop:
        return HostState.BOOT_LOOP
    assert truth.affected, truth
    return HostState.AFFECTED


def lab_hosts(lab: Lab) -> list[Host]:
    return list(load_inventory(Path(lab.paths()["inventory_csv"])).hosts)


def truths(lab: Lab) -> dict[str, HostTruth]:
    return {truth.name: truth for truth in lab.fleet.truths}


def store_for(lab: Lab, path: Path, hosts: list[Host]) -> Store:
    store = Store.open(path)
    store.import_hosts(hosts, source="lab inventory", actor="pytest")
    return store


async def probe(
    lab: Lab, store: Store, hosts: list[Host], *, run: RunOptions = RUN, run_id: int | None = None
) -> dict[str, ProbeOutcome]:
    found = [
        outcome
        async for outcome in probe_hosts(
            hosts, store=store, options_for=lambda _host: options(lab), run=run,
            rule=TimestampRule.STRICT, actor="pytest", run_id=run_id,
        )
    ]  # fmt: skip
    return {outcome.host: outcome for outcome in found}


def pick(lab: Lab, *, healthy: bool = False, affected_up: bool = False) -> str:
    for truth in lab.fleet.truths:
        if healthy and truth.healthy:
            return truth.name
        if affected_up and truth.affected and not truth.boot_loop and not truth.never_reachable:
            return truth.name
    raise AssertionError("the seeded fleet lacks the host this test needs")


async def test_every_reachable_host_is_diagnosed_as_the_lab_truth_says(
    outage: Lab, tmp_path: Path
) -> None:
    hosts = lab_hosts(outage)
    answer_key = truths(outage)
    with store_for(outage, tmp_path / "i.db", hosts) as store:
        outcomes = await probe(outage, store, hosts)
    assert set(outcomes) == set(answer_key)
    answered = {name for name, o in outcomes.items() if o.status is ProbeStatus.OK}
    # The hosts that are up at the start (healthy, affected but up) must all have answered.
    up = {n for n, t in answer_key.items() if not t.boot_loop and not t.never_reachable}
    assert up <= answered
    assert len(answered) >= 3
    with open_reader(tmp_path / "i.db") as reader:
        for name in answered:
            record = reader.host(name)
            assert record is not None
            assert (name, record.state) == (name, expected_state(answer_key[name]))
            assert record.reason == outcomes[name].reason
            assert [r.answered for r in reader.reachability(name)] == [True]
            assert reader.facts(name)[0].facts["host_name"]
    for name in set(answer_key) - answered:
        assert outcomes[name].status is ProbeStatus.UNREACHABLE, outcomes[name]


async def test_a_host_that_is_down_is_recorded_unanswered_and_unreachable(
    outage: Lab, tmp_path: Path
) -> None:
    down = next(t.name for t in outage.fleet.truths if t.never_reachable)
    hosts = [h for h in lab_hosts(outage) if h.name == down]
    with store_for(outage, tmp_path / "i.db", hosts) as store:
        run_id = store.begin_run(command="probe", actor="pytest")
        outcome = (await probe(outage, store, hosts, run_id=run_id))[down]
    assert (outcome.status, outcome.state, outcome.moved) == (
        ProbeStatus.UNREACHABLE, HostState.UNREACHABLE, True,
    )  # fmt: skip
    assert outcome.reason == "never answered"
    with open_reader(tmp_path / "i.db") as reader:
        seen = reader.reachability(down)
        record = reader.host(down)
        moves = reader.transitions(down)
        assert reader.facts(down) == []
    assert [(r.answered, r.status, r.run_id) for r in seen] == [(False, "unreachable", run_id)]
    assert seen[0].detail  # the transport's reason, for the sysadmin
    assert record is not None and record.state is HostState.UNREACHABLE
    assert (moves[-1].to_state, moves[-1].run_id) == (HostState.UNREACHABLE, run_id)


async def test_a_silent_host_that_answered_and_vanished_repeatedly_is_boot_looping(
    outage: Lab, tmp_path: Path
) -> None:
    down = next(t.name for t in outage.fleet.truths if t.never_reachable)
    hosts = [h for h in lab_hosts(outage) if h.name == down]
    with store_for(outage, tmp_path / "i.db", hosts) as store:
        # What earlier probes saw of it: up, gone, up (now gone again, as this probe finds).
        for answered in (True, False, True):
            store.record_reachability(down, answered=answered, transport="winrm-https",
                                      status="ok" if answered else "unreachable")  # fmt: skip
        outcome = (await probe(outage, store, hosts))[down]
    assert outcome.status is ProbeStatus.UNREACHABLE
    assert outcome.state is HostState.BOOT_LOOP
    assert outcome.reason == "answered and vanished 2 times in the last 30 min"


async def test_probing_twice_keeps_both_facts_and_both_reachability_rows(
    outage: Lab, tmp_path: Path
) -> None:
    name = pick(outage, healthy=True)
    hosts = [h for h in lab_hosts(outage) if h.name == name]
    with store_for(outage, tmp_path / "i.db", hosts) as store:
        first = (await probe(outage, store, hosts))[name]
        second = (await probe(outage, store, hosts))[name]
    assert (first.moved, second.moved) == (True, False)  # new -> healthy, then stays
    with open_reader(tmp_path / "i.db") as reader:
        facts = reader.facts(name)
        seen = reader.reachability(name)
        audit = reader.audit_log(event="probe.host")
    assert len(facts) == 2
    assert facts[0].collected_at <= facts[1].collected_at
    assert {f.facts["host_name"] for f in facts} == {name}
    assert [r.answered for r in seen] == [True, True]
    assert [(a.host, a.details["status"], a.details["state"]) for a in audit] == [
        (name, "ok", "healthy"), (name, "ok", "healthy"),
    ]  # fmt: skip
    assert PASSWORD not in (tmp_path / "i.db").read_bytes().decode("utf-8", errors="replace")


def _free_port(address: str) -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind((address, 0))
        return int(probe_socket.getsockname()[1])


def auto_inventory(lab: Lab, path: Path, name: str, *, winrm_port: int | None = None) -> Host:
    """The lab host as an inventory that says `auto`, its ports as tags."""
    entry = next(e for e in lab.entries() if e.name == name)
    tags = [f"winrm_port={winrm_port or entry.winrm_port}", f"winrms_port={entry.winrms_port}",
            f"ssh_port={entry.ssh_port}"]  # fmt: skip
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "address", "transport", "tags"])
        writer.writerow([entry.name, entry.address, "auto", ";".join(tags)])
    (host,) = load_inventory(path).hosts
    assert host.transport is Transport.AUTO
    return host


async def test_auto_learns_a_transport_and_uses_it_next_time(outage: Lab, tmp_path: Path) -> None:
    name = pick(outage, healthy=True)
    host = auto_inventory(outage, tmp_path / "auto.csv", name)
    with store_for(outage, tmp_path / "i.db", [host]) as store:
        first = (await probe(outage, store, [host]))[name]
        learned = store.host(name)
        # Pretend an earlier run settled on SSH: auto alone would pick HTTPS first, so an
        # SSH session now proves the learned transport was used instead of the port scan.
        store.set_learned_transport(name, Transport.SSH)
        second = (await probe(outage, store, [host]))[name]
        store.import_hosts([host], source="auto.csv again", actor="pytest")
        after_reimport = store.host(name)
    assert (first.status, first.transport) == (ProbeStatus.OK, "winrm-https")
    assert learned is not None and learned.learned_transport is Transport.WINRM_HTTPS
    assert (second.status, second.transport) == (ProbeStatus.OK, "ssh")
    assert after_reimport is not None and after_reimport.learned_transport is Transport.SSH


async def test_a_learned_transport_that_stopped_answering_falls_back_to_auto_once(
    outage: Lab, tmp_path: Path
) -> None:
    name = pick(outage, healthy=True)
    address = next(e.address for e in outage.entries() if e.name == name)
    host = auto_inventory(outage, tmp_path / "auto.csv", name, winrm_port=_free_port(address))
    with store_for(outage, tmp_path / "i.db", [host]) as store:
        store.set_learned_transport(name, Transport.WINRM)  # nothing listens there now
        outcome = (await probe(outage, store, [host]))[name]
        record = store.host(name)
    assert (outcome.status, outcome.transport) == (ProbeStatus.OK, "winrm-https")
    assert record is not None and record.learned_transport is Transport.WINRM_HTTPS


async def test_a_host_a_remediation_run_owns_is_reported_not_moved(
    outage: Lab, tmp_path: Path
) -> None:
    name = pick(outage, affected_up=True)
    hosts = [h for h in lab_hosts(outage) if h.name == name]
    with store_for(outage, tmp_path / "i.db", hosts) as store:
        store.transition(name, HostState.AFFECTED, reason="earlier probe", actor="pytest")
        store.transition(name, HostState.REMEDIATING, reason="wave 1", actor="engine")
        outcome = (await probe(outage, store, hosts))[name]
    assert outcome.status is ProbeStatus.OK
    assert outcome.diagnosis is not None and outcome.diagnosis.state is HostState.AFFECTED
    assert (outcome.state, outcome.moved) == (HostState.REMEDIATING, False)
    assert outcome.note == "not moved: remediating belongs to a remediation run"


async def test_auth_failure_and_a_service_fault_are_recorded_values(
    outage: Lab, tmp_path: Path
) -> None:
    rejected, faulty = pick(outage, healthy=True), pick(outage, affected_up=True)
    outage.set_fault(rejected, Fault(FaultKind.AUTH_FAIL))
    outage.set_fault(faulty, Fault(FaultKind.HTTP_500))
    await outage.settle()
    hosts = [h for h in lab_hosts(outage) if h.name in {rejected, faulty}]
    with store_for(outage, tmp_path / "i.db", hosts) as store:
        outcomes = await probe(outage, store, hosts)
    assert outcomes[rejected].status is ProbeStatus.AUTH_FAILED
    assert outcomes[faulty].status is ProbeStatus.ERROR
    with open_reader(tmp_path / "i.db") as reader:
        for name in (rejected, faulty):
            assert outcomes[name].state is HostState.NEW  # no diagnosis, no move
            assert outcomes[name].error
            (seen,) = reader.reachability(name)
            assert (seen.answered, seen.status) == (True, str(outcomes[name].status))
            assert reader.facts(name) == []
        audited = {a.host: a.details["status"] for a in reader.audit_log(event="probe.host")}
    assert audited == {rejected: "auth_failed", faulty: "error"}


async def test_one_silent_host_does_not_hold_up_the_others(outage: Lab, tmp_path: Path) -> None:
    stuck = pick(outage, healthy=True)
    outage.set_fault(stuck, Fault(FaultKind.BLACKHOLE))
    await outage.settle()
    answer_key = truths(outage)
    hosts = [h for h in lab_hosts(outage) if not answer_key[h.name].boot_loop]
    run = RunOptions(concurrency=2, timeout=30.0, connect_timeout=2.0)
    order: list[tuple[str, float]] = []
    started = time.monotonic()
    with store_for(outage, tmp_path / "i.db", hosts) as store:
        async for outcome in probe_hosts(
            hosts, store=store, options_for=lambda _host: options(outage), run=run,
            actor="pytest",
        ):  # fmt: skip
            order.append((outcome.host, time.monotonic() - started))
    assert len(order) == len(hosts)
    assert order[-1][0] == stuck  # with two slots, every other host went past it
    others = [seconds for name, seconds in order if name != stuck]
    assert max(others) < order[-1][1]
