"""Snapshots (pytest-textual-snapshot) of the dashboard, a host detail and the key dialog after
the key was hidden, at 80x24, over the fixed incident. Update with `--snapshot-update` after a
deliberate change, and look at the SVGs before committing them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fleetfix.keys.audit import KEY_READ
from fleetfix.store import open_reader
from tests.tui.conftest import make_app, wait_for
from tests.tui.incident import RIS_KEY, RIS_KEY_ID
from tests.tui.ui import HIDDEN, FleetfixApp

SnapCompare = Callable[..., bool]


@pytest.fixture
def app(incident: Path) -> FleetfixApp:
    return make_app(incident, reveal_seconds=0.3)


def test_dashboard(app: FleetfixApp, snap_compare: SnapCompare) -> None:
    assert snap_compare(app, terminal_size=(80, 24))


def test_host_detail(app: FleetfixApp, snap_compare: SnapCompare) -> None:
    # PACS01: facts with bad channel files, bugchecks and a BitLocker protector.
    assert snap_compare(app, press=["slash", *"PACS01", "enter", "enter"], terminal_size=(80, 24))


def test_key_dialog_after_the_key_was_hidden(app: FleetfixApp, snap_compare: SnapCompare) -> None:
    async def reveal_then_wait(pilot: Any) -> None:
        await pilot.press("k", *RIS_KEY_ID, "tab", *"INC0042", "enter")
        await wait_for(lambda: HIDDEN in str(app.screen.query_one("#key-shown").render()),
                       what="the key to be hidden")  # fmt: skip
        # The reveal must really have happened, or this snapshot proves nothing.
        with open_reader(app.db_path) as reader:
            assert len(reader.audit_log(event=KEY_READ)) == 1
        svg = app.export_screenshot()
        assert RIS_KEY not in svg

    assert snap_compare(app, run_before=reveal_then_wait, terminal_size=(80, 24))


def test_no_stored_snapshot_holds_a_key() -> None:
    stored = sorted((Path(__file__).parent / "__snapshots__").rglob("*.svg"))
    assert len(stored) >= 3
    for svg in stored:
        text = svg.read_text(encoding="utf-8")
        # SVG text has its spaces and dashes as they are; the digits alone are checked too.
        assert RIS_KEY not in text and RIS_KEY.replace("-", "") not in text, svg.name
        assert RIS_KEY.split("-")[0] not in text, svg.name
