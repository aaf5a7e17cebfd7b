"""The hands-on queue: hosts a technician must visit, what to do, and the key IDs to expect.

What to do comes from the engine's hand-over record (`host.hands_on` in the audit log: its
instructions and the BitLocker key IDs from the key providers), so a screen following a
headless run shows the same words the run printed. Key IDs, never keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from fleetfix.engine.flow import HANDS_ON_EVENT
from fleetfix.probe.facts import latest_readable
from fleetfix.store import HostRecord, Reader
from fleetfix.store.connect import fold
from fleetfix.wording import counted

from .text import clean

_NO_RECORD = (
    "No hand-over record (the host was moved here outside a run). At the console: if the "
    "BitLocker recovery screen shows, read its key ID and press k here; fix the host, then f."
)


@dataclass(frozen=True, slots=True)
class Handover:
    """What the technician at this host's console needs."""

    instructions: str
    key_ids: tuple[str, ...]


def read_handovers(reader: Reader, hosts: Sequence[HostRecord]) -> dict[str, Handover]:
    """The latest hand-over per host (folded name), key IDs merged with the latest facts'."""
    wanted = {fold(h.name) for h in hosts}
    latest: dict[str, Mapping[str, object]] = {}
    for row in reader.audit_log(event=HANDS_ON_EVENT):
        if row.host is not None and fold(row.host) in wanted:
            latest[fold(row.host)] = row.details
    found: dict[str, Handover] = {}
    for host in hosts:
        key = fold(host.name)
        details = latest.get(key, {})
        ids = details.get("key_ids")
        key_ids = [str(i) for i in ids] if isinstance(ids, list) else []
        key_ids += [i for i in _facts_key_ids(reader, host.name) if i not in key_ids]
        instructions = str(details.get("instructions") or _NO_RECORD)
        found[key] = Handover(instructions, tuple(key_ids))
    return found


def _facts_key_ids(reader: Reader, name: str) -> list[str]:
    facts = latest_readable([r.facts for r in reader.facts(name)])
    return [] if facts is None else [k for v in facts.bitlocker for k in v.recovery_key_ids]


def queue_line(host: HostRecord, handover: Handover | None) -> Text:
    line = Text()
    line.append(clean(host.name), style="bold yellow")
    line.append(f"  since {host.since:%m-%d %H:%M}  ")
    line.append(clean(host.reason))
    if handover is not None and handover.key_ids:
        line.append("\n    key IDs: " + clean(", ".join(handover.key_ids)), style="dim")
    return line


class HandsOnScreen(Screen[None]):
    DEFAULT_CSS = """
    HandsOnScreen #queue { height: 1fr; }
    HandsOnScreen #todo-box { height: 8; border-top: solid $accent; }
    """
    BINDINGS = [  # noqa: RUF012 - read by Textual
        Binding("escape", "app.pop_screen", "Back"),
        Binding("k", "key", "Key lookup"),
        Binding("enter", "detail", "Detail", show=False),
        Binding("f", "fixed", "Fixed by hand"),
    ]

    def __init__(
        self,
        hosts: Sequence[HostRecord],
        *,
        handovers: Mapping[str, Handover],
        on_action: Callable[[str, str], None],
    ) -> None:
        super().__init__()
        self.hosts = list(hosts)
        self.handovers = handovers
        self._on_action = on_action

    def compose(self) -> ComposeResult:
        yield Static(
            Text(
                f"Hands-on queue: {counted(len(self.hosts), 'host')} "
                f"need{'s' if len(self.hosts) == 1 else ''} a technician"
            )
        )
        options = [
            Option(queue_line(h, self.handovers.get(fold(h.name))), id=h.name) for h in self.hosts
        ]
        yield OptionList(*options, id="queue")
        with VerticalScroll(id="todo-box"):
            yield Static("", id="todo")
        yield Footer()

    def on_mount(self) -> None:
        queue = self.query_one("#queue", OptionList)
        queue.focus()
        if self.hosts:
            queue.highlighted = 0  # the longest waiting first, ready for k or f

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        handover = self.handovers.get(fold(event.option.id or ""))
        text = Text("What to do: ", style="bold")
        text.append(clean(handover.instructions if handover else _NO_RECORD))
        self.query_one("#todo", Static).update(text)

    def _current(self) -> str | None:
        queue = self.query_one("#queue", OptionList)
        if queue.highlighted is None:
            return None
        return queue.get_option_at_index(queue.highlighted).id

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self._on_action("detail", event.option.id)

    def action_detail(self) -> None:
        if (host := self._current()) is not None:
            self._on_action("detail", host)

    def action_key(self) -> None:
        if (host := self._current()) is not None:
            self._on_action("key", host)

    def action_fixed(self) -> None:
        if (host := self._current()) is not None:
            self._on_action("fixed", host)
