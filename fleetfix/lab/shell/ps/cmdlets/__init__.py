"""The cmdlets the lab's PowerShell knows; importing this package registers all of them."""

from fleetfix.lab.shell.ps.cmdlets import (
    bitlocker_backup,
    files,
    output,
    pipeline,
    processes,
    registry,
    services,
    system,
    utility,
)

__all__ = [
    "bitlocker_backup",
    "files",
    "output",
    "pipeline",
    "processes",
    "registry",
    "services",
    "system",
    "utility",
]
