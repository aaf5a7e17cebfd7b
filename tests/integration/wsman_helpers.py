"""Shared pieces for the WS-Man lab tests: hosts and running listeners.

`lab_host`/`serving` put the server in front of the real `LabHost`. `ScriptedHost` is a
small SimHost with canned answers, for tests that pin the protocol itself (byte-exact
outputs, recorded Windows transcripts, reboots at a chosen moment).
"""

from __future__ import annotations

import asyncio
import base64
import random
import re
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fleetfix.lab.api import (
    Completed,
    Fault,
    PipelineCommand,
    PipelineError,
    PipelineResult,
    Service,
)
from fleetfix.lab.clock import LabClock
from fleetfix.lab.host import LabContext, LabHost
from fleetfix.lab.machine import Machine
from fleetfix.lab.wsman import start_wsman_server, stop_wsman_server

USER = "vagrant"
PASSWORD = "Lab-Passw0rd!"
_SLEEP = re.compile(r"Start-Sleep\s+(?:-Seconds\s+)?(\d+(?:\.\d+)?)", re.IGNORECASE)
_ENCODED = re.compile(r"-encodedcommand\s+(\S+)", re.IGNORECASE)


@dataclass
class ScriptedHost:
    """A SimHost whose commands are a few canned behaviours, enough for protocol tests."""

    name: str = "LAB-WS01"
    address: str = "127.0.0.1"
    boot_generation: int = 1
    listening: bool = True
    active_faults: list[Fault] = field(default_factory=list)
    history: list[tuple[str, bytes, int]] = field(default_factory=list)
    pipelines: list[Sequence[PipelineCommand]] = field(default_factory=list)
    # The transport label each call came with, as LabHost records it.
    transports: list[str | None] = field(default_factory=list)

    def is_listening(self, service: Service) -> bool:
        return self.listening and service is Service.WINRM

    def check_password(self, username: str, password: str) -> bool:
        return username.lower() == USER and password == PASSWORD

    def password_for(self, username: str) -> str | None:
        return PASSWORD if username.lower() == USER else None

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
        self.history.append((command_line, stdin, codepage))
        self.transports.append(transport)
        encoded = _ENCODED.search(command_line)
        if encoded:
            return _powershell(base64.b64decode(encoded.group(1)).decode("utf-16-le"))
        sleep = _SLEEP.search(command_line)
        if sleep:
            return Completed(b"hi\n", b"", 0, duration=float(sleep.group(1)))
        if command_line == "powershell.exe -":  # a script read from stdin
            said = re.findall(r'Write-Host "([^"]*)"', stdin.decode())
            return Completed("".join(f"{line}\n" for line in said).encode(), b"", 0)
        if "echo err>&2" in command_line:  # the recorded test_winrs_stderr_rc command
            return Completed(b"out \r\n", b"err \r\n", 1)
        words = command_line.split()
        if words[:2] == ["cmd.exe", "/c"]:
            words = words[2:]
        if words and words[0].lower() == "echo":
            return Completed((" ".join(words[1:]) + "\r\n").encode(), b"", 0)
        if words and words[0].lower() == "more":
            return Completed(stdin, b"", 0)
        if words and words[0].lower() == "exit":
            return Completed(b"", b"failing on purpose\r\n", int(words[1]))
        if words and words[0].lower() == "bigout":
            return Completed(b"x" * int(words[1]), b"", 0)
        name = words[0] if words else ""
        message = (
            f"'{name}' is not recognized as an internal or external command,\r\n"
            "operable program or batch file.\r\n"
        )
        return Completed(b"", message.encode(), 1)

    def run_pipeline(
        self,
        commands: Sequence[PipelineCommand],
        *,
        input_objects: Sequence[Any] = (),
        transport: str | None = None,
    ) -> PipelineResult:
        self.pipelines.append(commands)
        self.transports.append(transport)
        output: list[Any] = list(input_objects)
        errors: list[PipelineError] = []
        duration = 0.0
        for command in commands:
            text = command.name
            if command.is_script:
                sleep = _SLEEP.search(text)
                duration += float(sleep.group(1)) if sleep else 0.0
                if "throw" in text:
                    failure = PipelineError(text.split("throw", 1)[1].strip(" '\""))
                    return PipelineResult(output, errors, failure, duration)
                output.append(f"script:{text}")
            elif text == "Write-Error":
                message = str(command.parameters.get("Message", "error"))
                errors.append(PipelineError(message, after_output=len(output)))
            else:
                values = [str(v) for v in command.parameters.values()]
                output.append(" ".join([text, *values, *map(str, command.arguments)]))
        return PipelineResult(output, errors, None, duration)


def _powershell(script: str) -> Completed:
    sleep = _SLEEP.search(script)
    duration = float(sleep.group(1)) if sleep else 0.0
    return Completed(f"ps:{script}\r\n".encode(), b"", 0, duration=duration)


@dataclass(frozen=True)
class Listener:
    host: ScriptedHost
    server: asyncio.Server
    port: int

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/wsman"


@asynccontextmanager
async def listening(
    host: ScriptedHost | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
    clock: Any = None,
) -> AsyncIterator[Listener]:
    """A WS-Man listener for `host` on a free loopback port, closed afterwards."""
    the_host = host or ScriptedHost()
    server = await start_wsman_server(
        the_host, address="127.0.0.1", port=0, ssl_context=ssl_context, clock=clock
    )
    port = server.sockets[0].getsockname()[1]
    try:
        yield Listener(the_host, server, port)
    finally:
        await stop_wsman_server(server)


ADMIN = "Administrator"
ADMIN_PASSWORD = "Lab-Admin-Passw0rd!"


def lab_host(clock: LabClock, *, name: str = "PACS-01") -> LabHost:
    """The real simulated host: a default Windows Server machine, up and healthy."""
    machine = Machine.default(
        hostname=name, rng=random.Random(7), administrator_password=ADMIN_PASSWORD, at=clock.now()
    )
    return LabHost(
        name=name,
        address="127.0.0.1",
        machine=machine,
        context=LabContext.create(clock),
        rng=random.Random(8),
    )


@dataclass(frozen=True)
class LabListener:
    host: LabHost
    server: asyncio.Server
    port: int

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/wsman"


@asynccontextmanager
async def serving(*, time_scale: float = 1000.0) -> AsyncIterator[LabListener]:
    """A WS-Man listener in front of a real `LabHost`, on a free loopback port."""
    clock = LabClock(time_scale=time_scale)
    host = lab_host(clock)
    server = await start_wsman_server(
        host, address="127.0.0.1", port=0, ssl_context=None, clock=clock
    )
    try:
        yield LabListener(host, server, server.sockets[0].getsockname()[1])
    finally:
        await stop_wsman_server(server)
