"""A whole lab in-process: real hosts, real listeners on 127.77.x.y, real clients.

Ports are 0 (a free port per host and service) so these tests run beside any other lab on
the standard ports.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncssh
import pytest

from fleetfix.errors import LabError
from fleetfix.lab import files
from fleetfix.lab.api import Fault, FaultKind, Service
from fleetfix.lab.boot import BootState
from fleetfix.lab.control import request
from fleetfix.lab.fleet import Lab
from fleetfix.lab.host import LabHost
from fleetfix.lab.truth import Condition

pytestmark = pytest.mark.integration

PASSWORD = "Fleet-Lab-Passw0rd"
# Lab seconds per real second: a 60-120 s boot takes 60-120 ms.
FAST = 1000.0


async def _start(
    directory: Path,
    *,
    hosts: int = 6,
    scenario: str = "service-outage",
    time_scale: float = FAST,
    password: str | None = PASSWORD,
    from_inventory: Path | None = None,
) -> Lab:
    return await Lab.start(
        hosts=hosts,
        scenario=scenario,
        seed=7,
        time_scale=time_scale,
        directory=directory,
        password=password,
        from_inventory=from_inventory,
        ssh_port=0,
        winrm_port=0,
        winrms_port=0,
    )


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    running = await _start(tmp_path / "lab")
    yield running
    await running.stop()


async def _eventually(check: Callable[[], bool], *, timeout: float = 10.0) -> None:
    """Waits for a lab-time event; the timeout only catches a lab that never gets there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("the lab never reached the expected state")
        await asyncio.sleep(0.02)


async def _refused(address: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(address, port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


def _up_host(lab: Lab) -> LabHost:
    return next(h for h in lab.fleet.hosts if h.is_listening(Service.SSH))


def _entry(lab: Lab, host: LabHost) -> files.HostEntry:
    return next(e for e in lab.entries() if e.name == host.name)


async def _ssh(lab: Lab, entry: files.HostEntry) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        entry.address,
        entry.ssh_port,
        username="Administrator",
        password=PASSWORD,
        known_hosts=str(lab.directory / files.KNOWN_HOSTS),
        client_keys=None,
        agent_path=None,
    )


async def test_each_host_has_its_own_loopback_address(lab: Lab) -> None:
    addresses = [entry.address for entry in lab.entries()]
    assert len(set(addresses)) == len(addresses) == 6
    network = ipaddress.ip_network("127.77.0.0/16")
    assert all(ipaddress.ip_address(a) in network for a in addresses)


async def test_files_are_written_and_only_lab_env_holds_the_password(lab: Lab) -> None:
    paths = {key: Path(value) for key, value in lab.paths().items()}
    for key in ("inventory_csv", "inventory_ini", "lab_env", "ca", "known_hosts", "truth"):
        assert paths[key].is_file(), key
        holds_password = PASSWORD in paths[key].read_text()
        assert holds_password == (key == "lab_env"), key
    assert stat.S_IMODE(paths["lab_env"].stat().st_mode) == 0o600
    assert stat.S_IMODE(paths["control"].stat().st_mode) & 0o077 == 0
    env = files.read_lab_env(paths["lab_env"])
    assert env["FLEETFIX_PASSWORD"] == PASSWORD
    assert env["FLEETFIX_LAB_CONTROL"] == str(paths["control"])
    truth = json.loads(paths["truth"].read_text())
    assert truth["host_count"] == 6
    assert len(paths["known_hosts"].read_text().splitlines()) == 6


async def test_password_is_random_by_default(tmp_path: Path) -> None:
    first = await _start(tmp_path / "a", hosts=1, password=None)
    second = await _start(tmp_path / "b", hosts=1, password=None)
    try:
        read = [files.read_lab_env(lab.directory / files.LAB_ENV) for lab in (first, second)]
    finally:
        await first.stop()
        await second.stop()
    assert read[0]["FLEETFIX_PASSWORD"] != read[1]["FLEETFIX_PASSWORD"]
    assert len(read[0]["FLEETFIX_PASSWORD"]) >= 16


async def test_ssh_runs_hostname_on_the_lab_host(lab: Lab) -> None:
    host = _up_host(lab)
    async with await _ssh(lab, _entry(lab, host)) as conn:
        result = await conn.run("hostname", encoding=None)
    assert result.exit_status == 0
    assert result.stdout == f"{host.name}\r\n".encode()
    assert host.history[-1].command == "hostname"
    assert host.history[-1].transport == "ssh"


async def test_ssh_runs_encoded_powershell_on_the_lab_host(lab: Lab) -> None:
    host = _up_host(lab)
    script = "Get-ChildItem C:\\Windows\\System32\\drivers\\CrowdStrike -Filter csagent.sys | "
    script += "ForEach-Object { $_.Name }"
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    command = f"powershell.exe -NoProfile -NonInteractive -EncodedCommand {encoded}"
    async with await _ssh(lab, _entry(lab, host)) as conn:
        result = await conn.run(command, encoding=None)
    assert result.exit_status == 0, result.stderr
    assert result.stdout == b"csagent.sys\r\n"


async def test_rebooting_host_refuses_then_listens_again(tmp_path: Path) -> None:
    # 100x: a 60-120 s boot lasts 0.6-1.2 real seconds, ample to see the ports refuse.
    slow = await _start(tmp_path / "lab", hosts=2, time_scale=100.0)
    try:
        host = _up_host(slow)
        entry = _entry(slow, host)
        async with await _ssh(slow, entry) as conn:
            slow.console(host.name, "boot", "normal")
            await asyncio.wait_for(conn.wait_closed(), timeout=10)
        assert host.state is BootState.BOOTING
        for port in (entry.ssh_port, entry.winrm_port, entry.winrms_port):
            assert await _refused(entry.address, port)
        await _eventually(lambda: host.state is BootState.UP and slow.listening())
        assert not await _refused(entry.address, entry.winrms_port)
        async with await _ssh(slow, entry) as conn:
            assert (await conn.run("hostname", encoding=None)).exit_status == 0
    finally:
        await slow.stop()


async def test_refuse_fault_closes_every_listener_until_cleared(lab: Lab) -> None:
    host = _up_host(lab)
    entry = _entry(lab, host)
    lab.set_fault(host.name, Fault(FaultKind.REFUSE))
    await _eventually(lambda: not lab.station(host.name).ssh.is_open)
    await _eventually(lambda: lab.station(host.name).http is None)
    for port in (entry.ssh_port, entry.winrm_port, entry.winrms_port):
        assert await _refused(entry.address, port)
    lab.clear_faults(host.name, FaultKind.REFUSE)
    await _eventually(lab.listening)
    assert not await _refused(entry.address, entry.ssh_port)


async def test_fleet_wide_fault_reaches_every_host_and_clears(lab: Lab) -> None:
    lab.set_fault("all", Fault(FaultKind.LATENCY, seconds=0.01))
    assert all(FaultKind.LATENCY in {f.kind for f in h.faults()} for h in lab.fleet.hosts)
    lab.clear_faults("all", None)
    assert all(not h.faults() for h in lab.fleet.hosts)


async def test_control_socket_answers_status_and_inspect(lab: Lab) -> None:
    host = _up_host(lab)
    async with await _ssh(lab, _entry(lab, host)) as conn:
        await conn.run("hostname", encoding=None)
    control = Path(lab.paths()["control"])
    status = await asyncio.to_thread(request, control, {"op": "status"})
    inspected = await asyncio.to_thread(request, control, {"op": "inspect", "host": host.name})
    unknown = await asyncio.to_thread(request, control, {"op": "inspect", "host": "NOPE"})
    assert status["ok"] and status["result"]["host_count"] == 6
    result = inspected["result"]
    assert [r["command"] for r in result["history"]] == ["hostname"]
    assert any(f["path"].lower().endswith("csagent.sys") for f in result["crowdstrike_files"])
    assert {s["name"] for s in result["services"]} >= {"WinRM", "sshd", "CSFalconService"}
    assert unknown == {
        "ok": False,
        "error": "unknown host 'NOPE'; `fleetfix lab status` lists them",
    }


async def test_console_power_on_boots_a_host_that_was_shut_down(lab: Lab) -> None:
    host = _up_host(lab)
    host.shutdown(reason="test", delay=0)
    await _eventually(lambda: host.state is BootState.DOWN)
    assert lab.console(host.name, "power-on", None)["powered_on"] is True
    await _eventually(lambda: host.state is BootState.UP)


async def test_lab_is_built_from_an_inventory_names(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.csv"
    inventory.write_text("hostname,site\nWARD7-PC01,north\nWARD7-PC02,north\n")
    built = await _start(tmp_path / "lab", from_inventory=inventory)
    try:
        names = [entry.name for entry in built.entries()]
        ini = (built.directory / files.INVENTORY_INI).read_text()
    finally:
        await built.stop()
    assert names == ["WARD7-PC01", "WARD7-PC02"]
    assert "[site_north]" in ini


async def test_stop_closes_every_listener(tmp_path: Path) -> None:
    stopped = await _start(tmp_path / "lab", hosts=2)
    entries = stopped.entries()
    await stopped.stop()
    for entry in entries:
        assert await _refused(entry.address, entry.ssh_port)
        assert await _refused(entry.address, entry.winrm_port)
    assert not Path(stopped.paths()["control"]).exists()


async def test_fleetfix_reads_the_lab_inventories(lab: Lab) -> None:
    from fleetfix.inventory.loader import load_inventory
    from fleetfix.models import Transport

    entries = {entry.name: entry for entry in lab.entries()}
    for name in (files.INVENTORY_CSV, files.INVENTORY_INI):
        loaded = load_inventory(lab.directory / name)
        assert {host.name for host in loaded.hosts} == set(entries), name
        for host in loaded.hosts:
            assert host.address == entries[host.name].address
            assert host.port == entries[host.name].winrms_port
    csv_hosts = load_inventory(lab.directory / files.INVENTORY_CSV).hosts
    assert {host.transport for host in csv_hosts} == {Transport.WINRM_HTTPS}


async def test_second_lab_in_the_same_directory_is_refused(lab: Lab) -> None:
    with pytest.raises(LabError, match="already running"):
        await _start(lab.directory)


@pytest.mark.slow
async def test_two_thousand_hosts_listen_on_their_own_addresses(tmp_path: Path) -> None:
    # Real time: no host changes state while the test looks at it.
    big = await _start(tmp_path / "lab", hosts=2000, scenario="crowdstrike-291", time_scale=1.0)
    try:
        assert big.listening()
        entries = {entry.name: entry for entry in big.entries()}
        conditions = {truth.name: truth.condition for truth in big.fleet.truths}
        healthy = next(e for n, e in entries.items() if conditions[n] is Condition.HEALTHY)
        locked = next(
            e for n, e in entries.items() if conditions[n] is Condition.BITLOCKER_RECOVERY
        )
        assert len({e.address for e in entries.values()}) == 2000
        assert not await _refused(healthy.address, healthy.ssh_port)
        assert not await _refused(healthy.address, healthy.winrms_port)
        assert await _refused(locked.address, locked.ssh_port)
        assert await _refused(locked.address, locked.winrm_port)
    finally:
        await big.stop()


async def test_control_socket_answers_bad_requests_with_errors(lab: Lab) -> None:
    control = Path(lab.paths()["control"])
    bad_value = {"op": "fault", "target": "all", "kind": "latency", "seconds": "soon"}
    answers = [
        await asyncio.to_thread(request, control, message)
        for message in ({"op": "reboot-everything"}, {"op": "fault", "kind": "x"}, bad_value)
    ]
    assert [answer["ok"] for answer in answers] == [False, False, False]
    assert "unknown fault 'x'" in answers[1]["error"]
    assert (await asyncio.to_thread(request, control, {"op": "status"}))["ok"]
