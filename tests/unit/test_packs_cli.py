"""`fleetfix packs list|show|from-intune`, run through the main command's error handling."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from fleetfix.cli import FleetfixGroup
from fleetfix.cli_packs import packs
from fleetfix.packs import load_packs


@click.group(cls=FleetfixGroup)
def fleetfix() -> None:
    """Stands in for the main command, which the lead wires `packs` into."""


fleetfix.add_command(packs)


def run(*args: str) -> Result:
    return CliRunner().invoke(fleetfix, ["packs", *args])


def intune_pair(folder: Path) -> tuple[Path, Path]:
    detect = folder / "Detect-Spooler.ps1"
    detect.write_text(
        "$s = Get-Service -Name Spooler\nif ($s.Status -ne 'Running') { exit 1 }\nexit 0\n"
    )
    remediate = folder / "Remediate-Spooler.ps1"
    remediate.write_text("Start-Service -Name Spooler\nWrite-Output 'Spooler started'\n")
    return detect, remediate


def test_list_names_every_builtin_pack() -> None:
    result = run("list")
    assert result.exit_code == 0, result.output
    ids = [line.split()[0] for line in result.stdout.splitlines()]
    assert ids == sorted(load_packs())


def test_list_json_is_machine_readable() -> None:
    result = run("list", "--json")
    listed = {entry["id"]: entry for entry in json.loads(result.stdout)}
    assert listed["safe-mode-cycle"]["reboots"] is True
    assert listed["sensor-health"]["destructive"] is False


def test_show_tells_steps_flags_and_escalation() -> None:
    result = run("show", "crowdstrike-291")
    assert result.exit_code == 0, result.output
    assert "delete-bad-channel-files: remediate.ps1 [destructive, idempotent]" in result.stdout
    assert "escalates to: safe-mode-cycle (on access_denied)" in result.stdout
    assert 'Rule: string (strict|advisory), default "strict"' in result.stdout


def test_show_json_lists_parameters_and_steps() -> None:
    shown = json.loads(run("show", "restart-service", "--json").stdout)
    services = next(p for p in shown["parameters"] if p["name"] == "Services")
    assert services["required"] is True
    assert [s["name"] for s in shown["steps"]] == ["restart"]


def test_show_unknown_pack_fails_with_a_message_on_stderr() -> None:
    result = run("show", "crowdstrike-292")
    assert result.exit_code == 1
    assert "no pack 'crowdstrike-292'" in result.stderr
    assert result.stdout == ""


def test_from_intune_makes_a_pack_the_loader_lists(tmp_path: Path) -> None:
    detect, remediate = intune_pair(tmp_path)
    out = tmp_path / "packs"
    result = run("from-intune", str(detect), str(remediate), "--id", "spooler", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "spooler")
    listed = run("list", "--packs", str(out)).stdout
    assert any(line.split()[0] == "spooler" for line in listed.splitlines())
    wrapped = (out / "spooler" / "detect.ps1").read_text()
    # The original text sits unchanged inside the wrapper.
    assert detect.read_text().rstrip("\n") in wrapped
    pack = load_packs([out])["spooler"]
    assert pack.verify is not None and pack.verify.path.name == "detect.ps1"
    assert pack.steps[0].destructive and not pack.steps[0].idempotent


def test_from_intune_refuses_to_overwrite(tmp_path: Path) -> None:
    detect, remediate = intune_pair(tmp_path)
    args = ("from-intune", str(detect), str(remediate), "--id", "spooler", "-o", str(tmp_path))
    assert run(*args).exit_code == 0
    again = run(*args)
    assert again.exit_code == 1
    assert "already exists" in again.stderr


def test_from_intune_refuses_a_script_that_would_end_the_here_string(tmp_path: Path) -> None:
    detect, remediate = intune_pair(tmp_path)
    remediate.write_text("$x = @'\nliteral\n'@\nWrite-Output $x\n")
    result = run("from-intune", str(detect), str(remediate), "--id", "odd", "-o", str(tmp_path))
    assert result.exit_code == 1
    assert "here-string" in result.stderr
    assert not (tmp_path / "odd").exists()


@pytest.mark.parametrize("pack_id", ["Spooler Fix", "-lead", ""])
def test_from_intune_rejects_bad_ids(tmp_path: Path, pack_id: str) -> None:
    detect, remediate = intune_pair(tmp_path)
    result = run("from-intune", str(detect), str(remediate), "--id", pack_id, "-o", str(tmp_path))
    assert result.exit_code != 0


def test_a_broken_extra_pack_names_its_file_and_key(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "pack.toml").write_text('id = "broken"\ntitle = "x"\nversion = 1\n')
    result = run("list", "--packs", str(tmp_path))
    assert result.exit_code == 1
    assert f"{folder / 'pack.toml'}: version: must be a str" in result.stderr
