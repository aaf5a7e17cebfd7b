"""PSRP through pypsrp 0.9 (synchronous; its asyncio API is an abandoned beta): one
RunspacePool per session, one pipeline per script, in worker threads.

The script text, prologue included, travels as a PSRP script object rather than a command
line, so there is no length limit and no code page in the way.

The worker polls the pipeline one short Receive at a time and checks its deadline and a
cancellation in between; a command cut short is stopped (Signal) and its pool closed (Delete).
A host that stops answering is given up on at the HTTP read timeout of the request in flight
(a Receive is not retried, unlike pypsrp's default), and its pool is deleted by `close()` if
the host is back by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from pypsrp.complex_objects import PSInvocationState
from pypsrp.host import PSHost
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import NAMESPACES, OptionSet, SelectorSet, WSMan, WSManAction

from fleetfix.models import Host, Transport
from fleetfix.transports import errors, script
from fleetfix.transports.base import CommandResult, ConnectOptions, WinrmAuth
from fleetfix.transports.classify import classify, classify_open
from fleetfix.transports.ports import port_for
from fleetfix.transports.winrm import check_security, check_support
from fleetfix.transports.worker import Cancelled, run_cancellable

# Seconds per Receive (WS-Man OperationTimeout; pypsrp waits 2 s more for the HTTP answer).
# A hung command is given up on within a slice of its deadline, a host that stopped
# answering within slice + 2 s, a cancelled command within a slice.
_RECEIVE_SLICE = 1
# How long the host may take to answer anything but a Receive (Command, Send), within the
# deadline: these answer at once unless the host is struggling.
_ANSWER_SECONDS = 7
# What Signal and Delete may each take after a timeout or a cancellation.
_CLEANUP_SECONDS = 3


class _WSMan(WSMan):
    """pypsrp's WSMan, except that a Receive that hit the HTTP read timeout is not sent again:
    pypsrp retries it five times, which kept a silent host ~6 * (slice + 2) s past its deadline.
    The worker's own loop decides what a late answer means."""

    def receive(
        self,
        resource_uri: str,
        resource: ET.Element,
        option_set: OptionSet | None = None,
        selector_set: SelectorSet | None = None,
        timeout: int | None = None,
    ) -> ET.Element:
        response = self.invoke(
            WSManAction.RECEIVE, resource_uri, resource, option_set, selector_set, timeout
        )
        body = response.find("s:Body", namespaces=NAMESPACES)
        assert body is not None  # a WS-Man answer always has one, as pypsrp assumes too
        return body


class PsrpSession:
    def __init__(self, host: Host, pool: RunspacePool, ps_host: PSHost, *, transport: str,
                 executor: Executor) -> None:  # fmt: skip
        self._host = host
        self._pool: RunspacePool | None = pool
        self._ps_host = ps_host
        self._transport = transport
        self._executor = executor
        self._lock = threading.Lock()
        # A pool left on a host that stopped answering: close() deletes it if it can.
        self._orphan_pool: RunspacePool | None = None

    @property
    def host(self) -> Host:
        return self._host

    @property
    def transport(self) -> str:
        return self._transport

    async def run(
        self, script_text: str, *, params: Mapping[str, Any] | None = None, timeout: float
    ) -> CommandResult:
        full = script.with_params(script_text, params)
        # pypsrp is sync: one slow host must not stall the loop.
        return await run_cancellable(
            self._executor, lambda cancelled: self._run_sync(full, timeout, cancelled)
        )

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_sync)

    def _run_sync(
        self, full_script: str, timeout: float, cancelled: threading.Event
    ) -> CommandResult:
        name = self._host.name
        with self._lock:
            if cancelled.is_set():
                raise Cancelled
            if self._pool is None:
                raise errors.ConnectionLost(name, "the session was closed; open a new one")
            started = time.monotonic()
            self._ps_host.rc = None
            pipeline = PowerShell(self._pool)
            pipeline.add_script(full_script)
            try:
                self._http_read_timeout(min(_ANSWER_SECONDS, timeout + 1))
                pipeline.begin_invoke()
                self._wait(pipeline, deadline=started + timeout, cancelled=cancelled)
            except (errors.OperationTimeout, Cancelled):
                raise
            except Exception as exc:
                # A host that stopped answering would only make Delete wait again.
                self._abandon(delete=not _is_read_timeout(exc))
                raise classify(name, exc) from None
            exit_code = self._ps_host.rc
        stdout = "".join(f"{item}\r\n" for item in pipeline.output)
        stderr = "".join(f"{record}\r\n" for record in pipeline.streams.error)
        if exit_code is None:  # the script ended without `exit N`
            exit_code = 1 if pipeline.had_errors else 0
        return CommandResult(
            host=name, transport=self._transport, stdout=stdout, stderr=stderr,
            exit_code=exit_code, duration=time.monotonic() - started,
            json=script.last_line_json(stdout),
        )  # fmt: skip

    def _wait(self, pipeline: PowerShell, *, deadline: float, cancelled: threading.Event) -> None:
        while pipeline.state == PSInvocationState.RUNNING:
            if cancelled.is_set():
                self._stop(pipeline)
                raise Cancelled
            if time.monotonic() >= deadline:
                self._stop(pipeline)
                raise errors.OperationTimeout(
                    self._host.name, "the command did not finish before its deadline; stopped"
                )
            pipeline.poll_invoke(timeout=_RECEIVE_SLICE)

    def _stop(self, pipeline: PowerShell) -> None:
        """Stop the pipeline (Signal) and close the pool (Delete), each within the cleanup
        time: the host is late already."""
        self._http_read_timeout(_CLEANUP_SECONDS)
        with contextlib.suppress(Exception):
            pipeline.stop()
        self._abandon()

    def _http_read_timeout(self, seconds: float) -> None:
        """The HTTP read timeout of the requests that name none (all but Receive)."""
        if self._pool is not None:
            self._pool.shell.wsman.transport.read_timeout = max(1, math.ceil(seconds))

    def _abandon(self, *, delete: bool = True) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if not delete:
            # The connection is dead, not the pool: Delete it later over a fresh one.
            self._orphan_pool = pool
            return
        with contextlib.suppress(Exception):
            pool.close()

    def _close_sync(self) -> None:
        with self._lock:
            orphan, self._orphan_pool = self._orphan_pool, None
            if orphan is not None and self._pool is None:
                # The host stopped answering mid-command; if it is back, its pool would
                # otherwise count against its quota until WinRM's idle timeout.
                transport = orphan.shell.wsman.transport
                transport.encryption = None  # as pypsrp does after a timeout: new context
                self._pool = orphan
                self._http_read_timeout(_CLEANUP_SECONDS)
            self._abandon()


def _is_read_timeout(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, requests.exceptions.Timeout)


class PsrpTransport:
    def __init__(self, options: ConnectOptions, *, https: bool, executor: Executor) -> None:
        self._options = options
        self._https = https
        self._executor = executor
        self.kind = Transport.PSRP_HTTPS if https else Transport.PSRP
        self.name = str(self.kind)

    async def open(self, host: Host, *, timeout: float) -> PsrpSession:
        check_security(self._options, host=host.name, https=self._https)
        check_support(self._options, host=host.name)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._open_sync, host, timeout)

    def _open_sync(self, host: Host, timeout: float) -> PsrpSession:
        # A host (without a UI: fleetfix never prompts) is what `exit N` reports its code to,
        # through SetShouldExit; without one Windows drops the code.
        ps_host = PSHost(None, None, False, "fleetfix", None, None, "1.0")
        pool = RunspacePool(self._wsman(host, timeout), host=ps_host)
        try:
            pool.open()
        except Exception as exc:
            with contextlib.suppress(Exception):
                pool.shell.wsman.close()
            raise classify_open(host.name, exc) from None
        return PsrpSession(host, pool, ps_host, transport=self.name, executor=self._executor)

    def _wsman(self, host: Host, timeout: float) -> WSMan:
        security = self._options.security
        credentials = self._options.credentials
        validation: bool | str = not security.insecure
        if security.ca_file is not None and not security.insecure:
            validation = str(security.ca_file)
        auth = self._options.auth
        # Basic cannot seal messages: over plain HTTP (allowed by name) nothing is encrypted,
        # which pypsrp wants said rather than asked for with "auto".
        encryption = "never" if auth is WinrmAuth.BASIC and not self._https else "auto"
        return _WSMan(
            host.target, port=port_for(host, self.kind), ssl=self._https,
            username=credentials.username, password=credentials.password.reveal(),
            auth=str(auth),
            # pypsrp takes a CA bundle path here as well as a bool (its annotation says bool).
            cert_validation=validation,  # type: ignore[arg-type]  # see above
            encryption=encryption, no_proxy=True,
            connection_timeout=max(1, int(min(self._options.connect_timeout, timeout))),
            read_timeout=max(2, int(timeout) + 2), operation_timeout=_RECEIVE_SLICE,
            reconnection_retries=0, reconnection_backoff=0.0,
        )  # fmt: skip
