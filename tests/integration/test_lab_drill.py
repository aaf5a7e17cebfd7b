"""Drills against a lab in its own process, through the real `fleetfix` commands: the lab's
key escrow export feeds `fleetfix key lookup` the way a site's pre-incident export would."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetfix.lab.process import LabProcess
from tests.integration.test_lab_cli import RunningLab, fleetfix, running_lab

__all__ = ["running_lab"]  # the fixture, imported so pytest finds it here

pytestmark = pytest.mark.integration

_PASSWORD = re.compile(r"\b\d{6}(?:-\d{6}){7}\b")


def test_lab_writes_a_private_escrow_export_and_a_keys_config(running_lab: RunningLab) -> None:
    directory = Path(running_lab.paths["keys_config"]).parent
    escrow = directory / "escrow.csv"
    assert stat.S_IMODE(escrow.stat().st_mode) == 0o600
    passwords = set(_PASSWORD.findall(escrow.read_text(encoding="utf-8")))
    truth = json.loads(Path(running_lab.paths["truth"]).read_text(encoding="utf-8"))
    assert len(passwords) == sum(len(h["recovery_key_ids"]) for h in truth["hosts"]) > 0
    # The keys live in the escrow file only: no other file the lab writes holds one.
    for path in directory.iterdir():
        if path.is_file() and path.name != "escrow.csv":
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not passwords & set(_PASSWORD.findall(text)), path.name


def test_key_lookup_finds_a_lab_hosts_key_through_the_lab_keys_config(
    running_lab: RunningLab, tmp_path: Path
) -> None:
    truth = json.loads(Path(running_lab.paths["truth"]).read_text(encoding="utf-8"))
    host = truth["hosts"][0]
    key_id = host["recovery_key_ids"][0].strip("{}")
    escrow = (Path(running_lab.paths["keys_config"]).parent / "escrow.csv").read_text()
    row = next(line for line in escrow.splitlines() if key_id in line)
    db = str(tmp_path / "drill.db")
    imported = fleetfix("inventory", "import", running_lab.paths["inventory_csv"], "--db", db)
    assert imported.returncode == 0, imported.stderr
    looked = fleetfix(
        "key", "lookup", "--key-id", key_id[:8], "--host", host["name"], "--reason", "DRILL-1",
        "--allow-pipe", "--config", running_lab.paths["keys_config"],
        "--db", db,
    )  # fmt: skip
    assert looked.returncode == 0, looked.stderr
    assert looked.stdout.strip().splitlines()[-1] == row.split(",")[-1]


@pytest.fixture
def outage_lab(tmp_path: Path) -> Iterator[LabProcess]:
    """A crowdstrike-291 lab in its own process, with hosts stuck on the BitLocker screen."""
    with LabProcess.start(tmp_path / "outage", hosts=20, seed=7, time_scale=20) as lab:
        yield lab


def test_hands_on_path_from_the_recovery_screen_to_a_booted_host(
    outage_lab: LabProcess, tmp_path: Path
) -> None:
    """The technician reads the key ID off the recovery screen, fleetfix finds the key, the
    technician types it at the console and the host boots: every step a real command."""
    lab_dir = ["--dir", str(outage_lab.directory)]
    shown = json.loads(fleetfix("lab", "status", "--json", *lab_dir).stdout)
    stuck = next(h for h in shown["hosts"] if h["state"] == "bitlocker_recovery")
    key_id = stuck["recovery_key_id"]
    assert key_id, "the recovery screen shows the key ID"
    db = str(tmp_path / "incident.db")
    assert (
        fleetfix("inventory", "import", outage_lab.paths["inventory_csv"], "--db", db).returncode
        == 0
    )
    looked = fleetfix(
        "key", "lookup", "--key-id", key_id.strip("{}")[:8], "--host", stuck["name"],
        "--reason", "INC-4711 console", "--allow-pipe",
        "--config", outage_lab.paths["keys_config"], "--db", db,
    )  # fmt: skip
    assert looked.returncode == 0, looked.stderr
    key = looked.stdout.strip().splitlines()[-1]
    assert _PASSWORD.fullmatch(key)
    typed = fleetfix("lab", "console", stuck["name"], "enter-key", key, *lab_dir)
    assert json.loads(typed.stdout)["unlocked"] is True, typed.stdout
    booted = fleetfix("lab", "console", stuck["name"], "boot", "safe-network", *lab_dir)
    assert booted.returncode == 0, booted.stderr
    for _ in range(100):  # 90 lab seconds of boot at 20x: about 5 s
        hosts = json.loads(fleetfix("lab", "status", "--json", *lab_dir).stdout)["hosts"]
        now = next(h for h in hosts if h["name"] == stuck["name"])
        if now["state"] == "up":
            break
        time.sleep(0.2)
    assert (now["state"], now["boot_mode"]) == ("up", "safe_network")
    # In safe mode the driver is not loaded: the technician deletes the channel file by hand
    # and restarts; fleetfix then verifies the host over the network and records it.
    delete = r"del C:\Windows\System32\drivers\CrowdStrike\C-00000291*.sys"
    deleted = fleetfix("lab", "console", stuck["name"], "run", delete, *lab_dir)
    assert json.loads(deleted.stdout)["exit_code"] == 0, deleted.stdout + deleted.stderr
    restarted = fleetfix("lab", "console", stuck["name"], "run", "shutdown /r /t 0", *lab_dir)
    assert json.loads(restarted.stdout)["exit_code"] == 0, restarted.stdout
    env = {**os.environ, **outage_lab.env()}
    verified = subprocess.run(
        [sys.executable, "-m", "fleetfix.cli", "run", "-i", outage_lab.paths["inventory_csv"],
         "--pack", "crowdstrike-291", "--limit", stuck["name"], "--db", db,
         "--watch-interval", "0.1", "--hands-on-after", "30", "--reboot-timeout", "60"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr[-2000:]
    assert f"{stuck['name']} | recovered" in verified.stdout
    # The key went to the terminal only: the incident database holds its audit, not the key.
    assert key.encode() not in Path(db).read_bytes()
    audit = fleetfix("audit", "verify", "--db", db)
    assert audit.returncode == 0, audit.stderr
    pending = fleetfix("key", "pending", "--json", "--db", db)
    assert stuck["name"] in pending.stdout
