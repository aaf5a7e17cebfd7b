"""The lab's Windows-OpenSSH-like listener, driven by the real asyncssh client.

`CmdHost` stands in for the lab host so these tests pin the SSH server alone; the fleet
tests (test_lab_fleet.py) run the same listener in front of the real hosts.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from fleetfix.lab.api import (
    Completed,
    Fault,
    FaultKind,
    PipelineCommand,
    PipelineError,
    PipelineResult,
    Service,
)
from fleetfix.lab.ssh import (
    SshListener,
    generate_host_key,
    known_hosts_line,
    reads_stdin,
    start_ssh_server,
)

pytestmark = pytest.mark.integration

USER = "Administrator"
PASSWORD = "Lab-Passw0rd!"
ADDRESS = "127.0.0.1"


@dataclass
class CmdHost:
    """Enough of cmd.exe for an SSH session: `hostname`, a non-UTF-8 `type`, `more`, and
    `powershell -EncodedCommand` that echoes the decoded script."""

    name: str = "LAB-SSH01"
    address: str = ADDRESS
    boot_generation: int = 1
    listening: bool = True
    active_faults: list[Fault] = field(default_factory=list)
    history: list[tuple[str, bytes]] = field(default_factory=list)
    transports: list[str | None] = field(default_factory=list)

    def is_listening(self, service: Service) -> bool:
        return self.listening and service is Service.SSH

    def check_password(self, username: str, password: str) -> bool:
        return username.lower() == USER.lower() and password == PASSWORD

    def password_for(self, username: str) -> str | None:
        return PASSWORD if username.lower() == USER.lower() else None

    def faults(self) -> Sequence[Fault]:
        return list(self.active_faults)

    def execute(
        self,
        command_line: str,
        *,
        stdin: bytes = b"",
        codepage: int = 437,
        transport: str | None = None,
    ) -> Completed:
        self.history.append((command_line, stdin))
        self.transports.append(transport)
        words = command_line.split()
        if words == ["hostname"]:
            return Completed(f"{self.name}\r\n".encode(), b"", 0)
        if words[:1] == ["more"]:
            return Completed(stdin, b"", 0)
        if words[:2] == ["type", "caf\u00e9.txt"]:
            return Completed("caf\u00e9 \u2500\r\n".encode("cp437"), b"", 0)
        if words and words[0].lower() == "powershell.exe" and "-EncodedCommand" in words:
            script = base64.b64decode(words[words.index("-EncodedCommand") + 1])
            return Completed(f"ps:{script.decode('utf-16-le')}\r\n".encode(), b"", 0)
        message = f"'{words[0]}' is not recognized as an internal or external command,\r\n"
        return Completed(b"", message.encode(), 1)

    def run_pipeline(
        self,
        commands: Sequence[PipelineCommand],
        *,
        input_objects: Sequence[Any] = (),
        transport: str | None = "psrp",
    ) -> PipelineResult:
        return PipelineResult([], failure=PipelineError("no PSRP over SSH"))


@dataclass(frozen=True)
class Served:
    host: CmdHost
    listener: SshListener
    known_hosts: Path


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    host = CmdHost()
    key = generate_host_key()
    listener = await start_ssh_server(host, address=ADDRESS, port=0, host_key=key)
    known_hosts = tmp_path / "known_hosts"
    line = known_hosts_line(names=[ADDRESS], port=listener.port, host_key=key)
    known_hosts.write_text(line + "\n")
    yield Served(host, listener, known_hosts)
    await listener.aclose()


async def _connect(served: Served, *, password: str = PASSWORD) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        ADDRESS,
        served.listener.port,
        username=USER,
        password=password,
        known_hosts=str(served.known_hosts),
        client_keys=None,
        agent_path=None,
    )


async def test_hostname_runs_through_the_host_as_bytes(served: Served) -> None:
    async with await _connect(served) as conn:
        result = await conn.run("hostname", encoding=None)
    assert result.exit_status == 0
    assert result.stdout == b"LAB-SSH01\r\n"
    assert served.host.history[-1] == ("hostname", b"")
    assert served.host.transports[-1] == "ssh"


async def test_encoded_powershell_reaches_the_host_verbatim(served: Served) -> None:
    script = "Get-Item C:\\Windows | ConvertTo-Json"
    encoded = base64.b64encode(script.encode("utf-16-le")).decode()
    command = f"powershell.exe -NoProfile -NonInteractive -EncodedCommand {encoded}"
    async with await _connect(served) as conn:
        result = await conn.run(command, encoding=None)
    assert result.stdout == f"ps:{script}\r\n".encode()
    assert served.host.history[-1][0] == command


async def test_output_is_cp437_not_utf8(served: Served) -> None:
    async with await _connect(served) as conn:
        raw = await conn.run("type caf\u00e9.txt", encoding=None)
        replaced = await conn.run("type caf\u00e9.txt", encoding="utf-8", errors="replace")
    assert raw.stdout == b"caf\x82 \xc4\r\n"
    assert replaced.stdout == "caf\ufffd \ufffd\r\n"


async def test_stdin_reaches_the_command_and_exit_code_comes_back(served: Served) -> None:
    async with await _connect(served) as conn:
        echoed = await conn.run("more", input=b"line one\r\n", encoding=None)
        missing = await conn.run("nosuchtool", encoding=None)
    assert echoed.stdout == b"line one\r\n"
    assert missing.exit_status == 1
    assert b"is not recognized" in (missing.stderr or b"")


async def test_wrong_password_is_refused(served: Served) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        async with await _connect(served, password="not-it"):
            pass


async def test_auth_fail_fault_refuses_the_right_password(served: Served) -> None:
    served.host.active_faults.append(Fault(FaultKind.AUTH_FAIL))
    with pytest.raises(asyncssh.PermissionDenied):
        async with await _connect(served):
            pass


async def test_unknown_host_key_is_rejected(served: Served, tmp_path: Path) -> None:
    other = tmp_path / "other_known_hosts"
    line = known_hosts_line(
        names=[ADDRESS], port=served.listener.port, host_key=generate_host_key()
    )
    other.write_text(line + "\n")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await asyncssh.connect(
            ADDRESS,
            served.listener.port,
            username=USER,
            password=PASSWORD,
            known_hosts=str(other),
            client_keys=None,
            agent_path=None,
        )


async def test_reboot_drops_an_open_connection(served: Served) -> None:
    async with await _connect(served) as conn:
        assert (await conn.run("hostname", encoding=None)).exit_status == 0
        served.host.boot_generation += 1
        await asyncio.wait_for(conn.wait_closed(), timeout=10)
        with pytest.raises((asyncssh.ChannelOpenError, asyncssh.ConnectionLost, OSError)):
            await conn.run("hostname", encoding=None)


async def test_closed_listener_refuses_and_reopens_on_the_same_port(served: Served) -> None:
    port = served.listener.port
    served.listener.close()
    with pytest.raises(ConnectionRefusedError):
        await _connect(served)
    served.listener.open()
    assert served.listener.port == port
    async with await _connect(served) as conn:
        assert (await conn.run("hostname", encoding=None)).stdout == b"LAB-SSH01\r\n"


async def test_host_not_listening_resets_new_connections(served: Served) -> None:
    served.host.listening = False
    with pytest.raises((ConnectionResetError, asyncssh.ConnectionLost, asyncssh.DisconnectError)):
        await _connect(served)


async def test_blackhole_accepts_and_never_answers(served: Served) -> None:
    served.host.active_faults.append(Fault(FaultKind.BLACKHOLE))
    reader, writer = await asyncio.open_connection(ADDRESS, served.listener.port)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), timeout=0.5)
    writer.close()


async def test_version_line_says_windows_openssh(served: Served) -> None:
    reader, writer = await asyncio.open_connection(ADDRESS, served.listener.port)
    line = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()
    assert line.startswith(b"SSH-2.0-OpenSSH_for_Windows")


async def test_reset_fault_cuts_the_output(served: Served) -> None:
    async with await _connect(served) as conn:
        served.host.active_faults.append(Fault(FaultKind.RESET))
        result = await asyncio.wait_for(conn.run("hostname", encoding=None), timeout=10)
        await asyncio.wait_for(conn.wait_closed(), timeout=10)
    # asyncssh reports a channel that died without an exit status as None, not as an error.
    assert result.exit_status is None
    assert result.stdout == b"LAB-S"


async def test_interactive_shell_prompts_and_runs_lines(served: Served) -> None:
    async with await _connect(served) as conn:
        process = await conn.create_process(encoding=None)
        process.stdin.write(b"hostname\r\nexit\r\n")
        output = await asyncio.wait_for(process.stdout.read(), timeout=10)
    assert output.count(b"C:\\Users\\Administrator>") == 2
    assert b"LAB-SSH01\r\n" in output


async def test_drop_fault_closes_the_connection_on_a_request(served: Served) -> None:
    async with await _connect(served) as conn:
        served.host.active_faults.append(Fault(FaultKind.DROP, rate=1.0))
        result = await asyncio.wait_for(conn.run("hostname", encoding=None), timeout=10)
        await asyncio.wait_for(conn.wait_closed(), timeout=10)
    assert result.exit_status is None
    assert served.host.history == []  # dropped before the host saw it


async def test_slow_output_and_latency_still_deliver_everything(served: Served) -> None:
    served.host.active_faults += [
        Fault(FaultKind.SLOW_OUTPUT, seconds=0.001),
        Fault(FaultKind.LATENCY, seconds=0.01),
    ]
    payload = b"x" * 5000
    async with await _connect(served) as conn:
        result = await conn.run("more", input=payload, encoding=None)
    assert result.stdout == payload
    assert result.exit_status == 0


def test_only_filters_and_stdin_scripts_wait_for_input() -> None:
    assert reads_stdin("more")
    assert reads_stdin("C:\\Windows\\System32\\sort.exe /R")
    assert reads_stdin("powershell.exe -NoProfile -Command -")
    assert not reads_stdin("hostname")
    assert not reads_stdin("powershell.exe -NoProfile -NonInteractive -EncodedCommand SQBFAFgA")
