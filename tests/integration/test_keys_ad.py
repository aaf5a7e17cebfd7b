"""The Active Directory provider against a real OpenLDAP slapd carrying AD's BitLocker schema."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetfix.cli_keys import key
from fleetfix.credentials import Secret
from fleetfix.keys.ad import ActiveDirectoryProvider
from fleetfix.keys.config import AdConfig
from fleetfix.keys.errors import KeyProviderError
from fleetfix.keys.lookup import choose_key, find_keys
from fleetfix.keys.model import KeyIdPrefix
from fleetfix.lab.machine.bitlocker import new_recovery_password
from fleetfix.lab.tls import LabCA
from fleetfix.store import Store
from tests.integration.slapd_helpers import (
    BASE_DN,
    HELPDESK_DN,
    HELPDESK_PASSWORD,
    READER_DN,
    READER_PASSWORD,
    PlantedKey,
    Slapd,
    TlsFiles,
    plant_keys,
    start_slapd,
    stop_slapd,
)

pytestmark = pytest.mark.integration

_RNG = random.Random(19072024)
KEYS = [
    # PACS01 was re-keyed: two keys sharing the first 8 hex digits, plus a data volume.
    PlantedKey("PACS01", "1A2B3C4D-1111-4000-8000-0000000000A1", new_recovery_password(_RNG),
               created="2024-03-01T08:00:00+01:00"),
    PlantedKey("PACS01", "1A2B3C4D-2222-4000-8000-0000000000A2", new_recovery_password(_RNG),
               created="2024-07-01T09:00:00+01:00"),
    PlantedKey("PACS01", "77777777-3333-4000-8000-0000000000A3", new_recovery_password(_RNG),
               volume_guid="7A1B2C3D-0000-4000-8000-000000000002"),
    PlantedKey("RIS01", "5E6F7A8B-4444-4000-8000-0000000000B1", new_recovery_password(_RNG)),
]  # fmt: skip


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"))
    try:
        plant_keys(server, KEYS)
        yield server
    finally:
        stop_slapd(server)


def _config(slapd: Slapd, *, user: str = READER_DN) -> AdConfig:
    return AdConfig(uri=slapd.uri, base_dn=BASE_DN, bind_user=user, timeout=5)


@pytest.fixture
def ad(slapd: Slapd) -> Iterator[ActiveDirectoryProvider]:
    provider = ActiveDirectoryProvider.connect(_config(slapd), password=Secret(READER_PASSWORD))
    yield provider
    provider.close()


def test_prefix_search_finds_every_key_sharing_it_with_host_and_date(
    ad: ActiveDirectoryProvider,
) -> None:
    found = sorted(ad.find(KeyIdPrefix.parse("1a2b3c4d")), key=lambda i: i.key_id.hex_digits)
    assert [info.key_id.guid for info in found] == [KEYS[0].key_id, KEYS[1].key_id]
    assert {info.host for info in found} == {"PACS01"}
    assert [info.created.isoformat() if info.created else None for info in found] == [
        "2024-03-01T08:00:00+01:00",
        "2024-07-01T09:00:00+01:00",
    ]


def test_key_id_comes_from_the_binary_recovery_guid(ad: ActiveDirectoryProvider) -> None:
    (info,) = ad.find(KeyIdPrefix.parse("5E6F7A8B-4444"))
    assert info.key_id.guid == KEYS[3].key_id
    assert info.volume == KEYS[3].volume_guid


def test_host_search_lists_only_that_computers_keys(ad: ActiveDirectoryProvider) -> None:
    assert len(ad.find(None, host="PACS01")) == 3
    assert len(ad.find(None, host="pacs01.example.org")) == 3
    assert ad.find(KeyIdPrefix.parse("1A2B3C4D"), host="RIS01") == []
    assert ad.find(None, host="NOSUCHHOST") == []


def test_several_keys_on_one_host_are_never_guessed(ad: ActiveDirectoryProvider) -> None:
    prefix = KeyIdPrefix.parse("1A2B3C4D")
    with pytest.raises(Exception, match="give the full key ID"):
        choose_key(find_keys([ad], prefix, host="PACS01"), prefix)


def test_reader_account_reads_the_confidential_attribute(ad: ActiveDirectoryProvider) -> None:
    (info,) = ad.find(KeyIdPrefix.parse("1A2B3C4D-2222"))
    assert ad.read(info).reveal() == KEYS[1].password


def test_account_without_the_right_gets_told_what_to_grant(slapd: Slapd) -> None:
    helpdesk = ActiveDirectoryProvider.connect(
        _config(slapd, user=HELPDESK_DN), password=Secret(HELPDESK_PASSWORD)
    )
    try:
        (info,) = helpdesk.find(KeyIdPrefix.parse("5E6F7A8B"))
        with pytest.raises(KeyProviderError, match="grant it read access"):
            helpdesk.read(info)
    finally:
        helpdesk.close()


def test_wrong_bind_password_fails_clearly_without_echoing_it(slapd: Slapd) -> None:
    with pytest.raises(KeyProviderError, match="bind as") as caught:
        ActiveDirectoryProvider.connect(_config(slapd), password=Secret("Wrong-Canary-77"))
    assert "Wrong-Canary-77" not in str(caught.value)
    assert "FLEETFIX_AD_PASSWORD" in str(caught.value)


def test_cli_lookup_through_ad_audits_the_read(
    slapd: Slapd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "incident.db"
    Store.open(db).close()
    config = tmp_path / "fleetfix.toml"
    config.write_text(
        f'[keys.ad]\nuri = "{slapd.uri}"\nbase_dn = "{BASE_DN}"\nbind_user = "{READER_DN}"\n'
    )
    monkeypatch.setenv("FLEETFIX_AD_PASSWORD", READER_PASSWORD)
    result = CliRunner().invoke(
        key,
        [
            *("lookup", "--key-id", "77777777", "--reason", "INC7", "--allow-pipe"),
            *("--config", str(config), "--db", str(db)),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == KEYS[2].password + "\n"
    assert "PACS01" in result.stderr


@pytest.fixture(scope="module")
def tls_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Slapd, LabCA]]:
    ca = LabCA.create(tmp_path_factory.mktemp("ldap-ca"))
    ca.server_context("localhost", "127.0.0.1")  # writes the leaf certificate
    files = TlsFiles(
        ca=ca.ca_path,
        certificate=ca.directory / "hosts" / "localhost_127.0.0.1.pem",
        key=ca.directory / "leaf-key.pem",
    )
    server = start_slapd(tmp_path_factory.mktemp("slapd-tls"), tls=files)
    try:
        plant_keys(server, KEYS)
        yield server, ca
    finally:
        stop_slapd(server)


@pytest.mark.parametrize("mode", ["ldaps", "start_tls"])
def test_keys_are_read_over_a_verified_tls_channel(
    tls_slapd: tuple[Slapd, LabCA], mode: str
) -> None:
    server, ca = tls_slapd
    uri = server.ldaps_uri if mode == "ldaps" else server.uri
    assert uri is not None
    config = AdConfig(
        uri=uri, base_dn=BASE_DN, bind_user=READER_DN, start_tls=mode == "start_tls",
        ca_file=ca.ca_path, timeout=5,
    )  # fmt: skip
    provider = ActiveDirectoryProvider.connect(config, password=Secret(READER_PASSWORD))
    try:
        (info,) = provider.find(KeyIdPrefix.parse("5E6F7A8B"))
        assert provider.read(info).reveal() == KEYS[3].password
    finally:
        provider.close()


def test_a_server_certificate_from_an_unknown_ca_is_refused(
    tls_slapd: tuple[Slapd, LabCA], tmp_path: Path
) -> None:
    server, _ = tls_slapd
    stranger = LabCA.create(tmp_path / "other-ca")
    assert server.ldaps_uri is not None
    config = AdConfig(
        uri=server.ldaps_uri, base_dn=BASE_DN, bind_user=READER_DN,
        ca_file=stranger.ca_path, timeout=5,
    )  # fmt: skip
    with pytest.raises(KeyProviderError, match="cannot reach"):
        ActiveDirectoryProvider.connect(config, password=Secret(READER_PASSWORD))
