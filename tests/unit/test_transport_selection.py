"""Choosing hosts, ports and exit codes, and classifying real client failures."""

from __future__ import annotations

import asyncio
import socket

import pytest
import requests

from fleetfix.cli import EXIT_HOSTS_FAILED, EXIT_HOSTS_UNREACHABLE
from fleetfix.cli_transport import (
    exit_code_for,
    options_for_hosts,
    select_hosts,
)
from fleetfix.credentials import Credentials, Secret
from fleetfix.errors import ConfigError
from fleetfix.models import Host, Transport
from fleetfix.transports import errors
from fleetfix.transports.base import ConnectOptions
from fleetfix.transports.classify import classify
from fleetfix.transports.ports import port_for
from fleetfix.transports.runner import HostResult, HostStatus

PACS = Host("PACS-WS-0001", tags=("role=pacs", "site=north"))
RIS = Host("RIS-WS-0002", tags=("role=ris", "site=south"))


def test_limit_matches_names_and_tags_case_insensitively() -> None:
    hosts = [PACS, RIS]
    assert select_hosts(hosts, None) == hosts
    assert select_hosts(hosts, "pacs-*") == [PACS]
    assert select_hosts(hosts, "site=south") == [RIS]
    assert select_hosts(hosts, "role=pacs, RIS-WS-0002") == hosts
    assert select_hosts(hosts, "nothing") == []


def test_unreachable_hosts_are_counted_apart_from_failed_ones() -> None:
    def result(status: HostStatus) -> HostResult:
        return HostResult("h", status, 0.0)

    assert exit_code_for([result(HostStatus.OK)]) == 0
    assert exit_code_for([result(HostStatus.OK), result(HostStatus.UNREACHABLE)]) == (
        EXIT_HOSTS_UNREACHABLE
    )
    for status in (HostStatus.FAILED, HostStatus.AUTH_FAILED, HostStatus.TIMEOUT):
        assert exit_code_for([result(HostStatus.UNREACHABLE), result(status)]) == (
            EXIT_HOSTS_FAILED
        )


def test_ports_come_from_the_inventory_then_tags_then_defaults() -> None:
    tagged = Host("a", port=15986, transport=Transport.WINRM_HTTPS, tags=("ssh_port=2222",))
    assert port_for(tagged, Transport.WINRM_HTTPS) == 15986
    assert port_for(tagged, Transport.PSRP_HTTPS) == 15986  # the same listener
    assert port_for(tagged, Transport.SSH) == 2222
    assert port_for(tagged, Transport.WINRM) == 5985


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_refused_http_connection_is_unreachable() -> None:
    with pytest.raises(requests.ConnectionError) as caught:
        requests.post(f"http://127.0.0.1:{_closed_port()}/wsman", timeout=2)
    found = classify("PACS-WS-0001", caught.value)
    assert isinstance(found, errors.Unreachable)
    assert found.host == "PACS-WS-0001"
    assert "refused" in found.message


async def test_a_refused_socket_is_unreachable() -> None:
    with pytest.raises(OSError) as caught:
        await asyncio.open_connection("127.0.0.1", _closed_port())
    assert isinstance(classify("h", caught.value), errors.Unreachable)


def test_a_name_that_does_not_resolve_is_unreachable() -> None:
    # Built, not looked up: a DNS query would leave the machine.
    failure = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    found = classify("ghost", failure)
    assert isinstance(found, errors.Unreachable)
    assert "DNS" in found.message


def test_hosts_tagged_with_a_credential_reference_log_on_with_it() -> None:
    base = ConnectOptions(credentials=Credentials("svc", Secret("default"), "env"))
    pacs = Host("PACS-WS-0001", tags=("credential=pacs",))
    env = {"FLEETFIX_CRED_PACS_USERNAME": "pacs-admin", "FLEETFIX_CRED_PACS_PASSWORD": "p"}
    options_for = options_for_hosts([pacs, RIS], base, env=env)
    assert options_for(pacs).credentials.username == "pacs-admin"
    assert options_for(RIS) is base


def test_a_credential_reference_without_credentials_stops_before_any_host() -> None:
    base = ConnectOptions(credentials=Credentials("svc", Secret("default"), "env"))
    with pytest.raises(ConfigError, match="FLEETFIX_CRED_EMR_USERNAME"):
        options_for_hosts([Host("EMR-APP-0001", tags=("credential=emr",))], base, env={})
