"""Windows services with the numbers .NET gives them, dependencies, and StopPending hangs."""

from __future__ import annotations

import enum
import random
import zlib
from dataclasses import dataclass, field


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


class ServiceError(Exception):
    """A service operation failed; the message is the one Windows gives."""


class ServiceTable:
    """Services by name, case-insensitively."""

    def __init__(self, services: list[WindowsService], *, rng: random.Random) -> None:
        self._services = {s.name.lower(): s for s in services}
        self._rng = rng
        # Ids of processes that ended: a restarted service gets a new one, as on Windows.
        self._ended_process_ids: set[int] = set()

    def get(self, name: str) -> WindowsService | None:
        found = self._services.get(name.lower())
        if found is not None:
            return found
        for service in self._services.values():
            if service.display_name.lower() == name.lower():
                return service
        return None

    def all(self) -> list[WindowsService]:
        return sorted(self._services.values(), key=lambda s: s.name.lower())

    def add(self, service: WindowsService) -> None:
        self._services[service.name.lower()] = service

    def dependents(self, name: str) -> list[WindowsService]:
        key = name.lower()
        return [s for s in self.all() if key in (d.lower() for d in s.depends_on)]

    def start(self, name: str) -> WindowsService:
        service = self._require(name)
        if service.start_type is ServiceStartMode.DISABLED:
            raise ServiceError(
                f"Service '{service.display_name} ({service.name})' cannot be started due to "
                "the following error: Cannot start service "
                f"{service.name} on computer '.'."
            )
        for dependency in service.depends_on:
            self.start(dependency)
        if service.status is ServiceStatus.STOPPED:
            service.status = ServiceStatus.RUNNING
        return service

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
        """Stop-Process on a service's process: it ends at once, even from StopPending, and
        the service is Stopped. Protected services (can_stop False) refuse: access denied."""
        services = self.by_process_id(process_id)
        if not services:
            raise ServiceError(f"Cannot find a process with the process identifier {process_id}.")
        if not all(s.can_stop for s in services):
            raise ServiceError("Access is denied")
        for service in services:
            service.status = ServiceStatus.STOPPED
            self._end_process(service)
        return services

    def _end_process(self, service: WindowsService) -> None:
        if service.process_id != 0:
            self._ended_process_ids.add(service.process_id)
        service.process_id = 0

    def _require(self, name: str) -> WindowsService:
        service = self.get(name)
        if service is None:
            raise ServiceError(f"Cannot find any service with service name '{name}'.")
        return service
