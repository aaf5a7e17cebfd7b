"""What a key read leaves in a real incident database: an audit row with an HMAC, no key."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest

from fleetfix.credentials import Secret
from fleetfix.errors import ConfigError
from fleetfix.keys.audit import (
    HMAC_ENV,
    KEY_READ,
    KeyRead,
    hmac_key_path,
    load_hmac_secret,
    pending_rotations,
    record_key_read,
    record_rotated,
    record_rotation_requested,
)
from fleetfix.keys.model import KeyId, RecoveryKeyInfo
from fleetfix.store import Store, open_reader
from tests.conftest_store import open_store

PASSWORD = "681538-131923-562650-693363-169235-383735-293645-373912"
INFO = RecoveryKeyInfo(KeyId.parse("1A2B3C4D-1111-4000-8000-000000000001"), "escrow", host="PACS01")
READ = KeyRead(actor="alice", reason="INC0042 boot loop", purpose="lookup")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path)


def test_hmac_secret_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    db = tmp_path / "incident.db"
    first = load_hmac_secret(db, env={})
    assert stat.S_IMODE(hmac_key_path(db).stat().st_mode) == 0o600
    assert load_hmac_secret(db, env={}) == first
    assert len(first) == 64


def test_hmac_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "incident.db"
    load_hmac_secret(db, env={})
    hmac_key_path(db).chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_hmac_secret(db, env={})


def test_hmac_secret_from_the_environment_wins_and_writes_no_file(tmp_path: Path) -> None:
    db = tmp_path / "incident.db"
    assert load_hmac_secret(db, env={HMAC_ENV: "shared-secret-of-the-war-room"}) == (
        b"shared-secret-of-the-war-room"
    )
    assert not hmac_key_path(db).exists()
    with pytest.raises(ConfigError, match="too short"):
        load_hmac_secret(db, env={HMAC_ENV: "short"})


def test_key_read_row_names_who_what_why_and_holds_an_hmac_not_the_key(
    store: Store, tmp_path: Path
) -> None:
    secret = b"s" * 32
    record_key_read(store, INFO, Secret(PASSWORD), read=READ, hmac_secret=secret)
    with open_reader(store.path) as reader:
        (row,) = reader.audit_log(event=KEY_READ)
        assert reader.verify_audit().ok
    assert (row.actor, row.host) == ("alice", "PACS01")
    assert row.details["key_id"] == INFO.key_id.guid
    assert row.details["provider"] == "escrow"
    assert row.details["reason"] == "INC0042 boot loop"
    expected = hmac.new(secret, PASSWORD.encode(), hashlib.sha256).hexdigest()
    assert row.details["key_hmac"] == f"hmac-sha256:{expected}"
    assert PASSWORD not in repr(row)
    assert PASSWORD.encode() not in Path(store.path).read_bytes()


def test_host_is_rotation_pending_from_read_until_rotated(store: Store) -> None:
    record_key_read(store, INFO, Secret(PASSWORD), read=READ, hmac_secret=b"k" * 32)
    with open_reader(store.path) as reader:
        (pending,) = pending_rotations(reader)
    assert pending.host == "PACS01" and pending.readers == ("alice",)
    record_rotated(store, actor="bob", host="pacs01", note="manage-bde")
    with open_reader(store.path) as reader:
        assert pending_rotations(reader) == []


def test_a_read_after_rotation_makes_the_host_pending_again(store: Store) -> None:
    record_key_read(store, INFO, Secret(PASSWORD), read=READ, hmac_secret=b"k" * 32)
    record_rotated(store, actor="bob", host="PACS01")
    record_key_read(store, INFO, Secret(PASSWORD), read=READ, hmac_secret=b"k" * 32)
    with open_reader(store.path) as reader:
        assert [p.host for p in pending_rotations(reader)] == ["PACS01"]


def test_key_read_without_a_host_is_pending_by_key_id(store: Store) -> None:
    hostless = RecoveryKeyInfo(INFO.key_id, "escrow")
    record_key_read(store, hostless, Secret(PASSWORD), read=READ, hmac_secret=b"k" * 32)
    with open_reader(store.path) as reader:
        (pending,) = pending_rotations(reader)
    assert pending.host is None and pending.key_ids == (INFO.key_id.guid,)
    record_rotated(store, actor="bob", host=None, key_id=INFO.key_id.guid)
    with open_reader(store.path) as reader:
        assert pending_rotations(reader) == []


def test_rotation_request_keeps_the_host_pending_but_says_it_was_asked(store: Store) -> None:
    record_key_read(store, INFO, Secret(PASSWORD), read=READ, hmac_secret=b"k" * 32)
    record_rotation_requested(store, actor="bob", host="PACS01", provider="graph", request="m1")
    with open_reader(store.path) as reader:
        (pending,) = pending_rotations(reader)
    assert pending.rotation_requested is not None
    record_key_read(store, INFO, Secret(PASSWORD), read=READ, hmac_secret=b"k" * 32)
    with open_reader(store.path) as reader:
        (pending,) = pending_rotations(reader)
    assert pending.rotation_requested is None  # read again since: ask again
