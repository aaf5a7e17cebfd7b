"""The war-room app: the fleet dashboard, and the screens it opens.

Data flows one way: the store -> `StoreFollower.poll()` (twice a second, only changed rows) ->
`FleetModel` -> widgets. The app writes only through `Store` methods (skip, audit rows, key
reads, runs it starts), and a run it starts writes to the same database it follows, so what the
screen shows is always what the store holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, ProgressBar, Sparkline, Static
from textual.worker import Worker

from fleetfix.engine import FleetRun
from fleetfix.engine.events import (
    Event,
    HostChanged,
    HostDone,
    RunContinued,
    RunFinished,
    RunPaused,
    StepFinished,
    StepStarted,
)
from fleetfix.errors import FleetfixError, IllegalTransition
from fleetfix.keys.config import KeysConfig
from fleetfix.models import HostState
from fleetfix.store import Store, open_reader
from fleetfix.store.clock import Clock, system_clock
from fleetfix.wording import counted

from .counters import Counters
from .detail import HostDetailScreen, host_detail
from .dialogs import ConfirmScreen, HelpScreen, RunRequest, RunScreen
from .fleet import SORT_KEYS, FleetModel, HostFilter, StoreFollower, recovery_rate
from .handson import HandsOnScreen, read_handovers
from .keys import KeyAccess, KeyLookupScreen
from .table import HostTable, header_text
from .text import clean
from .work import FleetAccess, describe

S = HostState
_RATE_BUCKETS = 30
_PALETTE = (
    ("Hands-on queue", "Hosts waiting for a technician", "hands_on"),
    ("Key lookup", "Reveal one BitLocker recovery key, audited", "key_lookup"),
    ("Run a pack", "On the selection, after a confirmation", "run_pack"),
    ("Probe", "Probe the selection (read-only)", "probe"),
    ("Retry failed", "Select the failed hosts shown", "retry_failed"),
    ("Skip", "Skip the selection", "skip"),
    ("Mark fixed by hand", "Record a technician's fix, then verify", "fixed"),
    ("Pause or continue the run", "While paused no new host starts", "pause"),
    ("Stop the run", "No new hosts start; again: at once", "stop"),
    ("Resume", "Continue a paused run, or the last stopped one", "resume"),
    ("Select every host shown", "Everything matching the filter", "select_shown"),
    ("Clear the selection", "", "clear_selection"),
)
FIXED_BY_HAND = "host.fixed_by_hand"


def elapsed_text(start: datetime | None, now: datetime) -> str:
    if start is None:
        return "not started"
    minutes = max(0, int((now - start).total_seconds() // 60))
    return f"{minutes // 60}h{minutes % 60:02d}m"


class FleetfixApp(App[None]):
    TITLE = "fleetfix"
    CSS = """
    #title { height: 1; background: $primary-background; text-style: bold; }
    #counts { height: auto; }
    #bars { height: 1; }
    #bars ProgressBar { width: 1fr; }
    #rate { width: 32; height: 1; }
    #filter { display: none; height: 3; }
    #filter.shown { display: block; }
    #table-header { height: 1; text-style: bold underline; }
    #status { height: 1; color: $text-muted; }
    """
    BINDINGS = [  # noqa: RUF012 - read by Textual
        Binding("question_mark", "help", "Help"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("o", "sort", "Sort", show=False),
        Binding("a", "select_shown", "Select shown", show=False),
        Binding("c", "clear_selection", "Clear sel.", show=False),
        Binding("h", "hands_on", "Hands-on"),
        Binding("k", "key_lookup", "Key"),
        Binding("p", "probe", "Probe", show=False),
        Binding("x", "run_pack", "Run"),
        Binding("t", "retry_failed", "Retry failed", show=False),
        Binding("s", "skip", "Skip", show=False),
        Binding("f", "fixed", "Fixed", show=False),
        Binding("P", "pause", "Pause", show=False),
        Binding("S", "stop", "Stop run", show=False),
        Binding("R", "resume", "Resume", show=False),
        Binding("q", "quit_safely", "Quit"),
    ]

    def __init__(
        self,
        db_path: Path,
        *,
        actor: str,
        keys: KeysConfig | None = None,
        access: FleetAccess | None = None,
        clock: Clock = system_clock,
        poll_seconds: float = 0.5,
        reveal_seconds: float = 30.0,
        default_pack: str | None = "crowdstrike-291",
        start_with: FleetRun | None = None,
        store: Store | None = None,
    ) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self.actor = actor
        self.access = access
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.model = FleetModel()
        self.follower = StoreFollower(self.db_path)
        self.recoveries: list[datetime] = []
        self.started: datetime | None = None
        # A caller's store (the demo's, which its run writes through) stays the caller's to
        # close; one the app opens itself is closed on unmount.
        self._store: Store | None = store
        self._owns_store = store is None
        self.keys = KeyAccess(
            config=keys or KeysConfig(), db_path=self.db_path, actor=actor, store=self.store,
            reveal_seconds=reveal_seconds,
        )  # fmt: skip
        self.fleet_run: FleetRun | None = None
        self.stop_requested = False
        self.run_worker_: Worker[None] | None = None
        # The run dialog offers the last pack run, first the outage's own.
        self.last_pack = default_pack
        self.status_text = "following" if access is None else "ready"
        # A run to drive from the first frame (`fleetfix demo`): the screen is its observer.
        self._start_with = start_with
        self._build_widgets()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette (ctrl+p) offers every dashboard action by name."""
        yield from super().get_system_commands(screen)
        for title, help_text, action in _PALETTE:
            yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))

    # --- store ---------------------------------------------------------------------------
    def store(self) -> Store:
        """The one write connection, opened on first write: a following TUI may never write."""
        if self._store is None:
            self._store = Store.open(self.db_path, clock=self.clock)
        return self._store

    # --- layout --------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        # Held, not queried: `App.query_one` searches the screen on top, and timers keep
        # drawing the dashboard while a detail or a dialog covers it.
        self.title_line = Static(id="title")
        self.counters = Counters(self.model, id="counts")
        self.bar = ProgressBar(total=1, show_eta=False, id="progress")
        self.rate = Sparkline([0.0], id="rate")
        self.filter_box = Input(placeholder="filter: words, state:failed, tag:site=paris",
                                id="filter")  # fmt: skip
        self.table_header = Static(id="table-header")
        self.table = HostTable(id="hosts")
        self.table.last_seen = self.model.last_seen  # one map, updated in place by polls
        self.status_line = Static(id="status")

    def compose(self) -> ComposeResult:
        yield self.title_line
        yield self.counters
        with Horizontal(id="bars"):
            yield self.bar
            yield self.rate
        yield self.filter_box
        yield self.table_header
        yield self.table
        yield self.status_line
        yield Footer()

    def on_mount(self) -> None:
        changes = self.follower.load()
        self.model.update(changes.hosts)
        self.model.update_seen(changes.seen)
        self.recoveries.extend(changes.recovered_at)
        self.started = self.follower.first_transition_at()
        self.refresh_view()
        self.table.focus()
        self.set_interval(self.poll_seconds, self.poll)
        if self._start_with is not None:
            self.start(self._start_with)
            self._start_with = None

    def on_unmount(self) -> None:
        self.follower.close()
        if self._store is not None and self._owns_store:
            self._store.close()

    def on_resize(self) -> None:
        self.table_header.update(header_text(self.size.width))

    # --- following ------------------------------------------------------------------------
    def poll(self) -> int:
        """Read what changed since the last poll; returns how many hosts changed."""
        if not self.is_running:
            return 0  # a timer or a worker finishing while the app shuts down
        changes = self.follower.poll()
        self.recoveries.extend(changes.recovered_at)
        if self.started is None and changes.hosts:
            self.started = self.follower.first_transition_at()
        changed = self.model.update(changes.hosts)
        seen = self.model.update_seen(changes.seen)
        if changed or changes.recovered_at:
            self.refresh_view()
        elif seen:
            self.table.refresh()  # only the Seen column moved
        detail = self.screen
        if isinstance(detail, HostDetailScreen) and any(
            h.name.casefold() == detail.host.casefold() for h in changes.hosts
        ):
            detail.action_reload()  # the host on screen moved: show its new history
        else:
            self._title()
        return changed

    def refresh_view(self) -> None:
        table = self.table
        table.show(self.model.view())
        self.counters.refresh(layout=True)
        bar = self.bar
        bar.update(total=max(1, self.model.hit), progress=self.model.recovered)
        now = self.clock()
        if self.started is not None:
            rate = recovery_rate(
                self.recoveries, start=self.started, now=now, buckets=_RATE_BUCKETS
            )
            self.rate.data = rate
        self.table_header.update(header_text(self.size.width))
        self._title()

    def _title(self) -> None:
        table = self.table
        shown = f"{table.row_count} shown" if not self.model.host_filter.empty else "all"
        elapsed = elapsed_text(self.started, self.clock())
        paused = " | PAUSED" if self.running and self.fleet_run and self.fleet_run.paused else ""
        text = (
            f" {clean(self.db_path.stem)} | {elapsed} | recovered {self.model.recovered}/"
            f"{self.model.hit} | {shown} | {len(table.selected)} sel. | by {self.model.sort_by}"
            f"{paused}"
        )
        self.title_line.update(Text(text))
        self.status_line.update(Text(clean(self.status_text, limit=200)))

    def say(self, text: str) -> None:
        self.status_text = text
        self._title()

    # --- filter and sort ---------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.filter_box
        box.add_class("shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.model.set_filter(HostFilter.parse(event.value))
            self.refresh_view()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.filter_box
        box.value = ""
        box.remove_class("shown")
        self.model.set_filter(HostFilter())
        self.refresh_view()
        self.table.focus()

    def action_sort(self) -> None:
        following = SORT_KEYS[(SORT_KEYS.index(self.model.sort_by) + 1) % len(SORT_KEYS)]
        self.model.set_sort(following)
        self.refresh_view()

    # --- selection -------------------------------------------------------------------------
    def action_select_shown(self) -> None:
        self.table.select_all_shown()

    def action_clear_selection(self) -> None:
        self.table.clear_selection()

    def on_host_table_selection_changed(self, event: HostTable.SelectionChanged) -> None:
        self._title()

    def targets(self) -> list[str]:
        """The selection, or the host under the cursor when nothing is selected."""
        table = self.table
        if table.selected:
            return sorted(table.selected, key=str.casefold)
        current = table.current_host
        return [] if current is None else [current]

    # --- screens ---------------------------------------------------------------------------
    def on_host_table_opened(self, event: HostTable.Opened) -> None:
        self.open_detail(event.host)

    def read_detail(self, host: str) -> Text:
        with open_reader(self.db_path) as reader:
            return host_detail(reader, host)

    def open_detail(self, host: str) -> None:
        self.push_screen(HostDetailScreen(host, read=self.read_detail, on_action=self.host_action))

    def host_action(self, action: str, host: str) -> None:
        """Actions asked for by the detail and hands-on screens, on one host."""
        if action == "detail":
            self.open_detail(host)
        elif action == "key":
            self.push_screen(KeyLookupScreen(self.keys, host=host))
        elif action == "skip":
            self.ask_skip([host])
        elif action == "fixed":
            self.ask_fixed([host])

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_key_lookup(self) -> None:
        self.push_screen(KeyLookupScreen(self.keys))

    def action_hands_on(self) -> None:
        queue = sorted(
            (h for h in self.model.hosts.values() if h.state is S.NEEDS_HANDS_ON),
            key=lambda h: h.since,
        )
        with open_reader(self.db_path) as reader:
            handovers = read_handovers(reader, queue)
        self.push_screen(HandsOnScreen(queue, handovers=handovers, on_action=self.host_action))

    # --- writes through the store ----------------------------------------------------------
    def action_skip(self) -> None:
        self.ask_skip(self.targets())

    def ask_skip(self, hosts: Sequence[str]) -> None:
        if not hosts:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.skip(hosts)

        question = (f"Skip {counted(len(hosts), 'host')}? They leave the recovery until "
                    "someone takes them back.")  # fmt: skip
        self.push_screen(ConfirmScreen(question), answered)

    def skip(self, hosts: Sequence[str]) -> None:
        refused: list[str] = []
        for host in hosts:
            try:
                self.store().transition(host, S.SKIPPED, reason="skipped by the operator (TUI)",
                                        actor=self.actor)  # fmt: skip
            except IllegalTransition:
                refused.append(host)
        self.say(f"skipped {len(hosts) - len(refused)}; not skippable now: {len(refused)}")
        self.poll()

    def action_fixed(self) -> None:
        self.ask_fixed(self.targets())

    def ask_fixed(self, hosts: Sequence[str]) -> None:
        """A technician says they fixed it: record who said so, then verify with a run."""
        hands_on = [h for h in hosts if (r := self.model.get(h)) and r.state is S.NEEDS_HANDS_ON]
        if not hands_on:
            self.say("mark fixed: only hosts waiting for hands-on can be marked fixed")
            return
        note = {"note": "technician reported fixed; verification pending"}
        for host in hands_on:
            self.store().audit(FIXED_BY_HAND, actor=self.actor, host=host, details=note)
        if self.access is None:
            self.say(f"{len(hands_on)} marked fixed by hand; verify with `fleetfix run` (no -i)")
            return
        self.say(f"{len(hands_on)} marked fixed by hand; choose the pack that verifies them")
        self.ask_run(hands_on)

    # --- work on hosts ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.run_worker_ is not None and self.run_worker_.is_running

    def _needs_access(self) -> FleetAccess | None:
        if self.access is None:
            self.say("following only: open the TUI with -i INVENTORY to probe or run packs")
        elif self.running:
            self.say("a run is going: stop it (S) before starting another")
            return None
        return self.access

    def action_run_pack(self) -> None:
        self.ask_run(self.targets())

    def action_retry_failed(self) -> None:
        table = self.table
        failed = [h.name for h in self.model.view() if h.state is S.FAILED]
        table.selected = set(failed)
        table.refresh()
        self.say(f"selected {len(failed)} failed hosts shown; x runs a pack on them")
        self._title()

    def ask_run(self, hosts: Sequence[str]) -> None:
        access = self._needs_access()
        if access is None or not hosts:
            return

        def chosen(request: RunRequest | None) -> None:
            if request is not None:
                self.last_pack = request.pack
                run = access.fleet_run(self.store(), request.hosts, pack=request.pack,
                                       dry_run=request.dry_run, actor=self.actor)  # fmt: skip
                self.start(run)

        self.push_screen(RunScreen(hosts, sorted(access.packs), pack=self.last_pack), chosen)

    def action_pause(self) -> None:
        """Hold back new hosts (in-flight ones finish their steps), or let them start again."""
        run = self.fleet_run
        if not self.running or run is None:
            self.say("no run is going")
        elif run.paused:
            run.proceed(actor=self.actor)
        else:
            run.pause(actor=self.actor)

    def action_resume(self) -> None:
        """Continue a paused run; with none going, resume the last stopped one."""
        if self.running and self.fleet_run is not None:
            if self.fleet_run.paused:
                self.fleet_run.proceed(actor=self.actor)
            else:
                self.say("the run is going; P pauses it")
            return
        access = self._needs_access()
        if access is None:
            return
        try:
            run = access.resumed_run(self.store(), actor=self.actor)
        except FleetfixError as exc:
            self.say(str(exc))
            return
        self.start(run)

    def start(self, run: FleetRun) -> None:
        self.fleet_run = run
        self.stop_requested = False
        self.run_worker_ = self.run_worker(self._drive(run), group="run", exclusive=True,
                                           exit_on_error=False)  # fmt: skip

    async def _drive(self, run: FleetRun) -> None:
        try:
            async for event in run.events():
                self.on_engine_event(event)
        except FleetfixError as exc:
            self.say(f"run stopped: {exc}")
        self.poll()

    def on_engine_event(self, event: Event) -> None:
        if isinstance(event, HostChanged | HostDone | StepStarted | StepFinished):
            # The store follower draws these at its own pace: a poll per event would read
            # the database thousands of times in a big wave, and the line would only flicker.
            return
        if isinstance(event, RunFinished):
            self.say(f"run {event.run_id} {event.status} in {event.duration:.0f} s")
            self.poll()  # the last changes now, not at the next tick
        elif isinstance(event, RunPaused):
            self.say(f"paused by {event.actor}: no new host starts, hosts in flight go on "
                     "(P or R continues)")  # fmt: skip
        elif isinstance(event, RunContinued):
            self.say(f"continued by {event.actor} after {event.paused_for:.0f} s")
        else:
            self.say(describe(event))

    def action_stop(self) -> None:
        if not self.running or self.fleet_run is None:
            self.say("no run is going")
            return
        if self.stop_requested and self.run_worker_ is not None:
            self.run_worker_.cancel()
            self.say("stopped at once; resume (R) verifies what was in flight")
            return
        self.fleet_run.request_stop()
        self.stop_requested = True
        self.say("stopping: no new hosts start, hosts in flight finish (S again: at once)")

    def action_probe(self) -> None:
        access = self._needs_access()
        hosts = self.targets()
        if access is None or not hosts:
            return
        self.say(f"probing {counted(len(hosts), 'host')}")
        self._probe(access, hosts)

    @work(group="run", exclusive=True, exit_on_error=False)
    async def _probe(self, access: FleetAccess, hosts: list[str]) -> None:
        done = 0
        async for _ in access.probe(self.store(), hosts, actor=self.actor):
            done += 1
            self.say(f"probed {done}/{len(hosts)}")
        self.poll()

    # --- leaving ------------------------------------------------------------------------------
    def action_quit_safely(self) -> None:
        if not self.running:
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                if self.fleet_run is not None:
                    self.fleet_run.request_stop()
                if self.run_worker_ is not None:
                    self.run_worker_.cancel()
                self.exit()

        self.push_screen(ConfirmScreen("A run is going. Stop it and quit? Hosts in flight are "
                                       "recorded; `fleetfix run --resume` continues.",
                                       yes="Stop and quit", no="Stay"), answered)  # fmt: skip
