"""The breakers' boundaries: the failure breaker trips above `--max-fail-percent` of a wave,
never at it; the auth breaker counts per credential."""

from __future__ import annotations

from fleetfix.engine.breakers import Breakers


def fail_times(breakers: Breakers, count: int) -> list[bool]:
    return [breakers.host_failed() for _ in range(count)]


def test_twenty_percent_of_ten_trips_on_the_third_failure_not_the_second() -> None:
    breakers = Breakers(auth_limit=3, max_fail_percent=20.0)
    breakers.start_wave(10)
    assert fail_times(breakers, 2) == [False, False]  # 2 of 10 is exactly 20%: not exceeded
    assert breakers.tripped is None
    assert breakers.host_failed() is True  # 30% > 20%
    assert breakers.tripped == "failures"
    assert "3 of 10" in breakers.reason


def test_zero_percent_trips_on_the_first_failure() -> None:
    breakers = Breakers(auth_limit=3, max_fail_percent=0.0)
    breakers.start_wave(50)
    assert breakers.host_failed() is True
    assert breakers.tripped == "failures"


def test_it_trips_once_and_stays_tripped() -> None:
    breakers = Breakers(auth_limit=3, max_fail_percent=0.0)
    breakers.start_wave(4)
    assert fail_times(breakers, 3) == [True, False, False]
    breakers.start_wave(4)
    assert breakers.tripped == "failures"


def test_no_limit_never_trips() -> None:
    breakers = Breakers(auth_limit=3, max_fail_percent=None)
    breakers.start_wave(2)
    assert fail_times(breakers, 2) == [False, False]
    assert breakers.tripped is None


def test_each_wave_is_counted_on_its_own() -> None:
    breakers = Breakers(auth_limit=3, max_fail_percent=20.0)
    breakers.start_wave(10)
    fail_times(breakers, 2)
    breakers.start_wave(10)  # the first wave's 2 failures do not carry over
    assert fail_times(breakers, 2) == [False, False]
    assert breakers.host_failed() is True


def test_auth_breaker_trips_at_the_limit_for_one_credential() -> None:
    breakers = Breakers(auth_limit=3, max_fail_percent=None)
    assert [breakers.auth_failed("svc-recovery") for _ in range(3)] == [False, False, True]
    assert breakers.tripped == "auth"
    assert "svc-recovery" in breakers.reason and "3 hosts" in breakers.reason


def test_auth_failures_of_different_credentials_do_not_add_up() -> None:
    breakers = Breakers(auth_limit=3, max_fail_percent=None)
    for credential in ("a", "b", "", "a", "b", ""):
        assert breakers.auth_failed(credential) is False
    assert breakers.tripped is None
    assert breakers.auth_failed("b") is True
    assert "'b'" in breakers.reason


def test_the_default_credential_is_named_plainly() -> None:
    breakers = Breakers(auth_limit=1, max_fail_percent=None)
    assert breakers.auth_failed("") is True
    assert "the default credential" in breakers.reason
