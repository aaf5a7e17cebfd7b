"""An SSH listener that behaves like Windows OpenSSH in front of one simulated host.

The default shell of Windows OpenSSH is cmd.exe, so an exec request is a cmd.exe command
line (clients send `powershell.exe -NoProfile -NonInteractive -EncodedCommand ...`) and its
output is whatever bytes the codepage produced: cp437 by default, not UTF-8.

The listener accepts TCP itself and only then hands the socket to asyncssh, because a
BLACKHOLE fault must accept a connection and never send the SSH version line, which
asyncssh sends the moment it owns a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
from collections.abc import Awaitable
from typing import Protocol

import asyncssh

from fleetfix.errors import LabError
from fleetfix.lab.api import Completed, Fault, FaultKind, Service, SimHost

logger = logging.getLogger(__name__)

# What Windows OpenSSH announces; clients and scanners read it to tell Windows apart.
SERVER_VERSION = "OpenSSH_for_Windows_9.5"
PROMPT = b"C:\\Users\\Administrator>"
BANNER = (
    b"Microsoft Windows [Version 10.0.19045.4651]\r\n"
    b"(c) Microsoft Corporation. All rights reserved.\r\n\r\n"
)
# cmd.exe programs that read standard input when run as an exec request.
_STDIN_FILTERS = frozenset({"more", "sort", "findstr", "find", "clip"})
# How long a command that reads stdin waits for the client's EOF.
_STDIN_TIMEOUT = 5.0
# How often a listener with open connections checks whether its host went down.
_GENERATION_POLL = 0.1
_CHUNK = 1024


class LabClockLike(Protocol):
    """What the listener needs of `fleetfix.lab.clock.LabClock`."""

    def to_real(self, lab_seconds: float) -> float: ...


class _SameTime:
    def to_real(self, lab_seconds: float) -> float:
        return lab_seconds


def _find(faults: list[Fault], kind: FaultKind) -> Fault | None:
    return next((fault for fault in faults if fault.kind is kind), None)


def _reset(sock: socket.socket) -> None:
    """Close with an RST, which is what a client sees from a host that is going away."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def generate_host_key() -> asyncssh.SSHKey:
    """A fresh ed25519 host key: cheap enough to give each of 2,000 hosts its own."""
    return asyncssh.generate_private_key("ssh-ed25519")


def known_hosts_line(*, names: list[str], port: int, host_key: asyncssh.SSHKey) -> str:
    """One OpenSSH known_hosts line for a host reachable under `names` on `port`."""
    patterns = names if port == 22 else [f"[{name}]:{port}" for name in names]
    public = host_key.export_public_key("openssh").decode("ascii").split()
    return f"{','.join(patterns)} {public[0]} {public[1]}"


class _WindowsSshServer(asyncssh.SSHServer):
    """Per-connection policy: password authentication against the host's local users."""

    def __init__(self, listener: SshListener) -> None:
        self._listener = listener
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._listener.track(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._listener.forget(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        host = self._listener.host
        if _find(list(host.faults()), FaultKind.AUTH_FAIL) is not None:
            return False
        return host.check_password(username, password)


class SshListener:
    """Windows OpenSSH for one host on one address and port; `open()`/`close()` follow the
    host going up and down, and a closed listener refuses connections."""

    def __init__(
        self,
        host: SimHost,
        *,
        address: str,
        port: int,
        host_key: asyncssh.SSHKey,
        clock: LabClockLike | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.host = host
        self.address = address
        self.port = port
        self.host_key = host_key
        self._clock = clock or _SameTime()
        # Per host and boot, as WS-Man's: a listener is made anew at every boot.
        self._rng = rng or random.Random(f"ssh:{host.name}:{host.boot_generation}")
        self._sock: socket.socket | None = None
        self._options: asyncssh.SSHServerConnectionOptions | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._held: set[socket.socket] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._generation = host.boot_generation
        self._watcher: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def open(self) -> None:
        """Start listening. Port 0 picks a free port once; reopening keeps that port, so a
        host comes back where its inventory says it is."""
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept_ready)

    def close(self) -> None:
        """Stop listening: new connections are refused, open ones stay until dropped."""
        if self._sock is None:
            return
        asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None

    def drop_connections(self) -> None:
        """Cut every connection, as a host that crashes or reboots does."""
        for conn in list(self._connections):
            conn.abort()
        self._connections.clear()
        for sock in list(self._held):
            _reset(sock)
        self._held.clear()

    async def aclose(self) -> None:
        """Stop listening, drop every connection and wait for the sessions to end."""
        self.close()
        self.drop_connections()
        if self._watcher is not None:
            self._watcher.cancel()
        tasks = [*self._tasks, *([self._watcher] if self._watcher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def track(self, conn: asyncssh.SSHServerConnection) -> None:
        self._connections.add(conn)
        self._ensure_watcher()

    def forget(self, conn: asyncssh.SSHServerConnection) -> None:
        self._connections.discard(conn)

    def went_down(self) -> bool:
        """True (and every connection dropped) when the host rebooted since last checked."""
        generation = self.host.boot_generation
        if generation == self._generation:
            return False
        self._generation = generation
        self.drop_connections()
        return True

    def _ensure_watcher(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        # Runs only while something is connected: 2,000 idle hosts cost no wake-ups.
        while self._connections or self._held:
            self.went_down()
            await asyncio.sleep(_GENERATION_POLL)

    def _accept_ready(self) -> None:
        while self._sock is not None:
            try:
                conn_sock, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                logger.debug("accept failed on %s:%s: %s", self.address, self.port, exc)
                return
            self._admit(conn_sock)

    def _admit(self, conn_sock: socket.socket) -> None:
        self.went_down()
        faults = list(self.host.faults())
        if not self.host.is_listening(Service.SSH) or _find(faults, FaultKind.REFUSE):
            _reset(conn_sock)
            return
        if _find(faults, FaultKind.BLACKHOLE) is not None:
            self._held.add(conn_sock)
            self._ensure_watcher()
            return
        latency = _find(faults, FaultKind.LATENCY)
        self._spawn(self._serve(conn_sock, delay=latency.seconds if latency else 0.0))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn_sock: socket.socket, *, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        try:
            await asyncssh.run_server(conn_sock, options=self._server_options())
        except (TimeoutError, asyncssh.Error, OSError) as exc:
            # A failed login or a client that hung up: the client sees it, the lab need not.
            logger.debug("ssh session on %s ended: %s", self.host.name, exc)
            conn_sock.close()

    def _server_options(self) -> asyncssh.SSHServerConnectionOptions:
        # Built on first connection, not at start: most of 2,000 hosts are never dialled.
        if self._options is None:
            self._options = asyncssh.SSHServerConnectionOptions(
                server_factory=lambda: _WindowsSshServer(self),
                server_host_keys=[self.host_key],
                process_factory=self._session,
                encoding=None,
                server_version=SERVER_VERSION,
                allow_scp=False,
                agent_forwarding=False,
                x11_forwarding=False,
                allow_pty=True,
                login_timeout=60,
            )
        return self._options

    async def _session(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        # asyncssh runs each session in a task it never cancels: aclose() must reach it, or
        # a command still running is left pending when the lab's loop closes.
        session = asyncio.current_task()
        if session is not None:
            self._tasks.add(session)
            session.add_done_callback(self._tasks.discard)
        try:
            if process.command is None:
                await self._interactive(process)
            else:
                await self._exec(process, process.command)
        except (asyncssh.Error, OSError, asyncio.IncompleteReadError) as exc:
            logger.debug("ssh channel on %s ended: %s", self.host.name, exc)
            process.close()
        except LabError as exc:
            # The host went down under the command (HostDown): so does the connection.
            logger.debug("ssh command on %s: %s", self.host.name, exc)
            process.channel.get_connection().abort()
        except Exception:
            # A lab bug: loud in the lab's log, and the client sees a dead connection rather
            # than a made-up answer.
            logger.exception("ssh command on %s failed inside the lab", self.host.name)
            process.channel.get_connection().abort()

    async def _exec(self, process: asyncssh.SSHServerProcess[bytes], command: str) -> None:
        stdin = await _read_stdin(process, command)
        faults = list(self.host.faults())
        drop = _find(faults, FaultKind.DROP)
        if drop is not None and self._rng.random() < drop.rate:
            process.channel.get_connection().abort()
            return
        completed = self.host.execute(command, stdin=stdin, transport="ssh")
        await self._deliver(process, completed)
        process.exit(completed.exit_code)

    async def _deliver(self, process: asyncssh.SSHServerProcess[bytes], done: Completed) -> None:
        generation = self.host.boot_generation
        await asyncio.sleep(self._clock.to_real(done.duration))
        faults = list(self.host.faults())
        latency = _find(faults, FaultKind.LATENCY)
        if latency is not None:
            await asyncio.sleep(latency.seconds)
        if self.host.boot_generation != generation:
            process.channel.get_connection().abort()
            return
        if _find(faults, FaultKind.RESET) is not None:
            process.stdout.write(done.stdout[: len(done.stdout) // 2])
            await process.stdout.drain()
            process.channel.get_connection().abort()
            return
        slow = _find(faults, FaultKind.SLOW_OUTPUT)
        await _write(process.stdout, done.stdout, pause=slow.seconds if slow else 0.0)
        await _write(process.stderr, done.stderr, pause=0.0)

    async def _interactive(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """cmd.exe at a prompt: one command per line until `exit` or EOF."""
        process.stdout.write(BANNER + PROMPT)
        while True:
            line = await process.stdin.readline()
            if not line:
                break
            command = line.decode("cp437").strip()
            if command.lower() == "exit":
                break
            if command:
                done = self.host.execute(command, transport="ssh")
                await self._deliver(process, done)
            process.stdout.write(b"\r\n" + PROMPT)
        process.exit(0)


def reads_stdin(command: str) -> bool:
    """Whether a cmd.exe command line consumes standard input: filters such as `more`, and
    PowerShell told to read its script from stdin (`-Command -`, `-File -`)."""
    words = command.lower().split()
    if not words:
        return False
    program = words[0].rpartition("\\")[2].removesuffix(".exe")
    if program in _STDIN_FILTERS:
        return True
    return program in ("powershell", "pwsh") and "-" in words[1:]


async def _read_stdin(process: asyncssh.SSHServerProcess[bytes], command: str) -> bytes:
    """The command's whole input, up to EOF, for commands that read it. Others run at once:
    waiting for an EOF that clients such as asyncssh's `run()` never send would stall them."""
    if not reads_stdin(command):
        return b""
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(process.stdin.read(), timeout=_STDIN_TIMEOUT)
    return b""


async def _write(stream: asyncssh.SSHWriter[bytes], data: bytes, *, pause: float) -> None:
    if not pause:
        stream.write(data)
        await stream.drain()
        return
    for start in range(0, len(data), _CHUNK):
        stream.write(data[start : start + _CHUNK])
        await stream.drain()
        await asyncio.sleep(pause)


async def start_ssh_server(
    host: SimHost,
    *,
    address: str,
    port: int,
    host_key: asyncssh.SSHKey,
    clock: LabClockLike | None = None,
    rng: random.Random | None = None,
) -> SshListener:
    """Listen for SSH on `address:port` for `host` (port 0: a free port, see `.port`)."""
    listener = SshListener(
        host, address=address, port=port, host_key=host_key, clock=clock, rng=rng
    )
    listener.open()
    return listener


__all__ = [
    "PROMPT",
    "SERVER_VERSION",
    "LabClockLike",
    "SshListener",
    "generate_host_key",
    "known_hosts_line",
    "reads_stdin",
    "start_ssh_server",
]
