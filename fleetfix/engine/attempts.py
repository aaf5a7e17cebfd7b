"""Running one script on a host as a recorded, retried action.

Every attempt is an intent row committed before the host is touched and an outcome row after
(attempt number, error, the wait before the next attempt). Retries follow the error's class:
a host that is unreachable, slow or dropped the connection is tried again with exponential
backoff and jitter until the policy's deadline; rejected credentials, untrusted certificates
and refused options never are. A destructive step that is not idempotent is never repeated
blindly when the first attempt may have run: the caller verifies the host instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_random_exponential,
)

from fleetfix.engine.context import Link, RunContext
from fleetfix.engine.events import RetryScheduled, StepFinished, StepStarted
from fleetfix.models import Host
from fleetfix.packs import Script
from fleetfix.transports import errors
from fleetfix.transports.base import CommandResult

# Errors after which the host may simply be asked again. ConnectTimeout is an Unreachable.
TRANSIENT = (errors.Unreachable, errors.OperationTimeout, errors.ConnectionLost,
             errors.ProtocolError)  # fmt: skip
# Errors that may strike after the script started on the host: it may have run.
MAYBE_RAN = (errors.OperationTimeout, errors.ConnectionLost)


class HostSilent(errors.Unreachable):
    """Nothing answered on the host's ports for the policy's whole hands-on time."""


@dataclass(frozen=True, slots=True)
class Attempted:
    """How a recorded script ended: a result, or the error that ended the last attempt."""

    result: CommandResult | None
    error: errors.TransportError | None
    attempts: int

    @property
    def silent(self) -> bool:
        """The host stayed down: a technician is needed, not another attempt."""
        return isinstance(self.error, HostSilent)

    @property
    def maybe_ran(self) -> bool:
        return self.result is None and isinstance(self.error, MAYBE_RAN)


def _is_retryable(context: RunContext, *, repeatable: bool) -> object:
    def check(exc: BaseException) -> bool:
        if context.stop.is_set() or not isinstance(exc, TRANSIENT):
            return False
        if isinstance(exc, HostSilent):
            return False  # waited the policy's whole hands-on time already
        # A step that must not run twice is retried only when it cannot have started.
        return repeatable or not isinstance(exc, MAYBE_RAN)

    return check


async def run_recorded(
    context: RunContext,
    link: Link,
    host: Host,
    *,
    step: str,
    script: Script,
    params: Mapping[str, object],
    destructive: bool,
    repeatable: bool,
    retries: int | None = None,
    answers: frozenset[int] = frozenset({0}),
) -> Attempted:
    """Run `script` as action `step`, retried as the module docstring says. `retries` caps the
    attempts that time out (a pack step's `retries`); the policy's deadline caps them all. `answers`
    are the exit codes that mean the script did its job (a detect's 1 is an answer)."""
    policy = context.policy
    open_action: list[int] = []
    attempts = 0

    def record_retry(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        text = _error_text(failure)
        detail = f"{text}; attempt {state.attempt_number + 1} in {wait:.1f} s"
        context.store.record_outcome(open_action.pop(), status="error", detail=detail)
        context.emit(StepFinished(host=host.name, step=step, attempt=state.attempt_number,
                                  status="error", detail=text))  # fmt: skip
        context.emit(RetryScheduled(host=host.name, step=step, attempt=state.attempt_number,
                                    error=text, wait=wait))  # fmt: skip

    timed_out = 0

    def stop(state: RetryCallState) -> bool:
        # `retries` counts attempts that ran into the step's timeout: a script that hangs is
        # not run again and again. A host that dropped the connection (a crash, a reboot, a
        # boot loop's window closing) or never answered costs only time, up to the deadline.
        nonlocal timed_out
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, errors.OperationTimeout):
            timed_out += 1
        if retries is not None and timed_out > retries:
            return True
        return (state.seconds_since_start or 0.0) >= policy.retry_deadline

    retrying = AsyncRetrying(
        retry=retry_if_exception(_is_retryable(context, repeatable=repeatable)),  # type: ignore[arg-type]
        wait=wait_random_exponential(multiplier=policy.retry_initial, max=policy.retry_max_wait),
        stop=stop,
        before_sleep=record_retry,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                attempts = attempt.retry_state.attempt_number
                # Nothing is recorded or sent while the host is down: a boot-looping host is
                # polled with TCP checks and the attempt goes out the moment a window opens.
                if not await link.wait_until_listening(seconds=policy.hands_on_after):
                    raise HostSilent(host.name, "no answer on any of its ports for "
                                     f"{policy.hands_on_after:g} s")  # fmt: skip
                action = context.store.record_intent(
                    run_id=context.run_id, host=host.name, step=step, destructive=destructive,
                    params=params, attempt=attempts,
                )  # fmt: skip
                open_action.append(action)
                context.emit(StepStarted(host=host.name, step=step, attempt=attempts,
                                         destructive=destructive))  # fmt: skip
                result = await link.run(script.text, params=params, timeout=script.timeout)
    except errors.TransportError as exc:
        text = _error_text(exc)
        if open_action:
            context.store.record_outcome(open_action.pop(), status="error", detail=text)
        context.emit(StepFinished(host=host.name, step=step, attempt=attempts, status="error",
                                  detail=text))  # fmt: skip
        return Attempted(None, exc, attempts)
    status = "ok" if result.exit_code in answers else "failed"
    detail = _result_text(result)
    context.store.record_outcome(open_action.pop(), status=status, detail=detail)
    context.emit(StepFinished(host=host.name, step=step, attempt=attempts, status=status,
                              detail=detail))  # fmt: skip
    return Attempted(result, None, attempts)


def _error_text(exc: BaseException | None) -> str:
    if isinstance(exc, errors.TransportError):
        return f"{exc.status}: {exc.reason}"
    return "" if exc is None else type(exc).__name__


def _result_text(result: CommandResult) -> str:
    """What the store keeps of a script's output: its JSON report, else the first error line.
    Scripts never print secrets (their JSON names key protector IDs, not passwords)."""
    if result.json is not None:
        return json.dumps(result.json, sort_keys=True, default=str)[:2000]
    first = next((line for line in result.stderr.splitlines() if line.strip()), "")
    return f"exit code {result.exit_code}: {first}"[:2000]
