"""Keep client libraries quiet: at DEBUG they log whole messages, credentials included.

pywinrm, pypsrp, requests_ntlm, spnego, asyncssh and urllib3 stay at WARNING whatever
fleetfix's own verbosity, and `pin_third_party_loggers` is idempotent so every entry point
(CLI, TUI, engine) can call it.

What they do log at WARNING and above reaches fleetfix's handlers as one line: pypsrp logs a
read timeout against a silent host with `log.exception`, and a sysadmin watching a run should
see "ReadTimeout during WSMan request", not forty lines of traceback per host.
"""

from __future__ import annotations

import contextlib
import logging
import sys

NOISY_LOGGERS = ("winrm", "pypsrp", "psrpcore", "requests_ntlm", "spnego", "asyncssh", "urllib3")


class _OneLine(logging.Handler):
    """On each noisy logger (its children's records pass through it): drops what is below
    WARNING even if a child logger was set lower, and hands the rest to the root logger's
    handlers without the traceback, which would print the library's internals."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        # Whatever goes wrong here (a library's bad format arguments, a root handler that
        # raises) must not come out of the library's own call, as logging promises.
        try:
            shown = logging.makeLogRecord(record.__dict__)
            message = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                message = f"{message} ({record.exc_info[0].__name__})"
            shown.msg, shown.args = message, None
            shown.exc_info = shown.exc_text = shown.stack_info = None
            logging.getLogger().handle(shown)
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        """One line on stderr instead of logging's report, which prints the record's
        arguments (a library's request text) and the traceback into it."""
        if logging.raiseExceptions and sys.stderr is not None:
            failure = sys.exc_info()[0]
            why = failure.__name__ if failure is not None else "an error"
            with contextlib.suppress(Exception):
                sys.stderr.write(f"--- a {record.name} log record could not be shown ({why})\n")


_HANDLER = _OneLine()


def pin_third_party_loggers() -> None:
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if _HANDLER not in logger.handlers:
            logger.addHandler(_HANDLER)
        logger.propagate = False  # the handler above passes the record on, trimmed
