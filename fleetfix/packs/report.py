"""What a pack script said: its exit code and the JSON object on its last stdout line, read
the same way for every pack so the engine never parses formatted text.

Detect scripts follow Intune: exit 1 means "needs remediation", 0 "compliant"; anything else
(or no JSON) means the detect itself failed. Step and verify scripts succeed with exit 0 and
`"ok": true`; a `reason` that the pack's escalation lists sends the host to that pack.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetfix.packs.model import Pack

NO_REPORT = "no_report"


class Detection(enum.StrEnum):
    COMPLIANT = "compliant"
    NEEDS_REMEDIATION = "needs_remediation"
    FAILED = "failed"  # the detect script itself broke: neither answer is known


@dataclass(frozen=True, slots=True)
class ScriptReport:
    exit_code: int
    ok: bool
    reason: str
    changed: bool = False
    escalate: bool = False
    data: Mapping[str, Any] = field(default_factory=dict)


def read_report(stdout: str, exit_code: int) -> ScriptReport:
    """The report of a step or verify script. A script that printed no JSON object failed,
    whatever its exit code: "it exited 0" is not evidence that anything happened."""
    data = _last_json_object(stdout)
    if data is None:
        return ScriptReport(exit_code, ok=False, reason=NO_REPORT)
    ok = exit_code == 0 and bool(data.get("ok", data.get("compliant", False)))
    return ScriptReport(
        exit_code,
        ok=ok,
        reason=str(data.get("reason") or ("ok" if ok else "failed")),
        changed=bool(data.get("changed", False)),
        escalate=bool(data.get("escalate", False)),
        data=data,
    )


def read_detection(stdout: str, exit_code: int) -> tuple[Detection, ScriptReport]:
    report = read_report(stdout, exit_code)
    if report.reason == NO_REPORT or exit_code not in (0, 1):
        return Detection.FAILED, report
    detection = Detection.COMPLIANT if exit_code == 0 else Detection.NEEDS_REMEDIATION
    return detection, report


def escalation_for(pack: Pack, report: ScriptReport) -> str | None:
    """The pack to hand the host to after this report, or None. Only failures escalate."""
    if report.ok or pack.escalation is None:
        return None
    escalation = pack.escalation
    if escalation.on_any_failure or report.reason in escalation.on:
        return escalation.pack
    return None


def _last_json_object(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        text = line.strip()
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None
    return None
