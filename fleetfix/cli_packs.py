"""`fleetfix packs`: list, show and import remediation packs. A thin layer over fleetfix.packs.

The lead registers `packs` on the main command; errors are `PackError`s, which the main
command turns into one line on stderr and exit code 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from fleetfix.packs import Pack, PackError, Step, StepKind, load_packs, pack_from_intune

F = TypeVar("F", bound=Callable[..., Any])


def _packs_option(func: F) -> F:
    return click.option(
        "--packs",
        "pack_dirs",
        multiple=True,
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        envvar="FLEETFIX_PACKS",
        help="Extra folder of packs (repeatable); a pack there replaces a built-in of its id.",
    )(func)


def _json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")(func)


@click.group()
def packs() -> None:
    """Remediation packs: a pack.toml and PowerShell scripts per folder."""


@packs.command("list")
@_packs_option
@_json_option
def list_packs(pack_dirs: tuple[Path, ...], as_json: bool) -> None:
    """Every pack fleetfix can run, built-in and from --packs folders."""
    loaded = load_packs(pack_dirs)
    if as_json:
        click.echo(json.dumps([_summary(p) for p in loaded.values()], sort_keys=True))
        return
    width = max((len(p.id) for p in loaded.values()), default=2)
    for pack in sorted(loaded.values(), key=lambda p: p.id):
        flags = ",".join(
            f for f in ("destructive" * pack.destructive, "reboots" * pack.reboots) if f
        )
        click.echo(f"{pack.id:<{width}}  {pack.version:<8} {flags or '-':<20} {pack.title}")


@packs.command("show")
@click.argument("pack_id")
@_packs_option
@_json_option
def show_pack(pack_id: str, pack_dirs: tuple[Path, ...], as_json: bool) -> None:
    """What a pack does: parameters, detect, steps with their flags, verify, escalation."""
    loaded = load_packs(pack_dirs)
    pack = loaded.get(pack_id)
    if pack is None:
        raise PackError(f"no pack {pack_id!r}; `fleetfix packs list` shows the ids")
    if as_json:
        click.echo(json.dumps(_details(pack), sort_keys=True))
        return
    for line in _describe(pack):
        click.echo(line)


@packs.command("from-intune")
@click.argument("detect", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("remediate", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--id", "pack_id", required=True, help="Id of the new pack (lower-case, dashes).")
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help="Folder to create the pack folder in.",
)
@click.option("--title", default=None, help="Title of the new pack.")
def from_intune(
    detect: Path, remediate: Path, pack_id: str, output_dir: Path, title: str | None
) -> None:
    """Make a pack from an Intune Remediations script pair (detect exits 1 = needs fix)."""
    pack = pack_from_intune(detect, remediate, pack_id=pack_id, output_dir=output_dir, title=title)
    click.echo(str(pack.folder))
    click.echo(f"created pack {pack.id}; use it with --packs {output_dir}", err=True)


def _summary(pack: Pack) -> dict[str, object]:
    return {
        "id": pack.id,
        "title": pack.title,
        "version": pack.version,
        "destructive": pack.destructive,
        "reboots": pack.reboots,
        "builtin": pack.builtin,
        "folder": str(pack.folder),
    }


def _details(pack: Pack) -> dict[str, object]:
    return {
        **_summary(pack),
        "description": pack.description,
        "parameters": [
            {
                "name": p.name,
                "type": str(p.type),
                "default": list(p.default) if isinstance(p.default, tuple) else p.default,
                "required": p.required,
                "choices": list(p.choices),
                "description": p.description,
            }
            for p in pack.parameters
        ],
        "detect": pack.detect.path.name,
        "steps": [_step_details(s) for s in pack.steps],
        "verify": None if pack.verify is None else pack.verify.path.name,
        "escalation": None
        if pack.escalation is None
        else {
            "pack": pack.escalation.pack,
            "on": list(pack.escalation.on),
            "on_any_failure": pack.escalation.on_any_failure,
        },
    }


def _step_details(step: Step) -> dict[str, object]:
    return {
        "name": step.name,
        "kind": str(step.kind),
        "runs": _step_target(step),
        "destructive": step.destructive,
        "idempotent": step.idempotent,
        "reboots": step.reboots,
        "timeout": step.timeout,
        "retries": step.retries,
    }


def _step_target(step: Step) -> str:
    if step.kind is StepKind.SCRIPT and step.script is not None:
        return step.script.path.name
    if step.kind is StepKind.ACTION and step.action is not None:
        return str(step.action)
    return f"pack {step.run_pack}"


def _describe(pack: Pack) -> list[str]:
    lines = [f"{pack.id} {pack.version}: {pack.title}", f"  folder: {pack.folder}", ""]
    lines += [f"  {line}" for line in pack.description.splitlines()]
    lines += ["", "parameters:"] if pack.parameters else []
    for p in pack.parameters:
        default = "required" if p.required else f"default {json.dumps(_plain(p.default))}"
        choices = f" ({'|'.join(p.choices)})" if p.choices else ""
        lines.append(f"  {p.name}: {p.type}{choices}, {default}  {p.description}".rstrip())
    lines += ["", f"detect: {pack.detect.path.name} (exit 1 = needs remediation)", "steps:"]
    for index, step in enumerate(pack.steps, 1):
        flags = [
            name
            for name, on in (
                ("destructive", step.destructive),
                ("idempotent", step.idempotent),
                ("reboots", step.reboots),
            )
            if on
        ]
        lines.append(
            f"  {index}. {step.name}: {_step_target(step)} [{', '.join(flags) or 'read-only'}] "
            f"timeout {step.timeout:g}s, retries {step.retries}"
        )
    if pack.verify is not None:
        lines.append(f"verify: {pack.verify.path.name}")
    if pack.escalation is not None:
        on = ", ".join(pack.escalation.on) or "any failure"
        lines.append(f"escalates to: {pack.escalation.pack} (on {on})")
    return lines


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
