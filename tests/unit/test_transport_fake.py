"""The fake transport behaves like a real one at the seam: sessions, results, errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from fleetfix.credentials import Credentials, Secret
from fleetfix.models import Host
from fleetfix.transports import errors
from fleetfix.transports.base import ConnectOptions, Transport
from fleetfix.transports.fake import FakeTransport, Reply
from fleetfix.transports.runner import HostStatus, RunOptions, run_everywhere

PACS = Host("PACS-WS-0001")
DOWN = Host("RIS-WS-0002")


def answer(host: Host, script: str, params: Mapping[str, Any]) -> Reply:
    if "fail" in script:
        return Reply(stderr="Access is denied.\r\n", exit_code=5)
    return Reply.report({"host": host.name, "path": params.get("Path")})


def refuse_down(host: Host) -> None:
    if host is DOWN:
        raise errors.Unreachable(host.name, "connection refused")


async def test_a_fake_session_answers_with_the_last_line_report_and_records_the_call() -> None:
    transport: Transport = FakeTransport(answer)
    session = await transport.open(PACS, timeout=5)
    result = await session.run("Remove-Item $Params.Path", params={"Path": "C:\\x"}, timeout=5)
    await session.close()
    assert result.json == {"host": "PACS-WS-0001", "path": "C:\\x"}
    assert result.ok
    assert isinstance(transport, FakeTransport)
    assert [(c.host, c.params) for c in transport.calls] == [("PACS-WS-0001", {"Path": "C:\\x"})]


async def test_a_fake_failure_is_a_result_and_a_refused_open_is_an_error() -> None:
    transport = FakeTransport(answer, on_open=refuse_down)
    session = await transport.open(PACS, timeout=5)
    failed = await session.run("fail", timeout=5)
    assert (failed.exit_code, failed.ok, failed.json) == (5, False, None)
    with pytest.raises(errors.Unreachable):
        await transport.open(DOWN, timeout=5)


async def test_a_fake_refuses_parameters_a_real_transport_could_not_send() -> None:
    session = await FakeTransport(answer).open(PACS, timeout=5)
    with pytest.raises(ValueError, match="cannot be sent"):
        await session.run("x", params={"bad": "\ud800"}, timeout=5)


async def test_a_fleet_run_through_the_fake_stops_after_repeated_auth_failures() -> None:
    hosts = [Host(f"EMR-APP-{n:04d}") for n in range(6)]

    def reject(host: Host) -> None:
        raise errors.AuthFailed(host.name, "credentials rejected; not retried")

    run = RunOptions(concurrency=1, auth_failure_limit=2)
    credentials = Credentials("svc", Secret("pw"), "test")
    outcomes = [
        outcome
        async for outcome in run_everywhere(
            hosts, "x", options=ConnectOptions(credentials=credentials), run=run,
            via=FakeTransport(answer, on_open=reject),
        )
    ]  # fmt: skip
    statuses = sorted(str(outcome.status) for outcome in outcomes)
    assert statuses == ["auth_failed"] * 2 + ["skipped"] * 4


async def test_a_fleet_run_reports_each_host_as_a_value() -> None:
    credentials = Credentials("svc", Secret("pw"), "test")
    outcomes = {
        outcome.host: outcome
        async for outcome in run_everywhere(
            [PACS, DOWN], "Get-Thing", options=ConnectOptions(credentials=credentials),
            via=FakeTransport(answer, on_open=refuse_down),
        )
    }  # fmt: skip
    assert outcomes["PACS-WS-0001"].status is HostStatus.OK
    assert outcomes["PACS-WS-0001"].as_dict()["json"] == {"host": "PACS-WS-0001", "path": None}
    assert outcomes["RIS-WS-0002"].status is HostStatus.UNREACHABLE
    assert outcomes["RIS-WS-0002"].error == "connection refused"
