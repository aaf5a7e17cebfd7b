"""How a run behaves: its limits, waves, breakers and the times it waits. All plain values,
decided once at the start of a run and recorded with it, so a resumed run behaves the same."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from fleetfix.errors import ConfigError
from fleetfix.probe.rules import DEFAULT_RULE, TimestampRule

_SHARE = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*(%?)\s*\Z")


@dataclass(frozen=True, slots=True)
class Share:
    """A count of hosts, or a percentage of them (`--canary 5` or `--canary 2%`)."""

    value: float
    percent: bool

    @classmethod
    def parse(cls, text: str, *, option: str) -> Share:
        found = _SHARE.match(text)
        if found is None:
            raise ConfigError(f"{option}: {text!r} is neither a host count (5) nor a share (2%)")
        value, percent = float(found.group(1)), found.group(2) == "%"
        if percent and not 0 < value <= 100:
            raise ConfigError(f"{option}: {text!r} must be a share above 0% and up to 100%")
        if not percent and (value < 1 or not value.is_integer()):
            raise ConfigError(f"{option}: {text!r} must be a whole number of hosts, at least 1")
        return cls(value, percent)

    def of(self, total: int) -> int:
        """How many of `total` hosts; a percentage rounds up, so 1% of 50 hosts is 1 host."""
        if total <= 0:
            return 0
        wanted = math.ceil(total * self.value / 100) if self.percent else int(self.value)
        return max(1, min(total, wanted))

    def __str__(self) -> str:
        number = f"{self.value:g}"
        return f"{number}%" if self.percent else number


_POSITIVE = ("retry_initial", "retry_max_wait", "retry_deadline", "watch_interval",
             "hands_on_after", "reboot_timeout", "connect_timeout", "probe_timeout")  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunPolicy:
    """Everything `fleetfix run` decides before it touches a host. Seconds are wall-clock."""

    pack: str
    params: Mapping[str, object] = field(default_factory=dict)
    concurrency: int = 50
    canary: Share | None = None
    wave_size: Share | None = None
    # Trips when failed hosts exceed this share of a wave (equal is not enough).
    max_fail_percent: float | None = None
    priority_tag: str = "criticality"
    dry_run: bool = False
    # Hosts an earlier probe or run found healthy are left alone unless this asks again
    # (a second bad update, or a pack meant for healthy hosts such as restart-service).
    recheck_healthy: bool = False
    # The --limit the run was started with, so `--resume` continues the same hosts.
    limit: str | None = None
    rule: TimestampRule = DEFAULT_RULE
    connect_timeout: float = 15.0
    probe_timeout: float = 60.0
    # Transient errors (unreachable, timeouts, lost connections) are retried with exponential
    # backoff and jitter, from `retry_initial` up to `retry_max_wait` between attempts, until
    # `retry_deadline` seconds after the first attempt.
    retry_initial: float = 1.0
    retry_max_wait: float = 30.0
    retry_deadline: float = 300.0
    # Boot-loop hosts: a TCP check this often (shorter than their reachable windows), for at
    # most `hands_on_after` seconds without an answer before a technician is asked for.
    watch_interval: float = 0.5
    hands_on_after: float = 1800.0
    # Reboots: the host must go away and come back with a new boot time within this long.
    reboot_timeout: float = 1800.0
    auth_failure_limit: int = 3

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError("--concurrency must be at least 1")
        if self.max_fail_percent is not None and not 0 <= self.max_fail_percent < 100:
            raise ConfigError("--max-fail-percent must be from 0 up to (not including) 100")
        for name in _POSITIVE:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name.replace('_', '-')} must be above 0 seconds")

    def pack_params(self) -> dict[str, object]:
        """The --param values, with the run's channel-file time rule as `Rule` unless one was
        given: the probe and the packs that take a `Rule` (crowdstrike-291, safe-mode-cycle)
        then judge a file by the same rule. Each pack keeps only what it declares."""
        return {"Rule": str(self.rule), **self.params}

    def as_dict(self) -> dict[str, Any]:
        """What the run records in the store (`runs.options`); `from_dict` reads it back."""
        data = asdict(self)
        data["params"] = dict(self.params)
        data["canary"] = None if self.canary is None else str(self.canary)
        data["wave_size"] = None if self.wave_size is None else str(self.wave_size)
        data["rule"] = str(self.rule)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunPolicy:
        known = {name for name in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("canary", "wave_size"):
            if values.get(name) is not None:
                values[name] = Share.parse(str(values[name]), option=f"--{name}")
        if "rule" in values:
            values["rule"] = TimestampRule(values["rule"])
        return cls(**values)
