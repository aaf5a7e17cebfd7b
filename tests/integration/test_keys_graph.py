"""The Entra ID provider: real msal and requests against the Graph-compatible service."""

from __future__ import annotations

import dataclasses
import http.client
import json
import random
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import pytest
import requests
import urllib3
from click.testing import CliRunner

from fleetfix.cli_keys import key
from fleetfix.keys.config import GraphConfig
from fleetfix.keys.errors import KeyProviderError
from fleetfix.keys.graph import USER_AGENT, GraphProvider
from fleetfix.keys.graph_auth import MsalTokenSource
from fleetfix.keys.graph_service import (
    GraphDevice,
    GraphKey,
    GraphManagedDevice,
    GraphService,
    GraphState,
)
from fleetfix.keys.model import KeyIdPrefix
from fleetfix.lab.machine.bitlocker import new_recovery_password
from fleetfix.lab.tls import LabCA
from fleetfix.store import Store

pytestmark = pytest.mark.integration

SECRET = "graph-client-Secret-291"
_RNG = random.Random(1907)
PACS = GraphDevice("PACS01", "0d0e0f10-0000-4000-8000-00000000d001")
RIS = GraphDevice("RIS01", "0d0e0f10-0000-4000-8000-00000000d002")
INTUNE_PACS = "7e7e7e7e-0000-4000-8000-00000000e001"
KEYS = [
    GraphKey("1a2b3c4d-1111-4000-8000-0000000000c1", PACS.device_id, new_recovery_password(_RNG)),
    GraphKey("1a2b3c4d-2222-4000-8000-0000000000c2", PACS.device_id, new_recovery_password(_RNG),
             volume_type="fixedDataVolume"),
    GraphKey("5e6f7a8b-3333-4000-8000-0000000000c3", RIS.device_id, new_recovery_password(_RNG)),
    GraphKey("99999999-4444-4000-8000-0000000000c4", RIS.device_id, new_recovery_password(_RNG)),
    GraphKey("aaaaaaaa-5555-4000-8000-0000000000c5", RIS.device_id, new_recovery_password(_RNG)),
]  # fmt: skip


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return LabCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def graph(ca: LabCA) -> Iterator[GraphService]:
    state = GraphState(
        tenant="contoso.example", client_id="fleetfix-app", client_secret=SECRET,
        devices=[PACS, RIS], keys=KEYS, page_size=2,
        managed_devices=[GraphManagedDevice(INTUNE_PACS, "PACS01")],
    )  # fmt: skip
    with GraphService(state, ssl_context=ca.server_context("localhost", "127.0.0.1")) as service:
        yield service


def _config(graph: GraphService, ca: LabCA) -> GraphConfig:
    return GraphConfig(
        tenant="contoso.example",
        client_id="fleetfix-app",
        endpoint=graph.endpoint,
        authority=graph.base_url,
        auth="client_credentials",
        ca_file=ca.ca_path,
    )


@pytest.fixture
def provider(graph: GraphService, ca: LabCA) -> Iterator[GraphProvider]:
    connected = GraphProvider.connect(
        _config(graph, ca), env={"FLEETFIX_GRAPH_CLIENT_SECRET": SECRET}
    )
    yield connected
    connected.close()


def test_prefix_search_follows_paging_and_names_the_device(
    provider: GraphProvider, graph: GraphService
) -> None:
    found = provider.find(KeyIdPrefix.parse("AAAAAAAA"))
    assert [(info.host, info.volume) for info in found] == [("RIS01", "operatingSystemVolume")]
    # Five keys, two per page: the last one is only on the third page.
    assert sum("skiptoken" in path for path in graph.state.requests) == 2


def test_host_is_resolved_to_its_entra_device_first(
    provider: GraphProvider, graph: GraphService
) -> None:
    found = provider.find(KeyIdPrefix.parse("1A2B3C4D"), host="pacs01.corp.example")
    assert sorted(info.volume or "" for info in found) == [
        "fixedDataVolume",
        "operatingSystemVolume",
    ]
    asked = [unquote_plus(path) for path in graph.state.requests]
    assert any("displayName eq 'pacs01'" in path for path in asked)


def test_reading_a_key_selects_it_and_sends_our_user_agent(
    provider: GraphProvider, graph: GraphService
) -> None:
    (info,) = provider.find(KeyIdPrefix.parse("5E6F7A8B"), host="RIS01")
    assert provider.read(info).reveal() == KEYS[2].key
    assert graph.state.key_reads == [(KEYS[2].key_id, USER_AGENT)]


def test_listing_never_fetches_a_key(provider: GraphProvider, graph: GraphService) -> None:
    provider.find(None, host="RIS01")
    assert graph.state.key_reads == []


def test_missing_permission_says_what_to_grant(
    provider: GraphProvider, graph: GraphService
) -> None:
    graph.state.can_read_keys = False
    (info,) = provider.find(KeyIdPrefix.parse("5E6F7A8B"))
    with pytest.raises(KeyProviderError, match=r"403.*BitLockerKey\.Read\.All"):
        provider.read(info)


def test_unknown_key_is_a_clear_404(provider: GraphProvider) -> None:
    (info,) = provider.find(KeyIdPrefix.parse("5E6F7A8B"))
    gone = type(info)(info.key_id, info.provider, locator="00000000-dead-4000-8000-000000000000")
    with pytest.raises(KeyProviderError, match="not found in Entra ID") as caught:
        provider.read(gone)
    # What to check, in the order a sysadmin would: the name, the join, the tenant.
    message = str(caught.value)
    assert "404" in message and "check the device name" in message
    assert "Entra joined or registered" in message and "[keys.ad]" in message
    assert '"contoso.example" in [keys.graph]' in message


def test_the_service_refuses_a_request_without_a_user_agent(graph: GraphService, ca: LabCA) -> None:
    path = "/v1.0/informationProtection/bitlocker/recoveryKeys"
    trust = ssl.create_default_context(cafile=str(ca.ca_path))
    answers = []
    for headers in ({}, {"User-Agent": USER_AGENT}):
        # http.client adds no User-Agent of its own (requests and urllib3 would).
        connection = http.client.HTTPSConnection(urlsplit(graph.base_url).netloc, context=trust)
        try:
            connection.request("GET", path, headers=headers)
            answer = connection.getresponse()
            answers.append((answer.status, json.loads(answer.read())["error"]["message"]))
        finally:
            connection.close()
    assert answers[0] == (400, "A User-Agent header is required.")
    assert answers[1][0] == 401  # past the User-Agent check, stopped for want of a token


class _NoUserAgent(requests.Session):
    """A session that loses the User-Agent on the way out, as a bad proxy might."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        # SKIP_HEADER keeps urllib3 from adding its own.
        kwargs["headers"] = {**kwargs.get("headers", {}), "User-Agent": urllib3.util.SKIP_HEADER}
        return super().request(method, url, *args, **kwargs)


def test_fleetfix_sends_the_user_agent_graph_requires(graph: GraphService, ca: LabCA) -> None:
    config = _config(graph, ca)
    env = {"FLEETFIX_GRAPH_CLIENT_SECRET": SECRET}
    tokens = MsalTokenSource(config, env=env, announce=lambda _prompt: None)
    sent = GraphProvider(config, tokens=tokens)
    try:  # the service refuses any request without one: an answer proves it was sent
        assert [info.host for info in sent.find(KeyIdPrefix.parse("5E6F7A8B"))] == ["RIS01"]
    finally:
        sent.close()
    stripped = GraphProvider(config, tokens=tokens, session=_NoUserAgent())
    try:
        with pytest.raises(KeyProviderError, match="400 BadRequest: A User-Agent header"):
            stripped.find(KeyIdPrefix.parse("5E6F7A8B"))
    finally:
        stripped.close()


def test_wrong_client_secret_fails_sign_in_without_echoing_it(
    graph: GraphService, ca: LabCA
) -> None:
    wrong = "Wrong-" + SECRET
    provider = GraphProvider.connect(
        _config(graph, ca), env={"FLEETFIX_GRAPH_CLIENT_SECRET": wrong}
    )
    with pytest.raises(KeyProviderError, match="invalid_client") as caught:
        provider.find(KeyIdPrefix.parse("5E6F7A8B"))
    assert wrong not in str(caught.value)


def test_device_code_sign_in_prompts_on_the_side_channel(graph: GraphService, ca: LabCA) -> None:
    prompts: list[str] = []
    config = _config(graph, ca)
    person = dataclasses.replace(config, auth="device_code")
    provider = GraphProvider.connect(person, env={}, announce=prompts.append)
    assert len(provider.find(KeyIdPrefix.parse("5E6F7A8B"))) == 1
    assert prompts and "LAB-CODE" in prompts[0]


def test_cli_lookup_through_graph(graph: GraphService, ca: LabCA, tmp_path: Path) -> None:
    db = tmp_path / "incident.db"
    Store.open(db).close()
    config = tmp_path / "fleetfix.toml"
    config.write_text(
        f'[keys.graph]\ntenant = "contoso.example"\nclient_id = "fleetfix-app"\n'
        f'endpoint = "{graph.endpoint}"\nauthority = "{graph.base_url}"\n'
        f'auth = "client_credentials"\nca_file = "{ca.ca_path}"\n'
    )
    result = CliRunner(env={"FLEETFIX_GRAPH_CLIENT_SECRET": SECRET}).invoke(
        key,
        [
            *("lookup", "--key-id", "99999999", "--reason", "INC9", "--allow-pipe"),
            *("--config", str(config), "--db", str(db)),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == KEYS[3].key + "\n"
    assert "RIS01" in result.stderr and SECRET not in result.stderr


def test_rotation_is_requested_from_intune_for_a_managed_device(
    provider: GraphProvider, graph: GraphService
) -> None:
    assert provider.request_rotation("pacs01") == INTUNE_PACS
    assert graph.state.rotations == [INTUNE_PACS]


def test_device_intune_does_not_manage_is_sent_to_manual_rotation(
    provider: GraphProvider, graph: GraphService
) -> None:
    with pytest.raises(KeyProviderError, match="not managed by Intune"):
        provider.request_rotation("RIS01")
    assert graph.state.rotations == []


def test_rotation_without_the_permission_says_what_to_grant(
    provider: GraphProvider, graph: GraphService
) -> None:
    graph.state.can_rotate = False
    with pytest.raises(KeyProviderError, match=r"403.*DeviceManagementManagedDevices"):
        provider.request_rotation("PACS01")


def test_cli_records_rotation_requests_and_pending_shows_them(
    graph: GraphService, ca: LabCA, tmp_path: Path
) -> None:
    db = tmp_path / "incident.db"
    config = tmp_path / "fleetfix.toml"
    config.write_text(
        f'[keys.graph]\ntenant = "contoso.example"\nclient_id = "fleetfix-app"\n'
        f'endpoint = "{graph.endpoint}"\nauthority = "{graph.base_url}"\n'
        f'auth = "client_credentials"\nca_file = "{ca.ca_path}"\n'
    )
    Store.open(db).close()
    runner = CliRunner(env={"FLEETFIX_GRAPH_CLIENT_SECRET": SECRET})
    common = ["--config", str(config), "--db", str(db)]
    for prefix in ("1A2B3C4D-1111", "99999999"):
        looked = runner.invoke(
            key, ["lookup", "--key-id", prefix, "--reason", "INC", "--allow-pipe", *common]
        )
        assert looked.exit_code == 0, looked.stderr
    asked = runner.invoke(key, ["request-rotation", "--pending", *common])
    # PACS01 is Intune-managed, RIS01 is not: one request recorded, one failure reported.
    assert asked.exit_code == 6
    assert "RIS01" in asked.stderr and "rotation requested for 1 of 2 hosts" in asked.stderr
    assert graph.state.rotations == [INTUNE_PACS]
    listed = runner.invoke(key, ["pending", "--json", "--db", str(db)])
    rows = {row["host"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert rows["PACS01"]["rotation_requested"] is not None
    assert rows["RIS01"]["rotation_requested"] is None
