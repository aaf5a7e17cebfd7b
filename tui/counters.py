"""The per-state counters under the title: one counter per host state, then the total.

They wrap between two counters, never between a counter's name and its number: Rich wraps at
any space (a no-break space included), so at 80 columns "total" ended one line and its number
started the next. The widget lays the counters out for the width it is given instead.
"""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from fleetfix.models import HostState

from .fleet import FleetModel
from .table import STATE_COLOURS

_GAP = "  "


def counts_text(model: FleetModel, *, width: int | None = None) -> Text:
    """`state N` for every state, then `total N`; with a width, a line break goes between two
    counters wherever the next would not fit (a counter wider than the line gets one alone)."""
    # (name, count, name's style, count's style): a state in its colour, the total in bold.
    counters = [
        *(
            (s.value, model.counts[s], STATE_COLOURS[s], f"bold {STATE_COLOURS[s]}")
            for s in HostState
        ),
        ("total", len(model.hosts), "bold", "bold"),
    ]
    text = Text()
    used = 0
    for index, (name, count, name_style, count_style) in enumerate(counters):
        size = len(name) + 1 + len(str(count))
        if index:
            if width is not None and used + len(_GAP) + size > width:
                text.append("\n")
                used = 0
            else:
                text.append(_GAP)
                used += len(_GAP)
        text.append(f"{name} ", style=name_style)
        text.append(str(count), style=count_style)
        used += size
    return text


class Counters(Widget):
    """The counters of `model`, laid out anew at every width; `refresh(layout=True)` after
    the model changed (the number of lines may change with the counts)."""

    DEFAULT_CSS = "Counters { height: auto; }"

    def __init__(self, model: FleetModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model

    def render(self) -> Text:
        return counts_text(self.model, width=self.content_size.width or None)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return counts_text(self.model, width=width).plain.count("\n") + 1
