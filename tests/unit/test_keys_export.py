"""export-iso-csv: the recovery ISO's CSV, mode 0600, only the hosts asked for, all audited."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest

from fleetfix.errors import ConfigError
from fleetfix.keys.audit import KEY_READ, KEY_REJECTED
from fleetfix.keys.escrow import EscrowCsvProvider
from fleetfix.keys.export import ExportSummary, export_iso_csv
from fleetfix.store import Store, open_reader
from tests.conftest_store import open_store

ESCROW = Path(__file__).parent.parent / "data" / "keys" / "escrow.csv"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path)


def _export(store: Store, out: Path, hosts: list[str], *, overwrite: bool = False) -> ExportSummary:
    return export_iso_csv(
        store,
        [EscrowCsvProvider(ESCROW)],
        hosts,
        out,
        actor="alice",
        reason="INC0042 ISO",
        hmac_secret=b"k" * 32,
        overwrite=overwrite,
    )


def test_export_holds_only_the_asked_hosts_keys_with_iso_headers(
    store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "BitLockerKeys.csv"
    _export(store, out, ["PACS01"])
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["KeyID", "RecoveryKey"]
    assert [row[0][:13] for row in rows[1:]] == ["1A2B3C4D-1111", "1A2B3C4D-2222"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_every_exported_key_has_its_own_audit_row(store: Store, tmp_path: Path) -> None:
    _export(store, tmp_path / "k.csv", ["PACS01", "RIS01"])
    with open_reader(store.path) as reader:
        rows = reader.audit_log(event=KEY_READ)
    assert [(r.host, r.details["purpose"]) for r in rows] == [
        ("PACS01", "export-iso-csv"),
        ("PACS01", "export-iso-csv"),
        ("RIS01", "export-iso-csv"),
    ]


def test_corrupt_keys_and_hosts_without_keys_are_reported_not_written(
    store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "k.csv"
    summary = _export(store, out, ["EMR01", "NOKEYS01"])
    assert summary.rejected_key_ids == ("9C0D1E2F-4444-4000-8000-000000000004",)
    assert summary.hosts_without_keys == ("NOKEYS01",)
    assert out.read_text().strip() == "KeyID,RecoveryKey"
    with open_reader(store.path) as reader:
        assert len(reader.audit_log(event=KEY_REJECTED)) == 1


def test_existing_file_is_kept_unless_forced_and_then_made_private(
    store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "k.csv"
    out.write_text("old")
    out.chmod(0o644)
    with pytest.raises(ConfigError, match="--force"):
        _export(store, out, ["RIS01"])
    assert out.read_text() == "old"
    _export(store, out, ["RIS01"], overwrite=True)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text().startswith("KeyID,RecoveryKey")
