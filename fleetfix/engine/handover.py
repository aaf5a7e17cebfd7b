"""What a technician is told when a host is handed over: why, what to do at the console, and
the state fleetfix left the host in.

The state comes from the host's own step reports in this run (each pack script prints what it
changed as JSON): a host that never came back from a safe-mode cycle still has safe boot set and
BitLocker suspended, and the technician must hear that plainly, not rediscover it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from fleetfix.store import ActionRecord

#: Packs whose console fix is the channel file 291 one (the escalation chain included).
_CHANNEL_291_PACKS = frozenset({"crowdstrike-291", "safe-mode-cycle"})
_RAN = frozenset({"ok", "failed"})  # the script ran on the host and reported


def _reports(actions: Iterable[ActionRecord]) -> Iterable[dict[str, object]]:
    for action in actions:
        if action.status not in _RAN or not action.detail.startswith("{"):
            continue
        try:
            report = json.loads(action.detail)
        except ValueError:  # a step's output that is not its JSON report says nothing here
            continue
        if isinstance(report, dict):
            yield report


def _mounts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [str(item) for item in value if item]
    return []


def left_in(actions: Sequence[ActionRecord]) -> list[str]:
    """Sentences for each change this run's steps left in place on the host, oldest first."""
    safeboot: bool | None = None
    suspended: list[str] = []
    winrm_listed = False
    for report in _reports(actions):
        changes = _mounts(report.get("changes"))
        winrm_listed = winrm_listed or "winrm_listed_for_safe_mode" in changes
        if isinstance(report.get("safeboot_set"), bool):
            safeboot = bool(report["safeboot_set"])
        if "bitlocker_suspended" in report:
            suspended = _mounts(report["bitlocker_suspended"]) or suspended
    found = []
    if safeboot:
        found.append(
            "Safe boot with networking is still set: the host will keep starting in safe mode "
            "until `bcdedit /deletevalue {default} safeboot` is run (or msconfig > Boot)."
        )
    if suspended:
        found.append(
            f"BitLocker is suspended on {', '.join(suspended)}: protection resumes by itself "
            "after the counted reboots; `Resume-BitLocker -MountPoint C:` resumes it at once."
        )
    if winrm_listed:
        found.append("WinRM is listed under SafeBoot\\Network (harmless; fleetfix added it).")
    return found


def instructions(
    host: str, why: str, *, pack_id: str, left: Sequence[str], note: str | None = None
) -> str:
    """The hand-over text: the reason, the state left, what to do, how fleetfix verifies."""
    steps = [f"{host}: {why}."]
    if left:
        steps.append("Left in this state by fleetfix: " + " ".join(left))
    steps.append(
        "At the console: if the BitLocker recovery screen shows, read its key ID and run "
        "`fleetfix key lookup --key-id <ID> --reason <ticket>`."
    )
    if pack_id in _CHANNEL_291_PACKS:
        steps.append(
            "Boot to Safe Mode (WinRE > Troubleshoot > Advanced options > Startup Settings > 4), "
            "delete C:\\Windows\\System32\\drivers\\CrowdStrike\\C-00000291*.sys, restart."
        )
    else:
        steps.append(f"Do by hand what the pack {pack_id} does (`fleetfix packs show {pack_id}`).")
    steps.append(f"Then `fleetfix run -i <inventory> --pack {pack_id} --limit {host}` verifies it.")
    if note:
        steps.append(f"({note})")
    return " ".join(steps)
