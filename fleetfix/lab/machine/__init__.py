"""The state of one simulated Windows machine (files, services, registry, event log,
BitLocker, boot store, users) that the lab's shell reads and changes."""

from fleetfix.lab.machine.bcd import BcdEntry, BcdStore
from fleetfix.lab.machine.bitlocker import (
    BitLockerVolume,
    EscrowTarget,
    KeyEscrow,
    KeyProtector,
    KeyProtectorType,
    ProtectionStatus,
    VolumeStatus,
    is_valid_recovery_password,
    new_recovery_password,
)
from fleetfix.lab.machine.core import (
    CROWDSTRIKE_DIR,
    SENSOR_DRIVER,
    SERVICES_KEY,
    BootMode,
    LocalUser,
    Machine,
    OsInfo,
    PowerControl,
    PowerRequest,
    RecordingPowerControl,
)
from fleetfix.lab.machine.defaults import (
    BAD_CHANNEL_HEADER,
    BAD_CONTENT_TIME,
    GOOD_CONTENT_TIME,
    add_channel_file,
)
from fleetfix.lab.machine.eventlog import EventLevel, EventLog, EventRecord
from fleetfix.lab.machine.files import FileEntry, FileSystem
from fleetfix.lab.machine.registry import Registry, RegistryKey, RegistryValue, RegistryValueKind
from fleetfix.lab.machine.services import (
    ServiceError,
    ServiceKind,
    ServiceStartMode,
    ServiceStatus,
    ServiceTable,
    WindowsService,
)

__all__ = [
    "BAD_CHANNEL_HEADER",
    "BAD_CONTENT_TIME",
    "CROWDSTRIKE_DIR",
    "GOOD_CONTENT_TIME",
    "SENSOR_DRIVER",
    "SERVICES_KEY",
    "BcdEntry",
    "BcdStore",
    "BitLockerVolume",
    "BootMode",
    "EscrowTarget",
    "EventLevel",
    "EventLog",
    "EventRecord",
    "FileEntry",
    "FileSystem",
    "KeyEscrow",
    "KeyProtector",
    "KeyProtectorType",
    "LocalUser",
    "Machine",
    "OsInfo",
    "PowerControl",
    "PowerRequest",
    "ProtectionStatus",
    "RecordingPowerControl",
    "Registry",
    "RegistryKey",
    "RegistryValue",
    "RegistryValueKind",
    "ServiceError",
    "ServiceKind",
    "ServiceStartMode",
    "ServiceStatus",
    "ServiceTable",
    "VolumeStatus",
    "WindowsService",
    "add_channel_file",
    "is_valid_recovery_password",
    "new_recovery_password",
]
