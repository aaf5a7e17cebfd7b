"""Runs and probes started from the dashboard against a real crowdstrike-291 lab on loopback,
through the real engine and clients: the confirmation, the run, pause, stop and resume, and
counters equal to the store's after."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fleetfix.engine import FINAL_STATES, RunPolicy
from fleetfix.inventory import load_inventory
from fleetfix.lab.fleet import Lab
from fleetfix.models import Host, HostState
from fleetfix.packs import load_packs
from fleetfix.store import Store, open_reader
from tests.integration.test_engine_pause import settle, touched
from tests.integration.test_transport_support import PASSWORD, options
from tests.tui.ui import FleetAccess, FleetfixApp, HostTable, RunScreen

if TYPE_CHECKING:
    from tui.work import PolicyFor

pytestmark = pytest.mark.integration
S = HostState
_QUIET = 1.0  # seconds the paused fleet must stay as it was, once settled


def policy_for(pack: str, dry_run: bool) -> RunPolicy:
    # The engine tests' outage policy with a short hands-on wait: boot-looping hosts that never
    # answer are handed over in seconds, so the test ends in under a minute.
    return RunPolicy(
        pack=pack, dry_run=dry_run, concurrency=12, hands_on_after=3.0, watch_interval=0.05,
        retry_initial=0.2, retry_max_wait=2.0, retry_deadline=20.0, reboot_timeout=30.0,
        connect_timeout=3.0, probe_timeout=30.0,
    )  # fmt: skip


def one_at_a_time(pack: str, dry_run: bool) -> RunPolicy:
    # One host at a time, so a stop or a pause lands while hosts are still waiting to start.
    return dataclasses.replace(policy_for(pack, dry_run), concurrency=1)


@contextlib.asynccontextmanager
async def lab_dashboard(
    tmp_path: Path, *, hosts: int, policy: PolicyFor = policy_for
) -> AsyncIterator[tuple[list[Host], Path, FleetfixApp, Lab]]:
    """A crowdstrike-291 lab, its inventory imported into a fresh incident database, and a
    dashboard over both that may act (`-i`), with `policy` for the runs it starts. The lab
    comes too: its command history is the witness of what reached a host."""
    lab = await Lab.start(
        hosts=hosts, scenario="crowdstrike-291", seed=7, time_scale=40.0,
        directory=tmp_path / "lab", password=PASSWORD, ssh_port=0, winrm_port=0, winrms_port=0,
    )  # fmt: skip
    try:
        fleet: list[Host] = list(load_inventory(Path(lab.paths()["inventory_csv"])).hosts)
        db = tmp_path / "incident.db"
        with Store.open(db) as store:
            store.import_hosts(fleet, source="lab inventory", actor="pytest")
        access = FleetAccess(fleet, lambda _host: options(lab), load_packs(), policy_for=policy)
        yield fleet, db, FleetfixApp(db, actor="alice", access=access, poll_seconds=0.1), lab
    finally:
        await lab.stop()


async def wait_until_idle(app: FleetfixApp, *, seconds: float) -> None:
    for _ in range(int(seconds / 0.1)):
        await asyncio.sleep(0.1)
        if not app.running:
            return
    raise AssertionError(f"the run did not finish within {seconds} s: {app.status_text}")


def hosts_where(app: FleetfixApp, states: Iterable[HostState]) -> set[str]:
    """The hosts in `states` on the dashboard, after a poll of the store."""
    app.poll()
    wanted = set(states)
    return {host.name for host in app.model.hosts.values() if host.state in wanted}


def started(app: FleetfixApp) -> set[str]:
    return hosts_where(app, set(S) - {S.NEW})


def status_lines(app: FleetfixApp) -> list[str]:
    """Every line the status bar shows from now on. The bar shows the latest event only, and
    an engine event may replace a line before the test reads it (a host handed over just
    after a resume did, on a loaded CI machine), so the test reads what was shown instead."""
    shown: list[str] = []
    say = app.say

    def recorded(text: str) -> None:
        shown.append(text)
        say(text)

    app.say = recorded  # type: ignore[method-assign]  # a spy: the real say still runs
    return shown


@pytest.mark.slow
async def test_run_from_the_dashboard_and_counters_match_the_store(tmp_path: Path) -> None:
    async with (
        lab_dashboard(tmp_path, hosts=6) as (hosts, db, app, _),
        app.run_test(size=(100, 30)) as pilot,
    ):
        await pilot.press("a", "x")
        dialog = app.screen
        assert isinstance(dialog, RunScreen)
        assert str(dialog.query_one("#run-go").render()).startswith("DRY RUN")
        await pilot.click("#run-dry")  # for real
        go = str(dialog.query_one("#run-go").render())
        assert f"FOR REAL: crowdstrike-291 on {len(hosts)} hosts" in go
        await pilot.click("#run-go")
        await pilot.pause()
        assert app.running
        await wait_until_idle(app, seconds=120)
        app.poll()
        with open_reader(db) as reader:
            counts = reader.state_counts()
            run = reader.runs()[-1]
            ended = {h.name: h.state for h in reader.hosts()}
        assert run.command == "run" and run.actor == "alice" and run.finished_at is not None
        assert {state: app.model.counts[state] for state in S} == dict(counts.counts)
        # Every host ended somewhere final: the run touched them all.
        assert counts[S.NEW] == 0
        assert set(ended) == {host.name for host in hosts}
        assert set(ended.values()) <= FINAL_STATES, ended
        assert counts[S.RECOVERED] + counts[S.HEALTHY] >= 1
        table_names = set(app.query_one(HostTable).visible_names())
        assert table_names == {host.name for host in hosts}
        assert "finished" in app.status_text


@pytest.mark.slow
async def test_quit_asks_during_a_run_stop_then_resume_finishes_it(tmp_path: Path) -> None:
    async with (
        lab_dashboard(tmp_path, hosts=6, policy=one_at_a_time) as (_, db, app, _),
        app.run_test(size=(100, 30)) as pilot,
    ):
        await pilot.press("a", "x")
        await pilot.click("#run-dry")
        await pilot.click("#run-go")
        await pilot.pause()
        assert app.running
        await pilot.press("q")
        assert "Stop it and quit?" in str(app.screen.query_one("Label").render())
        await pilot.press("n")
        assert app.return_code is None and app.running
        await pilot.press("S")
        assert app.stop_requested
        await wait_until_idle(app, seconds=120)
        assert "interrupted" in app.status_text
        with open_reader(db) as reader:
            (stopped,) = reader.runs()
            interrupted = reader.audit_log(event="run.interrupted")
        assert stopped.finished_at is None and len(interrupted) == 1
        app.poll()
        assert app.model.counts[S.NEW] > 0  # some hosts were never started

        await pilot.press("R")
        await pilot.pause()
        await wait_until_idle(app, seconds=120)
        with open_reader(db) as reader:
            (resumed,) = reader.runs()
            counts = reader.state_counts()
        assert resumed.id == stopped.id and resumed.status == "finished"
        app.poll()
        assert counts[S.NEW] == 0
        assert {state: app.model.counts[state] for state in S} == dict(counts.counts)


@pytest.mark.slow
async def test_probe_from_the_dashboard_records_facts_shown_in_the_detail(tmp_path: Path) -> None:
    async with (
        lab_dashboard(tmp_path, hosts=4) as (_, db, app, _),
        app.run_test(size=(100, 30)) as pilot,
    ):
        await pilot.press("a", "p")
        await pilot.pause()
        await wait_until_idle(app, seconds=60)
        with open_reader(db) as reader:
            (probe_run,) = reader.runs()
            probed = [h.name for h in reader.hosts() if reader.facts(h.name)]
        assert probe_run.command == "probe" and probe_run.status == "finished"
        assert probed, "no host answered the probe"
        assert app.model.counts[S.NEW] == 0  # every host got a diagnosis
        app.open_detail(probed[0])
        await pilot.pause()
        detail = str(app.screen.query_one("#detail").render())
        assert "collected " in detail and "Channel files:" in detail


@pytest.mark.slow
async def test_pause_holds_new_hosts_back_and_resume_continues_the_run(tmp_path: Path) -> None:
    async with (
        lab_dashboard(tmp_path, hosts=6, policy=one_at_a_time) as (hosts, db, app, lab),
        app.run_test(size=(100, 30)) as pilot,
    ):
        shown = status_lines(app)
        await pilot.press("a", "x")
        await pilot.click("#run-dry")
        await pilot.click("#run-go")
        await pilot.pause()
        await pilot.press("P")
        await pilot.pause()
        assert app.running and any("paused by alice" in line for line in shown), shown
        assert "PAUSED" in str(app.query_one("#title").render())
        # The host in flight finishes; nobody else starts. Settled once the hosts out of NEW
        # have stayed the same, all final, for a while (a silent boot-looping host leaves no
        # lab history, so the store says who started; the lab says what reached a host).
        went = await settle(lambda: started(app), lambda: hosts_where(app, FINAL_STATES))
        reached = touched(lab)
        held = app.model.counts[S.NEW]
        assert held > 0 and held == len(hosts) - len(went)
        await asyncio.sleep(_QUIET)
        assert started(app) == went, f"started while paused: {sorted(started(app) - went)}"
        assert touched(lab) == reached, f"reached while paused: {sorted(touched(lab) - reached)}"
        assert app.model.counts[S.NEW] == held and app.running
        await pilot.press("R")
        await pilot.pause()
        assert any("continued by alice" in line for line in shown), shown
        await wait_until_idle(app, seconds=120)
        app.poll()
        assert app.model.counts[S.NEW] == 0 and "finished" in app.status_text
    with open_reader(db) as reader:
        assert [r.actor for r in reader.audit_log(event="run.paused")] == ["alice"]
        assert len(reader.audit_log(event="run.continued")) == 1
