"""The hands-on path on the lab: a host stuck on the BitLocker recovery screen, its key ID
read off the console, the key looked up through fleetfix, typed at the console, C: unlocked.

It runs once per provider. Each holds the lab fleet's own protectors, so the key IDs the
lab's recovery screens show are the ones the provider knows, as at a real site: an escrow
CSV, a slapd on LDAPS with them as `msFVE-RecoveryInformation` children of the computer
objects, and the Graph-compatible service with the fleet's hosts as Entra devices.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetfix.cli_keys import key
from fleetfix.keys.audit import KEY_READ
from fleetfix.keys.graph_service import GraphDevice, GraphKey, GraphService, GraphState
from fleetfix.lab.boot import BootState
from fleetfix.lab.clock import LabClock
from fleetfix.lab.control import console_action
from fleetfix.lab.host import LabHost
from fleetfix.lab.scenarios import Fleet, build_fleet
from fleetfix.lab.tls import LabCA
from fleetfix.models import Host
from fleetfix.store import Store, open_reader
from tests.integration.slapd_helpers import (
    BASE_DN,
    READER_DN,
    READER_PASSWORD,
    PlantedKey,
    lab_tls_files,
    plant_keys,
    start_slapd,
    stop_slapd,
)

pytestmark = pytest.mark.integration

GRAPH_TENANT = "contoso.example"
GRAPH_CLIENT_ID = "fleetfix-app"
GRAPH_SECRET = "lab-graph-Secret-291"  # the one the local Graph service accepts


@dataclass(frozen=True)
class KeySource:
    """One provider holding the fleet's keys, and how `fleetfix key lookup` reaches it."""

    provider: str  # the name fleetfix gives it, and so the audit row
    config: Path  # a fleetfix.toml with that provider's [keys.*] section only
    env: dict[str, str] = field(default_factory=dict)  # its credential, as an operator sets it


def _write_config(workdir: Path, section: str) -> Path:
    config = workdir / "fleetfix.toml"
    config.write_text(section)
    return config


@contextmanager
def _escrow(fleet: Fleet, workdir: Path, ca: LabCA) -> Iterator[KeySource]:
    escrow = workdir / "escrow.csv"
    with escrow.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ComputerName", "KeyID", "RecoveryKey"])
        for entry in fleet.recovery_keys():
            writer.writerow([entry.host, entry.key_id, entry.recovery_password])
    yield KeySource("escrow", _write_config(workdir, f'[keys.escrow]\npath = "{escrow}"\n'))


@contextmanager
def _active_directory(fleet: Fleet, workdir: Path, ca: LabCA) -> Iterator[KeySource]:
    slapd = start_slapd(workdir / "slapd", tls=lab_tls_files(ca))
    try:
        planted = [
            PlantedKey(entry.host, entry.key_id.strip("{}"), entry.recovery_password)
            for entry in fleet.recovery_keys()
        ]
        plant_keys(slapd, planted)
        section = (
            f'[keys.ad]\nuri = "{slapd.ldaps_uri}"\nbase_dn = "{BASE_DN}"\n'
            f'bind_user = "{READER_DN}"\nca_file = "{ca.ca_path}"\ntimeout = 5\n'
        )
        env = {"FLEETFIX_AD_PASSWORD": READER_PASSWORD}
        yield KeySource("ad", _write_config(workdir, section), env)
    finally:
        stop_slapd(slapd)


def _entra_device_id(host: str) -> str:
    # Entra names a device by its own GUID, not the host name; derive one per host.
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{host.lower()}.lab.example"))


@contextmanager
def _entra_id(fleet: Fleet, workdir: Path, ca: LabCA) -> Iterator[KeySource]:
    state = GraphState(
        tenant=GRAPH_TENANT,
        client_id=GRAPH_CLIENT_ID,
        client_secret=GRAPH_SECRET,
        devices=[GraphDevice(h.name, _entra_device_id(h.name)) for h in fleet.hosts],
        keys=[
            # Graph lists key IDs as bare lower-case GUIDs, Windows shows "{UPPER}".
            GraphKey(e.key_id.strip("{}").lower(), _entra_device_id(e.host), e.recovery_password)
            for e in fleet.recovery_keys()
        ],
    )
    with GraphService(state, ssl_context=ca.server_context("localhost", "127.0.0.1")) as graph:
        section = (
            f'[keys.graph]\ntenant = "{GRAPH_TENANT}"\nclient_id = "{GRAPH_CLIENT_ID}"\n'
            f'endpoint = "{graph.endpoint}"\nauthority = "{graph.base_url}"\n'
            f'auth = "client_credentials"\nca_file = "{ca.ca_path}"\n'
        )
        env = {"FLEETFIX_GRAPH_CLIENT_SECRET": GRAPH_SECRET}
        yield KeySource("graph", _write_config(workdir, section), env)


_SOURCES: dict[str, Callable[[Fleet, Path, LabCA], AbstractContextManager[KeySource]]] = {
    "escrow": _escrow,
    "ad": _active_directory,
    "graph": _entra_id,
}


@pytest.fixture
def fleet() -> Fleet:
    return build_fleet("crowdstrike-291", hosts=40, seed=291, clock=LabClock(), password="Lab-1!")


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return LabCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(params=list(_SOURCES))
def key_source(
    request: pytest.FixtureRequest, fleet: Fleet, ca: LabCA, tmp_path: Path
) -> Iterator[KeySource]:
    workdir = tmp_path / "provider"
    workdir.mkdir()
    with _SOURCES[request.param](fleet, workdir, ca) as source:
        yield source


@pytest.fixture
def incident(tmp_path: Path, fleet: Fleet) -> Path:
    # A folder of its own, so that everything in it must be free of keys.
    db = tmp_path / "incident" / "incident.db"
    db.parent.mkdir()
    with Store.open(db) as store:
        store.import_hosts([Host(h.name) for h in fleet.hosts], source="lab", actor="pytest")
    return db


def _on_recovery_screen(fleet: Fleet) -> list[LabHost]:
    return [h for h in fleet.hosts if h.state is BootState.BITLOCKER_RECOVERY]


def _lookup(db: Path, source: KeySource, key_id_prefix: str, host: str) -> str:
    result = CliRunner(env=source.env).invoke(
        key,
        [
            *("lookup", "--key-id", key_id_prefix, "--host", host, "--allow-pipe"),
            *("--reason", "console unlock", "--db", str(db), "--config", str(source.config)),
        ],
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def _assert_no_key_in(folder: Path, fleet: Fleet) -> None:
    """The database, its WAL and HMAC key file hold no recovery password, read or not."""
    passwords = [entry.recovery_password.encode() for entry in fleet.recovery_keys()]
    assert {"incident.db", "incident.db.hmac-key"} <= {path.name for path in folder.iterdir()}
    for path in folder.iterdir():
        data = path.read_bytes()
        assert not [p for p in passwords if p in data], f"a recovery key is in {path.name}"


def test_key_looked_up_from_the_screens_key_id_unlocks_the_host(
    fleet: Fleet, key_source: KeySource, incident: Path
) -> None:
    stuck = _on_recovery_screen(fleet)
    assert stuck, "the scenario should leave some hosts on the BitLocker screen"
    shown_ids: dict[str, str] = {}
    for host in stuck:
        shown = host.status().recovery_key_id
        assert shown is not None
        shown_ids[host.name] = shown.strip("{}").upper()
        # What a technician reads: the first 8 hex digits of the ID on the screen.
        password = _lookup(incident, key_source, shown.strip("{}")[:8], host.name)
        # What `fleetfix lab console HOST enter-key KEY` and `... boot safe-minimal` run.
        assert console_action(host, "enter-key", password)["unlocked"] is True
        console_action(host, "boot", "safe-minimal")
        assert not host.waits_for_console, host.state
    with open_reader(incident) as reader:
        reads = reader.audit_log(event=KEY_READ)
    assert {r.host: str(r.details["key_id"]).upper() for r in reads} == shown_ids
    assert {r.details["provider"] for r in reads} == {key_source.provider}
    _assert_no_key_in(incident.parent, fleet)


def test_another_hosts_key_does_not_unlock(
    fleet: Fleet, key_source: KeySource, incident: Path
) -> None:
    first, *_ = _on_recovery_screen(fleet)
    other = next(h for h in fleet.hosts if h is not first)
    entry = next(e for e in fleet.recovery_keys() if e.host == other.name)
    password = _lookup(incident, key_source, entry.key_id.strip("{}")[:13], other.name)
    assert console_action(first, "enter-key", password)["unlocked"] is False
    assert first.state is BootState.BITLOCKER_RECOVERY
