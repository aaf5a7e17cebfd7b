"""`fleetfix export`: the incident report as CSV, JSON Lines, Markdown or self-contained HTML.

    fleetfix export --format html -o incident.html
    fleetfix export --format csv -o paris.csv --tag site=paris --since 2024-07-19T06:00Z
    fleetfix export --format jsonl -o - | siem-forwarder

Registered by fleetfix.cli as a lazy sub-command (`fleetfix.cli_export:export`). The report
is written whole or not at all, and an existing file is replaced only with --force. If the
audit chain does not verify, the report is still written (it says so) and the exit code is 4.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from fleetfix.cli import EXIT_AUDIT, db_option
from fleetfix.errors import ConfigError
from fleetfix.export import FORMATS, read_report, render, write_report
from fleetfix.store import open_reader


def _since(text: str | None, *, local: bool) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: give an ISO 8601 time, e.g. 2024-07-19T06:00:00Z"
        ) from None
    if moment.tzinfo is None:
        # A time without an offset is read the way the report shows times.
        moment = moment.astimezone() if local else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="Report format.")
@click.option("-o", "--output", "output", required=True, help="File to write, or - for stdout.")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only hosts carrying this tag (repeat: hosts carrying all of them).",
)
@click.option(
    "--since",
    default=None,
    metavar="TIME",
    help="List only events (timeline, actions, key reads) from TIME on; the timeline opens "
    "with the counts at TIME, the summary's counts stay current.",
)
@click.option("--local-time", is_flag=True, help="Show times in this machine's zone, not UTC.")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@db_option
def export(
    fmt: str,
    output: str,
    tags: tuple[str, ...],
    since: str | None,
    local_time: bool,
    force: bool,
    db_path: Path,
) -> None:
    """Write the incident report: summary, timeline, hosts, open items, key reads, audit."""
    if not db_path.is_file():
        raise ConfigError(f"{db_path}: no such incident database; point --db / FLEETFIX_DB at it")
    with open_reader(db_path) as reader:
        report = read_report(reader, tags=tags, since=_since(since, local=local_time))
    write_report(render(report, fmt, local=local_time), output, force=force)
    if not report.tamper.ok:
        click.echo(
            f"fleetfix: warning: the audit chain does not verify (row "
            f"{report.tamper.first_bad_row}: {report.tamper.problem}); the report says so",
            err=True,
        )
        raise SystemExit(EXIT_AUDIT)
