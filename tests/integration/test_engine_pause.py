"""Pausing a run (the war room's P): no new host starts while paused, hosts in flight finish,
and the run goes on where it was once continued. The lab's command history is the witness."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from fleetfix.engine import FleetRun, RunPolicy
from fleetfix.engine.events import (
    Event,
    HostDone,
    Progress,
    RunContinued,
    RunFinished,
    RunPaused,
)
from fleetfix.lab.fleet import Lab
from fleetfix.models import Host
from fleetfix.packs import load_packs
from fleetfix.store import Store, open_reader
from tests.integration.test_engine_run import lab_hosts, open_store, service_lab
from tests.integration.test_transport_support import options

__all__ = ["service_lab"]  # the fixture, imported so pytest finds it here

_QUIET = 1.0  # seconds the fleet must stay untouched while paused
# Seconds with nobody new started and every started host done before a pause counts as
# settled: a loaded CI machine can take a while to send a just-started host's first command.
_CALM = 1.0


def one_at_a_time(lab: Lab, store: Store, hosts: list[Host]) -> FleetRun:
    # One host at a time: a pause after the first host holds every later one back.
    policy = RunPolicy(pack="crowdstrike-291", concurrency=1, connect_timeout=3.0)
    return FleetRun(hosts, policy=policy, store=store, packs=load_packs(),
                    options_for=lambda _host: options(lab), actor="engine")  # fmt: skip


def touched(lab: Lab) -> set[str]:
    return {truth.name for truth in lab.fleet.truths if lab.host(truth.name).history}


def done(events: list[Event]) -> set[str]:
    return {e.host for e in events if isinstance(e, HostDone)}


async def settle(
    started: Callable[[], set[str]], finished: Callable[[], set[str]], *, seconds: float = 120.0
) -> set[str]:
    """Wait until the hosts `started` names have stayed the same, and all `finished`, for
    `_CALM` seconds: the host that may have started just before the pause (its task can exist
    before its first command) has had time to show itself and finish. Returns them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    calm_since, seen = loop.time(), started()
    while loop.time() - calm_since < _CALM:
        assert loop.time() < deadline, f"never settled: {sorted(seen - finished())} still going"
        await asyncio.sleep(0.02)
        now = started()
        if now != seen or not now <= finished():
            calm_since, seen = loop.time(), now
    return seen


async def test_no_host_starts_while_paused_and_the_run_finishes_once_continued(
    service_lab: Lab, tmp_path: Path
) -> None:
    hosts = lab_hosts(service_lab)
    events: list[Event] = []
    quiet: list[tuple[set[str], set[str]]] = []
    with open_store(tmp_path / "i.db", hosts) as store:
        # A host of the incident that this run does not target: progress must not count it.
        store.import_hosts([Host("OTHER-01", address="127.0.0.99")], source="cmdb", actor="t")
        run = one_at_a_time(service_lab, store, hosts)

        async def hold_then_continue() -> None:
            before = await settle(lambda: touched(service_lab), lambda: done(events))
            await asyncio.sleep(_QUIET)
            quiet.append((before, touched(service_lab)))
            assert run.proceed(actor="alice")

        holder: asyncio.Task[None] | None = None
        async for event in run.events():
            events.append(event)
            if isinstance(event, HostDone) and holder is None:
                assert run.pause(actor="alice")
                assert not run.pause(actor="alice")  # already paused: nothing more recorded
                holder = asyncio.ensure_future(hold_then_continue())
        assert holder is not None
        await holder
        with open_reader(store.path) as reader:
            paused = reader.audit_log(event="run.paused")
            continued = reader.audit_log(event="run.continued")
    (before, after) = quiet[0]
    assert after == before, f"started while paused: {sorted(after - before)}"
    assert len(before) < len(hosts)  # the pause held some hosts back
    assert done(events) == {h.name for h in hosts}  # ... and continuing ran them all
    assert next(e for e in events if isinstance(e, RunFinished)).status == "finished"
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress, "a second of pause gives at least one progress tick"
    assert all(sum(e.counts.values()) == len(hosts) for e in progress), progress
    kinds = [type(e) for e in events if isinstance(e, RunPaused | RunContinued)]
    assert kinds == [RunPaused, RunContinued]
    assert [(r.actor, r.details["run_id"]) for r in paused] == [("alice", run.run_id)]
    assert [r.actor for r in continued] == ["alice"]
    assert float(str(continued[0].details["paused_seconds"])) >= _QUIET


async def test_stop_while_paused_ends_the_run_and_starts_nobody(
    service_lab: Lab, tmp_path: Path
) -> None:
    hosts = lab_hosts(service_lab)
    events: list[Event] = []
    with open_store(tmp_path / "i.db", hosts) as store:
        run = one_at_a_time(service_lab, store, hosts)

        async def stop_when_settled() -> None:
            await settle(lambda: touched(service_lab), lambda: done(events))
            run.request_stop()

        stopper: asyncio.Task[None] | None = None
        async for event in run.events():
            events.append(event)
            if isinstance(event, HostDone) and stopper is None:
                run.pause()
                stopper = asyncio.ensure_future(stop_when_settled())
        assert stopper is not None
        await stopper
    assert next(e for e in events if isinstance(e, RunFinished)).status == "interrupted"
    assert touched(service_lab) == done(events)
    assert len(done(events)) < len(hosts)
