"""System cmdlets: Get-WinEvent, BitLocker, CIM/WMI classes, Restart/Stop-Computer,
Get-Command."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fleetfix.lab.shell.ps.adapters import bitlocker_object, event_object
from fleetfix.lab.shell.ps.cmdlets.base import Call, cmdlet, find_cmdlet
from fleetfix.lab.shell.ps.cmdlets.processes import service_instances
from fleetfix.lab.shell.ps.values import (
    LOCAL,
    ErrorRecord,
    Hashtable,
    PSObject,
    iterate,
    to_datetime,
    to_int,
    to_str,
)


@cmdlet(
    "Get-WinEvent",
    parameters=("LogName", "FilterHashtable", "MaxEvents", "ProviderName"),
    positional=1,
)
def get_win_event(call: Call) -> None:
    query = call.get("FilterHashtable")
    table = query if isinstance(query, Hashtable) else Hashtable()
    log = to_str(table["LogName"] if "LogName" in table else call.get("LogName", "System"))
    if log.lower() != "system":
        call.fail(
            ErrorRecord(
                f'There is not an event log on the localhost computer that matches "{log}".',
                category="ObjectNotFound",
                error_id="NoMatchingLogsFound,Microsoft.PowerShell.Commands.GetWinEventCommand",
            )
        )
    ids = {to_int(i) for i in iterate(table["Id"])} if "Id" in table else set()
    start = to_datetime(table["StartTime"]) if "StartTime" in table else None
    end = to_datetime(table["EndTime"]) if "EndTime" in table else None
    maximum = to_int(call.get("MaxEvents")) if call.has("MaxEvents") else None
    records = call.machine.system_log.query(ids=ids, start_time=start, end_time=end)
    providers = [
        to_str(p).lower()
        for p in iterate(
            table["ProviderName"] if "ProviderName" in table else call.get("ProviderName")
        )
    ]
    if providers:
        records = [r for r in records if r.provider_name.lower() in providers]
    if maximum is not None:
        records = records[:maximum]
    if not records:
        call.error(
            ErrorRecord(
                "No events were found that match the specified selection criteria.",
                exception_type="System.Exception",
                category="ObjectNotFound",
                error_id="NoMatchingEventsFound,Microsoft.PowerShell.Commands.GetWinEventCommand",
            )
        )
    call.emit_all([event_object(r) for r in records])


def _volumes(call: Call) -> list[Any]:
    machine = call.machine
    if not call.has("MountPoint"):
        return list(machine.bitlocker)
    found = []
    for point in iterate(call.get("MountPoint")):
        volume = machine.volume(to_str(point))
        if volume is None:
            call.error(
                ErrorRecord(
                    "Cannot find drive. A drive with the name "
                    f"'{to_str(point).rstrip(':')}' does not exist.",
                    category="ObjectNotFound",
                    error_id="DriveNotFound",
                )
            )
        else:
            found.append(volume)
    return found


@cmdlet("Get-BitLockerVolume", parameters=("MountPoint",), positional=1)
def get_bitlocker_volume(call: Call) -> None:
    for volume in _volumes(call):
        call.emit(bitlocker_object(volume, call.machine.hostname))


@cmdlet("Suspend-BitLocker", parameters=("MountPoint", "RebootCount"), positional=1)
def suspend_bitlocker(call: Call) -> None:
    count = to_int(call.get("RebootCount", 1))
    if not 0 <= count <= 15:
        relation = (
            "greater than the maximum allowed range of 15. Supply an argument that is "
            "less than or equal to 15"
            if count > 15
            else "less than the minimum allowed range of 0. Supply an argument that is "
            "greater than or equal to 0"
        )
        call.fail(
            ErrorRecord(
                f"Cannot validate argument on parameter 'RebootCount'. The {count} argument is "
                f"{relation} and then try the command again.",
                category="InvalidData",
                error_id="ParameterArgumentValidationError,Suspend-BitLocker",
            )
        )
    for volume in _volumes(call):
        volume.suspend(reboot_count=count)
        call.emit(bitlocker_object(volume, call.machine.hostname))


@cmdlet("Resume-BitLocker", parameters=("MountPoint",), positional=1)
def resume_bitlocker(call: Call) -> None:
    for volume in _volumes(call):
        volume.resume()
        call.emit(bitlocker_object(volume, call.machine.hostname))


def _dmtf(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S.000000+000")


def _cim_class(call: Call, name: str, *, wmi: bool) -> PSObject | None:
    machine = call.machine
    if name.lower() == "win32_operatingsystem":
        boot = machine.last_boot_time.astimezone(LOCAL)
        return PSObject(
            {
                "Caption": machine.os.caption,
                "Version": machine.os.version,
                "BuildNumber": machine.os.build_number,
                "CSName": machine.hostname,
                "LastBootUpTime": _dmtf(boot) if wmi else boot,
                "LocalDateTime": _dmtf(machine.now()) if wmi else machine.now().astimezone(LOCAL),
                "InstallDate": _dmtf(machine.os.install_date)
                if wmi
                else machine.os.install_date.astimezone(LOCAL),
                "OSArchitecture": "64-bit",
                "SystemDrive": "C:",
                "WindowsDirectory": "C:\\Windows",
            },
            type_name="Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_OperatingSystem",
        )
    if name.lower() == "win32_computersystem":
        return PSObject(
            {
                "Name": machine.hostname,
                "DNSHostName": machine.hostname.lower(),
                "Domain": machine.domain,
                "PartOfDomain": machine.domain != "WORKGROUP",
                "Manufacturer": "Microsoft Corporation",
                "Model": "Virtual Machine",
                "UserName": None,
                "TotalPhysicalMemory": 8589397504,
            },
            type_name="Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_ComputerSystem",
        )
    return None


def _get_instance(call: Call, *, wmi: bool) -> None:
    name = to_str(call.get("ClassName", call.get("Class", "")))
    if name.lower() == "win32_service":
        call.emit_all(service_instances(call, wmi=wmi))
        return
    found = _cim_class(call, name, wmi=wmi)
    if found is None:
        call.error(
            ErrorRecord(
                "Invalid class ",
                category="MetadataError",
                error_id="HRESULT 0x80041010,"
                "Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand",
                target=name,
            )
        )
        return
    call.emit(found)


@cmdlet(
    "Get-CimInstance",
    parameters=("ClassName", "Namespace", "Filter"),
    positional=1,
    aliases=("gcim",),
)
def get_cim_instance(call: Call) -> None:
    _get_instance(call, wmi=False)


@cmdlet(
    "Get-WmiObject", parameters=("Class", "Namespace", "Filter"), positional=1, aliases=("gwmi",)
)
def get_wmi_object(call: Call) -> None:
    # WMI gives dates as DMTF strings (20240719041000.000000+000), CIM as DateTime objects.
    _get_instance(call, wmi=True)


@cmdlet(
    "Restart-Computer", parameters=("ComputerName", "Delay", "Timeout"), switches=("Force", "Wait")
)
def restart_computer(call: Call) -> None:
    call.machine.power.restart(reason="Restart-Computer", delay=0.0)


@cmdlet("Stop-Computer", parameters=("ComputerName",), switches=("Force",))
def stop_computer(call: Call) -> None:
    call.machine.power.shutdown(reason="Stop-Computer", delay=0.0)


@cmdlet("Get-Command", parameters=("Name",), positional=1)
def get_command(call: Call) -> None:
    for name in iterate(call.get("Name")):
        spec = find_cmdlet(to_str(name))
        if spec is None:
            call.error(
                ErrorRecord(
                    f"The term '{to_str(name)}' is not recognized as the name of a cmdlet, "
                    "function, script file, or operable program. Check the spelling of the "
                    "name, or if a path was included, verify that the path is correct and try "
                    "again.",
                    category="ObjectNotFound",
                    error_id="CommandNotFoundException,Microsoft.PowerShell.Commands.GetCommandCommand",
                    target=to_str(name),
                )
            )
            continue
        call.emit(
            PSObject(
                {"CommandType": "Cmdlet", "Name": spec.name, "Source": ""},
                type_name="System.Management.Automation.CmdletInfo",
                text=spec.name,
            )
        )
