"""Machine state as the objects cmdlets return: FileInfo, ServiceController, EventLogRecord,
BitLockerVolume, KeyProtector, with their .NET type names and property names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetfix.lab.machine.files import FileEntry, parent_of
from fleetfix.lab.shell.ps.values import LOCAL, PSEnum, PSObject

if TYPE_CHECKING:
    from fleetfix.lab.machine import (
        BitLockerVolume,
        EventRecord,
        KeyProtector,
        ServiceTable,
        WindowsService,
    )


def file_object(entry: FileEntry) -> PSObject:
    kind = "System.IO.DirectoryInfo" if entry.is_directory else "System.IO.FileInfo"
    properties: dict[str, object] = {
        "Name": entry.name,
        "FullName": entry.path,
        "Mode": "d-----" if entry.is_directory else "-a----",
        "LastWriteTime": entry.last_write_utc.astimezone(LOCAL),
        "LastWriteTimeUtc": entry.last_write_utc,
        "CreationTimeUtc": entry.last_write_utc,
        "Length": None if entry.is_directory else entry.length,
        "Extension": "." + entry.name.rpartition(".")[2] if "." in entry.name else "",
        "DirectoryName": parent_of(entry.path),
        "PSIsContainer": entry.is_directory,
        "Exists": True,
        "Attributes": PSEnum(
            "System.IO.FileAttributes",
            "Directory" if entry.is_directory else "Archive",
            16 if entry.is_directory else 32,
        ),
    }
    return PSObject(properties, type_name=kind, text=entry.path)


def _enum(type_name: str, member: object) -> PSEnum:
    display = getattr(member, "display", str(member))
    return PSEnum(type_name, str(display), int(getattr(member, "value", 0)))


def _service_stub(service: WindowsService) -> PSObject:
    # DependentServices holds ServiceControllers too; one level is enough for scripts.
    return PSObject(
        {
            "Name": service.name,
            "DisplayName": service.display_name,
            "Status": _enum("System.ServiceProcess.ServiceControllerStatus", service.status),
        },
        type_name="System.ServiceProcess.ServiceController",
        text="System.ServiceProcess.ServiceController",
    )


def service_object(service: WindowsService, table: ServiceTable) -> PSObject:
    dependents = [_service_stub(s) for s in table.dependents(service.name)]
    depended_on = [s for s in (table.get(n) for n in service.depends_on) if s is not None]
    return PSObject(
        {
            "Name": service.name,
            "DisplayName": service.display_name,
            "Status": _enum("System.ServiceProcess.ServiceControllerStatus", service.status),
            "StartType": _enum("System.ServiceProcess.ServiceStartMode", service.start_type),
            "ServiceName": service.name,
            "ServiceType": service.kind.value,
            "CanStop": service.can_stop,
            "DependentServices": dependents,
            "ServicesDependedOn": [_service_stub(s) for s in depended_on],
        },
        type_name="System.ServiceProcess.ServiceController",
        text="System.ServiceProcess.ServiceController",
    )


def event_object(record: EventRecord) -> PSObject:
    return PSObject(
        {
            "Id": record.id,
            "ProviderName": record.provider_name,
            "LogName": record.log_name,
            "TimeCreated": record.time_created.astimezone(LOCAL),
            "Level": int(record.level),
            "LevelDisplayName": record.level.display,
            "Message": record.message,
            "RecordId": record.record_id,
            "MachineName": "",
            "Properties": [PSObject({"Value": value}) for _, value in record.properties],
        },
        type_name="System.Diagnostics.Eventing.Reader.EventLogRecord",
        text="System.Diagnostics.Eventing.Reader.EventLogRecord",
    )


def key_protector_object(protector: KeyProtector) -> PSObject:
    return PSObject(
        {
            "KeyProtectorId": protector.key_protector_id,
            "AutoUnlockProtector": None,
            "KeyProtectorType": _enum(
                "Microsoft.BitLocker.Structures.BitLockerVolumeKeyProtectorType",
                protector.key_protector_type,
            ),
            "KeyFileName": "",
            "RecoveryPassword": protector.recovery_password,
            "KeyCertificateType": None,
            "Thumbprint": "",
        },
        type_name="Microsoft.BitLocker.Structures.BitLockerVolumeKeyProtector",
        text=protector.key_protector_type.display,
    )


def bitlocker_object(volume: BitLockerVolume, computer_name: str) -> PSObject:
    return PSObject(
        {
            "ComputerName": computer_name,
            "MountPoint": volume.mount_point,
            "EncryptionMethod": volume.encryption_method,
            "AutoUnlockEnabled": None,
            "AutoUnlockKeyStored": False,
            "MetadataVersion": 2,
            "VolumeStatus": _enum(
                "Microsoft.BitLocker.Structures.BitLockerVolumeStatus", volume.volume_status
            ),
            "ProtectionStatus": _enum(
                "Microsoft.BitLocker.Structures.BitLockerVolumeProtectionStatus",
                volume.protection_status,
            ),
            "LockStatus": PSEnum(
                "Microsoft.BitLocker.Structures.BitLockerVolumeLockStatus", "Unlocked", 0
            ),
            "EncryptionPercentage": 100 if volume.volume_status.value == 1 else 0,
            "WipePercentage": 0,
            "VolumeType": PSEnum(
                "Microsoft.BitLocker.Structures.BitLockerVolumeType", "OperatingSystem", 0
            ),
            "CapacityGB": volume.capacity_gb,
            "KeyProtector": [key_protector_object(k) for k in volume.key_protectors],
        },
        type_name="BitLockerVolume",
        text=volume.mount_point,
    )
