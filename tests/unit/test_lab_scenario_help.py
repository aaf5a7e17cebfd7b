"""`fleetfix lab up --help` states each scenario's proportions, and they are the shares a
built fleet really has: the help is made from the numbers the scenarios are built from."""

from __future__ import annotations

import re

import click
from click.testing import CliRunner

from fleetfix.lab.cli import lab, up
from fleetfix.lab.clock import LabClock
from fleetfix.lab.scenarios import build_fleet
from fleetfix.lab.shares import LABELS
from fleetfix.lab.truth import Condition


def _scenario_help() -> str:
    option = next(p for p in up.params if p.name == "scenario")
    assert isinstance(option, click.Option) and option.help is not None
    return option.help


def test_the_help_states_the_crowdstrike_291_proportions() -> None:
    assert _scenario_help().startswith(
        "crowdstrike-291: 20% healthy; 15% affected but up; 10% affected, up and "
        "tamper-protected; 30% boot-looping with short reachable windows (30-80% of boots "
        "answer for 3-10 lab seconds, 2-10% heal); 15% boot-looping and never reachable; "
        "10% at the BitLocker recovery screen. "
    )


def test_the_help_matches_the_shares_of_a_built_fleet() -> None:
    fleet = build_fleet(
        "crowdstrike-291", hosts=100, seed=1, clock=LabClock(), password="Lab-Passw0rd!"
    )
    counts = {condition: 0 for condition in Condition}
    for truth in fleet.truths:
        counts[truth.condition] += 1
    described = _scenario_help().split(". service-outage:")[0]
    for condition, count in counts.items():
        if count:  # 100 hosts: a count is its percentage
            assert f"{count}% {LABELS[condition]}" in described, condition
    stated = [int(share) for share in re.findall(r"(\d+)% (?!of boots|heal\))", described)]
    assert sorted(stated) == sorted(c for c in counts.values() if c)


def test_the_rendered_help_shows_the_scenarios() -> None:
    done = CliRunner().invoke(lab, ["up", "--help"], terminal_width=200)
    assert done.exit_code == 0
    assert "crowdstrike-291: 20% healthy; 15% affected but up;" in done.output
    assert "service-outage: 40% healthy; 50% with a service stopped;" in done.output
