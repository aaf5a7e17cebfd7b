"""`fleetfix ping` and `fleetfix exec` against a lab running in its own thread (the commands
run their own event loop, as they do from a terminal), with a real incident database."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from fleetfix.cli import EXIT_HOSTS_FAILED, EXIT_HOSTS_UNREACHABLE, EXIT_USAGE, main
from fleetfix.cli_transport import exec_command, ping
from fleetfix.lab import files
from fleetfix.lab.api import Fault, FaultKind, Service
from fleetfix.lab.fleet import Lab
from fleetfix.store import open_reader
from tests.integration.test_transport_support import PASSWORD, start_lab

pytestmark = pytest.mark.integration


class LabThread:
    """A lab on its own event loop in a background thread."""

    def __init__(self, directory: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="lab", daemon=True)
        self.thread.start()
        self.lab: Lab = self.call(start_lab(directory, hosts=6))

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def stop(self) -> None:
        self.call(self.lab.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def lab_thread(tmp_path: Path) -> Iterator[LabThread]:
    running = LabThread(tmp_path / "lab")
    yield running
    running.stop()


def invoke(command: click.Command, lab: Lab, db: Path, *args: str) -> Any:
    paths = lab.paths()
    env = {
        "FLEETFIX_USERNAME": files.USERNAME, "FLEETFIX_PASSWORD": PASSWORD,
        "FLEETFIX_CA_BUNDLE": paths["ca"], "FLEETFIX_KNOWN_HOSTS": paths["known_hosts"],
        "FLEETFIX_DB": str(db), "FLEETFIX_OPERATOR": "tester",
    }  # fmt: skip
    inventory = paths["inventory_csv"]
    return CliRunner().invoke(command, ["-i", inventory, *args], env=env, catch_exceptions=False)


def up_names(lab: Lab) -> set[str]:
    return {h.name for h in lab.fleet.hosts if h.is_listening(Service.WINRM)}


def test_ping_reports_every_host_and_counts_unreachable_apart(
    lab_thread: LabThread, tmp_path: Path
) -> None:
    lab = lab_thread.lab
    db = tmp_path / "incident.db"
    result = invoke(ping, lab, db, "--json", "--connect-timeout", "3")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    by_host = {record["host"]: record for record in records}
    assert set(by_host) == {h.name for h in lab.fleet.hosts}
    for name in up_names(lab):
        assert by_host[name]["status"] == "ok"
        assert by_host[name]["stdout"].strip() == name
    down = set(by_host) - up_names(lab)
    assert {by_host[name]["status"] for name in down} <= {"unreachable"}
    assert result.exit_code == (EXIT_HOSTS_UNREACHABLE if down else 0)
    assert "hosts:" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_exec_runs_a_command_everywhere_and_records_it_in_the_audit_log(
    lab_thread: LabThread, tmp_path: Path
) -> None:
    lab = lab_thread.lab
    db = tmp_path / "incident.db"
    name = sorted(up_names(lab))[0]
    result = invoke(exec_command, lab, db, "--limit", name, "--", "hostname")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{name} | ok | rc=0 | {name}"
    with open_reader(db) as reader:
        started = reader.audit_log(event="exec")
        per_host = reader.audit_log(event="exec.host")
    assert [(r.actor, r.details["command"]) for r in started] == [("tester", "hostname")]
    assert [(r.host, r.details["status"]) for r in per_host] == [(name, "ok")]
    assert PASSWORD not in db.read_bytes().decode("utf-8", errors="replace")


def test_exec_exit_code_says_a_host_failed(lab_thread: LabThread, tmp_path: Path) -> None:
    lab = lab_thread.lab
    name = sorted(up_names(lab))[0]
    result = invoke(exec_command, lab, tmp_path / "i.db", "--limit", name, "--", "exit 3")
    assert result.exit_code == EXIT_HOSTS_FAILED
    assert f"{name} | failed | rc=3" in result.stdout


def test_insecure_is_recorded_in_the_audit_log(lab_thread: LabThread, tmp_path: Path) -> None:
    lab = lab_thread.lab
    db = tmp_path / "incident.db"
    name = sorted(up_names(lab))[0]
    result = invoke(ping, lab, db, "--limit", name, "--insecure")
    assert result.exit_code == 0, result.output
    with open_reader(db) as reader:
        events = [record.event for record in reader.audit_log()]
    assert "transport.insecure" in events


def test_repeated_auth_failures_stop_the_run(lab_thread: LabThread, tmp_path: Path) -> None:
    lab = lab_thread.lab
    lab_thread.call(_set_fault_everywhere(lab))
    result = invoke(ping, lab, tmp_path / "i.db", "--json", "--concurrency", "1")
    statuses = [json.loads(line)["status"] for line in result.stdout.splitlines()]
    assert statuses.count("auth_failed") == 3
    assert statuses.count("skipped") == len(statuses) - 3
    assert result.exit_code == EXIT_HOSTS_FAILED


async def _set_fault_everywhere(lab: Lab) -> None:
    lab.set_fault("all", Fault(FaultKind.AUTH_FAIL))
    await lab.settle()


def test_allow_basic_http_lets_basic_over_plain_http_through(
    lab_thread: LabThread, tmp_path: Path
) -> None:
    lab = lab_thread.lab
    name = sorted(up_names(lab))[0]
    basic = ("--limit", name, "--transport", "winrm", "--auth", "basic", "--json")
    refused = invoke(exec_command, lab, tmp_path / "i.db", *basic, "--", "hostname")
    allowed = invoke(exec_command, lab, tmp_path / "i.db", *basic, "--allow-basic-http",
                     "--", "hostname")  # fmt: skip
    assert json.loads(refused.stdout)["status"] == "refused"
    record = json.loads(allowed.stdout)
    assert (record["status"], record["stdout"].strip()) == ("ok", name), allowed.output
    with open_reader(tmp_path / "i.db") as reader:
        runs = reader.audit_log(event="exec")
    assert [r.details["allow_basic_http"] for r in runs] == [False, True]


def test_allow_credssp_lifts_the_refusal_and_a_missing_package_is_one_error_for_the_run(
    lab_thread: LabThread, tmp_path: Path
) -> None:
    if importlib.util.find_spec("requests_credssp") is not None:
        pytest.skip("requests-credssp is installed here: CredSSP would be tried for real")
    lab = lab_thread.lab
    name = sorted(up_names(lab))[0]
    credssp = ("--transport", "winrm-https", "--auth", "credssp", "--json")
    refused = invoke(exec_command, lab, tmp_path / "i.db", "--limit", name, *credssp,
                     "--", "hostname")  # fmt: skip
    assert json.loads(refused.stdout)["status"] == "refused"
    # Allowed, across the whole inventory: the package is missing from this install, not
    # from any host, so the run stops with one configuration error and no per-host records.
    paths = lab.paths()
    env = {"FLEETFIX_USERNAME": files.USERNAME, "FLEETFIX_PASSWORD": PASSWORD,
           "FLEETFIX_CA_BUNDLE": paths["ca"], "FLEETFIX_DB": str(tmp_path / "i.db")}  # fmt: skip
    argv = ["exec", "-i", paths["inventory_csv"], *credssp, "--allow-credssp", "--", "hostname"]
    allowed = CliRunner().invoke(main, argv, env=env)
    assert allowed.exit_code == EXIT_USAGE, allowed.output
    assert allowed.stdout == ""
    assert allowed.stderr.count("CredSSP") == 1, allowed.stderr
    assert "configuration error" in allowed.stderr
    assert "pip install requests-credssp" in allowed.stderr
    assert PASSWORD not in allowed.output
