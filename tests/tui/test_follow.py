"""Opened on a database another writer is filling, the TUI follows it from the store alone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetfix.cli_tui import tui
from fleetfix.lab.process import LabProcess
from fleetfix.models import HostState
from fleetfix.store import Store, open_reader
from tests.conftest_store import TickingClock
from tests.tui.conftest import wait_for
from tests.tui.incident import NOW
from tests.tui.ui import FleetfixApp, HostTable

S = HostState


async def test_changes_written_by_another_store_reach_the_screen(incident: Path) -> None:
    app = FleetfixApp(incident, actor="alice", clock=lambda: NOW, poll_seconds=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.model.counts[S.RECOVERED] == 2
        with Store.open(incident, clock=TickingClock()) as writer:  # a headless run's writer
            writer.transition("VNA02", S.REMEDIATING, reason="removing files", actor="engine")
            writer.transition("VNA02", S.RECOVERED, reason="verified", actor="engine")
            await wait_for(lambda: app.model.counts[S.RECOVERED] == 3, what="the recovery")
            assert app.model.counts[S.RECOVERED] == 3
            assert "recovered 3/7" in str(app.query_one("#title").render())
            assert app.recoveries  # the rate chart got the new recovery
            await pilot.press("slash", *"state:remediating")
            assert app.query_one(HostTable).visible_names() == []
            writer.transition("VNA01", S.REMEDIATING, reason="safe mode", actor="engine")
            await wait_for(lambda: app.query_one(HostTable).visible_names(),
                           what="a host in the filtered table")  # fmt: skip
            assert app.query_one(HostTable).visible_names() == ["VNA01"]
        # Following never opened a write connection of its own.
        assert app._store is None


def test_tui_command_refuses_a_missing_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(tui, ["--db", str(tmp_path / "typo.db")])
    assert result.exit_code != 0
    assert "no incident database" in str(result.exception or "") + result.output
    assert not (tmp_path / "typo.db").exists()


def test_importing_the_tui_command_loads_no_textual() -> None:
    probe = "import sys, fleetfix.cli_tui; print(any(m.startswith('textual') for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    assert done.stdout.strip() == "False"


async def test_an_open_host_detail_follows_that_hosts_changes(incident: Path) -> None:
    app = FleetfixApp(incident, actor="alice", clock=lambda: NOW, poll_seconds=0.05)
    async with app.run_test(size=(100, 40)) as pilot:
        app.open_detail("VNA01")
        await pilot.pause()
        with Store.open(incident, clock=TickingClock()) as writer:
            writer.transition("VNA01", S.REMEDIATING, reason="safe mode cycle", actor="engine")
        await wait_for(
            lambda: "boot_loop -> remediating" in str(app.screen.query_one("#detail").render()),
            what="the new transition in the detail",
        )
        assert "engine: safe mode cycle" in str(app.screen.query_one("#detail").render())


def shown_counts(app: FleetfixApp) -> dict[HostState, int]:
    return {state: app.model.counts[state] for state in S}


@pytest.mark.slow
@pytest.mark.integration
async def test_the_screen_follows_a_headless_run_in_another_process(tmp_path: Path) -> None:
    with LabProcess.start(tmp_path / "lab", hosts=8, seed=7, time_scale=40) as lab:
        db = tmp_path / "incident.db"
        env = {**os.environ, **lab.env(), "FLEETFIX_DB": str(db), "FLEETFIX_OPERATOR": "ops"}
        imported = subprocess.run(
            [sys.executable, "-m", "fleetfix.cli", "inventory", "import",
             lab.paths["inventory_csv"]],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert imported.returncode == 0, imported.stderr
        app = FleetfixApp(db, actor="watcher", poll_seconds=0.1)
        async with app.run_test(size=(120, 30)) as pilot:
            run = subprocess.Popen(
                [sys.executable, "-m", "fleetfix.cli", "run", "-i", lab.paths["inventory_csv"],
                 "--pack", "crowdstrike-291", "--hands-on-after", "3", "--watch-interval", "0.1",
                 "--reboot-timeout", "60"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            try:
                moved = False
                while run.poll() is None:
                    await asyncio.sleep(0.2)
                    moved = moved or app.model.counts[S.NEW] < len(app.model.hosts)
                assert run.returncode in (0, 7), run.stderr.read() if run.stderr else ""
            finally:
                if run.poll() is None:
                    run.kill()
                    run.wait()
            assert moved, "the screen never showed a host move while the run went on"
            with open_reader(db) as reader:
                counts = reader.state_counts()
            # The run has ended: its last writes reach the screen with a later poll.
            await wait_for(lambda: shown_counts(app) == dict(counts.counts),
                           what="the screen's counts to equal the store's")  # fmt: skip
            await pilot.pause()
            assert shown_counts(app) == dict(counts.counts)
            assert counts[S.NEW] == 0
            assert f"recovered {counts[S.RECOVERED]}/" in str(app.query_one("#title").render())
        assert app._store is None  # following never opened a write connection
