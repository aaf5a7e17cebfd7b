"""Running the probe over an open transport session: one round trip, typed facts back.

Transport failures (unreachable, auth) stay the transport's exceptions; the caller records
them as the host's outcome and feeds the miss into the reachability history.
"""

from __future__ import annotations

from fleetfix.probe import probe_script
from fleetfix.probe.facts import ProbeFacts, ProbeOutputError, parse_probe_output
from fleetfix.transports.base import Session

DEFAULT_CRASH_WINDOW_HOURS = 24
DEFAULT_MAX_EVENTS = 200


async def collect_facts(
    session: Session,
    *,
    timeout: float,
    crash_window_hours: int = DEFAULT_CRASH_WINDOW_HOURS,
    max_events: int = DEFAULT_MAX_EVENTS,
) -> ProbeFacts:
    """The host's facts. Raises ProbeOutputError when the probe ran but did not report."""
    params = {"CrashWindowHours": crash_window_hours, "MaxEvents": max_events}
    result = await session.run(probe_script(), params=params, timeout=timeout)
    if result.exit_code != 0:
        first = next((line for line in result.stderr.splitlines() if line.strip()), "")
        raise ProbeOutputError(f"the probe exited {result.exit_code}: {first or 'no error text'}")
    return parse_probe_output(result.stdout)
