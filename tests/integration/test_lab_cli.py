"""`fleetfix lab` as a user runs it: `lab up` in a subprocess, the other commands against it."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
import winrm

from fleetfix.lab import files

pytestmark = pytest.mark.integration

# Long enough for a slow CI box to start a handful of hosts; a lab that is up sooner goes on.
_STARTUP_LIMIT = 60.0


def fleetfix(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleetfix.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@dataclass(frozen=True)
class RunningLab:
    process: subprocess.Popen[str]
    directory: Path
    paths: dict[str, str]

    def env(self) -> dict[str, str]:
        return files.read_lab_env(Path(self.paths["lab_env"]))

    def entry(self, index: int = 0) -> dict[str, str]:
        with Path(self.paths["inventory_csv"]).open() as handle:
            rows = [line.strip().split(",") for line in handle][1:]
        name, address, port, _, tags = rows[index]
        extra = dict(tag.split("=", 1) for tag in tags.split(";"))
        return {"name": name, "address": address, "https": port, **extra}


def _read_json_line(process: subprocess.Popen[str]) -> dict[str, str]:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], _STARTUP_LIMIT)
    if not ready:
        process.kill()
        raise AssertionError("lab up printed nothing")
    line = process.stdout.readline()
    if not line:
        assert process.stderr is not None
        raise AssertionError(f"lab up ended before it was up: {process.stderr.read()}")
    parsed = json.loads(line)
    assert isinstance(parsed, dict)
    return parsed


@contextmanager
def launched(
    directory: Path, *, hosts: int = 4, stderr: IO[str] | int = subprocess.PIPE
) -> Iterator[RunningLab]:
    """`fleetfix lab up` in its own process, on free ports, until SIGTERM at the end."""
    args = ["up", "--hosts", str(hosts), "--scenario", "service-outage", "--seed", "3"]
    args += ["--time-scale", "100", "--dir", str(directory)]
    args += ["--ssh-port", "0", "--winrm-port", "0", "--winrms-port", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "fleetfix.cli", "lab", *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    try:
        yield RunningLab(process, directory, _read_json_line(process))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


@pytest.fixture
def running_lab(tmp_path: Path) -> Iterator[RunningLab]:
    with launched(tmp_path / "lab-run") as running:
        yield running


def test_lab_up_prints_one_json_line_with_the_paths(running_lab: RunningLab) -> None:
    keys = {"inventory_csv", "inventory_ini", "lab_env", "ca", "known_hosts", "truth", "control"}
    assert keys <= running_lab.paths.keys()
    for key in keys - {"control"}:
        assert Path(running_lab.paths[key]).is_file(), key
    assert stat.S_IMODE(Path(running_lab.paths["lab_env"]).stat().st_mode) == 0o600
    assert stat.S_ISSOCK(Path(running_lab.paths["control"]).stat().st_mode)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_the_lab_cleanly(running_lab: RunningLab, signum: int) -> None:
    # SIGINT is what Ctrl-C in the terminal sends.
    entry = running_lab.entry()
    running_lab.process.send_signal(signum)
    assert running_lab.process.wait(timeout=30) == 0
    assert running_lab.process.stdout is not None
    assert running_lab.process.stdout.read() == ""  # stdout carried the one line, nothing else
    assert running_lab.process.stderr is not None
    diagnostics = running_lab.process.stderr.read()
    assert diagnostics.rstrip().endswith("lab: stopping"), diagnostics
    assert "Traceback" not in diagnostics and "KeyboardInterrupt" not in diagnostics
    assert not Path(running_lab.paths["control"]).exists()
    for port in (entry["https"], entry["winrm_port"], entry["ssh_port"]):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((entry["address"], int(port)), timeout=5)


def test_status_lists_every_host(running_lab: RunningLab) -> None:
    done = fleetfix("lab", "status", "--dir", str(running_lab.directory), "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["host_count"] == 4
    assert [h["name"] for h in status["hosts"]] == [running_lab.entry(i)["name"] for i in range(4)]


def test_control_socket_is_found_through_the_environment(running_lab: RunningLab) -> None:
    env = {**os.environ, "FLEETFIX_LAB_CONTROL": running_lab.paths["control"]}
    done = fleetfix("lab", "status", env=env)
    assert done.returncode == 0, done.stderr
    assert "service-outage" in done.stdout


def test_refuse_fault_is_seen_by_a_client_and_cleared(running_lab: RunningLab) -> None:
    entry = running_lab.entry()
    where = ["--dir", str(running_lab.directory)]
    on = fleetfix("lab", "fault", entry["name"], "refuse", *where)
    assert on.returncode == 0, on.stderr
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((entry["address"], int(entry["ssh_port"])), timeout=5)
    off = fleetfix("lab", "fault", entry["name"], "refuse", "--clear", *where)
    assert off.returncode == 0, off.stderr
    socket.create_connection((entry["address"], int(entry["ssh_port"])), timeout=5).close()


def test_inspect_shows_commands_the_host_ran(running_lab: RunningLab) -> None:
    entry = running_lab.entry()
    env = running_lab.env()
    session = winrm.Session(
        f"https://{entry['address']}:{entry['https']}/wsman",
        auth=(env["FLEETFIX_USERNAME"], env["FLEETFIX_PASSWORD"]),
        transport="ntlm",
        server_cert_validation="validate",
        ca_trust_path=env["FLEETFIX_CA_BUNDLE"],
    )
    assert session.run_cmd("hostname").status_code == 0
    done = fleetfix("lab", "inspect", entry["name"], "--dir", str(running_lab.directory))
    assert done.returncode == 0, done.stderr
    inspected = json.loads(done.stdout)
    assert [record["command"] for record in inspected["history"]] == ["hostname"]
    assert env["FLEETFIX_PASSWORD"] not in done.stdout


def test_unknown_host_is_an_error_with_exit_code_1(running_lab: RunningLab) -> None:
    done = fleetfix("lab", "inspect", "NO-SUCH-HOST", "--dir", str(running_lab.directory))
    assert done.returncode == 1
    assert "unknown host 'NO-SUCH-HOST'" in done.stderr


def test_commands_without_a_running_lab_say_how_to_start_one(tmp_path: Path) -> None:
    done = fleetfix("lab", "status", "--dir", str(tmp_path))
    assert done.returncode == 1
    assert "fleetfix lab up" in done.stderr


def test_console_boots_a_host_into_safe_mode(running_lab: RunningLab) -> None:
    entry = running_lab.entry()
    where = ["--dir", str(running_lab.directory)]
    done = fleetfix("lab", "console", entry["name"], "boot", "safe-network", *where)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"mode": "safe_network", "state": "booting"}
    # Not at the BitLocker screen: a typed key unlocks nothing.
    typed = fleetfix("lab", "console", entry["name"], "enter-key", "000000-" * 7 + "000000", *where)
    assert json.loads(typed.stdout)["unlocked"] is False


def test_console_boot_needs_a_known_mode(running_lab: RunningLab) -> None:
    done = fleetfix(
        "lab", "console", "ANY", "boot", "sideways", "--dir", str(running_lab.directory)
    )
    assert done.returncode == 2
    assert "safe-network" in done.stderr
