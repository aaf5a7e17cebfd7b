"""A transport that runs nothing: each script is answered by a function the test supplies.
For the engine's and the TUI's tests, so they go through the real seam instead of patching.

    def answer(host: Host, script: str, params: Mapping[str, Any]) -> Reply: ...
    transport = FakeTransport(answer)
    session = await transport.open(host, timeout=5)

`answer` returns a CommandResult-like `Reply` or raises a TransportError (AuthFailed,
Unreachable, ...) exactly as a real transport would. Every call is kept in `calls`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetfix.models import Host
from fleetfix.transports import script as scripts
from fleetfix.transports.base import CommandResult


@dataclass(frozen=True, slots=True)
class Reply:
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0

    @classmethod
    def report(cls, value: Mapping[str, Any], *, exit_code: int = 0) -> Reply:
        """A script that prints one JSON object on its last line, as packs do."""
        return cls(stdout=json.dumps(dict(value)) + "\r\n", exit_code=exit_code)


Answer = Callable[[Host, str, Mapping[str, Any]], Reply]
Opener = Callable[[Host], None]


@dataclass(frozen=True, slots=True)
class FakeCall:
    host: str
    script: str
    params: Mapping[str, Any]


def _accept(host: Host) -> None:
    return None


@dataclass
class FakeTransport:
    """`on_open` may raise (Unreachable, AuthFailed) to refuse a session for a host."""

    answer: Answer
    on_open: Opener = _accept
    name: str = "fake"
    calls: list[FakeCall] = field(default_factory=list)

    async def open(self, host: Host, *, timeout: float) -> FakeSession:
        self.on_open(host)
        return FakeSession(host, self)


class FakeSession:
    def __init__(self, host: Host, transport: FakeTransport) -> None:
        self._host = host
        self._transport = transport
        self.closed = False

    @property
    def host(self) -> Host:
        return self._host

    @property
    def transport(self) -> str:
        return self._transport.name

    async def run(
        self, script: str, *, params: Mapping[str, Any] | None = None, timeout: float
    ) -> CommandResult:
        values = dict(params or {})
        scripts.encode_params(values)  # what a real transport could not send fails here too
        self._transport.calls.append(FakeCall(self._host.name, script, values))
        reply = self._transport.answer(self._host, script, values)
        return CommandResult(
            host=self._host.name, transport=self.transport, stdout=reply.stdout,
            stderr=reply.stderr, exit_code=reply.exit_code, duration=0.0,
            json=scripts.last_line_json(reply.stdout),
        )  # fmt: skip

    async def close(self) -> None:
        self.closed = True
