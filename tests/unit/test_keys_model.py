"""Key IDs, prefixes and the recovery password checksum (FACTS.md: BitLocker recovery keys)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetfix.credentials import Secret
from fleetfix.keys.errors import BadRecoveryPasswordError, KeyLookupError
from fleetfix.keys.model import (
    KeyId,
    KeyIdPrefix,
    checked_recovery_password,
    is_recovery_password,
)
from fleetfix.lab.machine.bitlocker import new_recovery_password

GOOD = "681538-131923-562650-693363-169235-383735-293645-373912"
KEY_ID = KeyId.parse("{1A2B3C4D-1111-4000-8000-000000000001}")

groups = st.lists(st.integers(0, 65535), min_size=8, max_size=8)


def test_prefix_reads_what_the_recovery_screen_shows() -> None:
    assert KeyIdPrefix.parse("1a2b3c4d").hex_digits == "1A2B3C4D"
    assert KeyIdPrefix.parse("{1A2B3C4D-11").guid_prefix == "1A2B3C4D-11"


@pytest.mark.parametrize("text", ["1A2B3C4", "", "{}"])
def test_prefix_shorter_than_eight_hex_digits_is_refused(text: str) -> None:
    with pytest.raises(KeyLookupError, match="too short"):
        KeyIdPrefix.parse(text)


def test_prefix_with_non_hex_characters_is_refused() -> None:
    with pytest.raises(KeyLookupError, match="not a key ID"):
        KeyIdPrefix.parse("1A2B3C4G")


def test_prefix_matches_only_keys_starting_with_it() -> None:
    prefix = KeyIdPrefix.parse("1A2B3C4D-11")
    assert prefix.matches(KEY_ID)
    assert not prefix.matches(KeyId.parse("1A2B3C4D-2222-4000-8000-000000000002"))


def test_key_id_is_laid_out_as_a_guid_whatever_the_input() -> None:
    assert KeyId.parse("1a2b3c4d111140008000000000000001").guid == (
        "1A2B3C4D-1111-4000-8000-000000000001"
    )
    with pytest.raises(KeyLookupError):
        KeyId.parse("1A2B3C4D")


def test_valid_recovery_password_passes() -> None:
    assert is_recovery_password(GOOD)


@pytest.mark.parametrize(
    "text",
    [
        GOOD.replace("-", ""),  # no groups
        GOOD[:-7],  # seven groups
        GOOD[:-1] + "3",  # typo: checksum fails
        "720896-" + GOOD[7:],  # 11 x 65536: quotient does not fit in 16 bits
        GOOD.replace("681538", "68153a"),
    ],
)
def test_malformed_recovery_password_fails(text: str) -> None:
    assert not is_recovery_password(text)


@given(groups)
def test_every_well_formed_password_passes(quotients: list[int]) -> None:
    assert is_recovery_password("-".join(f"{11 * q:06d}" for q in quotients))


@given(groups, st.integers(0, 47), st.integers(1, 9))
def test_any_single_digit_typo_is_caught(quotients: list[int], position: int, delta: int) -> None:
    digits = list("".join(f"{11 * q:06d}" for q in quotients))
    digits[position] = str((int(digits[position]) + delta) % 10)
    typed = "-".join("".join(digits[i : i + 6]) for i in range(0, 48, 6))
    assert not is_recovery_password(typed)


def test_lab_passwords_pass_the_same_check() -> None:
    rng = random.Random(7)
    assert all(is_recovery_password(new_recovery_password(rng)) for _ in range(100))


def test_checked_password_is_a_secret_that_prints_stars() -> None:
    secret = checked_recovery_password(f" {GOOD}\n", key_id=KEY_ID, provider="escrow")
    assert isinstance(secret, Secret)
    assert secret.reveal() == GOOD
    assert GOOD not in repr(secret) and GOOD not in str(secret) and GOOD not in f"{secret}"


def test_rejected_password_is_not_in_the_error() -> None:
    bad = GOOD[:-1] + "3"
    with pytest.raises(BadRecoveryPasswordError) as caught:
        checked_recovery_password(bad, key_id=KEY_ID, provider="escrow")
    assert bad not in str(caught.value)
    assert KEY_ID.guid in str(caught.value)
