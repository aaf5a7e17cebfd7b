"""Markdown for tickets and the incident write-up: a heading and a table per section.

Host output, tags and reasons are untrusted: every cell is HTML-escaped (Markdown renders
inline HTML) and Markdown's own punctuation is backslash-escaped, so a host name cannot add a
link, an image that loads from the network, or break out of its table cell.
"""

from __future__ import annotations

import html
import re

from fleetfix.export.model import Report
from fleetfix.export.tables import Table, tables
from fleetfix.export.text import percent_text

# Inline punctuation only: cells are never at a line's start, so list and heading markers
# (- + # 1.) cannot act; `]` escaped means no `(...)` can become a link target.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]|~])")


def escape(text: str) -> str:
    flat = " ".join(text.split())  # a newline would end the table row
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(flat, quote=True))


def render(report: Report, local: bool) -> str:
    overall = report.summary.overall
    lines = [
        "# Incident report",
        "",
        f"{overall.recovered} of {overall.hit} hosts hit are recovered "
        f"({escape(percent_text(overall.share_recovered) or 'none hit')}).",
        "",
    ]
    for table in tables(report, local=local):
        lines += _table(table)
    return "\n".join(lines)


def _table(table: Table) -> list[str]:
    lines = [f"## {escape(table.title)}", ""]
    if not table.rows:
        return [*lines, "(none)", ""]
    lines.append("| " + " | ".join(escape(c) for c in table.columns) + " |")
    lines.append("|" + "---|" * len(table.columns))
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in table.rows]
    return [*lines, ""]
