"""The dashboard and the host detail, driven with Textual's pilot over a real incident file."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from fleetfix.models import HostState
from fleetfix.store import open_reader
from tests.tui.conftest import make_app
from tests.tui.incident import HOSTILE, RIS_INSTRUCTIONS, RIS_KEY_ID_FULL
from tests.tui.ui import (
    FIXED_BY_HAND,
    ConfirmScreen,
    FleetfixApp,
    FleetModel,
    HandsOnScreen,
    HostDetailScreen,
    HostTable,
    counts_text,
)

S = HostState


def shown(app: FleetfixApp) -> list[str]:
    return app.query_one(HostTable).visible_names()


def text_of(app: FleetfixApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_counters_equal_the_stores_state_counts(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(120, 30)):
        counters = " ".join(text_of(app, "#counts").split())  # one line, however it wrapped
        with open_reader(incident) as reader:
            counts = reader.state_counts()
        for state in S:
            assert f"{state.value} {counts[state]} " in counters + " "
        assert f"total {counts.total}" in counters
        assert "recovered 2/7" in text_of(app, "#title")


def test_counters_wrap_between_counters_never_inside_one() -> None:
    # These counts end the second line at column 79 with "total": Rich's own wrapping (at
    # any space, a no-break space too) left its number alone on a third line.
    model = FleetModel()
    model.counts.update({S.UNREACHABLE: 28, S.HEALTHY: 20, S.AWAITING_REBOOT: 3, S.RECOVERED: 4900})
    for width in (80, 40, 120):
        console = Console(width=width, record=True)
        console.print(counts_text(model, width=width))
        lines = console.export_text().splitlines()
        assert all(len(line) <= width for line in lines)
        counters = [c for line in lines for c in line.strip().split("  ")]
        # Every counter whole on one line, in order, each name with its own number.
        expected = [f"{state.value} {model.counts[state]}" for state in S] + ["total 0"]
        assert counters == expected, (width, lines)


async def test_counters_fit_an_80_column_dashboard_without_a_split_counter(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(80, 24)):
        widget = app.screen.query_one("#counts")
        lines = str(widget.render()).split("\n")
        assert len(lines) == widget.size.height  # the height it was given is the lines it drew
        assert all(len(line) <= widget.size.width for line in lines)
        assert all(line.split(" ", 1)[0] in {s.value for s in S} | {"total"} for line in lines)


async def test_slash_filters_by_state_then_escape_clears(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash")
        assert app.focused is not None and app.focused.id == "filter"
        await pilot.press(*"state:need")
        assert shown(app) == ["PACS01", "RIS01"]
        await pilot.press("enter")  # back to the table, filter kept
        assert isinstance(app.focused, HostTable)
        await pilot.press("escape")
        assert len(shown(app)) == 12


async def test_sort_key_cycles_the_order(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("o")  # name -> state
        states = [app.model.get(name) for name in shown(app)]
        assert [h.state.value for h in states if h] == sorted(h.state.value for h in states if h)


async def test_enter_opens_the_host_detail_with_escaped_output(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("slash", *"EMR03", "enter", "enter")
        assert isinstance(app.screen, HostDetailScreen)
        detail = text_of(app, "#detail")
        assert "remove-channel-files #1 destructive: failed" in detail
        assert "\x1b" not in detail and "\r" not in detail and "\x07" not in detail
        assert "\\e[2J" in detail and "[bold red]pwned[/bold red]" in detail  # shown, not obeyed
        assert "more characters]" in detail  # the 1,000 x's were cut
        assert HOSTILE not in detail


async def test_detail_shows_facts_keys_history_and_audit(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(100, 40)) as pilot:
        app.open_detail("PACS01")
        await pilot.pause()
        detail = text_of(app, "#detail")
        assert "bad     C-00000291-00000000-00000032.sys" in detail
        assert "event 41  bugcheck 0x50" in detail
        assert "{D23F0824-128B-4F33-8C5C-7FD0A6A3A450}" in detail
        assert "CSFalconService Running" in detail
        assert "new -> needs_hands_on  engine" in detail
        assert "alice operator.note  note=on site" in detail


async def test_skip_asks_then_moves_the_host_through_the_store(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash", *"VNA02", "enter", "s")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        with open_reader(incident) as reader:
            record = reader.host("VNA02")
        assert record is not None and record.state is S.SKIPPED
        assert "skipped 1" in app.status_text
        assert app.model.counts[S.SKIPPED] == 2


def written(path: Path) -> tuple[object, ...]:
    """Everything the store holds that a skip could write: hosts, history, actions, audit."""
    with open_reader(path) as reader:
        return (reader.hosts(), reader.transitions(), reader.actions(), reader.audit_log(),
                reader.runs())  # fmt: skip


async def test_skip_answered_no_changes_nothing(incident: Path) -> None:
    before = written(incident)
    app = make_app(incident)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash", *"VNA02", "enter", "s")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)  # the question was asked ...
        assert "Skip 1 host?" in str(dialog.query_one("Label").render())
        await pilot.press("n")
        await pilot.pause()
        # ... and answered: the dialog is gone and the dashboard is back.
        assert not any(isinstance(screen, ConfirmScreen) for screen in app.screen_stack)
        assert isinstance(app.focused, HostTable)
        assert app.model.counts[S.SKIPPED] == 1
    with open_reader(incident) as reader:
        record = reader.host("VNA02")
    assert record is not None and record.state is S.AFFECTED
    assert written(incident) == before


async def test_hands_on_queue_lists_hosts_and_marks_fixed_by_hand(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HandsOnScreen)
        assert [h.name for h in app.screen.hosts] == ["PACS01", "RIS01"]
        await pilot.press("f")  # PACS01 is highlighted first
        await pilot.pause()
        with open_reader(incident) as reader:
            (row,) = reader.audit_log(event=FIXED_BY_HAND)
            record = reader.host("PACS01")
        assert row.host == "PACS01" and row.actor == "alice"
        # Without an inventory nothing verifies it, so it stays where it was.
        assert record is not None and record.state is S.NEEDS_HANDS_ON
        assert "verify with `fleetfix run`" in app.status_text


async def test_hands_on_queue_shows_what_to_do_from_the_hand_over_record(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h")
        await pilot.pause()
        assert "No hand-over record" in text_of(app, "#todo")  # PACS01: moved outside a run
        await pilot.press("down")
        await pilot.pause()
        assert RIS_INSTRUCTIONS in text_of(app, "#todo").replace("\n", " ")
        screen = app.screen
        assert isinstance(screen, HandsOnScreen)
        assert screen.handovers["ris01"].key_ids == (RIS_KEY_ID_FULL,)


async def test_selection_space_range_and_all_shown(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(HostTable)
        await pilot.press("space", "shift+down", "shift+down")
        assert table.selected == {"DESK01", "DESK02", "EMR01", "EMR02"}
        await pilot.press("c", "slash", *"tag:lab", "enter", "a")
        assert table.selected == {"LAB01", "LAB02", "LAB03"}
        assert app.targets() == ["LAB01", "LAB02", "LAB03"]


async def test_following_mode_refuses_to_run_without_an_inventory(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x")
        assert "open the TUI with -i" in app.status_text
        assert app.return_code is None
        await pilot.press("q")  # no run going: no question asked
        assert app.return_code == 0


async def test_help_opens_on_question_mark(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert "state:failed" in str(app.screen.query_one("#help").render())


async def test_retry_failed_selects_the_failed_hosts_shown(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        assert app.query_one(HostTable).selected == {"EMR03"}
        assert "1 sel." in text_of(app, "#title")


async def test_command_palette_offers_the_dashboard_actions(incident: Path) -> None:
    app = make_app(incident)
    async with app.run_test(size=(80, 24)) as pilot:
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {"Hands-on queue", "Key lookup", "Run a pack", "Stop the run"} <= set(commands)
        commands["Hands-on queue"].callback()
        await pilot.pause()
        assert isinstance(app.screen, HandsOnScreen)
