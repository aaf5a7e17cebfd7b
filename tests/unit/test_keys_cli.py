"""`fleetfix key ...` end to end: real config, escrow file and incident database."""

from __future__ import annotations

import json
import os
import pty
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetfix.cli_keys import key
from fleetfix.keys.audit import KEY_READ, KEY_ROTATED
from fleetfix.models import Host, HostState
from fleetfix.store import Store, open_reader
from tests.conftest_store import bring_to

ESCROW = Path(__file__).parent.parent / "data" / "keys" / "escrow.csv"
RIS_KEY = "467808-117744-648175-092741-358270-289949-234168-389301"
PACS_KEYS = (
    "681538-131923-562650-693363-169235-383735-293645-373912",
    "378675-483692-618585-156915-248479-313687-442706-100892",
)


@pytest.fixture
def incident(tmp_path: Path) -> Path:
    """An incident database where PACS01 and RIS01 need hands at the console."""
    db = tmp_path / "incident.db"
    with Store.open(db) as store:
        hosts = [Host(name) for name in ("PACS01", "RIS01", "EMR01", "WEB01")]
        store.import_hosts(hosts, source="test", actor="pytest")
        for name in ("PACS01", "RIS01"):
            bring_to(store, name, HostState.NEEDS_HANDS_ON)
    (tmp_path / "fleetfix.toml").write_text(f'[keys.escrow]\npath = "{ESCROW}"\n')
    return db


def _run(db: Path, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    config = str(db.parent / "fleetfix.toml")
    common = ["--db", str(db)]
    if args[0] in ("lookup", "export-iso-csv"):
        common += ["--config", config]
    result = runner.invoke(key, [*args, *common], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_lookup_refuses_to_print_a_key_into_a_pipe(incident: Path) -> None:
    code, out, err = _run(incident, "lookup", "--key-id", "5E6F7A8B", "--reason", "INC1")
    assert code != 0
    assert "not a terminal" in err and "--allow-pipe" in err
    assert RIS_KEY not in out + err
    with open_reader(incident) as reader:
        assert reader.audit_log(event=KEY_READ) == []


def test_lookup_with_allow_pipe_prints_the_key_alone_on_stdout(incident: Path) -> None:
    code, out, err = _run(
        incident, "lookup", "--key-id", "5e6f7a8b", "--reason", "INC1", "--allow-pipe"
    )
    assert code == 0, err
    assert out == RIS_KEY + "\n"
    assert "RIS01" in err and RIS_KEY not in err


def test_lookup_of_a_shared_prefix_lists_candidates_and_shows_no_key(incident: Path) -> None:
    code, out, err = _run(
        incident, "lookup", "--key-id", "1A2B3C4D", "--reason", "INC1", "--allow-pipe"
    )
    assert code == 1
    assert "1A2B3C4D-1111" in err and "1A2B3C4D-2222" in err and "full key ID" in err
    assert not any(k in out + err for k in PACS_KEYS)


def test_lookup_needs_an_existing_incident_database(tmp_path: Path, incident: Path) -> None:
    code, _, err = _run(
        tmp_path / "typo.db", "lookup", "--key-id", "5E6F7A8B", "--reason", "x", "--allow-pipe"
    )
    assert code == 2 and "no such incident database" in err
    assert not (tmp_path / "typo.db").exists()


def test_export_by_state_writes_only_those_hosts(incident: Path, tmp_path: Path) -> None:
    out = tmp_path / "BitLockerKeys.csv"
    code, stdout, err = _run(
        incident, "export-iso-csv", "--state", "needs_hands_on", "-o", str(out), "--reason", "ISO"
    )
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert lines[0] == "KeyID,RecoveryKey" and len(lines) == 4
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "wrote 3 keys for 2 hosts" in err
    assert not any(k in stdout + err for k in (*PACS_KEYS, RIS_KEY))


def test_export_exits_non_zero_when_a_host_has_no_key(incident: Path, tmp_path: Path) -> None:
    out = tmp_path / "k.csv"
    code, _, err = _run(
        incident, "export-iso-csv", "--host", "WEB01", "-o", str(out), "--reason", "ISO"
    )
    assert code == 6 and "no recovery key found for: WEB01" in err


def test_rotation_is_pending_after_lookup_until_recorded(incident: Path) -> None:
    _run(incident, "lookup", "--key-id", "5E6F7A8B", "--reason", "INC1", "--allow-pipe")
    code, out, _ = _run(incident, "pending", "--json")
    assert code == 0
    assert [json.loads(line)["host"] for line in out.splitlines()] == ["RIS01"]
    code, out, err = _run(incident, "pending")
    assert out.startswith("RIS01") and "5E6F7A8B-3333" in out and "1 host rotation-pending" in err
    code, _, err = _run(incident, "rotated", "RIS01", "--note", "manage-bde", "--operator", "bob")
    assert code == 0 and "0 hosts still rotation-pending" in err
    with open_reader(incident) as reader:
        (row,) = reader.audit_log(event=KEY_ROTATED)
    assert (row.host, row.actor) == ("RIS01", "bob")


def _on_terminal(incident: Path, key_id: str, *, typed: bytes = b"") -> tuple[int, bytes, bytes]:
    """Run `lookup` with stdin and stdout on a pseudo-terminal, as a technician would."""
    primary, secondary = pty.openpty()
    command = [
        *(sys.executable, "-m", "fleetfix.cli_keys", "lookup", "--key-id", key_id),
        *("--reason", "INC1", "--db", str(incident)),
        *("--config", str(incident.parent / "fleetfix.toml")),
    ]
    process = subprocess.Popen(
        command, stdin=secondary, stdout=secondary, stderr=subprocess.PIPE, cwd=incident.parent
    )
    os.close(secondary)
    if typed:
        os.write(primary, typed)
    _, err = process.communicate(timeout=60)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    return process.returncode, seen, err


def test_lookup_prints_the_key_on_a_terminal(incident: Path) -> None:
    code, seen, err = _on_terminal(incident, "5E6F7A8B")
    assert code == 0, err
    assert RIS_KEY.encode() in seen
    assert RIS_KEY.encode() not in err


def test_on_a_terminal_a_shared_prefix_asks_for_the_full_key_id(incident: Path) -> None:
    full_id = b"1A2B3C4D-2222-4000-8000-000000000002\n"
    code, seen, err = _on_terminal(incident, "1A2B3C4D", typed=full_id)
    assert code == 0, err
    assert b"Full key ID" in err and b"1A2B3C4D-1111" in err
    assert PACS_KEYS[1].encode() in seen and PACS_KEYS[0].encode() not in seen


def test_export_to_a_missing_folder_reads_no_key(incident: Path, tmp_path: Path) -> None:
    out = tmp_path / "usb" / "BitLockerKeys.csv"
    code, _, err = _run(
        incident, "export-iso-csv", "--state", "needs_hands_on", "-o", str(out), "--reason", "ISO"
    )
    assert code == 2, err
    assert f"the folder {out.parent} does not exist" in err
    with open_reader(incident) as reader:  # refused before any key was read (and audited)
        assert reader.audit_log(event=KEY_READ) == []
