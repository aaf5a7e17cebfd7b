"""The hands-on path on the lab: a host stuck on the BitLocker recovery screen, its key ID
read off the console, the key looked up through fleetfix, typed at the console, C: unlocked.

The escrow file is built from the lab fleet's own protectors, so the key IDs the lab's
recovery screens show are the ones the providers hold, as in a real site's escrow.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetfix.cli_keys import key
from fleetfix.lab.boot import BootState
from fleetfix.lab.clock import LabClock
from fleetfix.lab.control import console_action
from fleetfix.lab.host import LabHost
from fleetfix.lab.scenarios import Fleet, build_fleet
from fleetfix.models import Host
from fleetfix.store import Store

pytestmark = pytest.mark.integration


@pytest.fixture
def fleet() -> Fleet:
    return build_fleet("crowdstrike-291", hosts=40, seed=291, clock=LabClock(), password="Lab-1!")


@pytest.fixture
def incident(tmp_path: Path, fleet: Fleet) -> Path:
    escrow = tmp_path / "escrow.csv"
    with escrow.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ComputerName", "KeyID", "RecoveryKey"])
        for entry in fleet.recovery_keys():
            writer.writerow([entry.host, entry.key_id, entry.recovery_password])
    (tmp_path / "fleetfix.toml").write_text(f'[keys.escrow]\npath = "{escrow}"\n')
    db = tmp_path / "incident.db"
    with Store.open(db) as store:
        store.import_hosts([Host(h.name) for h in fleet.hosts], source="lab", actor="pytest")
    return db


def _on_recovery_screen(fleet: Fleet) -> list[LabHost]:
    return [h for h in fleet.hosts if h.state is BootState.BITLOCKER_RECOVERY]


def _lookup(db: Path, key_id_prefix: str, host: str) -> str:
    result = CliRunner().invoke(
        key,
        [
            *("lookup", "--key-id", key_id_prefix, "--host", host, "--allow-pipe"),
            *("--reason", "console unlock", "--db", str(db)),
            *("--config", str(db.parent / "fleetfix.toml")),
        ],
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def test_key_looked_up_from_the_screens_key_id_unlocks_the_host(
    fleet: Fleet, incident: Path
) -> None:
    stuck = _on_recovery_screen(fleet)
    assert stuck, "the scenario should leave some hosts on the BitLocker screen"
    for host in stuck:
        shown = host.status().recovery_key_id
        assert shown is not None
        # What a technician reads: the first 8 hex digits of the ID on the screen.
        password = _lookup(incident, shown.strip("{}")[:8], host.name)
        # What `fleetfix lab console HOST enter-key KEY` and `... boot safe-minimal` run.
        assert console_action(host, "enter-key", password)["unlocked"] is True
        console_action(host, "boot", "safe-minimal")
        assert not host.waits_for_console, host.state


def test_another_hosts_key_does_not_unlock(fleet: Fleet, incident: Path) -> None:
    first, *_ = _on_recovery_screen(fleet)
    other = next(h for h in fleet.hosts if h is not first)
    entry = next(e for e in fleet.recovery_keys() if e.host == other.name)
    password = _lookup(incident, entry.key_id.strip("{}")[:13], other.name)
    assert console_action(first, "enter-key", password)["unlocked"] is False
    assert first.state is BootState.BITLOCKER_RECOVERY
