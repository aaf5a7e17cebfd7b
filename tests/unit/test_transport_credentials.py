"""Credentials: where they come from, and that they never print."""

from __future__ import annotations

import logging

import pytest

from fleetfix.credentials import Credentials, Secret, from_prompt, resolve
from fleetfix.errors import ConfigError
from fleetfix.logsafety import NOISY_LOGGERS, pin_third_party_loggers

PASSWORD = "Winter2024!"


def test_a_secret_prints_as_stars_everywhere() -> None:
    secret = Secret(PASSWORD)
    creds = Credentials("svc-fleetfix", secret, "env")
    for text in (str(secret), repr(secret), repr(creds), str(creds), f"{secret}", f"{creds!r}"):
        assert PASSWORD not in text
    assert secret.reveal() == PASSWORD


def test_environment_credentials_are_used_first() -> None:
    env = {"FLEETFIX_USERNAME": "svc", "FLEETFIX_PASSWORD": PASSWORD}
    found = resolve(env=env, interactive=False)
    assert (found.username, found.password.reveal(), found.source) == ("svc", PASSWORD, "env")


def test_a_named_reference_reads_its_own_variables() -> None:
    env = {
        "FLEETFIX_USERNAME": "svc",
        "FLEETFIX_PASSWORD": "other",
        "FLEETFIX_CRED_PACS_USERNAME": "pacs-admin",
        "FLEETFIX_CRED_PACS_PASSWORD": PASSWORD,
    }
    found = resolve(reference="pacs", env=env, interactive=False)
    assert (found.username, found.password.reveal(), found.source) == (
        "pacs-admin",
        PASSWORD,
        "env:pacs",
    )


def test_missing_credentials_say_how_to_provide_them() -> None:
    with pytest.raises(ConfigError, match="FLEETFIX_USERNAME and FLEETFIX_PASSWORD"):
        resolve(env={}, interactive=False)


def test_a_reference_with_odd_characters_is_refused() -> None:
    with pytest.raises(ConfigError, match="credential reference"):
        resolve(reference="a;b", env={}, interactive=False)


def test_the_prompt_asks_for_user_then_password() -> None:
    asked: list[str] = []

    def user(prompt: str) -> str:
        asked.append(prompt)
        return " alice "

    def password(prompt: str) -> str:
        asked.append(prompt)
        return PASSWORD

    found = from_prompt(ask_user=user, ask_password=password)
    assert found.username == "alice"
    assert found.password.reveal() == PASSWORD
    assert asked == ["Username: ", "Password for alice: "]


def test_client_library_loggers_stay_at_warning_even_when_root_is_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pin_third_party_loggers()
    pin_third_party_loggers()  # idempotent: every entry point calls it
    with caplog.at_level(logging.DEBUG):
        for name in NOISY_LOGGERS:
            logging.getLogger(name).debug("Authorization: Basic %s", PASSWORD)
            logging.getLogger(name).warning("visible")
    assert PASSWORD not in caplog.text
    assert caplog.text.count("visible") == len(NOISY_LOGGERS)
