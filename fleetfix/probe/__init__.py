"""The probe: one read-only PowerShell script that gathers a host's facts in one round trip
(`probe.ps1`, shipped as package data), typed parsing of its JSON (`facts`), and the pure rules
that turn facts and reachability into a diagnosis (`rules`)."""

from __future__ import annotations

from importlib import resources

PROBE_SCRIPT_NAME = "probe.ps1"


def probe_script() -> str:
    """The probe's PowerShell text, as it ships inside the package."""
    return resources.files(__name__).joinpath(PROBE_SCRIPT_NAME).read_text(encoding="utf-8")
