"""Building transports by name, and `auto`: a fast TCP check of 5986, 5985 and 22, then the
first transport that authenticates."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import Executor

from fleetfix.models import Host, Transport
from fleetfix.transports import errors
from fleetfix.transports.base import ConnectOptions, Session
from fleetfix.transports.base import Transport as TransportProtocol
from fleetfix.transports.ports import port_for
from fleetfix.transports.psrp import PsrpTransport
from fleetfix.transports.ssh import SshTransport
from fleetfix.transports.winrm import WinrmTransport

#: The order `auto` tries: encrypted HTTPS first, then NTLM-sealed HTTP, then SSH.
AUTO_ORDER = (Transport.WINRM_HTTPS, Transport.WINRM, Transport.SSH)
_PORT_CHECK_SECONDS = 1.5


def make_transport(
    kind: Transport, options: ConnectOptions, *, executor: Executor
) -> TransportProtocol:
    """The transport of `kind`. Raises ConfigError for options this installation cannot
    honour (CredSSP without requests-credssp): a fact about the install, not about a host,
    so a run stops with it once instead of recording it against every host."""
    match kind:
        case Transport.WINRM | Transport.WINRM_HTTPS:
            return WinrmTransport(options, https=kind is Transport.WINRM_HTTPS, executor=executor)
        case Transport.PSRP | Transport.PSRP_HTTPS:
            return PsrpTransport(options, https=kind is Transport.PSRP_HTTPS, executor=executor)
        case Transport.SSH:
            return SshTransport(options)
    raise ValueError(f"no single transport for {kind!r}")


async def port_open(address: str, port: int, *, timeout: float = _PORT_CHECK_SECONDS) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def open_session(
    host: Host,
    options: ConnectOptions,
    *,
    executor: Executor,
    timeout: float,
    transport: Transport | None = None,
) -> Session:
    """A session over `transport`, else the host's own, else the first of `auto` that works.
    Authentication failures end the search at once: the next port has the same account."""
    kind = transport or host.transport
    if kind is not Transport.AUTO:
        return await make_transport(kind, options, executor=executor).open(host, timeout=timeout)
    checks = [port_open(host.target, port_for(host, k)) for k in AUTO_ORDER]
    listening = [k for k, ok in zip(AUTO_ORDER, await asyncio.gather(*checks), strict=True) if ok]
    if not listening:
        raise errors.Unreachable(host.name, "none of WinRM (5986, 5985) or SSH (22) answers")
    last: errors.TransportError | None = None
    for kind in listening:
        try:
            return await make_transport(kind, options, executor=executor).open(
                host, timeout=timeout
            )
        except (errors.AuthFailed, errors.TransportRefused):
            raise
        except errors.TransportError as exc:
            last = exc
    assert last is not None
    raise last
