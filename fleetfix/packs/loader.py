"""Reading `pack.toml` manifests into `Pack` values, and finding packs on disk.

Every problem is a `PackError` naming the manifest file and the key (`steps[2].timeout`), so a
sysadmin who wrote a pack at 4 a.m. can fix it without reading Python.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fleetfix.packs.model import (
    Action,
    Escalation,
    Pack,
    PackError,
    Parameter,
    ParameterType,
    ParameterValue,
    Script,
    Step,
    StepKind,
    check_value,
)

MANIFEST = "pack.toml"
DEFAULT_TIMEOUT = 300.0
_ID = re.compile(r"\A[a-z0-9][a-z0-9-]{0,62}\Z")
_PARAMETER_NAME = re.compile(r"\A[A-Za-z][A-Za-z0-9]{0,62}\Z")
_TOP_KEYS = frozenset(
    {"id", "title", "version", "description", "parameters", "detect", "steps", "verify",
     "escalation"}
)  # fmt: skip
_STEP_KEYS = frozenset(
    {"name", "description", "script", "action", "run_pack", "destructive", "idempotent",
     "reboots", "timeout", "retries"}
)  # fmt: skip
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Table:
    """A manifest table with the path that leads to it, for error messages."""

    data: Mapping[str, Any]
    file: Path
    prefix: str

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, message: str) -> PackError:
        return PackError(message, file=self.file, key=self.key(name))

    def get(self, name: str, kind: type[T], default: T | None = None) -> T:
        value = self.data.get(name, default)
        if value is None:
            raise self.fail(name, "is required")
        # bool is an int in Python; a manifest saying `timeout = true` is a mistake.
        if kind in (int, float) and isinstance(value, bool):
            raise self.fail(name, f"must be a number, not {value!r}")
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind):
            raise self.fail(name, f"must be a {kind.__name__}, not {type(value).__name__}")
        return value

    def table(self, name: str) -> _Table:
        return _Table(self.get(name, dict), self.file, self.key(name))

    def strings(self, name: str) -> tuple[str, ...]:
        values = self.get(name, list, [])
        if not all(isinstance(v, str) for v in values):
            raise self.fail(name, "must be a list of strings")
        return tuple(values)

    def reject_unknown(self, allowed: Iterable[str]) -> None:
        for name in self.data:
            if name not in allowed:
                raise self.fail(name, "is not a key fleetfix knows (a typo?)")


def builtin_packs_dir() -> Path:
    """The packs shipped with fleetfix: `fleetfix.remediations` when installed, else the
    repository's `remediations/` (an editable install does not map that folder)."""
    # `fleetfix.remediations` holds no Python, so it is a namespace package: its location comes
    # from the import spec (`resources.files` gives a MultiplexedPath whose str() is no path).
    try:
        spec = importlib.util.find_spec("fleetfix.remediations")
    except ModuleNotFoundError:
        spec = None
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        if (found := Path(location)).is_dir():
            return found
    return Path(__file__).resolve().parents[2] / "remediations"


def load_pack(folder: Path, *, builtin: bool = False) -> Pack:
    manifest = folder / MANIFEST
    try:
        raw = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PackError(f"no {MANIFEST} in this folder", file=folder) from None
    except tomllib.TOMLDecodeError as exc:
        raise PackError(f"not valid TOML: {exc}", file=manifest) from None
    except UnicodeDecodeError:
        raise PackError("not UTF-8 text", file=manifest) from None
    top = _Table(raw, manifest, "")
    top.reject_unknown(_TOP_KEYS)
    pack_id = top.get("id", str)
    if not _ID.match(pack_id):
        raise top.fail("id", f"{pack_id!r} must be lower-case letters, digits and dashes")
    # Checked in the order a manifest is written, so the first error is the first in the file.
    title = top.get("title", str)
    version = top.get("version", str)
    description = top.get("description", str, "").strip()
    parameters = _parameters(top)
    detect = _script(top.table("detect"), folder)
    steps = _steps(top, folder)
    if not steps:
        raise top.fail("steps", "a pack needs at least one step")
    return Pack(
        id=pack_id,
        title=title,
        version=version,
        description=description,
        folder=folder,
        parameters=parameters,
        detect=detect,
        steps=steps,
        verify=_script(top.table("verify"), folder) if "verify" in raw else None,
        escalation=_escalation(top) if "escalation" in raw else None,
        builtin=builtin,
    )


def load_packs(extra_dirs: Iterable[Path] = (), *, with_builtin: bool = True) -> dict[str, Pack]:
    """Every pack by id: the built-in ones, then each extra folder in order. A pack in a later
    folder replaces one of the same id (a site's own crowdstrike-291 wins over ours); two
    packs with one id in the same folder are an error."""
    packs: dict[str, Pack] = {}
    roots = [(builtin_packs_dir(), True)] if with_builtin else []
    roots += [(Path(d), False) for d in extra_dirs]
    for root, builtin in roots:
        packs.update(_packs_in(root, builtin=builtin))
    _check_references(packs)
    return packs


def _packs_in(root: Path, *, builtin: bool) -> dict[str, Pack]:
    if not root.is_dir():
        raise PackError("not a folder of packs", file=root)
    found: dict[str, Pack] = {}
    if (root / MANIFEST).is_file():  # --packs may name one pack's own folder
        folders = [root]
    else:
        folders = sorted(p for p in root.iterdir() if (p / MANIFEST).is_file())
    for folder in folders:
        pack = load_pack(folder, builtin=builtin)
        if pack.id in found:
            other = found[pack.id].folder / MANIFEST
            raise PackError(f"id {pack.id!r} is also used by {other}", file=folder / MANIFEST)
        found[pack.id] = pack
    return found


def _check_references(packs: Mapping[str, Pack]) -> None:
    for pack in packs.values():
        manifest = pack.folder / MANIFEST
        for index, step in enumerate(pack.steps):
            if step.run_pack is not None and step.run_pack not in packs:
                raise PackError(
                    f"names pack {step.run_pack!r}, which is not loaded",
                    file=manifest,
                    key=f"steps[{index}].run_pack",
                )
        if pack.escalation is not None and pack.escalation.pack not in packs:
            raise PackError(
                f"names pack {pack.escalation.pack!r}, which is not loaded",
                file=manifest,
                key="escalation.pack",
            )


def _parameters(top: _Table) -> tuple[Parameter, ...]:
    if "parameters" not in top.data:
        return ()
    table = top.table("parameters")
    return tuple(_parameter(table.table(name), name) for name in table.data)


def _parameter(table: _Table, name: str) -> Parameter:
    if not _PARAMETER_NAME.match(name):
        raise PackError("a parameter name is letters and digits", file=table.file, key=table.prefix)
    table.reject_unknown({"type", "default", "description", "choices"})
    type_name = table.get("type", str)
    try:
        kind = ParameterType(type_name)
    except ValueError:
        choices = ", ".join(ParameterType)
        raise table.fail("type", f"{type_name!r} is not one of {choices}") from None
    bare = Parameter(name, kind, None, choices=table.strings("choices"))
    default: ParameterValue | None = None
    if "default" in table.data:
        # A manifest's default goes through the same check as an operator's value.
        try:
            default = check_value(bare, table.data["default"])
        except ValueError as exc:
            raise table.fail("default", str(exc)) from None
    return Parameter(
        name,
        kind,
        default,
        description=table.get("description", str, ""),
        choices=bare.choices,
    )


def _script(table: _Table, folder: Path) -> Script:
    table.reject_unknown({"script", "timeout"})
    path = _script_path(table, folder)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise table.fail("script", f"{path.name} is not UTF-8 text") from None
    return Script(path=path, text=text, timeout=_timeout(table))


def _script_path(table: _Table, folder: Path) -> Path:
    name = table.get("script", str)
    path = (folder / name).resolve()
    # A pack may only run its own scripts: "../other/x.ps1" would hide what really runs.
    if path.parent != folder.resolve() or path.suffix.lower() != ".ps1":
        raise table.fail("script", f"{name!r} must be a .ps1 file in the pack's own folder")
    if not path.is_file():
        raise table.fail("script", f"{name!r} does not exist")
    return path


def _timeout(table: _Table) -> float:
    timeout = table.get("timeout", float, DEFAULT_TIMEOUT)
    if not 0 < timeout <= 24 * 3600:
        raise table.fail("timeout", "must be between 0 and 86400 seconds")
    return timeout


def _steps(top: _Table, folder: Path) -> tuple[Step, ...]:
    raw = top.get("steps", list, [])
    steps = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise top.fail(f"steps[{index}]", "must be a table ([[steps]])")
        steps.append(_step(_Table(entry, top.file, f"steps[{index}]"), folder))
    names = [s.name for s in steps]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise top.fail("steps", f"step names must be unique: {', '.join(duplicates)}")
    return tuple(steps)


def _step(table: _Table, folder: Path) -> Step:
    table.reject_unknown(_STEP_KEYS)
    given = [k for k in ("script", "action", "run_pack") if k in table.data]
    if len(given) != 1:
        raise table.fail("script", "a step has exactly one of script, action or run_pack")
    kind = {"script": StepKind.SCRIPT, "action": StepKind.ACTION, "run_pack": StepKind.PACK}[
        given[0]
    ]
    retries = table.get("retries", int, 0)
    if not 0 <= retries <= 10:
        raise table.fail("retries", "must be between 0 and 10")
    action = _action(table) if kind is StepKind.ACTION else None
    return Step(
        name=table.get("name", str),
        kind=kind,
        # Unless the author says otherwise a script is destructive and not idempotent: the
        # safe assumption for intents and retries. Waiting changes nothing on the host.
        destructive=table.get("destructive", bool, not _is_wait(action)),
        idempotent=table.get("idempotent", bool, _is_wait(action)),
        reboots=table.get("reboots", bool, action is Action.REBOOT),
        timeout=_timeout(table),
        retries=retries,
        script=_step_script(table, folder) if kind is StepKind.SCRIPT else None,
        action=action,
        run_pack=table.get("run_pack", str) if kind is StepKind.PACK else None,
        description=table.get("description", str, ""),
    )


def _action(table: _Table) -> Action:
    name = table.get("action", str)
    try:
        return Action(name)
    except ValueError:
        raise table.fail("action", f"{name!r} is not one of {', '.join(Action)}") from None


def _is_wait(action: Action | None) -> bool:
    return action in (Action.WAIT_FOR_BOOT, Action.WAIT_FOR_SAFE_MODE)


def _step_script(table: _Table, folder: Path) -> Script:
    # A step's timeout is also its script's: the engine enforces one deadline per step.
    subset = {k: table.data[k] for k in ("script", "timeout") if k in table.data}
    return _script(_Table(subset, table.file, table.prefix), folder)


def _escalation(top: _Table) -> Escalation:
    table = top.table("escalation")
    table.reject_unknown({"pack", "on", "on_any_failure"})
    return Escalation(
        pack=table.get("pack", str),
        on=table.strings("on"),
        on_any_failure=table.get("on_any_failure", bool, False),
    )
