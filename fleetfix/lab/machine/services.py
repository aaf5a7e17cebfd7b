"""Windows services with the numbers .NET gives them, dependencies, StopPending hangs, and the
moment the service control manager takes to notice that a service's process was ended."""

from __future__ import annotations

import enum
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# How long the service control manager takes to notice that a service's process ended
# (Stop-Process on a service hung in StopPending): until then the service still reads
# StopPending, and Start-Service on it fails. Lab seconds, so time-scaled tests stay fast.
SCM_NOTICE_SECONDS = 1.5


class ServiceStatus(enum.IntEnum):
    """System.ServiceProcess.ServiceControllerStatus; ConvertTo-Json prints these numbers."""

    STOPPED = 1
    START_PENDING = 2
    STOP_PENDING = 3
    RUNNING = 4
    CONTINUE_PENDING = 5
    PAUSE_PENDING = 6
    PAUSED = 7

    @property
    def display(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))


class ServiceStartMode(enum.IntEnum):
    """System.ServiceProcess.ServiceStartMode."""

    BOOT = 0
    SYSTEM = 1
    AUTOMATIC = 2
    MANUAL = 3
    DISABLED = 4

    @property
    def display(self) -> str:
        return self.name.capitalize()


class ServiceKind(enum.StrEnum):
    KERNEL_DRIVER = "KERNEL_DRIVER"
    WIN32_OWN_PROCESS = "WIN32_OWN_PROCESS"
    WIN32_SHARE_PROCESS = "WIN32_SHARE_PROCESS"


@dataclass(slots=True)
class WindowsService:
    name: str
    display_name: str
    status: ServiceStatus
    start_type: ServiceStartMode
    kind: ServiceKind = ServiceKind.WIN32_OWN_PROCESS
    depends_on: list[str] = field(default_factory=list)
    # Chance that a stop request leaves the service in StopPending for good (until reboot):
    # a real, common failure of services such as CSFalconService or Spooler under load.
    stop_hang_chance: float = 0.0
    # Drivers and protected services cannot be stopped by an administrator at all.
    can_stop: bool = True
    win32_exit_code: int = 0
    # The service's process while it runs (Win32_Service.ProcessId); 0 when stopped and for
    # drivers, which run in the kernel. Assigned when first asked for (see ServiceTable).
    process_id: int = 0
    # Lab seconds from its process being ended to the SCM marking the service Stopped. A
    # process stuck in a kernel call (a hung driver I/O) ends only once the call returns.
    exit_noticed_after: float = SCM_NOTICE_SECONDS


class ServiceError(Exception):
    """A service operation failed; the message is the one Windows gives."""


def _cannot_start(service: WindowsService) -> ServiceError:
    return ServiceError(
        f"Service '{service.display_name} ({service.name})' cannot be started due to the "
        f"following error: Cannot start service {service.name} on computer '.'."
    )


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class ServiceTable:
    """Services by name, case-insensitively. `clock` is the machine's (Machine wires it):
    the SCM notices ended processes in lab time, and every lookup sees what it noticed."""

    def __init__(
        self,
        services: list[WindowsService],
        *,
        rng: random.Random,
        clock: Callable[[], datetime] = _wall_clock,
    ) -> None:
        self._services = {s.name.lower(): s for s in services}
        self._rng = rng
        self.clock = clock
        # Ids of processes that ended: a restarted service gets a new one, as on Windows.
        self._ended_process_ids: set[int] = set()
        # Services whose process was ended, by name: when the SCM notices and says Stopped.
        self._exits: dict[str, datetime] = {}

    def get(self, name: str) -> WindowsService | None:
        self._notice_exits()
        found = self._services.get(name.lower())
        if found is not None:
            return found
        for service in self._services.values():
            if service.display_name.lower() == name.lower():
                return service
        return None

    def all(self) -> list[WindowsService]:
        self._notice_exits()
        return sorted(self._services.values(), key=lambda s: s.name.lower())

    def add(self, service: WindowsService) -> None:
        self._services[service.name.lower()] = service

    def dependents(self, name: str) -> list[WindowsService]:
        key = name.lower()
        return [s for s in self.all() if key in (d.lower() for d in s.depends_on)]

    def start(self, name: str) -> WindowsService:
        """Starts a service and what it depends on. The SCM refuses a disabled service, one
        still stopping (StopPending, its process not yet seen to end) and one whose
        dependency cannot start."""
        service = self._require(name)
        if (
            service.start_type is ServiceStartMode.DISABLED
            or service.status is ServiceStatus.STOP_PENDING
        ):
            raise _cannot_start(service)
        for dependency in service.depends_on:
            try:
                self.start(dependency)
            except ServiceError:
                raise _cannot_start(service) from None
        if service.status is ServiceStatus.STOPPED:
            service.status = ServiceStatus.RUNNING
        return service

    def boot(self, *, starts: Callable[[WindowsService], bool]) -> None:
        """The machine booted: every process is new (no ended one is left to notice), the
        services `starts` picks run, with what they depend on, and the others are stopped.
        One whose dependency cannot start stays stopped, as after a real boot."""
        self._exits.clear()
        for service in self._services.values():
            service.status = ServiceStatus.RUNNING if starts(service) else ServiceStatus.STOPPED
        for service in self.all():
            if service.status is ServiceStatus.RUNNING:
                try:
                    self.start(service.name)
                except ServiceError:
                    service.status = ServiceStatus.STOPPED

    def stop(self, name: str, *, force: bool) -> WindowsService:
        """Stops a service (and with `force` its running dependents). A hang leaves the
        service in StopPending and raises, as Stop-Service does after its wait gives up."""
        service = self._require(name)
        running_dependents = [
            d for d in self.dependents(service.name) if d.status is not ServiceStatus.STOPPED
        ]
        if running_dependents and not force:
            raise ServiceError(
                f"Cannot stop service '{service.display_name} ({service.name})' because it "
                "has dependent services. It can only be stopped if the Force flag is set."
            )
        for dependent in running_dependents:
            self.stop(dependent.name, force=True)
        self._stop_one(service)
        return service

    def _stop_one(self, service: WindowsService) -> None:
        if service.status is ServiceStatus.STOPPED:
            return
        if not service.can_stop:
            raise ServiceError(
                f"Service '{service.display_name} ({service.name})' cannot be stopped due to "
                f"the following error: Cannot stop {service.name} service on computer '.'."
            )
        if service.status is ServiceStatus.STOP_PENDING or (
            self._rng.random() < service.stop_hang_chance
        ):
            service.status = ServiceStatus.STOP_PENDING
            raise ServiceError(
                f"Service '{service.display_name} ({service.name})' cannot be stopped due to "
                f"the following error: Cannot stop {service.name} service on computer '.'."
            )
        service.status = ServiceStatus.STOPPED

    def process_id(self, service: WindowsService) -> int:
        """The running service's process id: stable while it runs, a new one after a stop.
        Derived from the name, not the machine's random stream, so asking does not change
        what later random draws give."""
        if service.status is ServiceStatus.STOPPED or service.kind is ServiceKind.KERNEL_DRIVER:
            self._end_process(service)
            return 0
        if service.name.lower() in self._exits:
            return 0  # its process is gone; the SCM has not noticed yet
        if service.process_id == 0:
            taken = {s.process_id for s in self._services.values()} | self._ended_process_ids
            candidate = 1000 + (zlib.crc32(service.name.lower().encode()) % 15000) * 4
            while candidate in taken:
                candidate += 4  # Windows process ids are multiples of 4
            service.process_id = candidate
        return service.process_id

    def by_process_id(self, process_id: int) -> list[WindowsService]:
        return [s for s in self.all() if process_id != 0 and self.process_id(s) == process_id]

    def kill_process(self, process_id: int) -> list[WindowsService]:
        """Stop-Process on a service's process: it ends at once, even from StopPending, but
        the SCM marks the service Stopped only once it notices, `exit_noticed_after` lab
        seconds later; until then the service reads StopPending (a running one too: the lab
        shows it stopping rather than a Running that is no longer true). Protected services
        (can_stop False) refuse: access denied."""
        services = self.by_process_id(process_id)
        if not services:
            raise ServiceError(f"Cannot find a process with the process identifier {process_id}.")
        if not all(s.can_stop for s in services):
            raise ServiceError("Access is denied")
        now = self.clock()
        for service in services:
            service.status = ServiceStatus.STOP_PENDING
            self._end_process(service)
            noticed = now + timedelta(seconds=service.exit_noticed_after)
            self._exits[service.name.lower()] = noticed
        return services

    def exit_noticed_in(self, service: WindowsService) -> float | None:
        """Lab seconds until the SCM notices that the service's ended process is gone; None
        unless one is waiting to be noticed."""
        noticed = self._exits.get(service.name.lower())
        if noticed is None:
            return None
        return max(0.0, (noticed - self.clock()).total_seconds())

    def _notice_exits(self) -> None:
        if not self._exits:
            return
        now = self.clock()
        for key, noticed in list(self._exits.items()):
            if noticed <= now:
                del self._exits[key]
                self._services[key].status = ServiceStatus.STOPPED

    def _end_process(self, service: WindowsService) -> None:
        if service.process_id != 0:
            self._ended_process_ids.add(service.process_id)
        service.process_id = 0

    def _require(self, name: str) -> WindowsService:
        service = self.get(name)
        if service is None:
            raise ServiceError(f"Cannot find any service with service name '{name}'.")
        return service
