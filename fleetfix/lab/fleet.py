"""A running lab: a seeded fleet of simulated hosts, each on its own loopback address with
WinRM on 5985/5986 and SSH on 22, and the files clients need to reach them.

A host that is down, booting or on a recovery screen has no listening sockets at all, so a
client gets "connection refused" exactly as it would from a real booting machine. Hosts tell
the lab when their state changes (`LabContext.subscribe`); the lab then opens or closes that
host's listeners. A slow sweep also catches services stopped from inside (Stop-Service WinRM).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import logging
import resource
import secrets
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetfix.errors import LabError
from fleetfix.lab import files
from fleetfix.lab.api import Fault, FaultKind, Service
from fleetfix.lab.clock import LabClock
from fleetfix.lab.control import (
    ControlServer,
    command_history,
    console_action,
    inspect_host,
    refuse_if_running,
)
from fleetfix.lab.host import LabHost
from fleetfix.lab.scenarios import Fleet, build_fleet, lab_addresses
from fleetfix.lab.ssh import SshListener, generate_host_key
from fleetfix.lab.tls import LabCA
from fleetfix.lab.wsman import start_wsman_server, stop_wsman_server

logger = logging.getLogger(__name__)

ADDRESS_PREFIX = "127.77"
# Services stopped from inside a host (Stop-Service WinRM) do not notify the lab; this sweep
# notices them. State changes (boot, crash) are pushed and handled at once.
_SWEEP_SECONDS = 1.0


def raise_open_file_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit: 2,000 hosts hold 6,000 listening sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def _loopback_addresses() -> Iterator[str]:
    for address in lab_addresses(ADDRESS_PREFIX):
        # The lab never binds or advertises anything a packet could leave the box for.
        assert ipaddress.ip_address(address).is_loopback, address
        yield address


def _reserve_ports(address: str, ports: tuple[int, int, int]) -> tuple[int, int, int]:
    """Each 0 in `ports` replaced by a free port on `address`, so a host that starts out down
    still has fixed ports to list in the inventory (tests ask for 0 to run beside other labs).
    The probes stay bound until all are chosen: a closed probe's port could come back twice."""
    with contextlib.ExitStack() as stack:
        chosen = []
        for port in ports:
            if port:
                chosen.append(port)
                continue
            probe = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            probe.bind((address, 0))
            chosen.append(probe.getsockname()[1])
        return chosen[0], chosen[1], chosen[2]


@dataclass(slots=True)
class _Station:
    """One host's three listeners. WS-Man servers are recreated on every reopen because an
    asyncio server cannot listen again once closed."""

    host: LabHost
    ssh: SshListener
    http_port: int
    https_port: int
    http: asyncio.Server | None = None
    https: asyncio.Server | None = None

    def wants(self, service: Service) -> bool:
        refused = any(fault.kind is FaultKind.REFUSE for fault in self.host.faults())
        return not refused and self.host.is_listening(service)

    def entry(self) -> files.HostEntry:
        public = self.ssh.host_key.export_public_key("openssh").decode("ascii").split()
        return files.HostEntry(
            name=self.host.name,
            address=self.host.address,
            ssh_port=self.ssh.port,
            winrm_port=self.http_port,
            winrms_port=self.https_port,
            ssh_public_key=f"{public[0]} {public[1]}",
        )


class Lab:
    """A running lab. Create with `await Lab.start(...)`, end with `await lab.stop()`."""

    def __init__(
        self,
        *,
        fleet: Fleet,
        directory: Path,
        ca: LabCA,
        env: files.LabEnv,
        tags: dict[str, tuple[str, ...]],
    ) -> None:
        self.fleet = fleet
        self.directory = directory
        self.clock = fleet.context.clock
        self._ca = ca
        self._env = env
        self._tags = tags
        self._stations: dict[str, _Station] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        # Opening a WS-Man listener awaits; two syncs of one host must not both open it.
        self._sync_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        # Every WS-Man connection handler still running, listeners closed earlier included:
        # stop() ends them, so no command in flight is left pending when the loop closes.
        self._handlers: set[asyncio.Task[None]] = set()
        self._control: ControlServer | None = None
        # Faults set on single hosts through the control channel (fleet-wide ones live in
        # the shared FaultList); kept here so clearing one kind leaves the others.
        self._host_faults: dict[str, list[Fault]] = {}

    # --- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        *,
        hosts: int,
        scenario: str,
        seed: int,
        time_scale: float,
        directory: Path,
        password: str | None = None,
        from_inventory: Path | None = None,
        ssh_port: int = 22,
        winrm_port: int = 5985,
        winrms_port: int = 5986,
        progress: Callable[[str], None] | None = None,
    ) -> Lab:
        """Build the fleet, open every listener that its host wants open, write the files
        (inventory.csv, inventory.ini, lab.env, ca.pem, known_hosts, truth.json) and the
        control socket. Returns once every host that is up listens. `progress` hears what
        a large lab is busy with (the CLI prints it on stderr)."""
        say = progress or (lambda _message: None)
        limit = raise_open_file_limit()
        directory.mkdir(parents=True, exist_ok=True)
        refuse_if_running(directory / files.CONTROL)
        secret = password or secrets.token_urlsafe(18)
        names = _inventory_names(from_inventory) if from_inventory else None
        clock = LabClock(time_scale=time_scale)
        say(f"building {len(names) if names else hosts} hosts (open file limit {limit})")
        fleet = build_fleet(
            scenario, hosts=hosts, seed=seed, clock=clock, names=names,
            password=secret, addresses=_loopback_addresses(),
        )  # fmt: skip
        ca = LabCA.create(directory)
        env = files.LabEnv(
            username=files.USERNAME,
            password=secret,
            ca_bundle=ca.ca_path,
            known_hosts=directory / files.KNOWN_HOSTS,
            control=directory / files.CONTROL,
        )
        tags = {truth.name: truth.tags for truth in fleet.truths}
        lab = cls(fleet=fleet, directory=directory, ca=ca, env=env, tags=tags)
        say("opening listeners on 127.77.x.y")
        try:
            await lab._open(ports=(ssh_port, winrm_port, winrms_port))
        except BaseException:
            await lab.stop()
            raise
        return lab

    async def _open(self, *, ports: tuple[int, int, int]) -> None:
        for host in self.fleet.hosts:
            ssh_port, winrm_port, winrms_port = _reserve_ports(host.address, ports)
            ssh = SshListener(
                host, address=host.address, port=ssh_port, host_key=generate_host_key(),
                clock=self.clock,
            )  # fmt: skip
            self._stations[host.name.lower()] = _Station(
                host, ssh, http_port=winrm_port, https_port=winrms_port
            )
        for station in self._stations.values():
            await self._sync(station, strict=True)
        self._write_files()
        self.fleet.context.subscribe(self._host_changed)
        self._control = await ControlServer.start(self, self._env.control)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.fleet.context.scheduler.run()),
            loop.create_task(self._follow_hosts()),
            loop.create_task(self._sweep()),
        ]

    async def stop(self) -> None:
        """Close the control socket, every listener and connection, and stop lab time."""
        if self._control is not None:
            await self._control.close()
            self._control = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await asyncio.gather(*(self._close(station) for station in self._stations.values()))
        left = list(self._handlers)  # of listeners that closed while the host went down
        for handler in left:
            handler.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    # --- files ---------------------------------------------------------------------------

    def entries(self) -> list[files.HostEntry]:
        return [
            dataclasses.replace(station.entry(), tags=self._tags.get(station.host.name, ()))
            for station in self._stations.values()
        ]

    def _write_files(self) -> None:
        entries = self.entries()
        d = self.directory
        files.write_inventory_csv(d / files.INVENTORY_CSV, entries)
        files.write_inventory_ini(d / files.INVENTORY_INI, entries, ca_path=self._ca.ca_path)
        files.write_known_hosts(d / files.KNOWN_HOSTS, entries)
        files.write_lab_env(d / files.LAB_ENV, self._env)
        truth = json.dumps(self.fleet.truth(), indent=2)
        (d / files.TRUTH).write_text(truth + "\n", encoding="utf-8")
        keys = self.fleet.recovery_keys()
        files.write_escrow(d, ((k.host, k.key_id, k.recovery_password) for k in keys))

    def paths(self) -> dict[str, str]:
        """Where the lab's files are: the one JSON line `fleetfix lab up` prints."""
        d = self.directory
        return {
            "inventory_csv": str(d / files.INVENTORY_CSV),
            "inventory_ini": str(d / files.INVENTORY_INI),
            "lab_env": str(d / files.LAB_ENV),
            "ca": str(self._ca.ca_path),
            "known_hosts": str(d / files.KNOWN_HOSTS),
            "truth": str(d / files.TRUTH),
            "keys_config": str(d / files.KEYS_CONFIG),
            "control": str(self._env.control),
        }

    # --- listeners follow hosts ------------------------------------------------------------

    def _host_changed(self, host: LabHost) -> None:
        station = self._stations.get(host.name.lower())
        if station is None:
            return
        # Dropped at once, inside the state change: no command may finish on a dead host.
        station.ssh.went_down()
        self._dirty.add(host.name.lower())
        self._wake.set()

    async def _follow_hosts(self) -> None:
        while True:
            await self._wake.wait()
            await self.settle()

    async def settle(self) -> None:
        """Bring the listeners of every host that changed in line with it now."""
        self._wake.clear()
        while self._dirty:
            dirty, self._dirty = self._dirty, set()
            for name in dirty:
                await self._sync(self._stations[name])

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_SECONDS)
            for station in list(self._stations.values()):
                await self._sync(station)

    async def _sync(self, station: _Station, *, strict: bool = False) -> None:
        """Open or close the host's listeners to match what the host offers right now.
        `strict` (at start): a port that cannot be bound stops the lab with a clear error."""
        async with self._sync_lock:
            await self._sync_locked(station, strict=strict)

    async def _sync_locked(self, station: _Station, *, strict: bool) -> None:
        station.ssh.went_down()
        try:
            if station.wants(Service.SSH):
                station.ssh.open()
            else:
                station.ssh.close()
            if station.wants(Service.WINRM):
                await self._open_wsman(station)
            else:
                _close_server(station.http)
                _close_server(station.https)
                station.http = station.https = None
        except OSError as exc:
            address = station.host.address
            if strict:
                raise LabError(
                    f"cannot listen on {address} ({exc.strerror or exc}); is another lab "
                    "running? Stop it, or start with --ssh-port 0 --winrm-port 0 --winrms-port 0"
                ) from None
            # Later, one host's port taken must not take the lab down; it stays unreachable.
            logger.warning("%s (%s): cannot listen: %s", station.host.name, address, exc)

    async def _open_wsman(self, station: _Station) -> None:
        host = station.host
        if station.http is None:
            station.http = await start_wsman_server(
                host, address=host.address, port=station.http_port, ssl_context=None,
                clock=self.clock, handlers=self._handlers,
            )  # fmt: skip
        if station.https is None:
            context: ssl.SSLContext = self._ca.server_context(host.name, host.address)
            station.https = await start_wsman_server(
                host, address=host.address, port=station.https_port, ssl_context=context,
                clock=self.clock, handlers=self._handlers,
            )  # fmt: skip

    async def _close(self, station: _Station) -> None:
        await station.ssh.aclose()
        for server in (station.http, station.https):
            if server is not None:
                await stop_wsman_server(server)
        station.http = station.https = None

    def listening(self) -> bool:
        """True when every host that is up has its listeners open."""
        # Both WS-Man listeners count: HTTP opens first and HTTPS a moment later, and a test
        # that saw only the first would race the second.
        return all(
            station.ssh.is_open == station.wants(Service.SSH)
            and (station.http is not None) == station.wants(Service.WINRM)
            and (station.https is not None) == station.wants(Service.WINRM)
            for station in self._stations.values()
        )

    # --- control channel (ControlTarget) ---------------------------------------------------

    def station(self, name: str) -> _Station:
        station = self._stations.get(name.lower())
        if station is None:
            raise LabError(f"unknown host {name!r}; `fleetfix lab status` lists them")
        return station

    def host(self, name: str) -> LabHost:
        return self.station(name).host

    def status(self) -> dict[str, Any]:
        statuses = [station.host.status().as_dict() for station in self._stations.values()]
        states: dict[str, int] = {}
        for status in statuses:
            states[status["state"]] = states.get(status["state"], 0) + 1
        return {
            "scenario": self.fleet.scenario,
            "seed": self.fleet.seed,
            "lab_time": self.clock.now().isoformat(),
            "time_scale": self.clock.time_scale,
            "host_count": len(statuses),
            "states": states,
            "fleet_faults": [_fault_dict(f) for f in self.fleet.context.fleet_faults.snapshot()],
            "hosts": statuses,
        }

    def set_fault(self, target: str, fault: Fault) -> int:
        if target.lower() == "all":
            self.fleet.context.fleet_faults.add(fault)
            self._mark(self._stations.values())
            return len(self._stations)
        station = self.station(target)
        self._set_host_faults(station, [*self._host_faults.get(station.host.name, []), fault])
        return 1

    def clear_faults(self, target: str, kind: FaultKind | None) -> int:
        if target.lower() == "all":
            shared = self.fleet.context.fleet_faults
            shared.set(f for f in shared.snapshot() if _survives(f, kind))
            for station in self._stations.values():
                self._clear_host(station, kind)
            self._mark(self._stations.values())
            return len(self._stations)
        self._clear_host(self.station(target), kind)
        return 1

    def inspect(self, host: str) -> dict[str, Any]:
        return inspect_host(self.host(host))

    def console(self, host: str, action: str, argument: str | None) -> dict[str, Any]:
        return console_action(self.host(host), action, argument)

    def history(self, host: str) -> dict[str, Any]:
        return command_history(self.host(host))

    def _clear_host(self, station: _Station, kind: FaultKind | None) -> None:
        kept = [f for f in self._host_faults.get(station.host.name, []) if _survives(f, kind)]
        self._set_host_faults(station, kept)

    def _set_host_faults(self, station: _Station, faults: list[Fault]) -> None:
        self._host_faults[station.host.name] = faults
        station.host.set_faults(faults)
        self._mark([station])

    def _mark(self, stations: Iterable[_Station]) -> None:
        for station in stations:
            self._dirty.add(station.host.name.lower())
        self._wake.set()


def _survives(fault: Fault, cleared: FaultKind | None) -> bool:
    """Whether `fault` stays when faults of kind `cleared` (None: every kind) are cleared."""
    return cleared is not None and fault.kind is not cleared


def _fault_dict(fault: Fault) -> dict[str, Any]:
    return {"kind": str(fault.kind), "seconds": fault.seconds, "rate": fault.rate}


def _close_server(server: asyncio.Server | None) -> None:
    if server is not None:
        with contextlib.suppress(Exception):
            server.close()


def _inventory_names(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """Host names and tags from a real inventory, so a rehearsal uses the real names."""
    from fleetfix.inventory.loader import load_inventory

    inventory = load_inventory(path, skip_invalid=True)
    if not inventory.hosts:
        raise LabError(f"{path}: no usable host names to build a lab from")
    return [(host.name, tuple(host.tags)) for host in inventory.hosts]
