"""`fleetfix run` as a sysadmin runs it: a subprocess with its own event loop and signal
handling, against a crowdstrike-291 lab running in a background thread of the test (so the
test can read the lab's truth and history), and `fleetfix lab console` through the lab's real
control socket for the technician's hands."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleetfix.cli import EXIT_BREAKER, EXIT_HOSTS_FAILED, EXIT_HOSTS_UNREACHABLE, EXIT_INTERRUPTED
from fleetfix.lab.api import Service
from fleetfix.lab.boot import CHANNEL_291_PATTERN
from fleetfix.lab.fleet import Lab
from fleetfix.lab.machine import BootMode
from fleetfix.lab.truth import Condition
from fleetfix.models import HostState
from fleetfix.store import open_reader
from tests.integration.engine_cli_helpers import (
    QUICK,
    OutageThread,
    command,
    environment,
    fleetfix_run,
    json_events,
    outage,
    states_in,
)
from tests.integration.test_engine_run import (
    ALLOWED,
    NEEDS_FIX,
    OUTAGE_HOSTS,
    failing_pack,
    runs_of,
    write_pack,
)

__all__ = ["outage"]  # the fixture, imported so pytest finds it here
pytestmark = pytest.mark.integration

C = Condition
S = HostState
_FINAL = {"healthy", "recovered", "failed", "needs_hands_on", "skipped"}


def test_json_lines_parse_and_a_fixable_fleet_exits_0(outage: OutageThread, tmp_path: Path) -> None:
    wanted = outage.names(C.HEALTHY, C.AFFECTED_UP)
    db = tmp_path / "i.db"
    done = fleetfix_run(outage.lab, db, "--pack", "crowdstrike-291", "--limit", ",".join(wanted),
                        "--json", *QUICK)  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = json_events(done.stdout)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert events[-1]["status"] == "finished"
    finished = {e["host"]: e["state"] for e in events if e["event"] == "host_done"}
    assert set(finished) == set(wanted)
    for name in wanted:
        healthy = outage.truth(name).condition is C.HEALTHY
        assert finished[name] == ("healthy" if healthy else "recovered"), name


@pytest.mark.slow
def test_a_host_needing_hands_exits_7_then_a_technician_fixes_it_and_a_rerun_recovers_it(
    outage: OutageThread, tmp_path: Path
) -> None:
    name = outage.names(C.BITLOCKER_RECOVERY)[0]
    truth = outage.truth(name)
    db = tmp_path / "i.db"
    keys_config = outage.lab.paths()["keys_config"]
    done = fleetfix_run(outage.lab, db, "--pack", "crowdstrike-291", "--limit", name, "--json",
                        "--config", keys_config, *QUICK)  # fmt: skip
    assert done.returncode == EXIT_HOSTS_UNREACHABLE, done.stderr
    events = json_events(done.stdout)
    hands_on = [e for e in events if e["event"] == "hands_on"]
    assert [e["host"] for e in hands_on] == [name]
    # The technician gets the key IDs from the escrow, never the key itself.
    shown = {k.strip("{}").casefold() for k in hands_on[0]["key_ids"]}
    assert truth.recovery_key_ids
    assert {k.strip("{}").casefold() for k in truth.recovery_key_ids} <= shown
    key = next(k for k in outage.lab.fleet.recovery_keys() if k.host == name)
    assert key.recovery_password not in done.stdout + done.stderr
    assert states_in(db, [name]) == {name: S.NEEDS_HANDS_ON}

    # Hands at the console: type the key (the real CLI, through the lab's control socket).
    env = environment(outage.lab, db)
    console = [sys.executable, "-m", "fleetfix.cli", "lab", "console", name]
    typed = subprocess.run([*console, "enter-key", key.recovery_password], env=env,
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert typed.returncode == 0, typed.stderr
    assert json.loads(typed.stdout)["unlocked"] is True
    # In safe mode the technician deletes the bad channel file. The lab's console has no
    # action for deleting a file, so the test does it to the simulated disk directly.
    outage.call(_delete_channel_files(outage.lab, name))
    booted = subprocess.run([*console, "boot", "normal"], env=env, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert booted.returncode == 0, booted.stderr
    deadline = time.monotonic() + 30
    while not outage.call(_listening(outage.lab, name)):
        assert time.monotonic() < deadline, "the host did not come back after the console boot"
        time.sleep(0.1)

    again = fleetfix_run(outage.lab, db, "--pack", "crowdstrike-291", "--limit", name, *QUICK)
    assert again.returncode == 0, again.stderr
    assert states_in(db, [name]) == {name: S.RECOVERED}
    with open_reader(db) as reader:
        last = reader.transitions(name)[-1]
    assert (last.from_state, last.to_state) == (S.NEEDS_HANDS_ON, S.RECOVERED)


async def _delete_channel_files(lab: Lab, name: str) -> None:
    machine = lab.host(name).machine
    bad = machine.files.glob(CHANNEL_291_PATTERN)
    assert bad
    for entry in bad:
        machine.files.remove(entry.path)


async def _listening(lab: Lab, name: str) -> bool:
    host = lab.host(name)
    return host.is_listening(Service.WINRM) and host.machine.boot_mode is BootMode.NORMAL


def test_failed_hosts_exit_6_and_a_tripped_breaker_exits_8(
    outage: OutageThread, tmp_path: Path
) -> None:
    failing_pack(tmp_path / "packs")
    wanted = ",".join(outage.names(C.HEALTHY))
    pack = ["--packs", str(tmp_path / "packs"), "--pack", "always-fails", "--limit", wanted]
    failed = fleetfix_run(outage.lab, tmp_path / "a.db", *pack, *QUICK)
    assert failed.returncode == EXIT_HOSTS_FAILED, failed.stderr
    assert failed.stdout.count("| failed |") == 2
    stopped = fleetfix_run(outage.lab, tmp_path / "b.db", *pack, "--max-fail-percent", "0",
                           "--concurrency", "1", "--json", *QUICK)  # fmt: skip
    assert stopped.returncode == EXIT_BREAKER, stopped.stderr
    events = json_events(stopped.stdout)
    assert [e["breaker"] for e in events if e["event"] == "breaker_tripped"] == ["failures"]
    assert events[-1]["status"] == "stopped_by_breaker"
    assert len([e for e in events if e["event"] == "host_done"]) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--pack", "no-such-pack"], "no-such-pack"),
     (["--pack", "crowdstrike-291", "--canary", "ten"], "--canary"),
     (["--pack", "crowdstrike-291", "--canary", "0%"], "--canary"), ([], "--pack")],
)  # fmt: skip
def test_bad_command_lines_exit_2_with_a_clear_message(
    outage: OutageThread, tmp_path: Path, args: list[str], message: str
) -> None:
    done = fleetfix_run(outage.lab, tmp_path / "i.db", *args)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.slow
def test_sigint_stops_with_130_and_resume_finishes_the_run(
    outage: OutageThread, tmp_path: Path
) -> None:
    db = tmp_path / "i.db"
    args = ["--pack", "crowdstrike-291", "--json", "--concurrency", "4",
            "--hands-on-after", "10", *QUICK[2:]]  # fmt: skip
    process = subprocess.Popen(command(outage.lab, *args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env=environment(outage.lab, db))  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    try:
        # Ctrl-C once the first host is done: the run is in the middle of its work.
        while not any('"event": "host_done"' in line for line in lines):
            assert time.monotonic() < deadline, "no host finished"
            ready, _, _ = select.select([process.stdout], [], [], 1.0)
            if ready:
                line = process.stdout.readline()
                assert line, process.stderr.read() if process.stderr else ""
                lines.append(line)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == EXIT_INTERRUPTED, err
    events = json_events("".join(lines) + out)
    assert events[-1]["event"] == "run_finished" and events[-1]["status"] == "interrupted"
    # Hosts being watched when Ctrl-C came are let go unfinished; the others are done.
    first = {e["host"] for e in events if e["event"] == "host_done" and e["state"] in _FINAL}
    assert 1 <= len(first) < OUTAGE_HOSTS
    with open_reader(db) as reader:
        run = next(r for r in reader.runs() if r.command == "run")
    assert run.finished_at is None

    resumed = fleetfix_run(outage.lab, db, "--resume", "--json")
    # Hosts at the console are still waiting for hands: 7, never 0 for this fleet.
    assert resumed.returncode == EXIT_HOSTS_UNREACHABLE, resumed.stderr
    later = json_events(resumed.stdout)
    assert later[0]["event"] == "run_started" and later[0]["resumed"] is True
    assert later[0]["run_id"] == run.id
    assert later[-1]["status"] == "finished"
    assert not first & {e["host"] for e in later if e["event"] == "host_done"}
    names = [t.name for t in outage.lab.fleet.truths]
    states = states_in(db, names)
    for name in names:
        assert states[name] in ALLOWED[outage.truth(name).condition], (name, states[name])
    with open_reader(db) as reader:
        assert next(r for r in reader.runs() if r.id == run.id).finished_at is not None


async def _slept(lab: Lab, name: str) -> int:
    return runs_of(lab.host(name), SLOW_STEP)


# A step that takes 600 lab seconds (15 s at the outage lab's 40x): Ctrl-C twice must not
# wait for it.
SLOW_STEP = """
    # Test pack step: a long remote command, the kind a second Ctrl-C must not wait for.
    Start-Sleep -Seconds 600
    [pscustomobject]@{ ok = $true; reason = 'slept'; changed = $false } | ConvertTo-Json -Compress
    exit 0
"""
COMPLIANT = """
    # Test pack detect/verify: compliant.
    [pscustomobject]@{ compliant = $true; ok = $true; reason = 'fine' } | ConvertTo-Json -Compress
    exit 0
"""


@pytest.mark.slow
def test_second_sigint_stops_at_once_and_resume_verifies_the_open_intent(
    outage: OutageThread, tmp_path: Path
) -> None:
    packs = tmp_path / "packs"
    write_pack(packs, "slow-step",
               steps=[{"name": "sleep", "script": "sleep.ps1", "destructive": True,
                       "idempotent": False, "reboots": False, "timeout": 900}],
               scripts={"detect.ps1": NEEDS_FIX, "sleep.ps1": SLOW_STEP,
                        "verify.ps1": COMPLIANT})  # fmt: skip
    host = outage.names(C.AFFECTED_UP)[0]
    db = tmp_path / "i.db"
    args = ["--pack", "slow-step", "--packs", str(packs), "--limit", host, "--json",
            *QUICK]  # fmt: skip
    process = subprocess.Popen(command(outage.lab, *args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env=environment(outage.lab, db))  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while not any('"event": "step_started"' in line for line in lines):
            assert time.monotonic() < deadline, "the slow step never started"
            ready, _, _ = select.select([process.stdout], [], [], 1.0)
            if ready:
                line = process.stdout.readline()
                assert line, process.stderr.read() if process.stderr else ""
                lines.append(line)
        # The first Ctrl-C only once the command is on the host: the lab's history says so.
        while outage.call(_slept(outage.lab, host)) < 1:
            assert time.monotonic() < deadline, "the slow step never reached the host"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        pressed = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        took = time.monotonic() - pressed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "stopped at once" in err and "Traceback" not in err
    assert took < 5.0, f"the second Ctrl-C took {took:.1f} s (the step runs 15 s)"
    with open_reader(db) as reader:
        (open_intent,) = [a for a in reader.actions() if a.outcome_at is None]
    assert (open_intent.host, open_intent.step) == (host, "slow-step/sleep")

    resumed = fleetfix_run(outage.lab, db, "--resume", "--json", "--packs", str(packs))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with open_reader(db) as reader:
        assert all(a.outcome_at is not None for a in reader.actions())
        record = reader.host(host)
    assert record is not None and record.state is S.RECOVERED
    # Not run blindly again: one sleep reached the host, the resume verified instead.
    assert runs_of(outage.lab.host(host), SLOW_STEP) == 1
