"""The host table: a line-API widget that draws only the rows on screen.

A DataTable measures and stores every cell of every row; with 10,000 hosts changing state
hundreds of times a second that is the stutter the war room must not see. This widget keeps a
reference to the model's sorted view and renders the visible rows on demand, so an update costs
one `refresh()` whatever the fleet size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from fleetfix.models import HostState
from fleetfix.store import HostRecord
from fleetfix.store.connect import fold

from .text import clean, fit

S = HostState

STATE_COLOURS: dict[HostState, str] = {
    S.NEW: "grey62",
    S.UNREACHABLE: "magenta",
    S.HEALTHY: "green",
    S.AFFECTED: "dark_orange",
    S.BOOT_LOOP: "red",
    S.REMEDIATING: "cyan",
    S.AWAITING_REBOOT: "deep_sky_blue1",
    S.RECOVERED: "bright_green",
    S.FAILED: "bright_red",
    S.NEEDS_HANDS_ON: "yellow",
    S.SKIPPED: "grey50",
}


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    width: int  # 0: takes what is left
    #: The cell's text from the host's row and when it last answered (None: never).
    value: Callable[[HostRecord, datetime | None], str]
    #: Lower goes first when the terminal is narrow (80 columns keeps priority <= 2).
    priority: int


def _since(host: HostRecord, seen: datetime | None) -> str:
    return f"{host.since:%H:%M:%S}"


def _seen(host: HostRecord, seen: datetime | None) -> str:
    return "never" if seen is None else f"{seen:%H:%M:%S}"


COLUMNS: tuple[Column, ...] = (
    Column("Host", 16, lambda h, _: h.name, 1),
    Column("State", 15, lambda h, _: h.state.value, 1),
    Column("Att", 3, lambda h, _: str(h.attempts), 2),
    Column("Since", 8, _since, 2),
    Column("Seen", 8, _seen, 3),
    Column("Address", 15, lambda h, _: h.address or "", 3),
    Column("Last action", 20, lambda h, _: h.last_action or "", 3),
    Column("Tags", 18, lambda h, _: ",".join(h.tags), 4),
    Column("Reason", 0, lambda h, _: h.reason, 1),
)
_MARK = 2  # selection mark and a space


def columns_for(width: int) -> list[tuple[Column, int]]:
    """The columns that fit in `width`, with their widths; Reason gets the rest (min 12)."""
    for cutoff in (4, 3, 2, 1):
        chosen = [c for c in COLUMNS if c.priority <= cutoff]
        fixed = sum(c.width + 1 for c in chosen if c.width) + _MARK
        if width - fixed >= 12 or cutoff == 1:
            rest = max(12, width - fixed)
            return [(c, c.width or rest) for c in chosen]
    raise AssertionError("unreachable")  # the loop returns at cutoff 1


def header_text(width: int) -> str:
    return " " * _MARK + " ".join(fit(c.title, w) for c, w in columns_for(width))


class HostTable(ScrollView, can_focus=True):
    """Rows of the model's view; the cursor and the selection live here, data does not."""

    BINDINGS = [  # noqa: RUF012 - Textual reads this class attribute
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("space", "toggle_mark", "Select"),
        Binding("shift+down", "extend(1)", "Select down", show=False),
        Binding("shift+up", "extend(-1)", "Select up", show=False),
        Binding("enter", "open", "Detail", show=False),
    ]

    DEFAULT_CSS = """
    HostTable { height: 1fr; }
    """

    cursor = reactive(0, always_update=True)

    class Opened(Message):
        """Enter on a row: show that host's detail."""

        def __init__(self, host: str) -> None:
            super().__init__()
            self.host = host

    class SelectionChanged(Message):
        def __init__(self, count: int) -> None:
            super().__init__()
            self.count = count

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: Sequence[HostRecord] = ()
        self.selected: set[str] = set()
        #: Folded host name -> when it last answered; the app hands the model's map down.
        self.last_seen: Mapping[str, datetime] = {}

    # --- data in -----------------------------------------------------------------------
    def show(self, rows: Sequence[HostRecord]) -> None:
        """Point at a new view (the model's list); keeps the cursor on the same host."""
        current = self.current_host
        self._rows = rows
        self.virtual_size = Size(self.size.width, len(rows))
        if current is not None:
            index = self._index_of(current)
            if index is not None and index != self.cursor:
                self.cursor = index
        self.cursor = min(self.cursor, max(0, len(rows) - 1))
        self.refresh()

    def _index_of(self, name: str) -> int | None:
        # Only when the row moved: a linear scan of 10k names is ~0.3 ms, cheap per poll.
        if self.cursor < len(self._rows) and self._rows[self.cursor].name == name:
            return self.cursor
        for index, host in enumerate(self._rows):
            if host.name == name:
                return index
        return None

    @property
    def current_host(self) -> str | None:
        if 0 <= self.cursor < len(self._rows):
            return self._rows[self.cursor].name
        return None

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def visible_names(self) -> list[str]:
        return [host.name for host in self._rows]

    # --- drawing -------------------------------------------------------------------------
    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._rows))

    def render_line(self, y: int) -> Strip:
        index = y + self.scroll_offset.y
        width = self.size.width
        if index >= len(self._rows):
            return Strip.blank(width)
        host = self._rows[index]
        mark = "● " if host.name in self.selected else "  "
        seen = self.last_seen.get(fold(host.name))
        cells = " ".join(fit(clean(c.value(host, seen)), w) for c, w in columns_for(width))
        style = Style(color=STATE_COLOURS[host.state])
        if index == self.cursor:
            style += Style(reverse=True, bold=self.has_focus)
        return Strip([Segment(fit(mark + cells, width), style)], width)

    def watch_cursor(self, old: int, new: int) -> None:
        self.scroll_to_region_safe(new)
        self.refresh()

    def scroll_to_region_safe(self, index: int) -> None:
        top = self.scroll_offset.y
        height = max(1, self.size.height)
        if index < top:
            self.scroll_to(y=index, animate=False)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False)

    # --- keys ----------------------------------------------------------------------------
    def _move(self, delta: int) -> None:
        if self._rows:
            self.cursor = max(0, min(len(self._rows) - 1, self.cursor + delta))

    def action_cursor(self, delta: int) -> None:
        self._move(delta)

    def action_page(self, direction: int) -> None:
        self._move(direction * max(1, self.size.height - 1))

    def action_jump(self, where: int) -> None:
        if self._rows:
            self.cursor = where if where >= 0 else len(self._rows) - 1

    def action_toggle_mark(self) -> None:
        name = self.current_host
        if name is None:
            return
        if name in self.selected:
            self.selected.discard(name)
        else:
            self.selected.add(name)
        self._selection_changed()
        self._move(1)

    def action_extend(self, delta: int) -> None:
        """Shift+arrows select a range, the way a file manager does."""
        name = self.current_host
        if name is not None:
            self.selected.add(name)
        self._move(delta)
        name = self.current_host
        if name is not None:
            self.selected.add(name)
        self._selection_changed()

    def select_all_shown(self) -> None:
        self.selected.update(host.name for host in self._rows)
        self._selection_changed()

    def clear_selection(self) -> None:
        self.selected.clear()
        self._selection_changed()

    def _selection_changed(self) -> None:
        self.refresh()
        self.post_message(self.SelectionChanged(len(self.selected)))

    def action_open(self) -> None:
        name = self.current_host
        if name is not None:
            self.post_message(self.Opened(name))

    def on_click(self, event: object) -> None:
        self.focus()
