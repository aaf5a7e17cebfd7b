"""Restarting a host and knowing it came back: the boot time before, a new boot time after
(and the mode the step asked for). Both scripts are one short round trip, because on a
boot-looping host a window may last a few seconds.

When the host drops the connection before saying its boot time (it crashed, or the restart
beat the output), a change of mode proves the reboot instead: a host that was in normal mode
and answers from safe mode has restarted.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime

from fleetfix.engine.attempts import MAYBE_RAN
from fleetfix.engine.context import Link, RunContext
from fleetfix.engine.events import StepFinished, StepStarted
from fleetfix.models import Host, HostState
from fleetfix.transports import errors

# Read-only: the boot time (UTC) and the safe-mode state, as one JSON line.
BOOT_STATE_SCRIPT = r"""
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$mode = 'normal'
# SafeBoot\Option exists only while Windows runs in safe mode (1 minimal, 2 network).
$option = Get-ItemProperty -ErrorAction SilentlyContinue `
    -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\SafeBoot\Option'
if ($option -and $option.OptionValue -eq 1) { $mode = 'minimal' }
if ($option -and $option.OptionValue -eq 2) { $mode = 'network' }
$state = [pscustomobject]@{
    last_boot = $os.LastBootUpTime.ToUniversalTime().ToString('o')
    safe_mode = $mode
}
$state | ConvertTo-Json -Compress
"""
# The same, then the restart: Windows answers before it goes down, usually.
RESTART_SCRIPT = BOOT_STATE_SCRIPT + "Restart-Computer -Force\n"


@dataclass(frozen=True, slots=True)
class BootState:
    last_boot: datetime | None
    mode: str | None  # normal | minimal | network

    def as_dict(self) -> dict[str, str | None]:
        boot = None if self.last_boot is None else self.last_boot.isoformat()
        return {"boot_before": boot, "mode_before": self.mode}

    @classmethod
    def from_dict(cls, data: object) -> BootState | None:
        if not isinstance(data, dict) or "mode_before" not in data:
            return None
        boot = data.get("boot_before")
        return cls(datetime.fromisoformat(boot) if isinstance(boot, str) else None,
                   data.get("mode_before"))  # fmt: skip


def parse_boot_state(stdout: str) -> BootState | None:
    for line in reversed(stdout.splitlines()):
        if line.strip().startswith("{"):
            try:
                data = json.loads(line)
                boot = datetime.fromisoformat(data["last_boot"])
                return BootState(boot, str(data["safe_mode"]))
            except (ValueError, KeyError, TypeError):
                return None
    return None


def came_back(now: BootState, before: BootState | None) -> bool:
    """Has the host restarted since `before`? Unknown `before`: any answer counts."""
    if before is None:
        return True
    if before.last_boot is not None and now.last_boot is not None:
        return now.last_boot > before.last_boot
    return before.mode is None or now.mode != before.mode


async def restart(
    context: RunContext, link: Link, host: Host, name: str
) -> tuple[bool, str, BootState | None]:
    """Request the restart (recorded as a destructive action). Returns (ok, detail, the boot
    state before it, None when the host went down before saying)."""
    action = context.store.record_intent(run_id=context.run_id, host=host.name, step=name,
                                         destructive=True, params={})  # fmt: skip
    context.emit(StepStarted(host=host.name, step=name, attempt=1, destructive=True))
    context.move(host, HostState.AWAITING_REBOOT, f"{name}: restart requested")
    before: BootState | None = None
    deadline = time.monotonic() + context.policy.hands_on_after
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not await link.wait_until_listening(seconds=remaining):
            detail = "no answer to send the restart to"
            context.store.record_outcome(action, status="error", detail=detail)
            context.emit(StepFinished(host=host.name, step=name, attempt=1, status="error",
                                      detail=detail))  # fmt: skip
            return False, detail, None
        try:
            result = await link.run(
                RESTART_SCRIPT, params=None, timeout=context.policy.probe_timeout
            )
            before = parse_boot_state(result.stdout)
            break
        except MAYBE_RAN:
            break  # it went down under the command: what a restart (or a crash) looks like
        except errors.Unreachable:
            await asyncio.sleep(context.policy.watch_interval)  # the window closed: wait again
        except errors.TransportError as exc:
            detail = f"{exc.status}: {exc.reason}"
            context.store.record_outcome(action, status="error", detail=detail)
            context.emit(StepFinished(host=host.name, step=name, attempt=1, status="error",
                                      detail=detail))  # fmt: skip
            return False, detail, None
    await link.drop()
    state = before or BootState(None, None)
    context.store.record_outcome(action, status="ok", detail=json.dumps(state.as_dict()))
    context.emit(StepFinished(host=host.name, step=name, attempt=1, status="ok",
                              detail="restart requested"))  # fmt: skip
    return True, "restart requested", before


async def wait_for_boot(
    context: RunContext,
    link: Link,
    host: Host,
    name: str,
    *,
    before: BootState | None,
    safe: bool,
    timeout: float,
) -> tuple[bool, str]:
    """Wait until the host answers from a new boot in the wanted mode. (ok, detail)"""
    wanted = "safe mode" if safe else "a normal boot"
    action = context.store.record_intent(
        run_id=context.run_id, host=host.name, step=name, destructive=False,
        params={} if before is None else before.as_dict(),
    )  # fmt: skip
    context.emit(StepStarted(host=host.name, step=name, attempt=1, destructive=False))
    deadline = time.monotonic() + timeout
    seen: BootState | None = None
    while (remaining := deadline - time.monotonic()) > 0:
        if context.stop.is_set():
            context.store.record_outcome(action, status="interrupted", detail="run stopping")
            return False, f"stopped while waiting for {wanted}"
        if not await link.wait_until_listening(seconds=remaining):
            continue
        try:
            result = await link.run(BOOT_STATE_SCRIPT, params=None,
                                    timeout=context.policy.probe_timeout)  # fmt: skip
        except errors.TransportError:
            await asyncio.sleep(context.policy.watch_interval)
            continue
        now = parse_boot_state(result.stdout)
        if now is not None and came_back(now, before):
            seen = now
            if (now.mode != "normal") == safe:
                detail = f"back in {wanted}"
                context.store.record_outcome(action, status="ok", detail=detail)
                context.emit(StepFinished(host=host.name, step=name, attempt=1, status="ok",
                                          detail=detail))  # fmt: skip
                context.move(host, HostState.REMEDIATING, f"{name}: {detail}")
                return True, detail
            if before is not None and before.last_boot is not None:
                break  # a new boot in the wrong mode: waiting longer will not change it
            # Unknown boot before: this may still be the old boot, shutting down. Keep waiting.
        await asyncio.sleep(context.policy.watch_interval)
    if seen is not None:
        detail = f"came back in {seen.mode} mode, not {wanted}"
    else:
        detail = f"did not come back with a new boot within {timeout:g} s"
    context.store.record_outcome(action, status="failed", detail=detail)
    context.emit(StepFinished(host=host.name, step=name, attempt=1, status="failed",
                              detail=detail))  # fmt: skip
    return False, detail


async def current_boot(context: RunContext, link: Link) -> BootState | None:
    """The host's boot state now, or None when it does not answer."""
    try:
        result = await link.run(
            BOOT_STATE_SCRIPT, params=None, timeout=context.policy.probe_timeout
        )
    except errors.TransportError:
        return None
    return parse_boot_state(result.stdout)
