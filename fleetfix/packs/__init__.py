"""Remediation packs: folders of `pack.toml` plus PowerShell scripts (see DESIGN.md).

`load_packs()` finds the built-in packs and any extra folders; `Pack` says which script runs
when and with which flags. Scripts read their parameters from `$Params` (PARAMS_VARIABLE),
which the transports' fixed prologue decodes from a base64 JSON blob.
"""

from fleetfix.packs.intune import pack_from_intune
from fleetfix.packs.loader import MANIFEST, builtin_packs_dir, load_pack, load_packs
from fleetfix.packs.model import (
    PARAMS_VARIABLE,
    Action,
    Escalation,
    Pack,
    PackError,
    Parameter,
    ParameterType,
    Script,
    Step,
    StepKind,
    inner_parameters,
)
from fleetfix.packs.report import (
    Detection,
    ScriptReport,
    escalation_for,
    read_detection,
    read_report,
)

__all__ = [
    "MANIFEST",
    "PARAMS_VARIABLE",
    "Action",
    "Detection",
    "Escalation",
    "Pack",
    "PackError",
    "Parameter",
    "ParameterType",
    "Script",
    "ScriptReport",
    "Step",
    "StepKind",
    "builtin_packs_dir",
    "escalation_for",
    "inner_parameters",
    "load_pack",
    "load_packs",
    "pack_from_intune",
    "read_detection",
    "read_report",
]
