"""Every PowerShell script fleetfix ships runs in the lab's shell the way the transports send
it (fixed prologue, -EncodedCommand or stdin), and reports one JSON object on its last line.
A construct the lab does not support shows up here, not in a field run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetfix.lab.machine import BootMode, Machine, add_channel_file
from fleetfix.lab.shell import run_command_line
from fleetfix.transports.script import command_for, decode_clixml, with_params
from tests.unit.test_lab_shell_support import BOOT_TIME, new_machine

ROOT = Path(__file__).parent.parent.parent
SCRIPTS = sorted([*ROOT.glob("remediations/*/*.ps1"), *ROOT.glob("fleetfix/probe/*.ps1")])


def _run(machine: Machine, script: Path) -> tuple[dict[str, object], str, int]:
    line, stdin = command_for(with_params(script.read_text(encoding="utf-8"), {}))
    result = run_command_line(machine, line, stdin=stdin, codepage=65001)
    stdout = result.stdout.decode("utf-8")
    report = json.loads(stdout.strip().splitlines()[-1])
    assert isinstance(report, dict)
    return report, decode_clixml(result.stderr.decode("utf-8")), result.exit_code


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
@pytest.mark.parametrize("mode", [BootMode.NORMAL, BootMode.SAFE_NETWORK])
def test_shipped_script_runs_and_reports_json(script: Path, mode: BootMode) -> None:
    machine = new_machine()
    add_channel_file(machine, bad=True)
    machine.apply_boot(mode, at=BOOT_TIME)
    _, stderr, exit_code = _run(machine, script)
    assert "LabUnsupportedSyntax" not in stderr
    assert "is not recognized" not in stderr
    assert exit_code in (0, 1, 2)  # 2: a pack refusing unsafe or missing parameters


def test_the_probe_sees_safe_mode_and_the_bad_channel_file() -> None:
    machine = new_machine()
    bad = add_channel_file(machine, bad=True)
    machine.apply_boot(BootMode.SAFE_NETWORK, at=BOOT_TIME)
    report, _, exit_code = _run(machine, ROOT / "fleetfix/probe/probe.ps1")
    assert exit_code == 0
    assert report["safe_mode"] == "network"
    files = report["channel_files"]
    assert isinstance(files, list)
    assert {
        "path": bad,
        "header_hex": "AAAAAAAA01002301",
        "last_write_utc": "2024-07-19T04:09:00.0000000Z",
    }.items() <= next(f for f in files if f["path"] == bad).items()


def test_the_channel_file_fix_is_denied_in_normal_mode_and_works_in_safe_mode() -> None:
    script = ROOT / "remediations/crowdstrike-291/remediate.ps1"
    machine = new_machine()
    bad = add_channel_file(machine, bad=True)
    report, _, exit_code = _run(machine, script)
    assert (exit_code, report["reason"], machine.files.exists(bad)) == (1, "access_denied", True)
    machine.apply_boot(BootMode.SAFE_MINIMAL, at=BOOT_TIME)
    report, _, exit_code = _run(machine, script)
    assert (exit_code, report["ok"], machine.files.exists(bad)) == (0, True, False)
