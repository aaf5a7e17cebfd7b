"""One async interface over WinRM (pywinrm), PSRP (pypsrp) and SSH (asyncssh).

    options = ConnectOptions(credentials=resolve(), security=Security(ca_file=ca))
    session = await open_session(host, options, executor=pool, timeout=15)
    result = await session.run(script, params={"Path": path}, timeout=60)
    await session.close()

or, across a fleet with each host's failure as a value::

    async for outcome in run_everywhere(hosts, script, options=options): ...
"""

from fleetfix.transports.base import (
    CommandResult,
    ConnectOptions,
    Security,
    Session,
    Transport,
    WinrmAuth,
)
from fleetfix.transports.runner import HostResult, HostStatus, RunOptions, run_everywhere
from fleetfix.transports.selection import make_transport, open_session

__all__ = [
    "CommandResult",
    "ConnectOptions",
    "HostResult",
    "HostStatus",
    "RunOptions",
    "Security",
    "Session",
    "Transport",
    "WinrmAuth",
    "make_transport",
    "open_session",
    "run_everywhere",
]
