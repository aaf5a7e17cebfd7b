"""A self-contained HTML report: inline CSS, an inline SVG chart, no script, nothing fetched.

The Content-Security-Policy forbids every external load, so even a mistake here cannot make
the report call out when opened. Every cell is HTML-escaped: host output is untrusted.
"""

from __future__ import annotations

from html import escape

from fleetfix.export.model import Report
from fleetfix.export.svg_chart import chart
from fleetfix.export.tables import Table, tables
from fleetfix.export.text import percent_text

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } .legend span { margin-right: 1.5em; }
.recovered { color: #2e7d32; } .still_affected { color: #c62828; } .bad { color: #c62828; }
"""


def render(report: Report, local: bool) -> str:
    overall = report.summary.overall
    share = percent_text(overall.share_recovered) or "none hit"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{escape(_CSP)}">',
        "<title>Incident report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Incident report</h1>",
        f'<p id="headline">{overall.recovered} of {overall.hit} hosts hit are recovered '
        f"({escape(share)}).</p>",
    ]
    if not report.tamper.ok:
        parts.append('<p class="bad"><strong>The audit chain does not verify.</strong></p>')
    for table in tables(report, local=local):
        parts.append(f'<h2 id="{table.key}">{escape(table.title)}</h2>')
        if table.key == "timeline":
            parts.append(
                '<p class="legend"><span class="recovered">&#9632; recovered</span>'
                '<span class="still_affected">&#9632; still affected</span></p>'
            )
            parts.append(chart(report.timeline, local=local))
        parts.append(_table(table))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _table(table: Table) -> str:
    if not table.rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    return (
        f'<table class="{table.key}"><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}\n</tbody></table>"
    )
