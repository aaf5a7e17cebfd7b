"""Canary: plant a known key and a known bind password, run every `fleetfix key` command,
`fleetfix export` in every format, `fleetfix config show` and a `fleetfix run` against the lab
that asks AD and an escrow file for key IDs, and find neither anywhere they must not be: the
database files, exports, logs, tracebacks, and the output of every command that does not
reveal a key.
"""

from __future__ import annotations

import logging
import subprocess
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetfix.cli import EXIT_HOSTS_UNREACHABLE, main
from fleetfix.cli_keys import key
from fleetfix.credentials import Secret
from fleetfix.export import FORMATS
from fleetfix.keys.ad import ActiveDirectoryProvider
from fleetfix.keys.audit import KEY_READ, KEY_REJECTED
from fleetfix.keys.config import AdConfig
from fleetfix.keys.errors import KeyProviderError
from fleetfix.keys.graph_service import GraphDevice, GraphKey, GraphService, GraphState
from fleetfix.lab.tls import LabCA
from fleetfix.lab.truth import Condition
from fleetfix.models import Host
from fleetfix.store import Store, open_reader
from tests.integration.engine_cli_helpers import QUICK as _QUICK
from tests.integration.engine_cli_helpers import (
    OutageThread,
    command,
    environment,
    json_events,
    outage,
)
from tests.integration.slapd_helpers import (
    BASE_DN,
    READER_DN,
    READER_PASSWORD,
    PlantedKey,
    Slapd,
    plant_keys,
    start_slapd,
    stop_slapd,
)
from tests.integration.test_transport_support import PASSWORD as LAB_PASSWORD

__all__ = ["outage"]  # fixture
pytestmark = pytest.mark.integration

CANARY_KEY = "111111-222222-333333-444444-555555-666666-007700-008800"
CANARY_ID = "CA4A21E5-0000-4000-8000-000000000291"
CORRUPT_KEY = "111111-222222-333333-444444-555555-666666-007700-008801"
CORRUPT_ID = "BADBAD00-0000-4000-8000-000000000001"
# The canary bind password is the directory's key reader password (see slapd_helpers).
CANARY_PASSWORD = READER_PASSWORD
CANARY_CLIENT_SECRET = "Graph-Canary-Secret-0719"
GRAPH_KEY = "222222-333333-444444-555555-666666-007700-008800-111111"
GRAPH_KEY_ID = "6a6a6a6a-0000-4000-8000-000000000291"
# The audit's HMAC secret, set in the environment for the commands that do not need it.
CANARY_HMAC_KEY = "Audit-HMAC-Canary-0719-5f3e9a"
CANARIES = (CANARY_KEY, CORRUPT_KEY, CANARY_PASSWORD, CANARY_CLIENT_SECRET, GRAPH_KEY,
            CANARY_HMAC_KEY)  # fmt: skip
# An older key AD holds for a lab host, and no escrow file does: a key ID only AD can name.
AD_ONLY_KEY = "333333-444444-555555-666666-007700-008800-111111-222222"
AD_ONLY_ID = "AD0AD0AD-0000-4000-8000-000000000291"


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"))
    try:
        plant_keys(server, [PlantedKey("PACS01", CANARY_ID, CANARY_KEY)])
        yield server
    finally:
        stop_slapd(server)


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GraphService, LabCA]]:
    ca = LabCA.create(tmp_path_factory.mktemp("graph-ca"))
    state = GraphState(
        tenant="contoso.example",
        client_id="fleetfix-app",
        client_secret=CANARY_CLIENT_SECRET,
        devices=[GraphDevice("RIS01", "0d0e0f10-0000-4000-8000-00000000d002")],
        keys=[GraphKey(GRAPH_KEY_ID, "0d0e0f10-0000-4000-8000-00000000d002", GRAPH_KEY)],
    )
    with GraphService(state, ssl_context=ca.server_context("localhost", "127.0.0.1")) as service:
        yield service, ca


@pytest.fixture
def incident(tmp_path: Path, slapd: Slapd, graph: tuple[GraphService, LabCA]) -> Path:
    service, ca = graph
    work = tmp_path / "incident"
    work.mkdir()
    db = work / "incident.db"
    with Store.open(db) as store:
        hosts = [Host("PACS01"), Host("EMR01"), Host("RIS01")]
        store.import_hosts(hosts, source="test", actor="pytest")
    escrow = tmp_path / "escrow.csv"
    escrow.write_text(f"Host,KeyID,RecoveryKey\nEMR01,{CORRUPT_ID},{CORRUPT_KEY}\n")
    (work / "fleetfix.toml").write_text(
        f'[keys]\nproviders = ["ad", "graph", "escrow"]\n[keys.escrow]\npath = "{escrow}"\n'
        f'[keys.ad]\nuri = "{slapd.uri}"\nbase_dn = "{BASE_DN}"\nbind_user = "{READER_DN}"\n'
        f'[keys.graph]\ntenant = "contoso.example"\nclient_id = "fleetfix-app"\n'
        f'endpoint = "{service.endpoint}"\nauthority = "{service.base_url}"\n'
        f'auth = "client_credentials"\nca_file = "{ca.ca_path}"\n'
    )
    return db


def _invoke(db: Path, *args: str, password: str = CANARY_PASSWORD) -> tuple[str, str]:
    env = {"FLEETFIX_AD_PASSWORD": password, "FLEETFIX_GRAPH_CLIENT_SECRET": CANARY_CLIENT_SECRET}
    runner = CliRunner(env=env)
    extra = ["--config", str(db.parent / "fleetfix.toml")] if args[0] != "rotated" else []
    if args[0] == "pending":
        extra = []
    result = runner.invoke(key, [*args, *extra, "--db", str(db)])
    if result.exc_info is not None and result.exc_info[0] is not SystemExit:
        raise AssertionError("".join(traceback.format_exception(*result.exc_info)))
    return result.stdout, result.stderr


def _assert_clean(where: str, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    for canary in CANARIES:
        assert canary.encode() not in data, f"{canary[:6]}... leaked into {where}"


def test_no_command_leaks_the_key_or_the_password(
    incident: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    graph: tuple[GraphService, LabCA],
) -> None:
    caplog.set_level(logging.DEBUG)
    export = tmp_path / "iso.csv"
    revealed, err = _invoke(
        incident, "lookup", "--key-id", CANARY_ID[:8], "--reason", "canary", "--allow-pipe"
    )
    assert revealed == CANARY_KEY + "\n"  # the one place the key may appear
    quiet: list[tuple[str, str]] = [("lookup stderr", err)]
    revealed, err = _invoke(
        incident, "lookup", "--key-id", GRAPH_KEY_ID[:8], "--reason", "canary", "--allow-pipe"
    )
    assert revealed == GRAPH_KEY + "\n"
    quiet.append(("graph lookup stderr", err))
    runs = [
        ("lookup (pipe refused)", ("lookup", "--key-id", CANARY_ID[:8], "--reason", "x")),
        ("lookup (corrupt)", ("lookup", "--key-id", CORRUPT_ID, "--reason", "x", "--allow-pipe")),
        ("export", ("export-iso-csv", "--host", "PACS01", "--host", "EMR01", "--host", "RIS01",
                    "-o", str(export), "--reason", "canary")),
        ("request-rotation", ("request-rotation", "RIS01")),
        ("rotated", ("rotated", "PACS01")),
        ("pending", ("pending",)),
        ("pending --json", ("pending", "--json")),
    ]  # fmt: skip
    for name, args in runs:
        out, err = _invoke(incident, *args)
        quiet += [(f"{name} stdout", out), (f"{name} stderr", err)]
    out, err = _invoke(
        incident, "lookup", "--key-id", CANARY_ID[:8], "--reason", "x", "--allow-pipe",
        password="Wrong-" + CANARY_PASSWORD,
    )  # fmt: skip
    quiet += [("bad bind stdout", out), ("bad bind stderr", err)]
    assert "bind as" in err
    quiet += _exports_and_config_show(incident)
    for where, text in quiet:
        _assert_clean(where, text)
    _assert_clean("logs", caplog.text)
    issued = graph[0].state.issued_tokens
    everything = caplog.text + "".join(text for _, text in quiet)
    assert issued and not any(token in everything for token in issued)  # access tokens
    assert CANARY_KEY in export.read_text()  # the export is meant to carry it ...
    with open_reader(incident) as reader:  # ... and the database records its reads ...
        assert len(reader.audit_log(event=KEY_READ)) == 4
        assert len(reader.audit_log(event=KEY_REJECTED)) == 2
    files = {path.name for path in incident.parent.iterdir()}
    assert {"incident.db", "incident.db.hmac-key"} <= files
    for path in incident.parent.iterdir():  # ... but nothing there holds a key or password
        _assert_clean(str(path), path.read_bytes())


def _fleetfix(*args: str, env: dict[str, str]) -> tuple[str, str]:
    result = CliRunner(env=env).invoke(main, list(args))
    if result.exc_info is not None and result.exc_info[0] is not SystemExit:
        raise AssertionError("".join(traceback.format_exception(*result.exc_info)))
    assert result.exit_code == 0, result.stderr
    return result.stdout, result.stderr


def _exports_and_config_show(db: Path) -> list[tuple[str, str]]:
    """`fleetfix export` in every format (to a file next to the database and to stdout), and
    `fleetfix config show` with the HMAC key and the providers' secrets in the environment."""
    env = {"FLEETFIX_AUDIT_HMAC_KEY": CANARY_HMAC_KEY, "FLEETFIX_AD_PASSWORD": CANARY_PASSWORD,
           "FLEETFIX_GRAPH_CLIENT_SECRET": CANARY_CLIENT_SECRET}  # fmt: skip
    outputs: list[tuple[str, str]] = []
    for fmt in FORMATS:
        target = db.with_name(f"report.{fmt}")
        out, err = _fleetfix("export", "--format", fmt, "-o", str(target), "--db", str(db), env=env)
        assert target.stat().st_size > 0
        # Without Markdown's backslashes, which would hide `123453\-234564...`.
        outputs += [
            (f"export {fmt}", target.read_text().replace("\\", "")),
            (f"export {fmt} stderr", err),
        ]
        out, err = _fleetfix("export", "--format", fmt, "-o", "-", "--db", str(db), env=env)
        outputs += [(f"export {fmt} stdout", out.replace("\\", "")), (f"export {fmt} stderr", err)]
    config = ["--config", str(db.parent / "fleetfix.toml"), "config", "show"]
    overview, err = _fleetfix(*config, env=env)
    assert "FLEETFIX_AUDIT_HMAC_KEY" in overview and "FLEETFIX_AD_PASSWORD" in overview
    outputs += [("config show", overview), ("config show stderr", err)]
    for extra in (("--json",), ("key", "lookup"), ("run", "-i", "hosts.csv")):
        out, err = _fleetfix(*config, *extra, env=env)
        outputs += [(f"config show {extra}", out), (f"config show {extra} stderr", err)]
    return outputs


@pytest.mark.slow
def test_a_run_asking_ad_and_an_escrow_file_for_key_ids_leaks_nothing(
    outage: OutageThread, slapd: Slapd, tmp_path: Path
) -> None:
    lab = outage.lab
    name = outage.names(Condition.BITLOCKER_RECOVERY)[0]
    lab_key = next(k for k in lab.fleet.recovery_keys() if k.host == name)
    plant_keys(slapd, [PlantedKey(name, AD_ONLY_ID, AD_ONLY_KEY)])
    escrow = Path(lab.paths()["keys_config"]).parent / "escrow.csv"
    escrowed = [line.rsplit(",", 1)[1] for line in escrow.read_text().splitlines()[1:]]
    work = tmp_path / "incident"
    work.mkdir()
    db = work / "incident.db"
    (work / "fleetfix.toml").write_text(
        f'[keys]\nproviders = ["ad", "escrow"]\n[keys.escrow]\npath = "{escrow}"\n'
        f'[keys.ad]\nuri = "{slapd.uri}"\nbase_dn = "{BASE_DN}"\nbind_user = "{READER_DN}"\n'
    )
    env = {**environment(lab, db), "FLEETFIX_AD_PASSWORD": CANARY_PASSWORD,
           "FLEETFIX_AUDIT_HMAC_KEY": CANARY_HMAC_KEY}  # fmt: skip
    done = subprocess.run(
        command(lab, "--pack", "crowdstrike-291", "--limit", name, "--json",
                "--config", str(work / "fleetfix.toml"), *_QUICK),
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == EXIT_HOSTS_UNREACHABLE, done.stderr
    (hands_on,) = [e for e in json_events(done.stdout) if e["event"] == "hands_on"]
    # Both providers answered: AD with the key only it holds, the escrow with the lab's key.
    named = {k.strip("{}").casefold() for k in hands_on["key_ids"]}
    assert {AD_ONLY_ID.casefold(), lab_key.key_id.strip("{}").casefold()} <= named
    secrets = (*CANARIES, AD_ONLY_KEY, LAB_PASSWORD, *escrowed)
    assert lab_key.recovery_password in escrowed
    outputs = [("run stdout", done.stdout), ("run stderr", done.stderr)]
    outputs += _exports_and_config_show(db)
    for where, text in outputs:
        assert not [s[:6] for s in secrets if s in text], where
    for path in work.iterdir():  # the database (and its WAL), the exports
        data = path.read_bytes()
        assert not [s[:6] for s in secrets if s.encode() in data], path.name


def test_error_tracebacks_carry_neither_key_nor_password(slapd: Slapd) -> None:
    config = AdConfig(uri=slapd.uri, base_dn=BASE_DN, bind_user=READER_DN, timeout=5)
    with pytest.raises(KeyProviderError) as caught:
        ActiveDirectoryProvider.connect(config, password=Secret("Wrong-" + CANARY_PASSWORD))
    _assert_clean("bad bind traceback", "".join(traceback.format_exception(caught.value)))
    provider = ActiveDirectoryProvider.connect(config, password=Secret(CANARY_PASSWORD))
    try:
        assert CANARY_PASSWORD not in repr(provider._conn)  # ldap3's repr prints passwords
    finally:
        provider.close()
