"""The escrow CSV provider against real files (tests/data/keys/escrow.csv and written ones)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetfix.keys.errors import KeyProviderError
from fleetfix.keys.escrow import EscrowCsvProvider
from fleetfix.keys.model import KeyIdPrefix

ESCROW = Path(__file__).parent.parent / "data" / "keys" / "escrow.csv"
PACS_FIRST = "681538-131923-562650-693363-169235-383735-293645-373912"


@pytest.fixture
def escrow() -> EscrowCsvProvider:
    return EscrowCsvProvider(ESCROW)


def test_prefix_finds_every_key_sharing_it(escrow: EscrowCsvProvider) -> None:
    found = escrow.find(KeyIdPrefix.parse("1A2B3C4D"))
    assert [info.key_id.guid[9:13] for info in found] == ["1111", "2222"]
    assert {info.host for info in found} == {"PACS01"}


def test_host_narrows_the_search_case_insensitively(escrow: EscrowCsvProvider) -> None:
    assert escrow.find(KeyIdPrefix.parse("1A2B3C4D"), host="ris01") == []
    assert len(escrow.find(KeyIdPrefix.parse("1A2B3C4D"), host="pacs01")) == 2


def test_key_without_host_column_value_is_found_by_prefix_alone(escrow: EscrowCsvProvider) -> None:
    found = escrow.find(KeyIdPrefix.parse("abcdef01"), host="ANYHOST")
    assert len(found) == 1 and found[0].host is None


def test_listing_a_hosts_keys_skips_keys_without_a_host(escrow: EscrowCsvProvider) -> None:
    assert len(escrow.find(None, host="PACS01")) == 2
    assert escrow.find(None, host="ANYHOST") == []


def test_read_returns_the_key_of_that_row(escrow: EscrowCsvProvider) -> None:
    info = escrow.find(KeyIdPrefix.parse("1A2B3C4D-1111"))[0]
    assert escrow.read(info).reveal() == PACS_FIRST


def test_file_without_the_iso_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.csv"
    path.write_text("Id,Password\n1A2B3C4D-1111-4000-8000-000000000001,x\n")
    with pytest.raises(KeyProviderError, match="KeyID and RecoveryKey"):
        EscrowCsvProvider(path)


def test_bad_key_id_line_is_named_without_quoting_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.csv"
    # Columns swapped by hand: the KeyID column holds a recovery password.
    path.write_text(f"KeyID,RecoveryKey\n{PACS_FIRST},1A2B3C4D-1111-4000-8000-000000000001\n")
    with pytest.raises(KeyProviderError, match="line 2") as caught:
        EscrowCsvProvider(path)
    assert PACS_FIRST not in str(caught.value)
    # A traceback would show the suppressed context too, had it not been suppressed.
    assert caught.value.__suppress_context__
    assert PACS_FIRST not in str(caught.value.__context__)


def test_missing_file_is_a_provider_error(tmp_path: Path) -> None:
    with pytest.raises(KeyProviderError, match="cannot read"):
        EscrowCsvProvider(tmp_path / "nope.csv")


def test_provider_repr_holds_no_key(escrow: EscrowCsvProvider) -> None:
    assert PACS_FIRST not in repr(escrow.__dict__)
