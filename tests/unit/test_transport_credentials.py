"""Credentials: where they come from, and that they never print."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import keyring
import keyring.backends.fail
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError

from fleetfix.credentials import Credentials, Secret, from_prompt, resolve
from fleetfix.errors import ConfigError
from fleetfix.logsafety import NOISY_LOGGERS, pin_third_party_loggers

PASSWORD = "Winter2024!"


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps its entries in a dict: what `keyring.set_keyring`
    takes, so fleetfix goes through the keyring package's own API as on a desktop."""

    # Below keyring's own fail backend (0): keyring never picks it by itself, only the
    # fixtures below set it.
    priority = -1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring's __init__ has no types
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


class LockedKeyring(MemoryKeyring):
    """A keyring that refuses every read, and quotes what it holds while it does."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked(f"collection locked; it holds {PASSWORD} for {service}")


def use_keyring(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> Iterator[KeyringBackend]:
    yield from use_keyring(MemoryKeyring())


@pytest.fixture(params=["no backend", "locked"])
def broken_keyring(request: pytest.FixtureRequest) -> Iterator[KeyringBackend]:
    # fail.Keyring is what keyring itself picks on a headless jump host: NoKeyringError.
    backends: dict[str, KeyringBackend] = {
        "no backend": keyring.backends.fail.Keyring(),  # type: ignore[no-untyped-call]  # as above
        "locked": LockedKeyring(),
    }
    yield from use_keyring(backends[request.param])


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


def test_the_keyrings_default_entry_is_used_when_the_environment_has_none(
    memory_keyring: KeyringBackend,
) -> None:
    keyring.set_password("fleetfix", "username", "svc-keyring")
    keyring.set_password("fleetfix", "svc-keyring", PASSWORD)
    found = resolve(env={}, interactive=False)
    assert (found.username, found.password.reveal()) == ("svc-keyring", PASSWORD)
    assert found.source == "keyring:fleetfix"
    assert PASSWORD not in repr(found)


def test_the_environment_beats_the_keyring(memory_keyring: KeyringBackend) -> None:
    keyring.set_password("fleetfix", "username", "svc-keyring")
    keyring.set_password("fleetfix", "svc-keyring", "other")
    found = resolve(env={"FLEETFIX_USERNAME": "svc", "FLEETFIX_PASSWORD": PASSWORD},
                    interactive=False)  # fmt: skip
    assert (found.username, found.source) == ("svc", "env")


def test_a_named_reference_reads_its_own_keyring_service(memory_keyring: KeyringBackend) -> None:
    keyring.set_password("fleetfix", "username", "svc-default")
    keyring.set_password("fleetfix", "svc-default", "other")
    keyring.set_password("fleetfix:pacs", "username", "pacs-admin")
    keyring.set_password("fleetfix:pacs", "pacs-admin", PASSWORD)
    found = resolve(reference="pacs", env={}, interactive=False)
    assert (found.username, found.password.reveal()) == ("pacs-admin", PASSWORD)
    assert found.source == "keyring:fleetfix:pacs"


def test_a_keyring_entry_without_its_password_is_not_a_credential(
    memory_keyring: KeyringBackend,
) -> None:
    keyring.set_password("fleetfix", "username", "svc-keyring")
    with pytest.raises(ConfigError, match="no credentials"):
        resolve(env={}, interactive=False)


def test_an_unusable_keyring_falls_through_to_the_prompt_quietly(
    broken_keyring: KeyringBackend,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prompted = Credentials("alice", Secret("typed"), "prompt")
    with caplog.at_level(logging.DEBUG):
        found = resolve(env={}, interactive=True, prompt=lambda: prompted)
        with pytest.raises(ConfigError, match="no credentials") as caught:
            resolve(env={}, interactive=False)
    assert found is prompted
    said = caplog.text + capsys.readouterr().err + str(caught.value)
    assert "Traceback" not in said
    assert PASSWORD not in said
    assert "keyring not usable" in caplog.text  # why it was skipped, for -v


def test_an_unusable_keyring_leaves_a_named_reference_to_the_environment(
    broken_keyring: KeyringBackend,
) -> None:
    env = {"FLEETFIX_CRED_PACS_USERNAME": "pacs-admin", "FLEETFIX_CRED_PACS_PASSWORD": PASSWORD}
    assert resolve(reference="pacs", env=env, interactive=False).source == "env:pacs"
    with pytest.raises(ConfigError, match="FLEETFIX_CRED_PACS_USERNAME") as caught:
        resolve(reference="pacs", env={}, interactive=False)
    assert PASSWORD not in str(caught.value)


def test_a_library_traceback_reaches_the_log_as_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pin_third_party_loggers()
    child = logging.getLogger("pypsrp.wsman")  # pypsrp logs from its modules' loggers
    child.setLevel(logging.DEBUG)  # a child set lower still says nothing below WARNING
    try:
        with caplog.at_level(logging.DEBUG):
            child.debug("request body: %s", PASSWORD)
            try:
                raise TimeoutError("read timed out")
            except TimeoutError:
                child.exception("%s during WSMan request - attempt %d", "ReadTimeout", 1)
    finally:
        child.setLevel(logging.NOTSET)
    (record,) = caplog.records
    assert record.getMessage() == "ReadTimeout during WSMan request - attempt 1 (TimeoutError)"
    assert record.exc_info is None and "Traceback" not in caplog.text
    assert PASSWORD not in caplog.text


class _Raising(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        raise RuntimeError(f"handler broke on {PASSWORD}")


def test_a_log_record_that_cannot_be_shown_never_breaks_the_librarys_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pin_third_party_loggers()
    root = logging.getLogger()
    raising = _Raising()
    logging.getLogger("urllib3.x").warning("%d", "x")  # bad arguments: a library's bug
    root.addHandler(raising)
    try:
        logging.getLogger("pypsrp.wsman").warning("Authorization: %s", PASSWORD)
    finally:
        root.removeHandler(raising)
    said = capsys.readouterr().err
    assert said.count("could not be shown") == 2
    assert PASSWORD not in said and "Traceback" not in said
