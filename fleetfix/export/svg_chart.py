"""The timeline chart as inline SVG, drawn here in Python: no script, nothing fetched.

Two polylines (recovered, still affected) with one point per timeline sample, so a reader of
the file (or a test) can count the samples in the `points` attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from fleetfix.export.model import TimelineSample
from fleetfix.export.text import time_text

WIDTH, HEIGHT = 800, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 60, 20, 20, 40
SERIES = (("recovered", "#2e7d32"), ("still_affected", "#c62828"))


def chart(samples: Sequence[TimelineSample], *, local: bool) -> str:
    if not samples:
        return '<p class="empty">No state changes to chart.</p>'
    top = max(max(s.recovered, s.still_affected) for s in samples) or 1
    start, end = samples[0].at, samples[-1].at
    span = (end - start).total_seconds() or 1.0
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def point(sample: TimelineSample, value: int) -> str:
        x = _LEFT + plot_w * (sample.at - start).total_seconds() / span
        y = _TOP + plot_h * (1 - value / top)
        return f"{x:.1f},{y:.1f}"

    lines = [
        f'<polyline class="{name}" fill="none" stroke="{colour}" stroke-width="2" '
        f'points="{" ".join(point(s, getattr(s, name)) for s in samples)}"/>'
        for name, colour in SERIES
    ]
    axis_y = HEIGHT - _BOTTOM
    labels = [
        f'<text x="{_LEFT}" y="{axis_y + 16}">{escape(time_text(start, local=local))}</text>',
        f'<text x="{WIDTH - _RIGHT}" y="{axis_y + 16}" text-anchor="end">'
        f"{escape(time_text(end, local=local))}</text>",
        f'<text x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end">{top}</text>',
        f'<text x="{_LEFT - 6}" y="{axis_y}" text-anchor="end">0</text>',
    ]
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="{WIDTH}" '
            f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            'aria-label="Recovered and still-affected hosts over time">',
            f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
            f'<line x1="{_LEFT}" y1="{axis_y}" x2="{WIDTH - _RIGHT}" y2="{axis_y}" stroke="#555"/>',
            f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{axis_y}" stroke="#555"/>',
            *lines,
            *labels,
            "</svg>",
        ]
    )
