"""Faults that need a delay (latency, slow_output) are refused without one, by the CLI before
it reaches the lab and by the control channel itself, instead of silently doing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fleetfix.lab.api import Fault, FaultKind
from fleetfix.lab.cli import lab
from fleetfix.lab.control import dispatch


class Faults:
    """The fault part of the lab's ControlTarget: records what it was asked to switch on."""

    def __init__(self) -> None:
        self.set: list[tuple[str, Fault]] = []

    def set_fault(self, target: str, fault: Fault) -> int:
        self.set.append((target, fault))
        return 1

    def clear_faults(self, target: str, kind: FaultKind | None) -> int:
        return 1

    def status(self) -> dict[str, Any]:
        return {}

    def inspect(self, host: str) -> dict[str, Any]:
        return {}

    def console(self, host: str, action: str, argument: str | None) -> dict[str, Any]:
        return {}

    def history(self, host: str) -> dict[str, Any]:
        return {}

    async def settle(self) -> None:
        return None


@pytest.mark.parametrize("kind", ["latency", "slow_output"])
@pytest.mark.parametrize("seconds", [[], ["--seconds", "0"], ["--seconds", "-1"]])
def test_a_timed_fault_without_a_delay_is_a_usage_error_naming_seconds(
    tmp_path: Path, kind: str, seconds: list[str]
) -> None:
    # No lab runs in tmp_path: reaching it would be exit code 1 ("no lab answers").
    done = CliRunner().invoke(lab, ["fault", "all", kind, *seconds, "--dir", str(tmp_path)])
    assert done.exit_code == 2, done.output
    assert "Invalid value for '--seconds'" in done.output
    assert f"a {kind} fault needs a delay above 0" in done.output


@pytest.mark.parametrize(
    "args", [["latency", "--clear"], ["latency", "--seconds", "0.5"], ["refuse"], ["drop"]]
)
def test_other_fault_requests_go_on_to_the_lab(tmp_path: Path, args: list[str]) -> None:
    done = CliRunner().invoke(lab, ["fault", "all", *args, "--dir", str(tmp_path)])
    assert done.exit_code == 1
    assert "no lab answers" in str(done.exception)


@pytest.mark.parametrize("seconds", [None, 0, 0.0])
def test_the_control_channel_refuses_a_latency_fault_without_a_delay(seconds: Any) -> None:
    target = Faults()
    request: dict[str, Any] = {"op": "fault", "target": "all", "kind": "latency"}
    if seconds is not None:
        request["seconds"] = seconds
    answer = dispatch(target, request)
    assert answer == {"ok": False, "error": "a latency fault needs seconds above 0 (the delay)"}
    assert target.set == []


def test_the_control_channel_switches_a_latency_fault_with_its_delay() -> None:
    target = Faults()
    answer = dispatch(target, {"op": "fault", "target": "all", "kind": "latency", "seconds": 2})
    assert answer == {"ok": True, "result": {"hosts": 1}}
    assert target.set == [("all", Fault(FaultKind.LATENCY, seconds=2.0))]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (
            {"kind": "drop", "rate": 1.5},
            "a fault's rate is a share from 0 to 1 (0.2: one in five), not 1.5",
        ),
        (
            {"kind": "drop", "rate": -0.1},
            "a fault's rate is a share from 0 to 1 (0.2: one in five), not -0.1",
        ),
        (
            {"kind": "drop", "rate": "nan"},
            "a fault's rate is a share from 0 to 1 (0.2: one in five), not nan",
        ),
        ({"kind": "refuse", "seconds": -1}, "a fault's seconds are a delay of 0 or more, not -1.0"),
        (
            {"kind": "latency", "seconds": "inf"},
            "a fault's seconds are a delay of 0 or more, not inf",
        ),
    ],
)
def test_the_control_channel_refuses_a_rate_or_delay_out_of_range(
    extra: dict[str, Any], error: str
) -> None:
    # The CLI checks --rate itself; a script talking to the control socket gets the same care
    # instead of a drop fault that drops every request (rate 1.5) or a latency that never ends.
    target = Faults()
    answer = dispatch(target, {"op": "fault", "target": "all", **extra})
    assert answer == {"ok": False, "error": error}
    assert target.set == []


def test_the_control_channel_switches_a_drop_fault_with_its_rate() -> None:
    target = Faults()
    answer = dispatch(target, {"op": "fault", "target": "all", "kind": "drop", "rate": 0.2})
    assert answer == {"ok": True, "result": {"hosts": 1}}
    assert target.set == [("all", Fault(FaultKind.DROP, rate=0.2))]
