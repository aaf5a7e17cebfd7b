"""Backup-BitLockerKeyProtector (to Active Directory) and BackupToAAD-BitLockerKeyProtector
(to Entra ID): each records the escrow on the volume and writes the volume object, as the
BitLocker module does.

Windows backs up only recovery password protectors. An AD backup needs a domain-joined
host; the lab words that failure itself (the HRESULT Windows gives was not checked). The lab
does not model Entra join, so an Entra backup of a recovery password always succeeds.
"""

from __future__ import annotations

from fleetfix.lab.machine.bitlocker import BitLockerVolume, EscrowTarget, KeyProtectorType
from fleetfix.lab.shell.ps.adapters import bitlocker_object
from fleetfix.lab.shell.ps.cmdlets.base import Call, cmdlet
from fleetfix.lab.shell.ps.values import ErrorRecord, iterate, to_str

_PARAMETERS = ("MountPoint", "KeyProtectorId")


def _volume(call: Call, mount_point: str) -> BitLockerVolume | None:
    volume = call.machine.volume(mount_point)
    if volume is None:
        call.error(
            ErrorRecord(
                f"Cannot find drive. A drive with the name '{mount_point.rstrip(':')}' does "
                "not exist.",
                category="ObjectNotFound",
                error_id="DriveNotFound",
                target=mount_point,
            )
        )
    return volume


def _backup(call: Call, target: EscrowTarget) -> None:
    for name in _PARAMETERS:
        if not call.has(name):
            # Non-interactive powershell.exe cannot prompt for a mandatory parameter.
            call.fail(
                ErrorRecord(
                    "Cannot process command because of one or more missing mandatory "
                    f"parameters: {name}.",
                    exception_type="System.Management.Automation.ParameterBindingException",
                    category="InvalidArgument",
                    error_id=f"MissingMandatoryParameter,{call.cmdlet.name}",
                )
            )
    if target is EscrowTarget.ACTIVE_DIRECTORY and call.machine.domain.upper() == "WORKGROUP":
        call.fail(
            ErrorRecord(
                "This computer is not joined to an Active Directory domain: BitLocker "
                "recovery information cannot be backed up to Active Directory.",
                exception_type="System.Runtime.InteropServices.COMException",
                category="NotSpecified",
                error_id=f"LabNotDomainJoined,{call.cmdlet.name}",
            )
        )
    key_protector_id = to_str(call.get("KeyProtectorId"))
    for mount_point in iterate(call.get("MountPoint")):
        volume = _volume(call, to_str(mount_point))
        if volume is None:
            continue
        protector = volume.protector(key_protector_id)
        if protector is None or protector.key_protector_type is not (
            KeyProtectorType.RECOVERY_PASSWORD
        ):
            call.error(
                ErrorRecord(
                    f"The key protector {key_protector_id} is not a recovery password "
                    f"protector of volume {volume.mount_point}: only recovery passwords can "
                    "be backed up.",
                    exception_type="System.ArgumentException",
                    category="InvalidArgument",
                    error_id=f"LabKeyProtectorNotBackedUp,{call.cmdlet.name}",
                    target=key_protector_id,
                )
            )
            continue
        volume.record_escrow(protector.key_protector_id, target=target, at=call.machine.now())
        call.emit(bitlocker_object(volume, call.machine.hostname))


@cmdlet("Backup-BitLockerKeyProtector", parameters=_PARAMETERS, positional=2)
def backup_bitlocker_key_protector(call: Call) -> None:
    _backup(call, EscrowTarget.ACTIVE_DIRECTORY)


@cmdlet("BackupToAAD-BitLockerKeyProtector", parameters=_PARAMETERS, positional=2)
def backup_to_aad_bitlocker_key_protector(call: Call) -> None:
    _backup(call, EscrowTarget.ENTRA_ID)
