"""One entry point for every format: `render(report, "html", local=False)` -> text."""

from __future__ import annotations

from collections.abc import Callable

from fleetfix.export import csv_format, html_format, jsonl_format, markdown_format
from fleetfix.export.model import Report

Renderer = Callable[[Report, bool], str]
_RENDERERS: dict[str, Renderer] = {
    "csv": csv_format.render,
    "jsonl": jsonl_format.render,
    "md": markdown_format.render,
    "html": html_format.render,
}
FORMATS: tuple[str, ...] = tuple(_RENDERERS)


def render(report: Report, fmt: str, *, local: bool = False) -> str:
    return _RENDERERS[fmt](report, local)
