"""Loading pack manifests: the built-in packs, and bad manifests named by file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetfix.errors import FleetfixError
from fleetfix.packs import (
    Action,
    PackError,
    StepKind,
    builtin_packs_dir,
    inner_parameters,
    load_pack,
    load_packs,
)

BUILTIN = {
    "crowdstrike-291",
    "safe-mode-cycle",
    "restart-service",
    "bitlocker-protectors",
    "sensor-health",
    "faulty-driver",
}

GOOD = """
id = "demo-fix"
title = "Demo"
version = "0.1.0"
description = "A test pack."

[parameters.Count]
type = "int"
default = 3

[parameters.Names]
type = "string-list"

[detect]
script = "detect.ps1"
timeout = 30

[[steps]]
name = "fix"
script = "fix.ps1"
destructive = false
idempotent = true
timeout = 60
retries = 2

[[steps]]
name = "restart"
action = "reboot"

[[steps]]
name = "back"
action = "wait-for-boot"
"""


def write_pack(
    root: Path,
    manifest: str,
    *,
    folder: str = "demo",
    scripts: tuple[str, ...] = ("detect.ps1", "fix.ps1"),
) -> Path:
    pack = root / folder
    pack.mkdir(parents=True)
    (pack / "pack.toml").write_text(manifest, encoding="utf-8")
    for name in scripts:
        (pack / name).write_text("[pscustomobject]@{ ok = $true } | ConvertTo-Json -Compress\n")
    return pack


def test_every_builtin_pack_loads_and_references_resolve() -> None:
    packs = load_packs()
    assert set(packs) >= BUILTIN
    assert all(p.builtin for p in packs.values() if p.id in BUILTIN)
    assert packs["crowdstrike-291"].escalation is not None
    assert packs["crowdstrike-291"].escalation.pack == "safe-mode-cycle"
    assert packs["crowdstrike-291"].escalation.on == ("access_denied",)


def test_safe_mode_cycle_reboots_waits_and_runs_the_inner_fix_in_order() -> None:
    cycle = load_packs()["safe-mode-cycle"]
    kinds = [(s.kind, s.action or s.run_pack) for s in cycle.steps]
    assert kinds == [
        (StepKind.SCRIPT, None),
        (StepKind.ACTION, Action.REBOOT),
        (StepKind.ACTION, Action.WAIT_FOR_SAFE_MODE),
        (StepKind.PACK, "crowdstrike-291"),
        (StepKind.SCRIPT, None),
        (StepKind.ACTION, Action.REBOOT),
        (StepKind.ACTION, Action.WAIT_FOR_BOOT),
    ]
    assert [s.reboots for s in cycle.steps].count(True) == 2
    assert cycle.reboots and cycle.destructive


def test_crowdstrike_delete_step_is_declared_destructive_and_idempotent() -> None:
    (step,) = load_packs()["crowdstrike-291"].steps
    assert (step.destructive, step.idempotent, step.reboots) == (True, True, False)


def test_good_manifest_loads_with_defaults_and_flags(tmp_path: Path) -> None:
    pack = load_pack(write_pack(tmp_path, GOOD))
    assert pack.id == "demo-fix"
    fix, restart, back = pack.steps
    assert (fix.destructive, fix.idempotent, fix.retries, fix.timeout) == (False, True, 2, 60.0)
    assert fix.script is not None and "ConvertTo-Json" in fix.script.text
    # Unstated flags take the cautious defaults; waiting changes nothing.
    assert (restart.destructive, restart.reboots, restart.idempotent) == (True, True, False)
    assert (back.destructive, back.reboots, back.idempotent) == (False, False, True)
    assert pack.detect.timeout == 30.0
    assert pack.verify is None


def test_parameters_resolve_defaults_and_coerce_command_line_text(tmp_path: Path) -> None:
    pack = load_pack(write_pack(tmp_path, GOOD))
    assert pack.resolve_parameters({"Names": "Spooler, W32Time", "Count": "5"}) == {
        "Count": 5,
        "Names": ["Spooler", "W32Time"],
    }
    with pytest.raises(PackError, match="Names is required"):
        pack.resolve_parameters({})
    with pytest.raises(PackError, match="unknown parameter"):
        pack.resolve_parameters({"Names": "a", "Nmes": "b"})
    with pytest.raises(PackError, match="is not of type int"):
        pack.resolve_parameters({"Names": "a", "Count": "three"})


def test_choices_are_enforced() -> None:
    pack = load_packs()["crowdstrike-291"]
    assert pack.resolve_parameters({})["Rule"] == "strict"
    with pytest.raises(PackError, match="not one of strict, advisory"):
        pack.resolve_parameters({"Rule": "lenient"})


def test_inner_pack_takes_only_the_parameters_it_declares() -> None:
    packs = load_packs()
    outer = packs["safe-mode-cycle"].resolve_parameters({"Rule": "advisory"})
    inner = inner_parameters(packs["crowdstrike-291"], outer)
    assert inner == {"Rule": "advisory", "RequireSensorRunning": False}


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (('id = "demo-fix"', 'id = "Demo Fix"'), "id", "lower-case"),
        (('title = "Demo"\n', ""), "title", "is required"),
        (("timeout = 60", "timeout = -1"), "steps[0].timeout", "between 0 and 86400"),
        (("timeout = 60", 'timeout = "soon"'), "steps[0].timeout", "must be a float"),
        (("retries = 2", "retries = 99"), "steps[0].retries", "between 0 and 10"),
        (('action = "reboot"', 'action = "reboot-twice"'), "steps[1].action", "not one of"),
        (('script = "fix.ps1"', 'script = "missing.ps1"'), "steps[0].script", "does not exist"),
        (('script = "fix.ps1"', 'script = "../other/fix.ps1"'), "steps[0].script", "own folder"),
        (('type = "int"', 'type = "integer"'), "parameters.Count.type", "not one of"),
        (("default = 3", 'default = "x"'), "parameters.Count.default", "is not of type int"),
        (("idempotent = true", "idempotnt = true"), "steps[0].idempotnt", "a typo"),
        (('name = "back"', 'name = "fix"'), "steps", "unique"),
        (
            ('action = "wait-for-boot"', 'action = "wait-for-boot"\nscript = "fix.ps1"'),
            "steps[2].script",
            "exactly one",
        ),
    ],
)
def test_bad_manifest_error_names_file_and_key(
    tmp_path: Path, change: tuple[str, str], key: str, message: str
) -> None:
    assert change[0] in GOOD
    folder = write_pack(tmp_path, GOOD.replace(change[0], change[1], 1))
    with pytest.raises(PackError, match=message) as caught:
        load_pack(folder)
    assert caught.value.file == folder / "pack.toml"
    assert caught.value.key == key
    assert str(folder / "pack.toml") in str(caught.value)
    assert isinstance(caught.value, FleetfixError)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    folder = write_pack(tmp_path, 'id = "x\n')
    with pytest.raises(PackError, match="not valid TOML") as caught:
        load_pack(folder)
    assert caught.value.file == folder / "pack.toml"


def test_a_step_naming_an_unknown_pack_is_rejected_when_packs_load(tmp_path: Path) -> None:
    manifest = GOOD.replace('action = "wait-for-boot"', 'run_pack = "no-such-pack"')
    write_pack(tmp_path, manifest)
    with pytest.raises(PackError, match="no-such-pack") as caught:
        load_packs([tmp_path])
    assert caught.value.key == "steps[2].run_pack"


def test_user_folder_pack_replaces_builtin_of_the_same_id(tmp_path: Path) -> None:
    write_pack(tmp_path, GOOD.replace('id = "demo-fix"', 'id = "sensor-health"'))
    packs = load_packs([tmp_path])
    assert packs["sensor-health"].folder == tmp_path / "demo"
    assert not packs["sensor-health"].builtin


def test_two_packs_with_one_id_in_one_folder_are_an_error(tmp_path: Path) -> None:
    write_pack(tmp_path, GOOD, folder="one")
    write_pack(tmp_path, GOOD, folder="two")
    with pytest.raises(PackError, match="also used by"):
        load_packs([tmp_path], with_builtin=False)


def test_packs_option_may_name_a_single_pack_folder(tmp_path: Path) -> None:
    folder = write_pack(tmp_path, GOOD)
    assert set(load_packs([folder], with_builtin=False)) == {"demo-fix"}


def test_builtin_packs_hold_no_python() -> None:
    root = builtin_packs_dir()
    assert not list(root.rglob("*.py"))
    assert {p.parent.name for p in root.glob("*/pack.toml")} >= BUILTIN
