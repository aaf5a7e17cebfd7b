"""Faults switched while `fleetfix lab up` runs (in its own process), through the real
`fleetfix lab fault` command, fleet-wide and per host, each seen by a real pywinrm or
asyncssh client, then cleared."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import asyncssh
import pytest
import requests
import winrm
from winrm.exceptions import InvalidCredentialsError, WSManFaultError
from winrm.protocol import Protocol

from tests.integration.test_lab_cli import RunningLab, fleetfix, launched

pytestmark = pytest.mark.integration

# pywinrm's HTTP read timeout where a fault is to make it wait forever.
_SHORT_READ = 2


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    directory = tmp_path_factory.mktemp("faults") / "lab-run"
    # The lab's diagnostics go to a file: many requests must not fill a pipe nobody reads.
    with (
        (directory.parent / "stderr.txt").open("w") as stderr,
        launched(directory, hosts=3, stderr=stderr) as running,
    ):
        yield running


def switch(lab: RunningLab, target: str, *args: str) -> dict[str, int]:
    """`fleetfix lab fault TARGET ...` against the running lab."""
    done = fleetfix("lab", "fault", target, *args, "--dir", str(lab.directory))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert isinstance(answer, dict)
    return answer


@pytest.fixture(autouse=True)
def no_faults_left(lab: RunningLab) -> Iterator[None]:
    yield
    switch(lab, "all", "--clear")  # fleet-wide and per-host faults alike


def _url(entry: dict[str, str]) -> str:
    return f"http://{entry['address']}:{entry['winrm_port']}/wsman"


def _protocol(lab: RunningLab, entry: dict[str, str], *, read_timeout: int = 10) -> Protocol:
    env = lab.env()
    return Protocol(
        _url(entry),
        transport="basic",
        username=env["FLEETFIX_USERNAME"],
        password=env["FLEETFIX_PASSWORD"],
        read_timeout_sec=read_timeout,
        operation_timeout_sec=read_timeout - 1,
    )


def echo(lab: RunningLab, entry: dict[str, str], *, read_timeout: int = 10) -> bytes:
    """`cmd /c echo hi` through pywinrm's Session, as a user runs it."""
    env = lab.env()
    session = winrm.Session(
        _url(entry),
        auth=(env["FLEETFIX_USERNAME"], env["FLEETFIX_PASSWORD"]),
        transport="basic",
        read_timeout_sec=read_timeout,
        operation_timeout_sec=read_timeout - 1,
    )
    result = session.run_cmd("echo", ["hi"])
    assert result.status_code == 0
    return bytes(result.std_out)


def open_and_close_shell(lab: RunningLab, entry: dict[str, str]) -> float:
    """Seconds for pywinrm's Create and Delete of one shell: two requests."""
    protocol = _protocol(lab, entry)
    began = time.monotonic()
    protocol.close_shell(protocol.open_shell())
    return time.monotonic() - began


async def ssh_echo(lab: RunningLab, entry: dict[str, str], *, timeout: float = 10) -> str:
    env = lab.env()
    connecting = asyncssh.connect(
        entry["address"],
        int(entry["ssh_port"]),
        username=env["FLEETFIX_USERNAME"],
        password=env["FLEETFIX_PASSWORD"],
        known_hosts=env["FLEETFIX_KNOWN_HOSTS"],
        client_keys=None,
        agent_path=None,
    )
    async with await asyncio.wait_for(connecting, timeout) as connection:
        result = await connection.run("echo hi", check=True)
    return str(result.stdout)


def test_http_500_on_all_hosts_is_a_wsman_fault_until_cleared(lab: RunningLab) -> None:
    first, second = lab.entry(0), lab.entry(1)
    assert switch(lab, "all", "http_500") == {"hosts": 3}
    for entry in (first, second):
        with pytest.raises(WSManFaultError) as raised:
            echo(lab, entry)
        assert (raised.value.code, raised.value.fault_subcode) == (500, "w:InternalError")
    switch(lab, "all", "http_500", "--clear")
    assert echo(lab, first) == echo(lab, second) == b"hi\r\n"


def test_auth_fail_on_one_host_is_a_401_there_only(lab: RunningLab) -> None:
    failing, other = lab.entry(0), lab.entry(1)
    assert switch(lab, failing["name"], "auth_fail") == {"hosts": 1}
    with pytest.raises(InvalidCredentialsError) as raised:
        echo(lab, failing)
    http_error = raised.value.__context__
    assert isinstance(http_error, requests.HTTPError)
    assert http_error.response is not None and http_error.response.status_code == 401
    assert echo(lab, other) == b"hi\r\n"
    switch(lab, failing["name"], "auth_fail", "--clear")
    assert echo(lab, failing) == b"hi\r\n"


def test_latency_on_one_host_delays_each_of_its_answers(lab: RunningLab) -> None:
    slow, other = lab.entry(1), lab.entry(2)
    switch(lab, slow["name"], "latency", "--seconds", "0.8")
    # Two requests, each answered 0.8 s late; the other host answers at once.
    assert open_and_close_shell(lab, slow) >= 1.6
    assert open_and_close_shell(lab, other) < 0.8
    switch(lab, slow["name"], "latency", "--clear")
    assert open_and_close_shell(lab, slow) < 0.8


def test_blackhole_on_all_hosts_times_out_winrm_and_ssh_clients(lab: RunningLab) -> None:
    entry = lab.entry(2)
    switch(lab, "all", "blackhole")
    with pytest.raises(requests.exceptions.ReadTimeout):
        echo(lab, entry, read_timeout=_SHORT_READ)
    with pytest.raises(TimeoutError):
        asyncio.run(ssh_echo(lab, entry, timeout=_SHORT_READ))
    switch(lab, "all", "--clear")
    assert echo(lab, entry) == b"hi\r\n"
    assert asyncio.run(ssh_echo(lab, entry)) == "hi\r\n"


def test_reset_on_one_host_breaks_its_answers_half_way(lab: RunningLab) -> None:
    entry = lab.entry(0)
    switch(lab, entry["name"], "reset")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        echo(lab, entry)
    switch(lab, entry["name"], "reset", "--clear")
    assert echo(lab, entry) == b"hi\r\n"


def test_slow_output_on_all_hosts_trickles_command_output(lab: RunningLab) -> None:
    entry = lab.entry(1)
    switch(lab, "all", "slow_output", "--seconds", "0.05")
    protocol = _protocol(lab, entry)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "echo", ["x" * 40])
    first, _, _, done = protocol._raw_get_command_output(shell_id, command_id)
    rest, _, _ = protocol.get_command_output(shell_id, command_id)
    protocol.cleanup_command(shell_id, command_id)
    protocol.close_shell(shell_id)
    assert (first, done) == (b"x" * 16, False)  # one small piece per Receive
    assert first + rest == b"x" * 40 + b"\r\n"
    switch(lab, "all", "slow_output", "--clear")
    assert echo(lab, entry) == b"hi\r\n"


def test_a_drop_rate_of_one_half_drops_about_half_of_many_requests(lab: RunningLab) -> None:
    # The lab's drop rolls are seeded (per host, with --seed 3 naming the hosts), so this
    # count is the same on every run; the band says what "about half" means.
    entry, requests_sent = lab.entry(2), 200
    switch(lab, entry["name"], "drop", "--rate", "0.5")
    protocol = _protocol(lab, entry)
    dropped = 0
    for _ in range(requests_sent):
        try:
            protocol.open_shell()  # one WS-Man request: Create
        except requests.exceptions.ConnectionError:
            dropped += 1
    assert 0.4 * requests_sent <= dropped <= 0.6 * requests_sent, dropped
    switch(lab, entry["name"], "drop", "--clear")
    assert echo(lab, entry) == b"hi\r\n"
