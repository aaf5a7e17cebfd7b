"""manage-bde.exe: -status and -protectors -get C: [-type RecoveryPassword]."""

from __future__ import annotations

from fleetfix.lab.machine.bitlocker import BitLockerVolume, KeyProtectorType, ProtectionStatus
from fleetfix.lab.shell.programs import ProgramCall, ProgramResult, program


def _banner(call: ProgramCall) -> str:
    return (
        f"BitLocker Drive Encryption: Configuration Tool version {call.machine.os.version}\r\n"
        "Copyright (C) 2013 Microsoft Corporation. All rights reserved.\r\n\r\n"
    )


def _names(volume: BitLockerVolume) -> list[str]:
    return [
        "TPM" if k.key_protector_type is KeyProtectorType.TPM else "Numerical Password"
        for k in volume.key_protectors
    ]


def _status(call: ProgramCall) -> ProgramResult:
    text = (
        _banner(call) + "Disk volumes that can be protected with\r\nBitLocker Drive Encryption:\r\n"
    )
    for volume in call.machine.bitlocker:
        on = volume.protection_status is ProtectionStatus.ON
        lines = [
            f"Volume {volume.mount_point} []",
            "[OS Volume]",
            "",
            f"    Size:                 {volume.capacity_gb:.2f} GB",
            "    BitLocker Version:    2.0",
            "    Conversion Status:    Used Space Only Encrypted",
            "    Percentage Encrypted: 100.0%",
            "    Encryption Method:    XTS-AES 128",
            f"    Protection Status:    Protection {'On' if on else 'Off'}",
            "    Lock Status:          Unlocked",
            "    Identification Field: Unknown",
            "    Key Protectors:",
            *(f"        {name}" for name in _names(volume)),
            "",
        ]
        text += "".join(line + "\r\n" for line in lines)
    return ProgramResult(stdout=text)


def _protectors(call: ProgramCall, args: list[str]) -> ProgramResult:
    lowered = [a.lower() for a in args]
    if "-get" not in lowered or len(args) < 2:
        return ProgramResult(
            stderr="ERROR: An invalid command-line argument was specified.\r\n", exit_code=-1
        )
    mount = args[lowered.index("-get") + 1] if lowered.index("-get") + 1 < len(args) else ""
    volume = call.machine.volume(mount)
    if volume is None:
        return ProgramResult(
            stdout=_banner(call),
            stderr="ERROR: An attempt to access a required resource was denied.\r\n",
            exit_code=-1,
        )
    wanted: KeyProtectorType | None = None
    if "-type" in lowered and lowered.index("-type") + 1 < len(args):
        kind = lowered[lowered.index("-type") + 1]
        wanted = {
            "recoverypassword": KeyProtectorType.RECOVERY_PASSWORD,
            "tpm": KeyProtectorType.TPM,
        }.get(kind)
    protectors = [
        k for k in volume.key_protectors if wanted is None or k.key_protector_type is wanted
    ]
    heading = (
        "All Key Protectors"
        if wanted is None
        else (
            "Key Protectors of Type Numerical Password"
            if wanted is KeyProtectorType.RECOVERY_PASSWORD
            else "Key Protectors of Type TPM"
        )
    )
    lines = [f"Volume {volume.mount_point} []", heading, ""]
    for protector in protectors:
        if protector.key_protector_type is KeyProtectorType.TPM:
            lines += [
                "    TPM:",
                f"      ID: {protector.key_protector_id}",
                "      PCR Validation Profile:",
                "        7, 11",
                "        (Uses Secure Boot for integrity validation)",
                "",
            ]
        else:
            lines += [
                "    Numerical Password:",
                f"      ID: {protector.key_protector_id}",
                "      Password:",
                f"        {protector.recovery_password}",
                "",
            ]
    if not protectors:
        return ProgramResult(
            stdout=_banner(call) + "".join(line + "\r\n" for line in lines[:2]),
            stderr="ERROR: No key protectors found.\r\n",
            exit_code=-1,
        )
    return ProgramResult(stdout=_banner(call) + "".join(line + "\r\n" for line in lines))


@program("manage-bde")
def manage_bde(call: ProgramCall) -> ProgramResult:
    args = list(call.argv)
    verb = args[0].lower() if args else ""
    if verb in ("-status", "/status"):
        return _status(call)
    if verb in ("-protectors", "/protectors"):
        return _protectors(call, args[1:])
    return ProgramResult(
        stdout=_banner(call),
        stderr="ERROR: An invalid command-line argument was specified.\r\n",
        exit_code=-1,
    )
