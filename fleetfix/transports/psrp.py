"""PSRP through pypsrp 0.9 (synchronous; its asyncio API is an abandoned beta): one
RunspacePool per session, one pipeline per script, in worker threads.

The script text, prologue included, travels as a PSRP script object rather than a command
line, so there is no length limit and no code page in the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from pypsrp.complex_objects import PSInvocationState
from pypsrp.host import PSHost
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from fleetfix.models import Host, Transport
from fleetfix.transports import errors, script
from fleetfix.transports.base import CommandResult, ConnectOptions
from fleetfix.transports.classify import classify, classify_open
from fleetfix.transports.ports import port_for
from fleetfix.transports.winrm import check_security

# Seconds per Receive. pypsrp retries a Receive that hit the HTTP read timeout up to five
# times (at slice + 2 s each), so a host that stops answering altogether is given up on
# within about 6 * (slice + 2) s past the deadline; a host that answers, at the deadline.
_RECEIVE_SLICE = 1


class PsrpSession:
    def __init__(self, host: Host, pool: RunspacePool, ps_host: PSHost, *, transport: str,
                 executor: Executor) -> None:  # fmt: skip
        self._host = host
        self._pool: RunspacePool | None = pool
        self._ps_host = ps_host
        self._transport = transport
        self._executor = executor
        self._lock = threading.Lock()

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
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run_sync, full, timeout)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_sync)

    def _run_sync(self, full_script: str, timeout: float) -> CommandResult:
        name = self._host.name
        with self._lock:
            if self._pool is None:
                raise errors.ConnectionLost(name, "the session was closed; open a new one")
            started = time.monotonic()
            self._ps_host.rc = None
            pipeline = PowerShell(self._pool)
            pipeline.add_script(full_script)
            try:
                pipeline.begin_invoke()
                self._wait(pipeline, deadline=started + timeout)
            except errors.OperationTimeout:
                raise
            except Exception as exc:
                self._abandon()
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

    def _wait(self, pipeline: PowerShell, *, deadline: float) -> None:
        while pipeline.state == PSInvocationState.RUNNING:
            if time.monotonic() >= deadline:
                with contextlib.suppress(Exception):  # the host is late already
                    pipeline.stop()
                self._abandon()
                raise errors.OperationTimeout(
                    self._host.name, "the command did not finish before its deadline; stopped"
                )
            pipeline.poll_invoke(timeout=_RECEIVE_SLICE)

    def _abandon(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.close()

    def _close_sync(self) -> None:
        with self._lock:
            self._abandon()


class PsrpTransport:
    def __init__(self, options: ConnectOptions, *, https: bool, executor: Executor) -> None:
        self._options = options
        self._https = https
        self._executor = executor
        self.kind = Transport.PSRP_HTTPS if https else Transport.PSRP
        self.name = str(self.kind)

    async def open(self, host: Host, *, timeout: float) -> PsrpSession:
        check_security(self._options, host=host.name, https=self._https)
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
        return WSMan(
            host.target, port=port_for(host, self.kind), ssl=self._https,
            username=credentials.username, password=credentials.password.reveal(),
            auth=str(auth),
            # pypsrp takes a CA bundle path here as well as a bool (its annotation says bool).
            cert_validation=validation,  # type: ignore[arg-type]  # see above
            encryption="auto", no_proxy=True,
            connection_timeout=max(1, int(min(self._options.connect_timeout, timeout))),
            read_timeout=max(2, int(timeout) + 2), operation_timeout=_RECEIVE_SLICE,
            reconnection_retries=0, reconnection_backoff=0.0,
        )  # fmt: skip
