"""The cmdlets the lab's PowerShell knows; importing this package registers all of them."""

from fleetfix.lab.shell.ps.cmdlets import (
    files,
    output,
    pipeline,
    registry,
    services,
    system,
    utility,
)

__all__ = ["files", "output", "pipeline", "registry", "services", "system", "utility"]
