"""fleetfix: recover fleets of Windows hosts after a faulty driver or content update."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fleetfix")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
