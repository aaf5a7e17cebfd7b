"""load_inventory: read a host list in any supported format, validate every host, and return
all of them or none (unless asked to skip the invalid ones)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from fleetfix.errors import InventoryError
from fleetfix.inventory.ansible_ini import parse_ansible_ini
from fleetfix.inventory.ansible_yaml import parse_ansible_yaml
from fleetfix.inventory.csvfile import parse_csv
from fleetfix.inventory.detect import detect_format
from fleetfix.inventory.model import FileRefused, Inventory, Parsed, Problem, Rejection
from fleetfix.inventory.source import read_inventory_text
from fleetfix.inventory.txt import parse_txt
from fleetfix.inventory.validate import check_entry, duplicate_rejections
from fleetfix.models import Host

FORMATS: tuple[str, ...] = ("auto", "txt", "csv", "ansible-ini", "ansible-yaml")

_PARSERS: dict[str, Callable[[str], Parsed]] = {
    "txt": parse_txt,
    "csv": parse_csv,
    "ansible-ini": parse_ansible_ini,
    "ansible-yaml": parse_ansible_yaml,
}

# Enough to see the pattern in a bad export without scrolling past the first screen.
_PROBLEMS_SHOWN = 20


def load_inventory(
    path: str | os.PathLike[str], *, fmt: str = "auto", skip_invalid: bool = False
) -> Inventory:
    """The hosts in `path`. Raises InventoryError when the file cannot be read, holds no host,
    or (without skip_invalid) has any invalid line; nothing is half-imported."""
    file = Path(path)
    if fmt not in FORMATS:
        raise InventoryError(f"unknown inventory format {fmt!r}; use one of {', '.join(FORMATS)}")
    text = read_inventory_text(file)
    chosen = detect_format(file, text) if fmt == "auto" else fmt
    try:
        parsed = _PARSERS[chosen](text)
    except FileRefused as refused:
        raise InventoryError(str(Problem(file, refused.line, refused.message))) from None
    except RecursionError:
        raise InventoryError(f"{file}: nested too deeply to be an inventory") from None
    return _assemble(file, chosen, parsed, skip_invalid=skip_invalid)


def _assemble(file: Path, fmt: str, parsed: Parsed, *, skip_invalid: bool) -> Inventory:
    rejections = list(parsed.rejections)
    warnings = list(parsed.warnings)
    valid: list[tuple[Host, int | None]] = []
    for entry in parsed.entries:
        checked = check_entry(entry)
        warnings.extend(checked.warnings)
        if checked.host is not None:
            valid.append((checked.host, entry.line))
        elif checked.rejection is not None:
            rejections.append(checked.rejection)
    duplicates = duplicate_rejections(valid)
    rejections.extend(duplicates.values())
    hosts = tuple(host for index, (host, _) in enumerate(valid) if index not in duplicates)
    if not hosts and not rejections:
        raise InventoryError(
            f"{file}: no hosts found (read as {fmt}); if this is another format, "
            "name it with --format"
        )
    problems = _problems(file, rejections)
    if problems and not skip_invalid:
        raise InventoryError(_refusal(file, problems))
    return Inventory(
        hosts=hosts,
        rejected=problems,
        warnings=_problems(file, warnings),
        path=file,
        fmt=fmt,
    )


def _problems(file: Path, rejections: list[Rejection]) -> tuple[Problem, ...]:
    ordered = sorted(rejections, key=lambda r: r.line or 0)
    return tuple(Problem(file, r.line, r.message) for r in ordered)


def _refusal(file: Path, problems: tuple[Problem, ...]) -> str:
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    lines = [
        f"{file}: {count}, so no host was imported. Fix the lines below, or import with "
        "--skip-invalid to keep the valid hosts and list the rejected lines:"
    ]
    lines += [f"  {problem}" for problem in problems[:_PROBLEMS_SHOWN]]
    if len(problems) > _PROBLEMS_SHOWN:
        lines.append(f"  ... and {len(problems) - _PROBLEMS_SHOWN} more")
    return "\n".join(lines)
