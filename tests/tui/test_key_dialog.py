"""The key lookup dialog over the real escrow provider and a real incident database: shown
once, audited like `fleetfix key lookup`, then gone from the screen."""

from __future__ import annotations

from pathlib import Path

from fleetfix.keys.audit import KEY_READ
from fleetfix.store import open_reader
from tests.tui.conftest import make_app, wait_for
from tests.tui.incident import RIS_KEY, RIS_KEY_ID
from tests.tui.ui import HIDDEN, FleetfixApp, KeyLookupScreen

REVEAL_SECONDS = 0.6


def shown_key(app: FleetfixApp) -> str:
    return str(app.screen.query_one("#key-shown").render())


def status(app: FleetfixApp) -> str:
    return str(app.screen.query_one("#key-status").render())


async def test_key_is_revealed_once_audited_then_hidden(incident: Path) -> None:
    app = make_app(incident, actor="bob", reveal_seconds=REVEAL_SECONDS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("k")
        assert isinstance(app.screen, KeyLookupScreen)
        await pilot.press(*RIS_KEY_ID, "tab", *"INC0042 boot loop", "enter")
        await wait_for(lambda: RIS_KEY in shown_key(app), what="the key on screen")
        # The audit row is committed before the key reached the screen.
        with open_reader(incident) as reader:
            (row,) = reader.audit_log(event=KEY_READ)
        assert row.actor == "bob" and row.host == "RIS01"
        assert row.details["reason"] == "INC0042 boot loop" and row.details["purpose"] == "lookup"
        assert str(row.details["key_hmac"]).startswith("hmac-sha256:")
        assert "RIS01" in status(app) and "hidden in" in status(app)
        await wait_for(lambda: HIDDEN in shown_key(app), what="the key to be hidden")
        screen = app.export_screenshot()
        assert RIS_KEY not in screen and RIS_KEY.replace("-", "") not in screen
        assert RIS_KEY not in shown_key(app)
        assert all(RIS_KEY not in str(n.message) for n in app._notifications)
    # Never in the database: not in the audit row, not anywhere in the file.
    for path in incident.parent.glob("incident.db*"):
        if path.suffix != ".hmac-key":
            assert RIS_KEY.encode() not in path.read_bytes(), path


async def test_reason_is_required_and_nothing_is_read_without_one(incident: Path) -> None:
    app = make_app(incident, actor="bob", reveal_seconds=REVEAL_SECONDS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("k", *RIS_KEY_ID, "enter")
        assert "reason is required" in status(app)
        assert "Key" not in shown_key(app) and RIS_KEY not in shown_key(app)
    with open_reader(incident) as reader:
        assert reader.audit_log(event=KEY_READ) == []


async def test_shared_prefix_asks_for_the_full_key_id_and_reads_nothing(incident: Path) -> None:
    app = make_app(incident, actor="bob", reveal_seconds=REVEAL_SECONDS)
    async with app.run_test(size=(80, 24)) as pilot:
        app.host_action("key", "PACS01")  # from the detail or the hands-on queue: host known
        await pilot.pause()
        await pilot.press(*"1A2B3C4D", "tab", *"INC0042", "enter")
        await wait_for(lambda: "full key ID" in status(app), what="the full key ID question")
        assert "1A2B3C4D-1111" in status(app) and "1A2B3C4D-2222" in status(app)
    with open_reader(incident) as reader:
        assert reader.audit_log(event=KEY_READ) == []
