"""Drills against a lab in its own process, through the real `fleetfix` commands: the lab's
key escrow export feeds `fleetfix key lookup` the way a site's pre-incident export would."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

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
