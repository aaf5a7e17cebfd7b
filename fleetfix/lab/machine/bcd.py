"""The boot configuration store, as much of it as `bcdedit` needs for safe mode."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_IDENTIFIER = "{default}"
CURRENT_IDENTIFIER = "{current}"
BOOTMGR_IDENTIFIER = "{bootmgr}"


@dataclass(slots=True)
class BcdEntry:
    identifier: str
    description: str
    # Element name (lower case, as bcdedit prints them) -> value.
    elements: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class BcdStore:
    boot_manager: BcdEntry
    loader: BcdEntry  # the Windows Boot Loader that {default} and {current} both name

    def entry(self, identifier: str) -> BcdEntry | None:
        key = identifier.lower()
        if key in (DEFAULT_IDENTIFIER, CURRENT_IDENTIFIER, self.loader.identifier.lower()):
            return self.loader
        if key == BOOTMGR_IDENTIFIER:
            return self.boot_manager
        return None

    @property
    def safeboot(self) -> str | None:
        """'minimal', 'network' or None: what the next boot will be."""
        return self.loader.elements.get("safeboot")

    @classmethod
    def default(cls) -> BcdStore:
        manager = BcdEntry(
            BOOTMGR_IDENTIFIER,
            "Windows Boot Manager",
            {
                "device": "partition=\\Device\\HarddiskVolume1",
                "path": "\\EFI\\Microsoft\\Boot\\bootmgfw.efi",
                "locale": "en-US",
                "default": CURRENT_IDENTIFIER,
                "timeout": "30",
            },
        )
        loader = BcdEntry(
            CURRENT_IDENTIFIER,
            "Windows Server",
            {
                "device": "partition=C:",
                "path": "\\Windows\\system32\\winload.efi",
                "locale": "en-US",
                "osdevice": "partition=C:",
                "systemroot": "\\Windows",
                "nx": "OptOut",
            },
        )
        return cls(manager, loader)
