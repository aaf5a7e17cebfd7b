"""One simulated Windows machine: everything a command can read or change.

The machine is plain mutable state. It does not boot or crash by itself: the host
(`fleetfix.lab.host`) drives that and calls `apply_boot`; commands that ask for a restart
go through `power`, which the host implements.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from fleetfix.lab.machine.bcd import BcdStore
from fleetfix.lab.machine.bitlocker import BitLockerVolume
from fleetfix.lab.machine.eventlog import EventLog
from fleetfix.lab.machine.files import FileSystem, fold
from fleetfix.lab.machine.registry import Registry, RegistryValueKind
from fleetfix.lab.machine.services import (
    ServiceStartMode,
    ServiceStatus,
    ServiceTable,
    WindowsService,
)

CROWDSTRIKE_DIR = "C:\\Windows\\System32\\drivers\\CrowdStrike"
SAFEBOOT_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SafeBoot"
SERVICES_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services"
SENSOR_DRIVER = "csagent"


class BootMode(enum.StrEnum):
    NORMAL = "normal"
    SAFE_MINIMAL = "safe_minimal"
    SAFE_NETWORK = "safe_network"

    @property
    def is_safe(self) -> bool:
        return self is not BootMode.NORMAL


class PowerControl(Protocol):
    """How a command asks the host to restart or shut down. `delay` is in lab seconds."""

    def restart(self, *, reason: str, delay: float) -> None: ...

    def shutdown(self, *, reason: str, delay: float) -> None: ...


@dataclass(frozen=True, slots=True)
class PowerRequest:
    action: str  # "restart" or "shutdown"
    reason: str
    delay: float


@dataclass(slots=True)
class RecordingPowerControl:
    """A PowerControl that only remembers what was asked: for a machine with no host yet."""

    requests: list[PowerRequest] = field(default_factory=list)

    def restart(self, *, reason: str, delay: float) -> None:
        self.requests.append(PowerRequest("restart", reason, delay))

    def shutdown(self, *, reason: str, delay: float) -> None:
        self.requests.append(PowerRequest("shutdown", reason, delay))


@dataclass(frozen=True, slots=True)
class OsInfo:
    caption: str
    version: str
    build_number: str
    install_date: datetime

    @classmethod
    def server_2022(cls) -> OsInfo:
        return cls(
            "Microsoft Windows Server 2022 Datacenter",
            "10.0.20348",
            "20348",
            datetime(2023, 3, 14, 9, 12, tzinfo=UTC),
        )

    @classmethod
    def server_2019(cls) -> OsInfo:
        return cls(
            "Microsoft Windows Server 2019 Standard",
            "10.0.17763",
            "17763",
            datetime(2021, 6, 2, 14, 40, tzinfo=UTC),
        )


@dataclass(slots=True)
class LocalUser:
    name: str
    password: str = field(repr=False)  # a secret: never printed, never in a repr
    enabled: bool = True
    sid_suffix: int = 500


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Machine:
    hostname: str
    os: OsInfo
    files: FileSystem
    services: ServiceTable
    registry: Registry
    system_log: EventLog
    bitlocker: list[BitLockerVolume]
    bcd: BcdStore
    users: list[LocalUser]
    rng: random.Random
    ip_address: str = "127.0.0.1"
    domain: str = "WORKGROUP"
    boot_mode: BootMode = BootMode.NORMAL
    last_boot_time: datetime = field(default_factory=_utc_now)
    # Whether the sensor blocks deleting its own files in normal mode: undocumented, so a
    # per-host setting (FACTS.md); safe mode never loads the driver, so it never blocks there.
    tamper_protection: bool = True
    power: PowerControl = field(default_factory=RecordingPowerControl)
    # Lab time. The host replaces this with its LabClock so scripts see lab "now".
    clock: Callable[[], datetime] = _utc_now
    environment: dict[str, str] = field(default_factory=dict)
    # Lab seconds the running command has used so far (Start-Sleep, a slow program): a
    # command runs at once and its reply is held back that long, so while it runs the
    # machine is that far ahead of the lab clock. The shells move it (ps/session.py, cmd.py).
    command_seconds: float = 0.0

    def __post_init__(self) -> None:
        # The SCM notices ended service processes in the machine's time, a command's included.
        self.services.clock = self.now

    def now(self) -> datetime:
        return self.clock() + timedelta(seconds=self.command_seconds)

    def user(self, name: str) -> LocalUser | None:
        short = name.rpartition("\\")[2].lower()
        return next((u for u in self.users if u.name.lower() == short), None)

    def volume(self, mount_point: str) -> BitLockerVolume | None:
        key = mount_point.rstrip("\\").upper()
        return next((v for v in self.bitlocker if v.mount_point.upper() == key), None)

    def is_tamper_protected(self, path: str) -> bool:
        """True when deleting or overwriting `path` must fail with access denied. The driver
        protects its files: not in safe mode, nor when a boot did not load it (Start 4)."""
        inside = fold(path) == fold(CROWDSTRIKE_DIR) or fold(path).startswith(
            fold(CROWDSTRIKE_DIR) + "\\"
        )
        driver = self.services.get(SENSOR_DRIVER)
        loaded = driver is not None and driver.status is ServiceStatus.RUNNING
        return inside and self.tamper_protection and self.boot_mode is BootMode.NORMAL and loaded

    def boot_start_mode(self, service: WindowsService) -> ServiceStartMode:
        """How the next boot starts `service`: its Start value under
        HKLM\\SYSTEM\\CurrentControlSet\\Services, which the kernel (for boot- and
        system-start drivers) and the SCM read at boot, whatever the running system believes
        now. A service with no usable value keeps the start type it has."""
        key = self.registry.key(f"{SERVICES_KEY}\\{service.name}")
        value = None if key is None else key.value("Start")
        if value is None or value.kind is not RegistryValueKind.DWORD:
            return service.start_type
        if not isinstance(value.data, int) or value.data not in set(ServiceStartMode):
            return service.start_type
        return ServiceStartMode(value.data)

    def safe_mode_services(self, mode: BootMode) -> set[str]:
        """Services listed under SafeBoot\\Minimal or \\Network: the only ones safe mode starts."""
        group = "Network" if mode is BootMode.SAFE_NETWORK else "Minimal"
        return {
            k.path.rpartition("\\")[2].lower()
            for k in self.registry.subkeys(f"{SAFEBOOT_KEY}\\{group}")
        }

    def apply_boot(self, mode: BootMode, *, at: datetime) -> None:
        """The OS came up in `mode` at `at`: start types are read from the registry, boot,
        system and automatic services run (in safe mode only the listed ones), stop hangs
        clear, BitLocker reboot counts run down."""
        self.boot_mode = mode
        self.last_boot_time = at
        # Windows writes SafeBoot\Option only while it runs in safe mode (1 minimal, 2 network).
        option = f"{SAFEBOOT_KEY}\\Option"
        self.registry.delete_key(option)
        if mode.is_safe:
            value = 2 if mode is BootMode.SAFE_NETWORK else 1
            self.registry.set_value(option, "OptionValue", value, kind=RegistryValueKind.DWORD)
        allowed = self.safe_mode_services(mode) if mode.is_safe else None
        for service in self.services.all():
            service.start_type = self.boot_start_mode(service)

        def starts(service: WindowsService) -> bool:
            at_boot = service.start_type in (
                ServiceStartMode.BOOT,
                ServiceStartMode.SYSTEM,
                ServiceStartMode.AUTOMATIC,
            )
            return at_boot and (allowed is None or service.name.lower() in allowed)

        # Starting a service starts what it depends on (WinRM pulls in HTTP).
        self.services.boot(starts=starts)
        for volume in self.bitlocker:
            volume.count_reboot()

    @property
    def uptime(self) -> timedelta:
        return self.now() - self.last_boot_time

    @classmethod
    def default(
        cls,
        *,
        hostname: str,
        rng: random.Random,
        server_2019: bool = False,
        administrator_password: str,
        at: datetime | None = None,
    ) -> Machine:
        """A healthy Windows Server 2022 (or 2019) box with the Falcon sensor and good
        channel 291 content, BitLocker on C:, booted normally at `at`."""
        # Imported here because defaults.py builds Machine objects and so imports this module.
        from fleetfix.lab.machine.defaults import build_default

        return build_default(
            cls,
            hostname=hostname,
            rng=rng,
            os=OsInfo.server_2019() if server_2019 else OsInfo.server_2022(),
            administrator_password=administrator_password,
            at=at or datetime.now(UTC),
        )
