"""CSV for spreadsheets: one block per table, `[key]` on its own row, then a header row, then
the rows, then an empty row. csv.reader reads it back (quoted newlines included)."""

from __future__ import annotations

import csv
import io

from fleetfix.export.model import Report
from fleetfix.export.tables import tables

# A cell starting like a formula is run by Excel and LibreOffice when the file is opened;
# host names, tags and reasons are untrusted, so such cells get a leading apostrophe (OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def render(report: Report, local: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for table in tables(report, local=local):
        writer.writerow([f"[{table.key}]"])
        writer.writerow(table.columns)
        writer.writerows([_cell(c) for c in row] for row in table.rows)
        writer.writerow([])
    return out.getvalue()
