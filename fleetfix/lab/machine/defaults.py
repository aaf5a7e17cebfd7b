"""The contents of a freshly built Windows Server: files, services, registry, boot store."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fleetfix.lab.machine.bcd import BcdStore
from fleetfix.lab.machine.bitlocker import BitLockerVolume
from fleetfix.lab.machine.eventlog import EventLevel, EventLog
from fleetfix.lab.machine.files import FileSystem
from fleetfix.lab.machine.registry import Registry, RegistryValueKind
from fleetfix.lab.machine.services import (
    ServiceKind,
    ServiceStartMode,
    ServiceStatus,
    ServiceTable,
    WindowsService,
)

if TYPE_CHECKING:
    from fleetfix.lab.machine.core import LocalUser, Machine, OsInfo

from fleetfix.lab.machine.core import CROWDSTRIKE_DIR, SERVICES_KEY

# The first 8 bytes CrowdStrike's recovery script checks before it deletes a channel file.
BAD_CHANNEL_HEADER = bytes.fromhex("AAAAAAAA01002301")
GOOD_CHANNEL_HEADER = bytes.fromhex("AAAAAAAA01002401")
BAD_CONTENT_TIME = datetime(2024, 7, 19, 4, 9, tzinfo=UTC)
GOOD_CONTENT_TIME = datetime(2024, 7, 19, 5, 27, tzinfo=UTC)
_SAFEBOOT = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SafeBoot"


def add_channel_file(
    machine: Machine, *, bad: bool, name: str | None = None, at: datetime | None = None
) -> str:
    """Writes a channel 291 file (bad: 04:09 UTC with the bad header; good: 05:27 UTC or the
    given time) and returns its full path."""
    leaf = name or (
        "C-00000291-00000000-00000032.sys" if bad else "C-00000291-00000000-00000033.sys"
    )
    when = at or (BAD_CONTENT_TIME if bad else GOOD_CONTENT_TIME)
    header = BAD_CHANNEL_HEADER if bad else GOOD_CHANNEL_HEADER
    body = bytes(machine.rng.getrandbits(8) for _ in range(2040))
    path = f"{CROWDSTRIKE_DIR}\\{leaf}"
    machine.files.write_file(path, header + body, last_write_utc=when)
    return path


def _services(rng: random.Random) -> ServiceTable:
    auto, manual, system = (
        ServiceStartMode.AUTOMATIC,
        ServiceStartMode.MANUAL,
        ServiceStartMode.SYSTEM,
    )
    running = ServiceStatus.RUNNING
    share = ServiceKind.WIN32_SHARE_PROCESS
    services = [
        WindowsService(
            "CSFalconService",
            "CrowdStrike Falcon Sensor Service",
            running,
            auto,
            depends_on=["csagent"],
            stop_hang_chance=0.0,
            can_stop=False,
        ),
        WindowsService(
            "csagent",
            "CrowdStrike Falcon",
            running,
            system,
            kind=ServiceKind.KERNEL_DRIVER,
            can_stop=False,
        ),
        WindowsService(
            "RpcSs", "Remote Procedure Call (RPC)", running, auto, kind=share, can_stop=False
        ),
        WindowsService("HTTP", "HTTP Service", running, manual, kind=ServiceKind.KERNEL_DRIVER),
        WindowsService(
            "WinRM",
            "Windows Remote Management (WS-Management)",
            running,
            auto,
            kind=share,
            depends_on=["RpcSs", "HTTP"],
        ),
        WindowsService("sshd", "OpenSSH SSH Server", running, auto),
        WindowsService(
            "Spooler",
            "Print Spooler",
            running,
            auto,
            depends_on=["RpcSs", "HTTP"],
            stop_hang_chance=0.05,
        ),
        WindowsService("W32Time", "Windows Time", running, manual, kind=share),
        WindowsService("EventLog", "Windows Event Log", running, auto, kind=share, can_stop=False),
        WindowsService("LanmanServer", "Server", running, auto, kind=share),
        WindowsService(
            "Netlogon",
            "Netlogon",
            ServiceStatus.STOPPED,
            manual,
            kind=share,
            depends_on=["LanmanServer"],
        ),
        WindowsService("wuauserv", "Windows Update", ServiceStatus.STOPPED, manual, kind=share),
    ]
    return ServiceTable(services, rng=rng)


def _registry(machine_name: str) -> Registry:
    registry = Registry()
    for service in ("EventLog", "RpcSs", "HTTP"):
        registry.set_value(f"{_SAFEBOOT}\\Minimal\\{service}", "", "Service")
        registry.set_value(f"{_SAFEBOOT}\\Network\\{service}", "", "Service")
    registry.set_value(f"{_SAFEBOOT}\\Network\\LanmanServer", "", "Service")
    registry.set_value(
        "HKLM\\SYSTEM\\CurrentControlSet\\Control\\ComputerName\\ComputerName",
        "ComputerName",
        machine_name.upper(),
    )
    registry.set_value(
        "HKLM\\SYSTEM\\CurrentControlSet\\Services\\CSAgent\\Sim",
        "AG",
        b"\x00" * 16,
        kind=RegistryValueKind.BINARY,
    )
    return registry


def _service_keys(registry: Registry, services: ServiceTable) -> None:
    """Each service's Start value, as Windows keeps it (csagent: 1, system start, as on a
    host with the Falcon sensor). The registry, not the table, says how the next boot
    starts a service: Machine.boot_start_mode."""
    for service in services.all():
        path = f"{SERVICES_KEY}\\{service.name}"
        registry.set_value(path, "Start", int(service.start_type), kind=RegistryValueKind.DWORD)


def _files(at: datetime) -> FileSystem:
    files = FileSystem()
    install = at - timedelta(days=400)
    for directory in (
        "C:\\Windows\\System32\\drivers\\etc",
        CROWDSTRIKE_DIR,
        "C:\\Windows\\Minidump",
        "C:\\Windows\\Temp",
        "C:\\Users\\Administrator\\Desktop",
        "C:\\Program Files\\CrowdStrike",
        "C:\\ProgramData",
    ):
        files.add_directory(directory, last_write_utc=install)
    files.write_file(
        "C:\\Windows\\System32\\drivers\\etc\\hosts",
        b"# Copyright (c) 1993-2009 Microsoft Corp.\r\n127.0.0.1       localhost\r\n",
        last_write_utc=install,
    )
    files.write_file(
        f"{CROWDSTRIKE_DIR}\\csagent.sys",
        b"MZ" + b"\x00" * 4094,
        last_write_utc=datetime(2024, 6, 20, 11, 2, tzinfo=UTC),
    )
    for number, size in (("285", 1024), ("279", 512)):
        files.write_file(
            f"{CROWDSTRIKE_DIR}\\C-00000{number}-00000000-00000001.sys",
            bytes.fromhex("AAAAAAAA0100") + b"\x00" * (size - 6),
            last_write_utc=datetime(2024, 7, 17, 22, 15, tzinfo=UTC),
        )
    files.write_file(
        "C:\\Program Files\\CrowdStrike\\CSFalconService.exe",
        b"MZ" + b"\x00" * 1022,
        last_write_utc=datetime(2024, 6, 20, 11, 2, tzinfo=UTC),
    )
    return files


def build_default(
    machine_type: type[Machine],
    *,
    hostname: str,
    rng: random.Random,
    os: OsInfo,
    administrator_password: str,
    at: datetime,
) -> Machine:
    # Runtime import: core imports this module lazily, so the cycle closes only here.
    from fleetfix.lab.machine.core import BootMode, LocalUser

    users: list[LocalUser] = [LocalUser("Administrator", administrator_password)]
    services = _services(rng)
    registry = _registry(hostname)
    _service_keys(registry, services)
    machine = machine_type(
        hostname=hostname.upper(),
        os=os,
        files=_files(at),
        services=services,
        registry=registry,
        system_log=EventLog(),
        bitlocker=[BitLockerVolume.encrypted("C:", rng=rng)],
        bcd=BcdStore.default(),
        users=users,
        rng=rng,
        last_boot_time=at,
        clock=lambda: at,
    )
    add_channel_file(machine, bad=False)
    machine.apply_boot(BootMode.NORMAL, at=at)
    machine.system_log.write(
        event_id=6005,
        provider_name="EventLog",
        time_created=at,
        level=EventLevel.INFORMATION,
        message="The Event log service was started.",
    )
    machine.environment.update(
        {
            "COMPUTERNAME": hostname.upper(),
            "SystemRoot": "C:\\Windows",
            "windir": "C:\\Windows",
            "USERNAME": "Administrator",
            "USERPROFILE": "C:\\Users\\Administrator",
            "TEMP": "C:\\Windows\\Temp",
            "PROCESSOR_ARCHITECTURE": "AMD64",
            "OS": "Windows_NT",
            "PATH": "C:\\Windows\\system32;C:\\Windows;"
            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\",
        }
    )
    return machine
