"""`fleetfix doctor`: before an incident run, check that a sample of hosts can be reached the
way fleetfix will reach them, and say what to fix when they cannot.

Per host, in order, each check saying ok, warn or fail and what to do:
name resolution, the WinRM/SSH ports, the HTTPS certificate against the CA fleetfix will
trust (for every HTTPS transport the host may be reached over: WinRM and PSRP share the
listener), logging on with the run's credentials, and the host's clock: Kerberos refuses
logons beyond five minutes of skew, so with `--auth kerberos` that is a failure; NTLM does not
care, so otherwise it is a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from fleetfix.models import Host, Transport
from fleetfix.transports import errors
from fleetfix.transports.base import ConnectOptions, WinrmAuth
from fleetfix.transports.ports import port_for
from fleetfix.transports.selection import AUTO_ORDER, open_session, port_open

KERBEROS_SKEW_SECONDS = 300
_HTTPS = (Transport.WINRM_HTTPS, Transport.PSRP_HTTPS)
CLOCK_SCRIPT = "[DateTime]::UtcNow.ToString('o')"


class Verdict(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"


# What to do about a clock beyond Kerberos's five minutes: before a Kerberos run it must be
# fixed; otherwise fixing it is one way, NTLM the other.
_SKEW_FIX = {
    Verdict.FAIL: "Kerberos refuses logons beyond 5 min of skew: fix the host's time source "
    "(w32tm /resync) before the run",
    Verdict.WARN: "Kerberos refuses more than 5 min of skew: fix the host's time source "
    "(w32tm /resync) or use NTLM",
}


@dataclass(frozen=True, slots=True)
class Check:
    host: str
    name: str
    verdict: Verdict
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"host": self.host, "check": self.name, "verdict": str(self.verdict),
                "detail": self.detail, "fix": self.fix}  # fmt: skip


async def diagnose_host(
    host: Host, options: ConnectOptions, *, executor: ThreadPoolExecutor, timeout: float
) -> list[Check]:
    checks = [await _resolve(host)]
    if checks[0].verdict is Verdict.FAIL:
        return checks + [Check(host.name, n, Verdict.SKIPPED, "name does not resolve")
                         for n in ("ports", "tls", "logon", "clock")]  # fmt: skip
    ports = await _ports(host)
    checks.append(ports)
    if ports.verdict is Verdict.FAIL:
        return checks + [Check(host.name, n, Verdict.SKIPPED, "no port answers")
                         for n in ("tls", "logon", "clock")]  # fmt: skip
    https = next((kind for kind in _kinds(host) if kind in _HTTPS), None)
    if https is not None:
        checks.append(await _tls(host, options, https))
    checks += await _logon_and_clock(host, options, executor=executor, timeout=timeout)
    return checks


def _kinds(host: Host) -> tuple[Transport, ...]:
    if host.transport is Transport.AUTO:
        return AUTO_ORDER
    return (host.transport,)


async def _resolve(host: Host) -> Check:
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host.target, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return Check(host.name, "resolve", Verdict.FAIL, f"{host.target}: {exc.strerror}",
                     "fix DNS, or give the address in the inventory's address column")  # fmt: skip
    addresses = sorted({str(item[4][0]) for item in found})
    return Check(host.name, "resolve", Verdict.OK, f"{host.target} -> {', '.join(addresses)}")


async def _ports(host: Host) -> Check:
    kinds = _kinds(host)
    wanted = sorted({port_for(host, kind) for kind in kinds})
    answers = await asyncio.gather(*(port_open(host.target, port) for port in wanted))
    open_ports = [p for p, ok in zip(wanted, answers, strict=True) if ok]
    if not open_ports:
        return Check(host.name, "ports", Verdict.FAIL, f"none of {wanted} answers",
                     "host down, booting, or a firewall in the way: check the host and "
                     "that WinRM (winrm quickconfig) or OpenSSH is enabled")  # fmt: skip
    closed = sorted(set(wanted) - set(open_ports))
    detail = f"open: {open_ports}" + (f"; closed: {closed}" if closed else "")
    return Check(host.name, "ports", Verdict.OK, detail)


async def _tls(host: Host, options: ConnectOptions, kind: Transport) -> Check:
    port = port_for(host, kind)  # WinRM and PSRP over HTTPS share the one listener
    if options.security.insecure:
        return Check(host.name, "tls", Verdict.WARN, "--insecure: certificate not checked",
                     "give the issuing CA with --ca-file instead of --insecure")  # fmt: skip
    context = ssl.create_default_context(
        cafile=str(options.security.ca_file) if options.security.ca_file else None
    )
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host.target, port, ssl=context, server_hostname=host.target),
            options.connect_timeout,
        )
    except ssl.SSLCertVerificationError as exc:
        return Check(host.name, "tls", Verdict.FAIL, f"port {port}: {exc.verify_message}",
                     "pass the CA that issued the WinRM certificates with --ca-file "
                     "(or FLEETFIX_CA_BUNDLE)")  # fmt: skip
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        fix = "HTTPS listener missing or broken: winrm quickconfig -transport:https"
        return Check(host.name, "tls", Verdict.WARN, f"port {port}: {exc}", fix)
    peer = writer.get_extra_info("peercert") or {}
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    until = peer.get("notAfter", "?")
    return Check(host.name, "tls", Verdict.OK, f"port {port}: certificate trusted (until {until})")


async def _logon_and_clock(
    host: Host, options: ConnectOptions, *, executor: ThreadPoolExecutor, timeout: float
) -> list[Check]:
    try:
        session = await open_session(host, options, executor=executor, timeout=timeout)
    except errors.AuthFailed as exc:
        return [Check(host.name, "logon", Verdict.FAIL, exc.reason,
                      "check the user name and password; the account may also be locked "
                      "or not allowed to log on remotely (Remote Management Users)"),
                Check(host.name, "clock", Verdict.SKIPPED, "not logged on")]  # fmt: skip
    except errors.TransportError as exc:
        return [Check(host.name, "logon", Verdict.FAIL, f"{exc.status}: {exc.reason}",
                      _fix_for(exc)),
                Check(host.name, "clock", Verdict.SKIPPED, "not logged on")]  # fmt: skip
    try:
        asked = time.time()
        result = await session.run(CLOCK_SCRIPT, timeout=timeout)
        answered = time.time()
    except errors.TransportError as exc:
        logged_on = Check(host.name, "logon", Verdict.OK, f"logged on over {session.transport}")
        return [logged_on, Check(host.name, "clock", Verdict.WARN, f"unreadable: {exc.reason}")]
    finally:
        with contextlib.suppress(errors.TransportError):
            await session.close()
    logon = Check(host.name, "logon", Verdict.OK, f"logged on over {session.transport}")
    kerberos = options.auth is WinrmAuth.KERBEROS
    return [logon, _clock(host, result.stdout, midpoint=(asked + answered) / 2, kerberos=kerberos)]


def _clock(host: Host, stdout: str, *, midpoint: float, kerberos: bool) -> Check:
    try:
        remote = datetime.fromisoformat(stdout.strip().splitlines()[-1].strip())
    except (ValueError, IndexError):
        return Check(host.name, "clock", Verdict.WARN, f"unreadable time {stdout.strip()!r}")
    if remote.tzinfo is None:
        remote = remote.replace(tzinfo=UTC)
    skew = remote.timestamp() - midpoint
    text = f"host clock {_span(abs(skew))} {'ahead' if skew > 0 else 'behind'}"
    if abs(skew) <= KERBEROS_SKEW_SECONDS:
        return Check(host.name, "clock", Verdict.OK, text)
    # With Kerberos, WinRM refuses the run's tickets, and a host this far off cannot get its
    # own from a domain controller either, whatever the transport; NTLM does not care.
    verdict = Verdict.FAIL if kerberos else Verdict.WARN
    return Check(host.name, "clock", verdict, text, _SKEW_FIX[verdict])


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def _fix_for(exc: errors.TransportError) -> str:
    if isinstance(exc, errors.CertificateError):
        return "pass the issuing CA with --ca-file"
    if isinstance(exc, errors.HostKeyMismatch):
        return "add the host's key to known_hosts (--known-hosts) after checking it"
    if isinstance(exc, errors.TransportRefused):
        return "the option it needs is off by default for safety; see --help"
    return "check the host is up and WinRM/SSH is enabled"


async def diagnose_sample(
    hosts: Sequence[Host],
    options_for: Callable[[Host], ConnectOptions],
    *,
    concurrency: int,
    timeout: float,
) -> list[Check]:
    """Every check for every host in `hosts`, in host order."""
    limit = asyncio.Semaphore(concurrency)
    executor = ThreadPoolExecutor(concurrency, thread_name_prefix="fleetfix-doctor")

    async def one(host: Host) -> list[Check]:
        async with limit:
            options = options_for(host)
            return await diagnose_host(host, options, executor=executor, timeout=timeout)

    try:
        per_host = await asyncio.gather(*(one(host) for host in hosts))
    finally:
        await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
    return [check for checks in per_host for check in checks]
