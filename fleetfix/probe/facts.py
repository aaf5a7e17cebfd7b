"""The probe's JSON as frozen dataclasses, tolerant of what Windows PowerShell 5.1 does to
JSON: dates as "\\/Date(ms)\\/" (or a {value, DateTime} object), enums as numbers, and one
object where an array was meant (ConvertTo-Json unrolls a one-element array)."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fleetfix.errors import FleetfixError


class ProbeOutputError(FleetfixError):
    """The probe's output is not the JSON object it should be. For one host this is a value
    (the engine records it as that host's failure), not a reason to stop a run."""

    title = "unreadable probe output"


class SafeMode(enum.StrEnum):
    NORMAL = "normal"
    MINIMAL = "minimal"
    NETWORK = "network"


class ServiceStatus(enum.StrEnum):
    """System.ServiceProcess.ServiceControllerStatus; 5.1 sends the numbers."""

    STOPPED = "Stopped"
    START_PENDING = "StartPending"
    STOP_PENDING = "StopPending"
    RUNNING = "Running"
    CONTINUE_PENDING = "ContinuePending"
    PAUSE_PENDING = "PausePending"
    PAUSED = "Paused"
    UNKNOWN = "Unknown"


_SERVICE_STATUS_NUMBERS = {1: "Stopped", 2: "StartPending", 3: "StopPending", 4: "Running",
                           5: "ContinuePending", 6: "PausePending", 7: "Paused"}  # fmt: skip
_START_TYPE_NUMBERS = {0: "Boot", 1: "System", 2: "Automatic", 3: "Manual", 4: "Disabled"}
# Microsoft.BitLocker.Structures enums, as Get-BitLockerVolume's objects carry them.
_PROTECTION_NUMBERS = {0: "Off", 1: "On", 2: "Unknown"}
_VOLUME_STATUS_NUMBERS = {0: "FullyDecrypted", 1: "FullyEncrypted", 2: "EncryptionInProgress",
                          3: "DecryptionInProgress", 4: "EncryptionPaused",
                          5: "DecryptionPaused"}  # fmt: skip
_MS_DATE = re.compile(r"\A/Date\((-?\d+)([+-]\d{4})?\)/\Z")


@dataclass(frozen=True, slots=True)
class ChannelFile:
    name: str
    path: str
    size: int | None
    last_write_utc: datetime | None
    header: bytes | None  # the first 8 bytes, None when the probe could not read them
    sha256: str | None


@dataclass(frozen=True, slots=True)
class ServiceFact:
    name: str
    status: ServiceStatus
    start_type: str


@dataclass(frozen=True, slots=True)
class CrashEvent:
    """A System-log event of a crash: 41 (Kernel-Power), 1001 (bugcheck report), 6008."""

    event_id: int
    at: datetime
    bugcheck_code: int | None = None
    bugcheck_parameters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BitLockerVolumeFact:
    mount_point: str
    protection_status: str
    volume_status: str
    recovery_key_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProbeFacts:
    host_name: str
    collected_at: datetime
    os_caption: str | None
    os_build: str | None
    last_boot: datetime | None
    uptime_seconds: int | None
    safe_mode: SafeMode
    winrm_in_safe_mode: bool
    channel_files: tuple[ChannelFile, ...]
    services: tuple[ServiceFact, ...]
    crash_window_hours: int
    crash_events: tuple[CrashEvent, ...]
    bitlocker: tuple[BitLockerVolumeFact, ...]
    pending_reboot: bool
    problems: tuple[str, ...]

    def service(self, name: str) -> ServiceFact | None:
        return next((s for s in self.services if s.name.lower() == name.lower()), None)


def parse_probe_output(stdout: str) -> ProbeFacts:
    """Facts from the probe's stdout: the JSON object on its last non-empty line."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ProbeOutputError("the probe printed nothing")
    try:
        data = json.loads(lines[-1])
    except ValueError:
        raise ProbeOutputError("the probe's last line is not JSON") from None
    return parse_facts(data)


def parse_facts(data: object) -> ProbeFacts:
    if not isinstance(data, Mapping):
        raise ProbeOutputError("the probe's output is not a JSON object")
    collected_at = parse_time(data.get("collected_at"))
    if collected_at is None:
        raise ProbeOutputError("the probe's output has no collected_at time")
    try:
        return ProbeFacts(
            host_name=str(data.get("host_name") or ""),
            collected_at=collected_at,
            os_caption=_text(data.get("os_caption")),
            os_build=_text(data.get("os_build")),
            last_boot=parse_time(data.get("last_boot")),
            uptime_seconds=_integer(data.get("uptime_seconds")),
            safe_mode=_safe_mode(data.get("safe_mode")),
            winrm_in_safe_mode=bool(data.get("winrm_in_safe_mode")),
            channel_files=tuple(_channel_file(f) for f in as_list(data.get("channel_files"))),
            services=tuple(_service(s) for s in as_list(data.get("services"))),
            crash_window_hours=_integer(data.get("crash_window_hours")) or 24,
            crash_events=tuple(_crash(e) for e in as_list(data.get("crash_events"))),
            bitlocker=tuple(_volume(v) for v in as_list(data.get("bitlocker"))),
            pending_reboot=bool(data.get("pending_reboot")),
            problems=tuple(str(p) for p in as_list(data.get("problems"))),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProbeOutputError(f"the probe's output has an unexpected shape: {exc}") from None


def latest_readable(history: Sequence[object]) -> ProbeFacts | None:
    """The newest facts in `history` (oldest first) that parse; an unreadable row (from an
    older fleetfix, or a probe cut short) is passed over for the one before it."""
    for raw in reversed(history):
        try:
            return parse_facts(raw)
        except ProbeOutputError:
            continue
    return None


def as_list(value: object) -> list[Any]:
    """5.1's ConvertTo-Json turns a one-element array into the element, and $null into null."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from ISO 8601, "/Date(ms)/" (json.loads has already turned
    "\\/" into "/"), or 5.1's {"value": "/Date(ms)/", "DateTime": "..."} wrapper."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if not isinstance(value, str) or not value:
        return None
    match = _MS_DATE.match(value)
    if match:
        # The offset in "/Date(ms+0200)/" is display only: the milliseconds are UTC.
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match.group(1)))
    # .NET's 'o' format has 7 fractional digits; Python takes at most 6.
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    parsed = datetime.fromisoformat(text)
    # A time without an offset came from a careless script; UTC is the only honest guess.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _channel_file(data: Mapping[str, Any]) -> ChannelFile:
    return ChannelFile(
        name=str(data["name"]),
        path=str(data.get("path") or data["name"]),
        size=_integer(data.get("size")),
        last_write_utc=parse_time(data.get("last_write_utc")),
        header=_header(data.get("header_hex")),
        sha256=_text(data.get("sha256")),
    )


def _header(value: object) -> bytes | None:
    if isinstance(value, list):  # a probe that sent the bytes themselves
        return bytes(int(b) for b in value)
    if isinstance(value, str) and value:
        return bytes.fromhex(value.replace("-", "").replace(" ", ""))
    return None


def _service(data: Mapping[str, Any]) -> ServiceFact:
    status = _enum_text(data.get("status"), _SERVICE_STATUS_NUMBERS)
    try:
        parsed = ServiceStatus(status)
    except ValueError:
        parsed = ServiceStatus.UNKNOWN
    return ServiceFact(
        name=str(data["name"]),
        status=parsed,
        start_type=_enum_text(data.get("start_type"), _START_TYPE_NUMBERS),
    )


def _crash(data: Mapping[str, Any]) -> CrashEvent:
    at = parse_time(data.get("time_utc"))
    if at is None:
        raise ValueError("a crash event without a time")
    return CrashEvent(
        event_id=int(data["id"]),
        at=at,
        bugcheck_code=_integer(data.get("bugcheck_code")),
        bugcheck_parameters=tuple(str(p) for p in as_list(data.get("bugcheck_parameters"))),
    )


def _volume(data: Mapping[str, Any]) -> BitLockerVolumeFact:
    return BitLockerVolumeFact(
        mount_point=str(data["mount_point"]),
        protection_status=_enum_text(data.get("protection_status"), _PROTECTION_NUMBERS),
        volume_status=_enum_text(data.get("volume_status"), _VOLUME_STATUS_NUMBERS),
        recovery_key_ids=tuple(str(k) for k in as_list(data.get("recovery_key_ids"))),
    )


def _enum_text(value: object, numbers: Mapping[int, str]) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return numbers.get(value, str(value))
    if isinstance(value, str) and value.isdigit():
        return numbers.get(int(value), value)
    return "" if value is None else str(value)


def _integer(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.lower().startswith("0x"):
        return int(value, 16)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"{value!r} is not a number")
    return int(value)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _safe_mode(value: object) -> SafeMode:
    try:
        return SafeMode(str(value or "normal").lower())
    except ValueError:
        return SafeMode.NORMAL
