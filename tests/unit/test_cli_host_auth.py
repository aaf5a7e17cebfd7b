"""Per-host authentication: an `auth=` tag (an Ansible ansible_winrm_transport, or a CSV
column) beats `--auth` for that host; a bad value stops the command before any host."""

from __future__ import annotations

import pytest

from fleetfix.cli_transport import options_for_hosts
from fleetfix.credentials import Credentials, Secret
from fleetfix.errors import ConfigError
from fleetfix.models import Host
from fleetfix.transports.base import ConnectOptions, WinrmAuth

BASE = ConnectOptions(credentials=Credentials("CORP\\svc", Secret("pw"), "test"),
                      auth=WinrmAuth.NTLM)  # fmt: skip


def test_an_auth_tag_beats_the_default_for_that_host_only() -> None:
    kerberos = Host("PACS01", tags=("auth=Kerberos",))
    plain = Host("PACS02")
    options_for = options_for_hosts([kerberos, plain], BASE)
    assert options_for(kerberos).auth is WinrmAuth.KERBEROS
    assert options_for(kerberos).credentials is BASE.credentials
    assert options_for(plain) is BASE


def test_auth_and_a_named_credential_combine() -> None:
    env = {"FLEETFIX_CRED_PACS_USERNAME": "PACS\\admin", "FLEETFIX_CRED_PACS_PASSWORD": "x"}
    host = Host("PACS01", tags=("credential=pacs", "auth=basic"))
    chosen = options_for_hosts([host], BASE, env=env)(host)
    assert chosen.auth is WinrmAuth.BASIC and chosen.credentials.username == "PACS\\admin"


def test_an_unknown_auth_is_refused_before_any_host_is_touched() -> None:
    with pytest.raises(ConfigError, match=r"host PACS01: auth='digest' is not one of ntlm"):
        options_for_hosts([Host("PACS01", tags=("auth=digest",))], BASE)
