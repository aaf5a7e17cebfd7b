"""The key lookup dialog: key ID prefix and reason in, the recovery password shown once.

The same three calls as `fleetfix key lookup` (find_keys, choose_key, reveal_key), so the audit
row is the CLI's, committed before the key is returned. The key lives in one local variable and
in the Static that shows it; after `reveal_seconds` the Static is overwritten and nothing in the
app refers to it any more. It is never put in a notification, a log line or the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from fleetfix.credentials import Secret
from fleetfix.errors import FleetfixError
from fleetfix.keys.audit import KeyRead, load_hmac_secret
from fleetfix.keys.config import KeysConfig
from fleetfix.keys.errors import AmbiguousKeyIdError
from fleetfix.keys.factory import open_providers
from fleetfix.keys.lookup import choose_key, find_keys, reveal_key
from fleetfix.keys.model import KeyIdPrefix
from fleetfix.store import Store

from .text import clean

HIDDEN = "Key hidden. It was shown once; the read is in the audit log."


@dataclass(frozen=True, slots=True)
class KeyAccess:
    """What a lookup needs: where keys come from, where reads are audited, and who reads."""

    config: KeysConfig
    db_path: Path
    actor: str
    store: Callable[[], Store]
    reveal_seconds: float = 30.0


def lookup_key(
    access: KeyAccess, *, prefix_text: str, host: str | None, reason: str
) -> tuple[Secret, str]:
    """Find, check, audit and return one key, with a line saying which; errors are
    FleetfixError with a message fit for the dialog (never the key)."""
    prefix = KeyIdPrefix.parse(prefix_text)
    with open_providers(access.config) as providers:
        found = find_keys(providers.opened, prefix, host=host)
        info = choose_key(found, prefix)
        read = KeyRead(actor=access.actor, reason=reason, purpose="lookup", host=host)
        password = reveal_key(
            access.store(), providers.opened, info, read=read,
            hmac_secret=load_hmac_secret(access.db_path),
        )  # fmt: skip
    return (
        password,
        f"{info.host or host or 'unknown host'}, key ID {info.key_id} ({info.provider})",
    )


class KeyLookupScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    KeyLookupScreen { align: center middle; }
    #key-box {
        width: 76; height: auto; border: thick $warning; padding: 0 1; background: $surface;
    }
    #key-shown { height: 3; content-align: center middle; text-style: bold; }
    #key-buttons { height: auto; }
    """
    BINDINGS = [Binding("escape", "dismiss", "Close")]  # noqa: RUF012 - read by Textual

    def __init__(self, access: KeyAccess, *, host: str | None = None) -> None:
        super().__init__()
        self.access = access
        self.host = host

    def compose(self) -> ComposeResult:
        with Vertical(id="key-box"):
            yield Label(
                Text(
                    "BitLocker recovery key lookup"
                    + (f" for {clean(self.host)}" if self.host else "")
                )
            )
            yield Input(placeholder="key ID (first 8 hex digits or all 32)", id="key-id")
            yield Input(placeholder="reason (ticket, incident) - required", id="key-reason")
            yield Static("", id="key-shown")
            yield Static("", id="key-status")
            with Horizontal(id="key-buttons"):
                yield Button("Reveal once", variant="warning", id="key-reveal")
                yield Button("Close", id="key-close")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "key-close":
            self.dismiss()
        elif event.button.id == "key-reveal":
            self.submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.submit()

    def _status(self, text: str, *, style: str = "") -> None:
        self.query_one("#key-status", Static).update(Text(clean(text), style=style))

    def submit(self) -> None:
        prefix = self.query_one("#key-id", Input).value.strip()
        reason = self.query_one("#key-reason", Input).value.strip()
        if not prefix:
            self._status("Type the key ID the recovery screen shows.", style="red")
            return
        if not reason:
            self._status("A reason is required: every key read is audited.", style="red")
            return
        self.query_one("#key-reveal", Button).disabled = True
        self._status("Looking up...")
        self._lookup(prefix, reason)

    @work(thread=True, exclusive=True, group="key")
    def _lookup(self, prefix: str, reason: str) -> None:
        # Providers (LDAP, Graph) block: off the event loop, so the screen keeps drawing.
        try:
            password, which = lookup_key(
                self.access, prefix_text=prefix, host=self.host, reason=reason
            )
        except AmbiguousKeyIdError as ambiguous:
            self.app.call_from_thread(self._failed, f"{ambiguous}\nType the full key ID.")
            return
        except FleetfixError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        # The Text is built here and handed over; the Secret goes out of scope with this frame.
        shown = Text(password.reveal(), style="bold")
        self.app.call_from_thread(self._reveal, shown, which)

    def _failed(self, message: str) -> None:
        self._status(message, style="red")
        self.query_one("#key-reveal", Button).disabled = False

    def _reveal(self, shown: Text, which: str) -> None:
        self.query_one("#key-shown", Static).update(shown)
        seconds = self.access.reveal_seconds
        self._status(f"{which}. Read audited; hidden in {seconds:g} s. Rotate it after use.")
        self.set_timer(seconds, self.hide_key)

    def hide_key(self) -> None:
        self.query_one("#key-shown", Static).update(Text(HIDDEN, style="dim"))
        self.query_one("#key-id", Input).value = ""
        self.query_one("#key-reveal", Button).disabled = False
        self._status("")
