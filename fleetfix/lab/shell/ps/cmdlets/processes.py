"""Service processes: Win32_Service through Get-CimInstance / Get-WmiObject (with a WQL
-Filter), and Stop-Process, which ends a service's process the way a technician ends a
service stuck in StopPending."""

from __future__ import annotations

import re
from typing import Any

from fleetfix.lab.machine.files import wildcard_match
from fleetfix.lab.machine.services import (
    ServiceKind,
    ServiceStartMode,
    ServiceStatus,
    ServiceTable,
    WindowsService,
)
from fleetfix.lab.shell.ps.cmdlets.base import Call, cmdlet
from fleetfix.lab.shell.ps.values import ErrorRecord, PSObject, iterate, to_int, to_str

# Win32_Service words states and start modes differently from ServiceController.
_STATES = {
    ServiceStatus.STOPPED: "Stopped",
    ServiceStatus.START_PENDING: "Start Pending",
    ServiceStatus.STOP_PENDING: "Stop Pending",
    ServiceStatus.RUNNING: "Running",
    ServiceStatus.CONTINUE_PENDING: "Continue Pending",
    ServiceStatus.PAUSE_PENDING: "Pause Pending",
    ServiceStatus.PAUSED: "Paused",
}
_START_MODES = {
    ServiceStartMode.BOOT: "Boot",
    ServiceStartMode.SYSTEM: "System",
    ServiceStartMode.AUTOMATIC: "Auto",
    ServiceStartMode.MANUAL: "Manual",
    ServiceStartMode.DISABLED: "Disabled",
}
_CIM_TYPE = "Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_Service"
_WMI_TYPE = "System.Management.ManagementObject#root\\cimv2\\Win32_Service"


def process_name(service: WindowsService) -> str:
    return "svchost" if service.kind is ServiceKind.WIN32_SHARE_PROCESS else service.name


def win32_service(service: WindowsService, table: ServiceTable, *, wmi: bool) -> PSObject:
    return PSObject(
        {
            "Name": service.name,
            "DisplayName": service.display_name,
            "State": _STATES[service.status],
            "StartMode": _START_MODES[service.start_type],
            "ProcessId": table.process_id(service),
            "Started": service.status is not ServiceStatus.STOPPED,
            "AcceptStop": service.can_stop and service.status is ServiceStatus.RUNNING,
            "ExitCode": service.win32_exit_code,
            "ServiceType": "Share Process"
            if service.kind is ServiceKind.WIN32_SHARE_PROCESS
            else "Own Process",
            "Status": "OK",
        },
        type_name=_WMI_TYPE if wmi else _CIM_TYPE,
        text=f'Win32_Service (Name = "{service.name}")',
    )


# One WQL condition: Property = 'value', <>, !=, LIKE (with % and _ wildcards).
_CONDITION = re.compile(
    r"""\s*(\w+)\s*(=|<>|!=|\blike\b)\s*(?:'([^']*)'|"([^"]*)"|([^\s=<>!'"]+))\s*""", re.IGNORECASE
)


def wql_filter(text: str) -> list[list[tuple[str, str, str]]] | None:
    """`Name='X' OR State = "Running" AND StartMode='Auto'` as OR-groups of AND-ed
    conditions; None when the lab cannot read it (Windows says "Invalid query")."""
    groups: list[list[tuple[str, str, str]]] = []
    for part in re.split(r"\s+or\s+", text.strip(), flags=re.IGNORECASE):
        conditions: list[tuple[str, str, str]] = []
        for clause in re.split(r"\s+and\s+", part, flags=re.IGNORECASE):
            match = _CONDITION.fullmatch(clause)
            if match is None:
                return None
            name, operator = match.group(1), match.group(2).lower()
            value = next(g for g in match.groups()[2:] if g is not None)
            conditions.append((name, operator, value))
        groups.append(conditions)
    return groups


def _holds(instance: PSObject, condition: tuple[str, str, str]) -> bool:
    name, operator, wanted = condition
    actual = to_str(instance.get(name)[1])
    if operator == "like":
        pattern = wanted.replace("*", "[*]").replace("%", "*").replace("_", "?")
        return wildcard_match(actual, pattern)
    same = actual.lower() == wanted.lower()
    return same if operator == "=" else not same


def service_instances(call: Call, *, wmi: bool) -> list[PSObject] | None:
    """Win32_Service instances that pass -Filter; None after reporting a bad filter."""
    table = call.machine.services
    drivers = ServiceKind.KERNEL_DRIVER  # Win32_SystemDriver lists those, not Win32_Service
    instances = [win32_service(s, table, wmi=wmi) for s in table.all() if s.kind is not drivers]
    if not call.has("Filter"):
        return instances
    groups = wql_filter(to_str(call.get("Filter")))
    if groups is None:
        call.error(
            ErrorRecord(
                "Invalid query ",
                exception_type="Microsoft.Management.Infrastructure.CimException",
                category="InvalidArgument",
                error_id="HRESULT 0x80041017,"
                "Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand",
            )
        )
        return None
    return [i for i in instances if any(all(_holds(i, c) for c in g) for g in groups)]


@cmdlet(
    "Stop-Process",
    parameters=("Id", "Name", "InputObject"),
    positional=1,
    switches=("Force", "PassThru"),
    aliases=("kill", "spps"),
)
def stop_process(call: Call) -> None:
    table = call.machine.services
    for process_id in _process_ids(call):
        services = table.by_process_id(process_id)
        if not services:
            call.error(
                ErrorRecord(
                    f"Cannot find a process with the process identifier {process_id}.",
                    exception_type="Microsoft.PowerShell.Commands.ProcessCommandException",
                    category="ObjectNotFound",
                    error_id="NoProcessFoundForGivenId,"
                    "Microsoft.PowerShell.Commands.StopProcessCommand",
                    target=str(process_id),
                )
            )
            continue
        if not all(s.can_stop for s in services):
            name = process_name(services[0])
            call.error(
                ErrorRecord(
                    f'Cannot stop process "{name} ({process_id})" because of the following '
                    "error: Access is denied",
                    exception_type="Microsoft.PowerShell.Commands.ProcessCommandException",
                    category="CloseError",
                    error_id="CouldNotStopProcess,Microsoft.PowerShell.Commands.StopProcessCommand",
                    target=name,
                )
            )
            continue
        table.kill_process(process_id)


def _process_ids(call: Call) -> list[int]:
    if call.has("Name"):
        table = call.machine.services
        found: set[int] = set()
        for name in (to_str(n) for n in iterate(call.get("Name"))):
            matched = {
                table.process_id(s)
                for s in table.all()
                if wildcard_match(process_name(s), name) and table.process_id(s) != 0
            }
            if not matched and not any(c in name for c in "*?"):
                call.error(
                    ErrorRecord(
                        f'Cannot find a process with the name "{name}". Verify the process '
                        "name and call the cmdlet again.",
                        exception_type="Microsoft.PowerShell.Commands.ProcessCommandException",
                        category="ObjectNotFound",
                        error_id="NoProcessFoundForGivenName,"
                        "Microsoft.PowerShell.Commands.StopProcessCommand",
                        target=name,
                    )
                )
            found |= matched
        return sorted(found)
    ids: list[Any] = call.values("Id")
    return [to_int(_id_of(i)) for i in ids]


def _id_of(value: Any) -> Any:
    # A piped Win32_Service or process object carries its id as ProcessId or Id.
    if isinstance(value, PSObject):
        for name in ("Id", "ProcessId"):
            found, result = value.get(name)
            if found:
                return result
    return value
