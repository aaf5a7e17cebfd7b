"""The running lab's control channel: JSON lines over a Unix socket in the lab directory.

One request per line, one answer per line::

    {"op": "status"}
    {"op": "fault", "target": "LAB-WS0001" | "all", "kind": "refuse", "seconds": 0, "rate": 1,
     "clear": false}
    {"op": "inspect", "host": "LAB-WS0001"}
    {"op": "history", "host": "LAB-WS0001"}
    {"op": "console", "host": "LAB-WS0001", "action": "enter-key", "argument": "111111-..."}

    -> {"ok": true, "result": {...}}  or  {"ok": false, "error": "unknown host 'X'"}

A Unix socket (mode 0600) rather than TCP: only the user who started the lab can steer it,
and nothing listens beyond the loopback addresses the hosts use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fleetfix.errors import LabError
from fleetfix.lab.api import TIMED_FAULTS, Fault, FaultKind

if TYPE_CHECKING:  # the CLI's client side imports this module and must stay light
    from fleetfix.lab.host import LabHost

_LIMIT = 1 << 20
CONSOLE_ACTIONS = ("enter-key", "boot", "power-on", "run")
# Console words -> fleetfix.lab.machine.BootMode values.
BOOT_MODES = {"normal": "normal", "safe-minimal": "safe_minimal", "safe-network": "safe_network"}
_RECENT_EVENTS = 20
_RECENT_COMMANDS = 50


class ControlTarget(Protocol):
    """What the control channel steers; `fleetfix.lab.fleet.Lab` implements it. Methods
    raise `LabError` for a request that names an unknown host or a bad value."""

    def status(self) -> dict[str, Any]: ...

    def set_fault(self, target: str, fault: Fault) -> int: ...

    def clear_faults(self, target: str, kind: FaultKind | None) -> int: ...

    def inspect(self, host: str) -> dict[str, Any]: ...

    def console(self, host: str, action: str, argument: str | None) -> dict[str, Any]: ...

    def history(self, host: str) -> dict[str, Any]: ...

    async def settle(self) -> None:
        """Finish what a request set off (listeners to open or close) before answering, so
        a client that reads the answer finds the lab already in the new state."""
        ...


def _fault_request(target: ControlTarget, request: Mapping[str, Any]) -> dict[str, Any]:
    where = str(request.get("target", ""))
    kind_text = request.get("kind")
    try:
        kind = FaultKind(str(kind_text)) if kind_text else None
    except ValueError:
        choices = ", ".join(k.value for k in FaultKind)
        raise LabError(f"unknown fault {kind_text!r}; choose one of {choices}") from None
    if request.get("clear"):
        return {"cleared": target.clear_faults(where, kind)}
    if kind is None:
        raise LabError("a fault needs a kind")
    seconds = float(request.get("seconds") or 0.0)
    if kind in TIMED_FAULTS and not seconds > 0:
        raise LabError(f"a {kind.value} fault needs seconds above 0 (the delay)")
    if not 0 <= seconds < math.inf:  # NaN fails this too
        raise LabError(f"a fault's seconds are a delay of 0 or more, not {seconds!r}")
    rate = float(request.get("rate", 1.0))
    if not 0 <= rate <= 1:
        raise LabError(f"a fault's rate is a share from 0 to 1 (0.2: one in five), not {rate!r}")
    return {"hosts": target.set_fault(where, Fault(kind, seconds=seconds, rate=rate))}


def dispatch(target: ControlTarget, request: Mapping[str, Any]) -> dict[str, Any]:
    """Answer one request; a bad request is an error answer, never an exception."""
    op = request.get("op")
    try:
        if op == "status":
            result = target.status()
        elif op == "fault":
            result = _fault_request(target, request)
        elif op == "inspect":
            result = target.inspect(str(request.get("host", "")))
        elif op == "history":
            result = target.history(str(request.get("host", "")))
        elif op == "console":
            action = str(request.get("action", ""))
            if action not in CONSOLE_ACTIONS:
                raise LabError(
                    f"unknown console action {action!r}; choose one of {CONSOLE_ACTIONS}"
                )
            argument = request.get("argument")
            result = target.console(
                str(request.get("host", "")), action, None if argument is None else str(argument)
            )
        else:
            raise LabError(f"unknown request {op!r}")
    except LabError as exc:
        return {"ok": False, "error": exc.message}
    except (TypeError, ValueError) as exc:
        return {"ok": False, "error": f"bad value in request: {exc}"}
    return {"ok": True, "result": result}


def inspect_host(host: LabHost) -> dict[str, Any]:
    """What a technician would look at: the sensor's files, services, the newest System log
    entries and the commands the host received (names only for pipelines: no secrets)."""
    from fleetfix.lab.machine import CROWDSTRIKE_DIR

    machine = host.machine
    channel_files = [
        {
            "path": entry.path,
            "length": len(entry.data),
            "last_write_utc": entry.last_write_utc.isoformat(),
            "header": entry.data[:8].hex(" ").upper(),
        }
        for entry in machine.files.descendants(CROWDSTRIKE_DIR)
        if not entry.is_directory
    ]
    services = [
        {"name": s.name, "status": s.status.display, "start_type": s.start_type.display}
        for s in machine.services.all()
    ]
    events = [
        {
            "id": e.id,
            "provider": e.provider_name,
            "time_created": e.time_created.isoformat(),
            "level": e.level.display,
            "message": e.message.splitlines()[0] if e.message else "",
        }
        for e in machine.system_log.query(max_events=_RECENT_EVENTS)
    ]
    history = [
        {
            "at": r.at.isoformat(),
            "transport": r.transport,
            "command": r.command,
            "exit_code": r.exit_code,
            "boot_generation": r.boot_generation,
        }
        for r in host.history[-_RECENT_COMMANDS:]
    ]
    return {
        "status": host.status().as_dict(),
        "crowdstrike_files": channel_files,
        "services": services,
        "events": events,
        "history": history,
    }


def command_history(host: LabHost) -> dict[str, Any]:
    """Every command the host kept, oldest first, with the script text that came over stdin
    and what it printed: what a test needs to prove which scripts ran, how often and what they
    did. `kept` < `received` means the oldest records fell off the host's bounded history.
    Pipelines stay names only (their values may be secrets); shipped scripts print key
    protector IDs, never recovery passwords."""
    commands = [
        {
            "at": r.at.isoformat(),
            "transport": r.transport,
            "command": r.command,
            "stdin": r.stdin,
            "stdout": r.stdout,
            "exit_code": r.exit_code,
            "boot_generation": r.boot_generation,
        }
        for r in host.history
    ]
    return {"host": host.name, "kept": len(commands), "received": host.commands_received,
            "commands": commands}  # fmt: skip


def console_action(host: LabHost, action: str, argument: str | None) -> dict[str, Any]:
    """Hands at the console: type a recovery key, pick a boot mode, press the power button,
    type a command.
    The key is compared and forgotten: it is not echoed back, logged or kept."""
    if action == "enter-key":
        if not argument:
            raise LabError("enter-key needs the recovery password")
        return {"unlocked": host.console_enter_recovery_key(argument), "state": str(host.state)}
    if action == "boot":
        from fleetfix.lab.machine import BootMode

        value = BOOT_MODES.get(argument or "")
        if value is None:
            raise LabError(f"boot needs a mode: one of {', '.join(BOOT_MODES)}")
        mode = BootMode(value)
        host.console_boot(mode)
        return {"mode": str(mode), "state": str(host.state)}
    if action == "power-on":
        return {"powered_on": host.power_on(), "state": str(host.state)}
    if action == "run":
        # A technician at an administrator command prompt (e.g. in safe mode, deleting the
        # channel file by hand): a cmd.exe line, recorded in the history as "console".
        if not argument:
            raise LabError('run needs a command line, e.g. "del C:\\...\\file.sys"')
        if str(host.state) != "up":
            raise LabError(f"{host.name} is {host.state}: nothing to type at yet")
        done = host.execute(argument, transport="console", codepage=65001)
        return {"exit_code": done.exit_code, "stdout": done.stdout.decode("utf-8", "replace"),
                "stderr": done.stderr.decode("utf-8", "replace")}  # fmt: skip
    raise LabError(f"unknown console action {action!r}; choose one of {CONSOLE_ACTIONS}")


def refuse_if_running(path: Path) -> None:
    """A second lab in the same directory would take over the first one's socket and files."""
    if not path.exists():
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return  # a socket left by a lab that was killed: safe to replace
    raise LabError(f"a lab is already running with control socket {path}; stop it first")


class ControlServer:
    """Serves `dispatch` on a Unix socket until `close()`."""

    def __init__(self, server: asyncio.Server, path: Path) -> None:
        self._server = server
        self.path = path

    @classmethod
    async def start(cls, target: ControlTarget, path: Path) -> ControlServer:
        path.unlink(missing_ok=True)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await _serve(target, reader, writer)
            finally:
                writer.close()

        # Created under a 0077 umask so the socket is never reachable by others.
        old_umask = os.umask(0o077)
        try:
            server = await asyncio.start_unix_server(serve, path=str(path), limit=_LIMIT)
        finally:
            os.umask(old_umask)
        return cls(server, path)

    async def close(self) -> None:
        self._server.close()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()
        self.path.unlink(missing_ok=True)


async def _serve(
    target: ControlTarget, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    while line := await reader.readline():
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            answer: dict[str, Any] = {"ok": False, "error": "not a JSON line"}
        else:
            if isinstance(request, dict):
                answer = dispatch(target, request)
                await target.settle()
            else:
                answer = {"ok": False, "error": "a request is a JSON object"}
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()


def request(path: Path, message: Mapping[str, Any], *, timeout: float = 10.0) -> dict[str, Any]:
    """Send one request to a running lab and return its answer (blocking; for the CLI)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise LabError(
                f"no lab answers on {path} ({reason}); start one with `fleetfix lab up`"
            ) from None
        sock.sendall(json.dumps(dict(message)).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    answer = json.loads(data)
    if not isinstance(answer, dict):
        raise LabError("the lab sent an answer that is not a JSON object")
    return answer
