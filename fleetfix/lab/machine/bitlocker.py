"""BitLocker volumes, key protectors and recovery passwords."""

from __future__ import annotations

import enum
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime


class KeyProtectorType(enum.IntEnum):
    """Microsoft.BitLocker.Structures.BitLockerVolumeKeyProtectorType (enum numbers)."""

    TPM = 1
    RECOVERY_PASSWORD = 3

    @property
    def display(self) -> str:
        return {
            KeyProtectorType.TPM: "Tpm",
            KeyProtectorType.RECOVERY_PASSWORD: "RecoveryPassword",
        }[self]


class ProtectionStatus(enum.IntEnum):
    OFF = 0
    ON = 1

    @property
    def display(self) -> str:
        return self.name.capitalize()


class VolumeStatus(enum.IntEnum):
    FULLY_DECRYPTED = 0
    FULLY_ENCRYPTED = 1

    @property
    def display(self) -> str:
        return "".join(p.capitalize() for p in self.name.split("_"))


def new_recovery_password(rng: random.Random) -> str:
    """8 groups of 6 digits, each 11 x a 16-bit number: the checksum technicians rely on."""
    return "-".join(f"{11 * rng.randrange(65536):06d}" for _ in range(8))


def is_valid_recovery_password(text: str) -> bool:
    groups = text.split("-")
    if len(groups) != 8 or not all(len(g) == 6 and g.isdigit() for g in groups):
        return False
    return all(int(g) % 11 == 0 and int(g) // 11 < 65536 for g in groups)


def new_protector_id(rng: random.Random) -> str:
    return "{" + str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper() + "}"


@dataclass(slots=True)
class KeyProtector:
    key_protector_id: str  # "{GUID}" in upper case, as Windows prints it
    key_protector_type: KeyProtectorType
    # Empty for a TPM protector. A secret: kept out of the repr so it never reaches a log.
    recovery_password: str = field(default="", repr=False)


class EscrowTarget(enum.StrEnum):
    """Where Backup-BitLockerKeyProtector (AD) or BackupToAAD-BitLockerKeyProtector sent a key."""

    ACTIVE_DIRECTORY = "AD"
    ENTRA_ID = "EntraID"


@dataclass(frozen=True, slots=True)
class KeyEscrow:
    """One backup of a recovery password to a directory: which key, where, when. The key
    itself stays on the protector; this never holds it."""

    key_protector_id: str
    target: EscrowTarget
    at: datetime


@dataclass(slots=True)
class BitLockerVolume:
    mount_point: str  # "C:"
    volume_status: VolumeStatus = VolumeStatus.FULLY_ENCRYPTED
    protection_status: ProtectionStatus = ProtectionStatus.ON
    encryption_method: str = "XtsAes128"
    key_protectors: list[KeyProtector] = field(default_factory=list)
    # Reboots left while suspended (Suspend-BitLocker -RebootCount n); None = not suspended,
    # 0 = suspended until Resume-BitLocker.
    suspended_reboots_left: int | None = None
    capacity_gb: float = 126.45
    # Backups made from the host, oldest first; a key may be backed up many times.
    escrows: list[KeyEscrow] = field(default_factory=list)

    @property
    def recovery_passwords(self) -> list[KeyProtector]:
        return [
            k
            for k in self.key_protectors
            if k.key_protector_type is KeyProtectorType.RECOVERY_PASSWORD
        ]

    def protector(self, key_protector_id: str) -> KeyProtector | None:
        wanted = key_protector_id.strip().strip("{}").lower()
        return next(
            (k for k in self.key_protectors if k.key_protector_id.strip("{}").lower() == wanted),
            None,
        )

    def record_escrow(
        self, key_protector_id: str, *, target: EscrowTarget, at: datetime
    ) -> KeyEscrow:
        protector = self.protector(key_protector_id)
        if protector is None:
            raise KeyError(key_protector_id)
        escrow = KeyEscrow(protector.key_protector_id, target, at)
        self.escrows.append(escrow)
        return escrow

    def is_escrowed(self, key_protector_id: str, target: EscrowTarget) -> bool:
        protector = self.protector(key_protector_id)
        return protector is not None and any(
            e.key_protector_id == protector.key_protector_id and e.target is target
            for e in self.escrows
        )

    def suspend(self, *, reboot_count: int) -> None:
        if not 0 <= reboot_count <= 15:
            raise ValueError("RebootCount must be between 0 and 15")
        self.protection_status = ProtectionStatus.OFF
        self.suspended_reboots_left = reboot_count

    def resume(self) -> None:
        self.protection_status = ProtectionStatus.ON
        self.suspended_reboots_left = None

    def count_reboot(self) -> None:
        """A reboot happened: a suspension with a reboot count runs down and resumes at 0."""
        if self.suspended_reboots_left is None or self.suspended_reboots_left == 0:
            return
        self.suspended_reboots_left -= 1
        if self.suspended_reboots_left == 0:
            self.resume()

    @classmethod
    def encrypted(
        cls, mount_point: str, *, rng: random.Random, recovery_keys: int = 1
    ) -> BitLockerVolume:
        protectors = [KeyProtector(new_protector_id(rng), KeyProtectorType.TPM)]
        protectors += [
            KeyProtector(
                new_protector_id(rng),
                KeyProtectorType.RECOVERY_PASSWORD,
                new_recovery_password(rng),
            )
            for _ in range(recovery_keys)
        ]
        return cls(mount_point, key_protectors=protectors)
