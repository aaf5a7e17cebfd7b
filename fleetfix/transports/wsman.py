"""What the two WS-Man transports share: WinRM (pywinrm, a WinRS shell) and PSRP (pypsrp, a
RunspacePool) both run one command at a time in a remote shell, from worker threads, polling
it one Receive at a time, and both must leave no shell behind.

`WsmanSession` holds that part: the session lock, the deadline and cancellation checks between
Receives, stopping a command (Signal, then Delete) and the shell a host that stopped answering
leaves behind, for `close()` to delete over a fresh connection. Each library fills in the
hooks: `_execute` (start a command, `_wait` for it, read its result), `_receive`, `_signal`,
`_delete`, `_disconnect` and `_cleanup_timeouts`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import importlib.util
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fleetfix.errors import ConfigError
from fleetfix.models import Host
from fleetfix.transports import errors, script
from fleetfix.transports.base import CommandResult, ConnectOptions, WinrmAuth
from fleetfix.transports.classify import classify, is_read_timeout
from fleetfix.transports.worker import Cancelled, run_cancellable

#: WS-Man OperationTimeout (whole seconds) of each Receive while a command stays quiet: the
#: first, the second, ... and the last one from then on. A Receive returns at once when there
#: is output, so only a quiet command waits a slice out; the deadline and a cancellation are
#: checked between Receives, so the slice is also how late either can be noticed. Short slices
#: keep a cancel prompt early on; longer ones spare a long quiet command (a reboot wait, a
#: scan) a round trip a second. Output starts the schedule again.
RECEIVE_SLICES = (1, 2, 4, 5)
#: How long the host may take to answer anything but a Receive (Command, Send, Signal, Delete)
#: within the deadline: these answer at once unless the host is struggling.
ANSWER_SECONDS = 7.0
#: What each cleanup request (Signal, Delete) may take after a timeout: the host is late already.
CLEANUP_SECONDS = 3.0
# How often a run waiting for the session (another command holds it) looks for a cancellation.
_LOCK_POLL_SECONDS = 0.05

ShellT = TypeVar("ShellT")
CommandT = TypeVar("CommandT")


def check_security(options: ConnectOptions, *, host: str, https: bool) -> None:
    """Refuse, before any packet, what would expose the password."""
    if options.auth is WinrmAuth.CREDSSP and not options.security.allow_credssp:
        raise errors.TransportRefused(
            host, "CredSSP hands the host your full credentials; allow it explicitly"
        )
    if options.auth is WinrmAuth.BASIC and not https and not options.security.allow_basic_over_http:
        raise errors.TransportRefused(
            host, "Basic over plain HTTP sends the password in clear; use HTTPS or NTLM"
        )


def check_support(options: ConnectOptions) -> None:
    """Raise ConfigError for what this installation's client libraries cannot do. It is about
    the install, not a host, so it is asked once, when the transport is made. CredSSP that is
    not allowed is refused per host (check_security) whether or not the package is here."""
    if not (options.auth is WinrmAuth.CREDSSP and options.security.allow_credssp):
        return
    if importlib.util.find_spec("requests_credssp") is None:
        raise ConfigError(
            "CredSSP needs the requests-credssp package, which is not installed here: "
            "pip install requests-credssp"
        )


@dataclass(frozen=True, slots=True)
class Deadline:
    started: float
    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        now = time.monotonic()
        return cls(now, now + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def answer_seconds(self) -> float:
        """The HTTP read timeout of a request other than Receive: a second past the deadline
        at most, and never more than ANSWER_SECONDS."""
        return min(ANSWER_SECONDS, max(self.remaining(), 0.0) + 1.0)


def receive_slice(quiet: int, remaining: float) -> int:
    """The OperationTimeout of the next Receive after `quiet` Receives that brought nothing,
    in whole seconds (WS-Man's unit), cut to what is left of the deadline but at least one:
    a hung command is given up on at most a second past its deadline."""
    longest = RECEIVE_SLICES[min(quiet, len(RECEIVE_SLICES) - 1)]
    return max(1, min(longest, int(remaining)))


class Heard(enum.Enum):
    """What one Receive brought."""

    NOTHING = "nothing"  # its slice ran out: the command is still quiet
    OUTPUT = "output"
    DONE = "done"


class WsmanSession(abc.ABC, Generic[ShellT, CommandT]):
    """One open remote shell on one host. Used by one task at a time; the lock makes sure."""

    def __init__(self, host: Host, shell: ShellT, *, transport: str, executor: Executor) -> None:
        self._host = host
        self._shell: ShellT | None = shell
        self._transport = transport
        self._executor = executor
        self._lock = threading.Lock()
        # A shell left on a host that stopped answering: close() deletes it if it can.
        self._orphan: ShellT | None = None

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
        # The client libraries are sync: one slow host must not stall the loop.
        return await run_cancellable(
            self._executor, lambda cancelled: self._run_sync(full, timeout, cancelled)
        )

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_sync)

    # --- worker thread -------------------------------------------------------------------

    def _run_sync(
        self, full_script: str, timeout: float, cancelled: threading.Event
    ) -> CommandResult:
        with self._locked(cancelled):
            name = self._host.name
            if self._shell is None:
                raise errors.ConnectionLost(name, "the session was closed; open a new one")
            deadline = Deadline.after(timeout)  # waiting for the session is not its time
            try:
                return self._execute(self._shell, full_script, deadline, cancelled)
            except (errors.OperationTimeout, Cancelled):
                raise  # stopped and cleaned up already
            except Exception as exc:
                self._abandon(after=exc)
                raise classify(name, exc) from None

    @contextlib.contextmanager
    def _locked(self, cancelled: threading.Event) -> Iterator[None]:
        """The session for one command. A run cancelled while the one before still holds it
        gives up within _LOCK_POLL_SECONDS instead of waiting for that one's deadline."""
        while not self._lock.acquire(timeout=_LOCK_POLL_SECONDS):
            if cancelled.is_set():
                raise Cancelled
        try:
            if cancelled.is_set():
                raise Cancelled
            yield
        finally:
            self._lock.release()

    def _wait(
        self, shell: ShellT, command: CommandT, deadline: Deadline, cancelled: threading.Event
    ) -> None:
        """Receive until the command is done; between Receives, stop it if its task was
        cancelled or its deadline passed."""
        quiet = 0
        while True:
            if cancelled.is_set():
                self._stop(shell, command)
                raise Cancelled
            if deadline.remaining() <= 0:
                self._stop(shell, command)
                raise errors.OperationTimeout(
                    self._host.name, "the command did not finish before its deadline; stopped"
                )
            slice_seconds = receive_slice(quiet, deadline.remaining())
            heard = self._receive(shell, command, slice_seconds, deadline)
            if heard is Heard.DONE:
                return
            quiet = quiet + 1 if heard is Heard.NOTHING else 0

    def _stop(self, shell: ShellT, command: CommandT) -> None:
        """Signal the command to end, then delete its shell. A host that did not answer the
        Signal is not asked for a Delete as well: it would only make us wait again."""
        failure: Exception | None = None
        try:
            self._cleanup_timeouts(shell)
            self._signal(shell, command)
        except Exception as exc:  # ended meanwhile, or the host is late: Delete decides
            failure = exc
        self._abandon(after=failure)

    def _abandon(self, *, after: BaseException | None = None) -> None:
        """Give the shell up: delete it, unless the host has stopped answering (`after`, what
        went wrong, or the Delete itself hit a read timeout). Then the shell is kept as an
        orphan, for close() to delete over a fresh connection if the host is back: until WinRM's
        idle timeout it would count against the account's shell quota (MaxShellsPerUser)."""
        shell, self._shell = self._shell, None
        if shell is None:
            return
        if after is None or not is_read_timeout(after):
            try:
                self._cleanup_timeouts(shell)
                self._delete(shell)
                after = None
            except Exception as exc:  # a fault or a broken connection: nothing left to retry
                after = exc
        if after is not None and is_read_timeout(after):
            self._orphan = shell
        # The HTTP session goes too, in both cases. Deleted: no shell is left for it to serve
        # (and its socket is released now, not when it is collected). Orphaned: its
        # connection is the one the host left hanging, and the message-sealing (NTLM,
        # Kerberos) context goes with it; close() logs on afresh, as pypsrp itself does after
        # a timeout.
        with contextlib.suppress(Exception):
            self._disconnect(shell)

    def _close_sync(self) -> None:
        with self._lock:
            orphan, self._orphan = self._orphan, None
            if orphan is not None and self._shell is None:
                self._shell = orphan  # the host stopped answering mid-command: try again
            self._abandon()

    # --- what each client library does -------------------------------------------------------

    @abc.abstractmethod
    def _execute(
        self, shell: ShellT, full_script: str, deadline: Deadline, cancelled: threading.Event
    ) -> CommandResult:
        """Start the script as a command in `shell`, `_wait` for it, and read its result."""

    @abc.abstractmethod
    def _receive(
        self, shell: ShellT, command: CommandT, slice_seconds: int, deadline: Deadline
    ) -> Heard:
        """One Receive of at most `slice_seconds` (the WS-Man OperationTimeout)."""

    @abc.abstractmethod
    def _signal(self, shell: ShellT, command: CommandT) -> None:
        """Tell the host to end the command (WS-Man Signal)."""

    @abc.abstractmethod
    def _delete(self, shell: ShellT) -> None:
        """Delete the shell on the host (WS-Man Delete), which ends what still runs in it."""

    @abc.abstractmethod
    def _disconnect(self, shell: ShellT) -> None:
        """Close the HTTP session, so that a later request opens and logs on a fresh one."""

    @abc.abstractmethod
    def _cleanup_timeouts(self, shell: ShellT) -> None:
        """Make the next requests time out after CLEANUP_SECONDS."""
