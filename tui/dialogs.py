"""Small modal screens: yes/no, the run confirmation, and help."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Select, Static

from fleetfix.wording import counted

_BOX = """
    align: center middle;
    & > Vertical { width: 72; height: auto; max-height: 22; border: thick $accent;
                   padding: 0 1; background: $surface; }
    Horizontal { height: auto; }
"""


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = "ConfirmScreen {" + _BOX + "}"
    BINDINGS = [  # noqa: RUF012 - read by Textual
        Binding("escape", "answer(False)", "No"),
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
    ]

    def __init__(self, question: str, *, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.question))
            with Horizontal():
                yield Button(self.yes, variant="error", id="yes")
                yield Button(self.no, variant="primary", id="no")

    def on_mount(self) -> None:
        # The safe answer has the focus: Enter on a surprise dialog must not act.
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


@dataclass(frozen=True, slots=True)
class RunRequest:
    pack: str
    dry_run: bool
    hosts: tuple[str, ...]


class RunScreen(ModalScreen[RunRequest | None]):
    """Which pack, dry run or not, on how many hosts: the button says all three."""

    DEFAULT_CSS = "RunScreen {" + _BOX + "}"
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]  # noqa: RUF012 - read by Textual

    def __init__(self, hosts: Sequence[str], packs: Sequence[str], *, pack: str | None) -> None:
        super().__init__()
        self.hosts = tuple(hosts)
        self.packs = list(packs)
        self.initial = pack if pack in self.packs else (self.packs[0] if self.packs else None)

    def compose(self) -> ComposeResult:
        with Vertical():
            shown = ", ".join(self.hosts[:5]) + (" ..." if len(self.hosts) > 5 else "")
            yield Label(Text(f"Run a pack on {len(self.hosts)} selected hosts: {shown}"))
            yield Select(
                [(name, name) for name in self.packs], value=self.initial or Select.BLANK,
                allow_blank=False, id="run-pack",
            )  # fmt: skip
            yield Checkbox("Dry run (probe and detect only, change nothing)", True, id="run-dry")
            with Horizontal():
                yield Button("", variant="warning", id="run-go")
                yield Button("Cancel", variant="primary", id="run-cancel")

    def on_mount(self) -> None:
        self._label()
        self.query_one("#run-cancel", Button).focus()

    def _request(self) -> RunRequest | None:
        pack = self.query_one("#run-pack", Select).value
        if not isinstance(pack, str):
            return None
        return RunRequest(pack, self.query_one("#run-dry", Checkbox).value, self.hosts)

    def _label(self) -> None:
        request = self._request()
        go = self.query_one("#run-go", Button)
        if request is None:
            go.label, go.disabled = "No pack", True
            return
        mode = "DRY RUN" if request.dry_run else "FOR REAL"
        go.label = f"{mode}: {request.pack} on {counted(len(request.hosts), 'host')}"
        go.variant = "warning" if request.dry_run else "error"

    def on_select_changed(self) -> None:
        self._label()

    def on_checkbox_changed(self) -> None:
        self._label()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self._request() if event.button.id == "run-go" else None)


HELP = """\
Fleet dashboard
  /        filter: words match name, address, reason and tags;
           state:failed  state:need,boot  tag:site=paris  (all must match)
  escape   clear the filter               o  cycle the sort order
  arrows, pgup/pgdn, home/end  move       enter  host detail
  space    select the host                shift+up/down  select a range
  a        select every host shown        c  clear the selection
  h        hands-on queue                 k  key lookup
  p        probe the selection            x  run a pack (asks first)
  t        retry failed: select the failed hosts shown, then x
  s        skip the selection             f  mark fixed by hand, verify
  P        pause the run: no new host starts, hosts in flight go on
  S        stop the run: hosts in flight finish; twice: at once
  R        continue a paused run, or resume the last stopped one
  q        quit (asks during a run)
  ctrl+p   command palette: every action by name

Progress: recovered over hosts hit (affected, boot loop, remediating,
awaiting reboot, recovered, failed, hands-on). Chart: recoveries over
the incident's time. Opened without -i the screen only follows.

Host detail   r reload  k key lookup  s skip  f fixed by hand  esc back
Key lookup    key ID and reason required; shown once, then hidden.
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 80; height: 90%; border: thick $accent;
                                  background: $surface; }
    """
    BINDINGS = [  # noqa: RUF012 - read by Textual
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(HELP), id="help")
