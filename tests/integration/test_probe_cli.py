"""`fleetfix probe` from the command line against a crowdstrike-291 lab in its own thread (the
command runs its own event loop, as from a terminal), with a fresh incident database."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fleetfix.cli import EXIT_HOSTS_FAILED, EXIT_HOSTS_UNREACHABLE, main
from fleetfix.lab import files
from fleetfix.lab.api import Fault, FaultKind
from fleetfix.lab.fleet import Lab
from fleetfix.models import HostState
from fleetfix.store import open_reader
from tests.integration.test_probe_run import expected_state, start_outage
from tests.integration.test_transport_support import PASSWORD

pytestmark = pytest.mark.integration


class OutageThread:
    """A crowdstrike-291 lab on its own event loop in a background thread."""

    def __init__(self, directory: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="lab", daemon=True)
        self.thread.start()
        self.lab: Lab = self.call(start_outage(directory))

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def stop(self) -> None:
        self.call(self.lab.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[OutageThread]:
    running = OutageThread(tmp_path / "lab")
    yield running
    running.stop()


def fleetfix_probe(lab: Lab, db: Path, *args: str) -> Result:
    paths = lab.paths()
    env = {
        "FLEETFIX_USERNAME": files.USERNAME, "FLEETFIX_PASSWORD": PASSWORD,
        "FLEETFIX_CA_BUNDLE": paths["ca"], "FLEETFIX_KNOWN_HOSTS": paths["known_hosts"],
        "FLEETFIX_DB": str(db), "FLEETFIX_OPERATOR": "tester",
    }  # fmt: skip
    argv = ["probe", "-i", paths["inventory_csv"], "--connect-timeout", "3", *args]
    return CliRunner().invoke(main, argv, env=env, catch_exceptions=False)


def steady_hosts(lab: Lab) -> list[str]:
    """Hosts that stay up, or stay down, for a test's length (not the boot-loop windows)."""
    return [t.name for t in lab.fleet.truths if not t.boot_loop or t.never_reachable]


def test_probe_json_lines_match_the_lab_truth_and_exit_7_for_unreachable(
    outage: OutageThread, tmp_path: Path
) -> None:
    lab = outage.lab
    db = tmp_path / "fresh.db"
    names = steady_hosts(lab)
    result = fleetfix_probe(lab, db, "--json", "--limit", ",".join(names))
    records = {r["host"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(records) == set(names)
    truths = {t.name: t for t in lab.fleet.truths}
    for name, record in records.items():
        if truths[name].never_reachable:
            assert (record["status"], record["state"]) == ("unreachable", "unreachable")
        else:
            assert record["status"] == "ok", record
            assert record["state"] == str(expected_state(truths[name]))
            assert record["transport"] == "winrm-https"
    assert result.exit_code == EXIT_HOSTS_UNREACHABLE
    assert "hosts:" in result.stderr and "unreachable" in result.stderr
    with open_reader(db) as reader:
        stored = {h.name: h.state for h in reader.hosts()}
        (run,) = reader.runs()
        events = [a.event for a in reader.audit_log()]
    assert {n: str(s) for n, s in stored.items() if n in records} == {
        n: r["state"] for n, r in records.items()
    }
    assert (run.command, run.status, run.actor) == ("probe", "finished", "tester")
    assert events.count("probe.host") == len(names)
    assert {"inventory.import", "probe", "probe.finished"} <= set(events)
    assert PASSWORD not in result.stdout + result.stderr
    assert PASSWORD not in db.read_bytes().decode("utf-8", errors="replace")


def test_probe_of_reachable_hosts_exits_0_with_one_line_each(
    outage: OutageThread, tmp_path: Path
) -> None:
    lab = outage.lab
    up = [t.name for t in lab.fleet.truths if not t.boot_loop and not t.never_reachable]
    result = fleetfix_probe(lab, tmp_path / "i.db", "--limit", ",".join(up), "--rule", "advisory")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(up)
    truths = {t.name: t for t in lab.fleet.truths}
    for line in lines:
        name, state, reason, transport = line.split(" | ")
        assert state == str(expected_state(truths[name]))
        assert reason and transport == "winrm-https"
    with open_reader(tmp_path / "i.db") as reader:
        (run,) = reader.runs()
    assert run.options["rule"] == "advisory"


def test_probe_exits_6_when_a_probe_failed(outage: OutageThread, tmp_path: Path) -> None:
    lab = outage.lab
    name = next(t.name for t in lab.fleet.truths if t.healthy)
    outage.call(_fault(lab, name, Fault(FaultKind.AUTH_FAIL)))
    result = fleetfix_probe(lab, tmp_path / "i.db", "--limit", name)
    assert result.exit_code == EXIT_HOSTS_FAILED
    assert result.stdout.startswith(f"{name} | {HostState.NEW} | probe auth_failed: ")
    assert "probe failed: auth_failed 1" in result.stderr


async def _fault(lab: Lab, name: str, fault: Fault) -> None:
    lab.set_fault(name, fault)
    await lab.settle()


def test_ping_remembers_the_transport_auto_chose(outage: OutageThread, tmp_path: Path) -> None:
    lab = outage.lab
    name = next(t.name for t in lab.fleet.truths if t.healthy)
    db = tmp_path / "i.db"
    fleetfix_probe(lab, db, "--limit", name, "--transport", "winrm-https")
    paths = lab.paths()
    env = {
        "FLEETFIX_USERNAME": files.USERNAME, "FLEETFIX_PASSWORD": PASSWORD,
        "FLEETFIX_CA_BUNDLE": paths["ca"], "FLEETFIX_KNOWN_HOSTS": paths["known_hosts"],
        "FLEETFIX_DB": str(db),
    }  # fmt: skip
    inventory = tmp_path / "auto.csv"
    entry = next(e for e in lab.entries() if e.name == name)
    inventory.write_text(
        "name,address,transport,tags\n"
        f"{name},{entry.address},auto,winrms_port={entry.winrms_port};"
        f"winrm_port={entry.winrm_port};ssh_port={entry.ssh_port}\n",
        encoding="utf-8",
    )
    with open_reader(db) as reader:
        before = reader.host(name)
    ping = CliRunner().invoke(main, ["ping", "-i", str(inventory)], env=env)
    assert ping.exit_code == 0, ping.output
    with open_reader(db) as reader:
        after = reader.host(name)
    assert before is not None and before.learned_transport is None  # forced, not learned
    assert after is not None and str(after.learned_transport) == "winrm-https"
