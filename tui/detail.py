"""One host, everything the store knows about it: facts, history, actions, audit entries.

All of it is drawn as `rich.text.Text` built piece by piece (never parsed as markup) and every
value goes through `clean`: a channel file name, a service name or an action's output came from
the host, and the host may be the very thing that is broken or hostile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from fleetfix.errors import FleetfixError
from fleetfix.probe.facts import ProbeFacts, parse_facts
from fleetfix.probe.rules import ChannelVerdict, judge_channel_file
from fleetfix.store import ActionRecord, AuditRecord, HostRecord, Reader, TransitionRecord

from .table import STATE_COLOURS
from .text import clean

#: Characters of an action's output shown; the rest is in `fleetfix export`.
OUTPUT_LIMIT = 400
_VERDICT_STYLE = {
    ChannelVerdict.BAD: "bold red",
    ChannelVerdict.SUSPECT: "yellow",
    ChannelVerdict.GOOD: "green",
}


def _heading(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def _line(*parts: str | tuple[str, str]) -> Text:
    """A line of cleaned pieces; a (text, style) pair is styled."""
    line = Text()
    for part in parts:
        if isinstance(part, tuple):
            line.append(clean(part[0]), style=part[1])
        else:
            line.append(clean(part))
    return line


def host_summary(host: HostRecord) -> Text:
    return Text("\n").join(
        [
            _line(("  " + host.name, "bold"), "  ", (host.state.value, STATE_COLOURS[host.state])),
            _line(f"  since {host.since:%Y-%m-%d %H:%M:%S} UTC: ", host.reason),
            _line(
                f"  address {host.address or '-'}  transport {host.transport.value}"
                f"  attempts {host.attempts}  tags {', '.join(host.tags) or '-'}"
            ),
        ]
    )


def facts_section(facts: ProbeFacts | None, problem: str | None) -> list[Text]:
    lines = [_heading("Facts (latest probe)")]
    if facts is None:
        lines.append(_line("  " + (problem or "never probed")))
        return lines
    lines.append(
        _line(
            f"  collected {facts.collected_at:%Y-%m-%d %H:%M:%S} UTC  OS "
            f"{facts.os_caption or '?'} {facts.os_build or ''}  safe mode {facts.safe_mode.value}"
        )
    )
    lines.append(_line("  Channel files:"))
    for file in facts.channel_files or ():
        verdict = judge_channel_file(file)
        stamp = f"{file.last_write_utc:%Y-%m-%d %H:%M}" if file.last_write_utc else "?"
        lines.append(
            _line("    ", (f"{verdict.value:<8}", _VERDICT_STYLE[verdict]), f"{file.name}  {stamp}")
        )
    if not facts.channel_files:
        lines.append(_line("    none found"))
    lines.append(_line(f"  Crash events (last {facts.crash_window_hours} h):"))
    for event in sorted(facts.crash_events, key=lambda e: e.at):
        code = f"  bugcheck 0x{event.bugcheck_code:X}" if event.bugcheck_code is not None else ""
        lines.append(_line(f"    {event.at:%m-%d %H:%M:%S}  event {event.event_id}{code}"))
    if not facts.crash_events:
        lines.append(_line("    none"))
    lines.append(_line("  BitLocker:"))
    for volume in facts.bitlocker:
        ids = ", ".join(volume.recovery_key_ids) or "no recovery password protector"
        lines.append(
            _line(
                f"    {volume.mount_point} {volume.protection_status} {volume.volume_status}: ", ids
            )
        )
    if not facts.bitlocker:
        lines.append(_line("    no volumes reported"))
    services = "  ".join(f"{s.name} {s.status.value}" for s in facts.services) or "none"
    lines.append(_line("  Services: ", services))
    for problem_line in facts.problems:
        lines.append(_line("  probe problem: ", (problem_line, "yellow")))
    return lines


def history_section(transitions: Iterable[TransitionRecord]) -> list[Text]:
    lines = [_heading("State history")]
    for t in transitions:
        before = t.from_state.value if t.from_state else "(imported)"
        to_state = (t.to_state.value, STATE_COLOURS[t.to_state])
        when = f"  {t.at:%m-%d %H:%M:%S}  {before} -> "
        lines.append(_line(when, to_state, f"  {t.actor}: ", t.reason))
    return lines


def actions_section(actions: Iterable[ActionRecord]) -> list[Text]:
    lines = [_heading("Actions")]
    for a in actions:
        flag = " destructive" if a.destructive else ""
        what = f"  {a.intent_at:%m-%d %H:%M:%S}  run {a.run_id} {a.step} #{a.attempt}{flag}: "
        lines.append(_line(what, (a.status, "bold")))
        if a.detail:
            lines.append(Text("    ") + Text(clean(a.detail, limit=OUTPUT_LIMIT), style="dim"))
    if len(lines) == 1:
        lines.append(_line("  none"))
    return lines


def audit_section(entries: Iterable[AuditRecord]) -> list[Text]:
    lines = [_heading("Audit")]
    for entry in entries:
        # Audit details never hold a secret (the store refuses to be given one by contract);
        # the key HMAC is left out anyway: it means nothing to a reader of this screen.
        shown = ", ".join(f"{k}={v}" for k, v in entry.details.items() if k != "key_hmac")
        lines.append(_line(f"  {entry.at:%m-%d %H:%M:%S}  {entry.actor} {entry.event}  ", shown))
    if len(lines) == 1:
        lines.append(_line("  none"))
    return lines


def latest_facts(reader: Reader, name: str) -> tuple[ProbeFacts | None, str | None]:
    records = reader.facts(name)
    if not records:
        return None, None
    try:
        return parse_facts(records[-1].facts), None
    except FleetfixError as exc:
        return None, f"facts unreadable: {exc}"


def host_detail(reader: Reader, name: str) -> Text:
    """The whole detail page for `name` as one Text (a StoreError if the host is unknown)."""
    host = reader.host(name)
    if host is None:
        return Text(f"no host {clean(name)} in this incident")
    facts, problem = latest_facts(reader, name)
    sections = [
        host_summary(host),
        *facts_section(facts, problem),
        *history_section(reader.transitions(host.name)),
        *actions_section(reader.actions(host=host.name)),
        *audit_section(reader.audit_log(host=host.name)),
    ]
    return Text("\n").join(sections)


class HostDetailScreen(Screen[None]):
    """Read on open and on `r`; actions on this host go back to the app (messages up)."""

    BINDINGS = [  # noqa: RUF012 - Textual reads this class attribute
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "reload", "Reload"),
        Binding("k", "key_lookup", "Key lookup"),
        Binding("s", "skip", "Skip"),
        Binding("f", "fixed", "Fixed by hand"),
    ]

    def __init__(
        self, host: str, *, read: Callable[[str], Text], on_action: Callable[[str, str], None]
    ) -> None:
        super().__init__()
        self.host = host
        self._read = read
        self._on_action = on_action

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._read(self.host), id="detail")
        yield Footer()

    def action_reload(self) -> None:
        self.query_one("#detail", Static).update(self._read(self.host))

    def action_key_lookup(self) -> None:
        self._on_action("key", self.host)

    def action_skip(self) -> None:
        self._on_action("skip", self.host)

    def action_fixed(self) -> None:
        self._on_action("fixed", self.host)
