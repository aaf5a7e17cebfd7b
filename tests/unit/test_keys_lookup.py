"""The lookup workflow over the escrow provider and a real incident database."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from fleetfix.errors import ConfigError
from fleetfix.keys.audit import KEY_READ, KEY_REJECTED, KeyRead
from fleetfix.keys.config import AdConfig, EscrowConfig, KeysConfig
from fleetfix.keys.errors import (
    AmbiguousKeyIdError,
    BadRecoveryPasswordError,
    KeyLookupError,
    KeyNotFoundError,
)
from fleetfix.keys.escrow import EscrowCsvProvider
from fleetfix.keys.factory import open_providers
from fleetfix.keys.lookup import choose_key, find_keys, reveal_key
from fleetfix.keys.model import KeyIdPrefix
from fleetfix.store import Store, open_reader
from tests.conftest_store import open_store

ESCROW = Path(__file__).parent.parent / "data" / "keys" / "escrow.csv"
RIS_KEY = "467808-117744-648175-092741-358270-289949-234168-389301"
READ = KeyRead(actor="alice", reason="INC0042", purpose="lookup")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path)


@pytest.fixture
def providers() -> list[EscrowCsvProvider]:
    return [EscrowCsvProvider(ESCROW)]


def test_unique_prefix_is_read_checked_and_audited(
    store: Store, providers: list[EscrowCsvProvider]
) -> None:
    prefix = KeyIdPrefix.parse("5E6F7A8B")
    info = choose_key(find_keys(providers, prefix), prefix)
    password = reveal_key(store, providers, info, read=READ, hmac_secret=b"k" * 32)
    assert password.reveal() == RIS_KEY
    with open_reader(store.path) as reader:
        (row,) = reader.audit_log(event=KEY_READ)
    assert row.host == "RIS01" and str(row.details["key_id"]).startswith("5E6F7A8B")


def test_shared_prefix_lists_candidates_and_reads_nothing(
    store: Store, providers: list[EscrowCsvProvider]
) -> None:
    prefix = KeyIdPrefix.parse("1A2B3C4D")
    with pytest.raises(AmbiguousKeyIdError) as caught:
        choose_key(find_keys(providers, prefix), prefix)
    assert len(caught.value.candidates) == 2
    assert "1A2B3C4D-1111" in str(caught.value) and "1A2B3C4D-2222" in str(caught.value)
    assert "PACS01" in str(caught.value)


def test_longer_prefix_picks_one_of_several(providers: list[EscrowCsvProvider]) -> None:
    prefix = KeyIdPrefix.parse("1A2B3C4D-2222")
    assert choose_key(find_keys(providers, prefix), prefix).key_id.guid.startswith("1A2B3C4D-2222")


def test_unknown_key_id_is_not_found(providers: list[EscrowCsvProvider]) -> None:
    prefix = KeyIdPrefix.parse("FFFFFFFF")
    with pytest.raises(KeyNotFoundError, match="FFFFFFFF"):
        choose_key(find_keys(providers, prefix), prefix)


def test_corrupt_key_is_refused_audited_as_rejected_and_never_returned(
    store: Store, providers: list[EscrowCsvProvider]
) -> None:
    prefix = KeyIdPrefix.parse("9C0D1E2F")
    info = choose_key(find_keys(providers, prefix), prefix)
    with pytest.raises(BadRecoveryPasswordError):
        reveal_key(store, providers, info, read=READ, hmac_secret=b"k" * 32)
    with open_reader(store.path) as reader:
        assert reader.audit_log(event=KEY_READ) == []
        assert len(reader.audit_log(event=KEY_REJECTED)) == 1


def test_a_key_is_not_read_without_a_reason(
    store: Store, providers: list[EscrowCsvProvider]
) -> None:
    prefix = KeyIdPrefix.parse("5E6F7A8B")
    info = choose_key(find_keys(providers, prefix), prefix)
    blank = KeyRead(actor="alice", reason="  ", purpose="lookup")
    with pytest.raises(KeyLookupError, match="reason"):
        reveal_key(store, providers, info, read=blank, hmac_secret=b"k" * 32)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_directory_does_not_stop_the_escrow_lookup() -> None:
    config = KeysConfig(
        order=("ad", "escrow"),
        escrow=EscrowConfig(ESCROW),
        ad=AdConfig(uri=f"ldap://127.0.0.1:{_closed_port()}", base_dn="dc=x", timeout=2),
    )
    with open_providers(config, env={}) as providers:
        assert [p.name for p in providers.opened] == ["escrow"]
        assert len(providers.failed) == 1 and "ad: cannot reach" in providers.failed[0]
        prefix = KeyIdPrefix.parse("5E6F7A8B")
        assert choose_key(find_keys(providers.opened, prefix), prefix).host == "RIS01"


def test_an_empty_bind_password_is_refused_before_any_bind() -> None:
    config = KeysConfig(
        order=("ad",),
        ad=AdConfig(uri="ldap://127.0.0.1:1", base_dn="dc=x", bind_user="cn=reader,dc=x"),
    )
    with (
        pytest.raises(ConfigError, match="FLEETFIX_AD_PASSWORD"),
        open_providers(config, env={"FLEETFIX_AD_PASSWORD": ""}),
    ):
        pass
