"""WinRS cmd shells: Create, Command, Send, Receive, Signal, Delete.

A command runs on the host (`SimHost.execute`) when its input is complete: at the first
Receive, or when the client's Send says End="true". Its result is released to Receive only
after `Completed.duration` lab seconds, which is how a long command outlives a client's
OperationTimeout and earns the TimedOut fault, as on Windows.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from fleetfix.lab.api import Completed, SimHost
from fleetfix.lab.wsman import faults, hostcalls
from fleetfix.lab.wsman.soap import (
    ACTION_COMMAND,
    ACTION_CREATE,
    ACTION_DELETE,
    ACTION_RECEIVE,
    ACTION_SEND,
    ACTION_SIGNAL,
    NS_SHELL,
    WsmanRequest,
    envelope,
    tag,
)

RESOURCE_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
STATE_DONE = f"{NS_SHELL}/CommandState/Done"
STATE_RUNNING = f"{NS_SHELL}/CommandState/Running"
# Windows sends output in pieces of at most this many bytes per Stream element.
_CHUNK = 8192
# With the SLOW_OUTPUT fault a Receive carries only this much of each stream.
SLOW_CHUNK = 16


@dataclass(slots=True)
class WinrsCommand:
    command_id: str
    command_line: str
    stdin: bytearray = field(default_factory=bytearray)
    result: Completed | None = None
    ready_at: float = 0.0  # loop time when the result may be released
    stdout_sent: int = 0
    stderr_sent: int = 0


@dataclass(slots=True)
class CmdShell:
    shell_id: str
    codepage: int
    owner: str
    commands: dict[str, WinrsCommand] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReceiveOptions:
    """How Receive paces its answer: lab-to-real time and the SLOW_OUTPUT fault."""

    to_real: Callable[[float], float]
    slow_chunk_delay: float | None = None


class WinrsShells:
    """The cmd shells of one host; they outlive connections but not a reboot."""

    def __init__(self, host: SimHost) -> None:
        self._host = host
        self._shells: dict[str, CmdShell] = {}

    def clear(self) -> None:
        self._shells.clear()

    def create(self, request: WsmanRequest, *, owner: str, client_ip: str, address: str) -> bytes:
        shell_id = str(uuid.uuid4()).upper()
        codepage = int(request.options.get("WINRS_CODEPAGE", "437") or 437)
        self._shells[shell_id] = CmdShell(shell_id, codepage, owner)
        body = (
            f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
            f"<w:ResourceURI>{RESOURCE_CMD}</w:ResourceURI><w:SelectorSet>"
            f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>'
            "</a:ReferenceParameters></x:ResourceCreated>"
            f'<rsp:Shell xmlns:rsp="{NS_SHELL}"><rsp:ShellId>{shell_id}</rsp:ShellId>'
            f"<rsp:ResourceUri>{RESOURCE_CMD}</rsp:ResourceUri><rsp:Owner>{escape(owner)}</rsp:Owner>"
            f"<rsp:ClientIP>{escape(client_ip)}</rsp:ClientIP><rsp:IdleTimeOut>PT7200.000S"
            "</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>"
            "stdout stderr</rsp:OutputStreams><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>"
            "<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>"
        )
        return envelope(f"{ACTION_CREATE}Response", request.message_id, body)

    def _shell(self, request: WsmanRequest) -> CmdShell:
        shell = self._shells.get(request.shell_id)
        if shell is None:
            raise faults.unknown_shell_id(request.shell_id)
        return shell

    @staticmethod
    def _command(shell: CmdShell, command_id: str | None) -> WinrsCommand:
        command = shell.commands.get((command_id or "").upper())
        if command is None:
            raise faults.unknown_command_id()
        return command

    def command(self, request: WsmanRequest) -> bytes:
        shell = self._shell(request)
        line = request.body
        if line is None or line.tag != tag(NS_SHELL, "CommandLine"):
            raise faults.action_not_supported(request.action)
        words = [line.findtext(tag(NS_SHELL, "Command"), "").strip()]
        words += [(arg.text or "") for arg in line.iterfind(tag(NS_SHELL, "Arguments"))]
        command_id = (line.get("CommandId") or str(uuid.uuid4())).upper()
        shell.commands[command_id] = WinrsCommand(command_id, " ".join(w for w in words if w))
        return envelope(
            f"{ACTION_COMMAND}Response", request.message_id, command_response(command_id)
        )

    def send(self, request: WsmanRequest, *, to_real: Callable[[float], float]) -> bytes:
        shell = self._shell(request)
        for stream in _children(request.body, "Stream"):
            command = self._command(shell, stream.get("CommandId"))
            if command.result is not None:
                continue  # input after the command ran is dropped, as a closed pipe would
            command.stdin += base64.b64decode(stream.text or "")
            if stream.get("End", "").lower() == "true":
                self._run(shell, command, to_real)
        return envelope(f"{ACTION_SEND}Response", request.message_id, "<rsp:SendResponse/>")

    def _run(
        self, shell: CmdShell, command: WinrsCommand, to_real: Callable[[float], float]
    ) -> None:
        result = hostcalls.execute(
            self._host,
            command.command_line,
            stdin=bytes(command.stdin),
            codepage=shell.codepage,
            transport="winrm",
        )
        command.result = result
        command.ready_at = asyncio.get_running_loop().time() + to_real(result.duration)

    async def receive(self, request: WsmanRequest, options: ReceiveOptions) -> bytes:
        shell = self._shell(request)
        desired = _children(request.body, "DesiredStream")
        command = self._command(shell, desired[0].get("CommandId") if desired else None)
        if command.result is None:
            self._run(shell, command, options.to_real)
        loop = asyncio.get_running_loop()
        wait = command.ready_at - loop.time()
        if wait > 0:
            await asyncio.sleep(min(wait, request.operation_timeout))
            if loop.time() < command.ready_at:
                raise faults.operation_timeout()
        if options.slow_chunk_delay is not None:
            await asyncio.sleep(options.slow_chunk_delay)
        limit = SLOW_CHUNK if options.slow_chunk_delay is not None else None
        body = _receive_body(command, limit)
        return envelope(f"{ACTION_RECEIVE}Response", request.message_id, body)

    def signal(self, request: WsmanRequest) -> bytes:
        shell = self._shell(request)
        signal = request.body
        command_id = signal.get("CommandId") if signal is not None else None
        self._command(shell, command_id)
        # terminate and ctrl_c both end the command; the lab has no process to interrupt.
        shell.commands.pop((command_id or "").upper(), None)
        return envelope(f"{ACTION_SIGNAL}Response", request.message_id, "<rsp:SignalResponse/>")

    def delete(self, request: WsmanRequest) -> bytes:
        self._shell(request)
        del self._shells[request.shell_id]
        return envelope(f"{ACTION_DELETE}Response", request.message_id, "")


def command_response(command_id: str) -> str:
    return f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"


def _children(element: ET.Element | None, name: str) -> list[ET.Element]:
    if element is None:
        return []
    return list(element.iterfind(tag(NS_SHELL, name)))


def _stream_elements(name: str, command_id: str, data: bytes) -> str:
    return "".join(
        f'<rsp:Stream Name="{name}" CommandId="{command_id}">'
        f"{base64.b64encode(data[i : i + _CHUNK]).decode()}</rsp:Stream>"
        for i in range(0, len(data), _CHUNK)
    )


def _receive_body(command: WinrsCommand, limit: int | None) -> str:
    result = command.result
    assert result is not None  # receive() runs the command first
    out = (
        result.stdout[command.stdout_sent :][:limit]
        if limit
        else result.stdout[command.stdout_sent :]
    )
    err = (
        result.stderr[command.stderr_sent :][:limit]
        if limit
        else result.stderr[command.stderr_sent :]
    )
    command.stdout_sent += len(out)
    command.stderr_sent += len(err)
    cid = command.command_id
    parts = [_stream_elements("stdout", cid, out), _stream_elements("stderr", cid, err)]
    done = command.stdout_sent == len(result.stdout) and command.stderr_sent == len(result.stderr)
    if done:
        parts.append(f'<rsp:Stream Name="stdout" CommandId="{cid}" End="true"></rsp:Stream>')
        parts.append(f'<rsp:Stream Name="stderr" CommandId="{cid}" End="true"></rsp:Stream>')
        parts.append(
            f'<rsp:CommandState CommandId="{cid}" State="{STATE_DONE}">'
            f"<rsp:ExitCode>{result.exit_code}</rsp:ExitCode></rsp:CommandState>"
        )
    else:
        parts.append(f'<rsp:CommandState CommandId="{cid}" State="{STATE_RUNNING}"/>')
    return "<rsp:ReceiveResponse>" + "".join(parts) + "</rsp:ReceiveResponse>"
