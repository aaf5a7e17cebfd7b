"""Shared pieces for the transport tests: a running lab on 127.77.x.y with free ports, and the
connect options and inventory hosts a client would use. (No tests here.)"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fleetfix.credentials import Credentials, Secret
from fleetfix.lab import files
from fleetfix.lab.api import Service
from fleetfix.lab.fleet import Lab
from fleetfix.lab.host import LabHost
from fleetfix.lab.ssh import known_hosts_line
from fleetfix.lab.wsman import server as wsman_server
from fleetfix.models import Host, Transport
from fleetfix.transports.base import ConnectOptions, Security

PASSWORD = "Transport-Lab-Passw0rd"
# Lab seconds per real second: boots take milliseconds; `Start-Sleep 100000` takes 100 s.
FAST = 1000.0
ALL_TRANSPORTS = (
    Transport.WINRM,
    Transport.WINRM_HTTPS,
    Transport.PSRP,
    Transport.PSRP_HTTPS,
    Transport.SSH,
)


async def start_lab(directory: Path, *, hosts: int = 4) -> Lab:
    return await Lab.start(
        hosts=hosts, scenario="service-outage", seed=11, time_scale=FAST, directory=directory,
        password=PASSWORD, ssh_port=0, winrm_port=0, winrms_port=0,
    )  # fmt: skip


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    running = await start_lab(tmp_path / "lab")
    yield running
    await running.stop()


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(4, thread_name_prefix="test-pool")
    yield pool
    pool.shutdown(wait=True)


def up_host(lab: Lab) -> LabHost:
    """A host that answers on WinRM and SSH."""
    return next(
        host
        for host in lab.fleet.hosts
        if host.is_listening(Service.WINRM) and host.is_listening(Service.SSH)
    )


def entry(lab: Lab, name: str) -> files.HostEntry:
    return next(e for e in lab.entries() if e.name == name)


def inventory_host(lab: Lab, name: str, transport: Transport = Transport.AUTO) -> Host:
    found = entry(lab, name)
    tags = (
        f"winrm_port={found.winrm_port}",
        f"winrms_port={found.winrms_port}",
        f"ssh_port={found.ssh_port}",
    )
    return Host(found.name, address=found.address, transport=transport, tags=tags)


def options(
    lab: Lab, *, password: str = PASSWORD, security: Security | None = None
) -> ConnectOptions:
    paths = lab.paths()
    trust = security or Security(ca_file=Path(paths["ca"]), known_hosts=Path(paths["known_hosts"]))
    return ConnectOptions(
        credentials=Credentials(files.USERNAME, Secret(password), "test"),
        security=trust,
        connect_timeout=5.0,
    )


def worker_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("fleetfix-")}


def busy_transport_threads() -> set[str]:
    """Threads that are inside fleetfix's transport code right now (an idle pool worker
    waits in the executor's queue instead): a worker still running a command."""
    frames = sys._current_frames()
    busy: set[str] = set()
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if thread is threading.current_thread() or frame is None:
            continue
        if any("fleetfix/transports/" in f.filename for f in traceback.extract_stack(frame)):
            busy.add(thread.name)
    return busy


def remote_sessions(lab: Lab, name: str) -> int:
    """Shells and runspace pools the host's WS-Man service still holds (both listeners), and
    the SSH channels its OpenSSH has open. Reads the lab servers' registries: the lab has no
    WS-Man Enumerate to ask politely."""
    station = lab.station(name)
    count = 0
    for listener in (station.http, station.https):
        endpoint = wsman_server._ENDPOINTS.get(listener) if listener else None
        if endpoint is not None:
            count += len(endpoint.winrs._shells) + len(endpoint.psrp._shells)
    return count + sum(len(conn._channels) for conn in station.ssh._connections)


def ssh_connections(lab: Lab, name: str) -> int:
    return len(lab.station(name).ssh._connections)


async def eventually(check: Callable[[], bool], *, within: float = 3.0) -> bool:
    """Whether `check` holds within `within` seconds (servers finish closing on their turn of
    the loop, a moment after the client has moved on)."""
    give_up = time.monotonic() + within
    while not check():
        if time.monotonic() > give_up:
            return False
        await asyncio.sleep(0.02)
    return True


@dataclass(eq=False)
class _Relayed:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    client_left: bool = False  # the client hung up while the hole swallowed its goodbye


@dataclass
class HoleProxy:
    """A TCP relay in front of one lab listener that can turn into a black hole: bytes stop
    passing both ways and every connection stays open, as when a host drops off the network
    mid-session. (The lab's BLACKHOLE fault holds new connections only; an SSH session that
    is already open keeps working under it.) When the hole closes, connections whose client
    left meanwhile are reset, which is what the host's TCP stack meets next."""

    address: str
    target_port: int
    port: int = 0
    holed: bool = False
    _relays: set[_Relayed] = field(default_factory=set)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> HoleProxy:
        self._server = await asyncio.start_server(self._accept, self.address, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def open_hole(self) -> None:
        self.holed = True

    def close_hole(self) -> None:
        self.holed = False
        for relay in [r for r in self._relays if r.client_left]:
            self._drop(relay)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for relay in list(self._relays):
            self._drop(relay)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _drop(self, relay: _Relayed) -> None:
        relay.client.transport.abort()
        relay.upstream.transport.abort()
        self._relays.discard(relay)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.address, self.target_port)
            relay = _Relayed(writer, up_writer)
            self._relays.add(relay)
            await asyncio.gather(
                self._pump(reader, up_writer, relay, from_client=True),
                self._pump(up_reader, writer, relay, from_client=False),
            )
        except asyncio.CancelledError:
            writer.transport.abort()  # stopped with the test; asyncio would log a re-raise
        finally:
            self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    relay: _Relayed, *, from_client: bool) -> None:  # fmt: skip
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if not self.holed:  # in the hole, bytes are dropped on the floor
                    writer.write(data)
                    await writer.drain()
        if self.holed:
            relay.client_left = relay.client_left or from_client
            return
        writer.close()  # passes the hang-up on, after what was still on its way
        self._relays.discard(relay)


async def hole_proxy(lab: Lab, name: str, port: int) -> HoleProxy:
    return await HoleProxy(entry(lab, name).address, port).start()


def ssh_host_behind(lab: Lab, name: str, proxy: HoleProxy, directory: Path) -> tuple[Host, Path]:
    """The inventory host and a known_hosts file for reaching `name`'s SSH through `proxy`."""
    found = entry(lab, name)
    known = directory / "known_hosts_proxy"
    key = lab.station(name).ssh.host_key
    known.write_text(known_hosts_line(names=[found.address], port=proxy.port, host_key=key) + "\n")
    host = Host(found.name, address=found.address, transport=Transport.SSH,
                tags=(f"ssh_port={proxy.port}",))  # fmt: skip
    return host, known
