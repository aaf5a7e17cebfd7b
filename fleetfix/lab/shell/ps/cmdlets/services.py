"""Get-Service, Start-Service, Stop-Service, Restart-Service, with StopPending hangs."""

from __future__ import annotations

from fleetfix.lab.machine.files import wildcard_match
from fleetfix.lab.machine.services import ServiceError, ServiceStatus, WindowsService
from fleetfix.lab.shell.ps.adapters import service_object
from fleetfix.lab.shell.ps.cmdlets.base import Call, cmdlet
from fleetfix.lab.shell.ps.values import ErrorRecord, PSObject, iterate, to_str

# Stop-Service waits for a service in StopPending, writing a warning every 2 seconds, and a
# hung service never stops: the lab charges this much lab time, then gives up with an error,
# so a client's deadline (not the command) decides what happens.
STOP_HANG_LAB_SECONDS = 3600.0


def _not_found(name: str, command: str) -> ErrorRecord:
    return ErrorRecord(
        f"Cannot find any service with service name '{name}'.",
        exception_type="Microsoft.PowerShell.Commands.ServiceCommandException",
        category="ObjectNotFound",
        error_id=f"NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.{command}",
        target=name,
    )


def _targets(call: Call, command: str) -> list[WindowsService]:
    table = call.machine.services
    names: list[str] = []
    if call.has("Name"):
        names = [to_str(n) for n in iterate(call.get("Name"))]
    elif call.has("InputObject") or call.input:
        for item in call.values("InputObject"):
            names.append(
                to_str(item.get("Name")[1]) if isinstance(item, PSObject) else to_str(item)
            )
    found: list[WindowsService] = []
    for name in names:
        if "*" in name or "?" in name:
            found.extend(s for s in table.all() if wildcard_match(s.name, name))
            continue
        service = table.get(name)
        if service is None:
            call.error(_not_found(name, command))
        else:
            found.append(service)
    return found


@cmdlet(
    "Get-Service", parameters=("Name", "DisplayName", "InputObject"), positional=1, aliases=("gsv",)
)
def get_service(call: Call) -> None:
    table = call.machine.services
    if call.has("DisplayName"):
        patterns = [to_str(p) for p in iterate(call.get("DisplayName"))]
        services = [
            s for s in table.all() if any(wildcard_match(s.display_name, p) for p in patterns)
        ]
    elif call.has("Name"):
        services = _targets(call, "GetServiceCommand")
    else:
        services = table.all()
    call.emit_all([service_object(s, table) for s in services])


def _service_error(call: Call, service: WindowsService, error: ServiceError, verb: str) -> None:
    call.error(
        ErrorRecord(
            str(error),
            exception_type="Microsoft.PowerShell.Commands.ServiceCommandException",
            category="OpenError",
            error_id=f"Could{verb}Service,Microsoft.PowerShell.Commands.{verb}ServiceCommand",
            target=service.name,
        )
    )


def _stop(call: Call, service: WindowsService) -> bool:
    table = call.machine.services
    noticed_in = table.exit_noticed_in(service)
    if noticed_in is not None:
        # Its process was ended: Stop-Service waits the moment until the SCM says Stopped.
        call.session.lab_seconds += noticed_in
    try:
        table.stop(service.name, force=call.switch("Force"))
    except ServiceError as error:
        if service.status is ServiceStatus.STOP_PENDING:
            call.warn(f"Waiting for service '{service.display_name} ({service.name})' to stop...")
            call.session.lab_seconds += STOP_HANG_LAB_SECONDS
        _service_error(call, service, error, "Stop")
        return False
    return True


def _start(call: Call, service: WindowsService) -> bool:
    try:
        call.machine.services.start(service.name)
    except ServiceError as error:
        _service_error(call, service, error, "Start")
        return False
    return True


@cmdlet(
    "Stop-Service",
    parameters=("Name", "InputObject"),
    positional=1,
    switches=("Force", "PassThru", "NoWait"),
    aliases=("spsv",),
)
def stop_service(call: Call) -> None:
    for service in _targets(call, "StopServiceCommand"):
        if _stop(call, service) and call.switch("PassThru"):
            call.emit(service_object(service, call.machine.services))


@cmdlet(
    "Start-Service",
    parameters=("Name", "InputObject"),
    positional=1,
    switches=("PassThru",),
    aliases=("sasv",),
)
def start_service(call: Call) -> None:
    for service in _targets(call, "StartServiceCommand"):
        if _start(call, service) and call.switch("PassThru"):
            call.emit(service_object(service, call.machine.services))


@cmdlet(
    "Restart-Service",
    parameters=("Name", "InputObject"),
    positional=1,
    switches=("Force", "PassThru"),
)
def restart_service(call: Call) -> None:
    for service in _targets(call, "RestartServiceCommand"):
        if _stop(call, service) and _start(call, service) and call.switch("PassThru"):
            call.emit(service_object(service, call.machine.services))
