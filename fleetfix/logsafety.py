"""Keep client libraries quiet: at DEBUG they log whole messages, credentials included.

pywinrm, pypsrp, requests_ntlm, spnego, asyncssh and urllib3 stay at WARNING whatever
fleetfix's own verbosity, and `pin_third_party_loggers` is idempotent so every entry point
(CLI, TUI, engine) can call it.

What they do log at WARNING and above reaches fleetfix's handlers as one line: pypsrp logs a
read timeout against a silent host with `log.exception`, and a sysadmin watching a run should
see "ReadTimeout during WSMan request", not forty lines of traceback per host.
"""

from __future__ import annotations

import logging

NOISY_LOGGERS = ("winrm", "pypsrp", "psrpcore", "requests_ntlm", "spnego", "asyncssh", "urllib3")


class _OneLine(logging.Handler):
    """On each noisy logger (its children's records pass through it): drops what is below
    WARNING even if a child logger was set lower, and hands the rest to the root logger's
    handlers without the traceback, which would print the library's internals."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        shown = logging.makeLogRecord(record.__dict__)
        message = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            message = f"{message} ({record.exc_info[0].__name__})"
        shown.msg, shown.args = message, None
        shown.exc_info = shown.exc_text = shown.stack_info = None
        logging.getLogger().handle(shown)


_HANDLER = _OneLine()


def pin_third_party_loggers() -> None:
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if _HANDLER not in logger.handlers:
            logger.addHandler(_HANDLER)
        logger.propagate = False  # the handler above passes the record on, trimmed
