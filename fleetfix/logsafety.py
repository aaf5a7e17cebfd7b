"""Keep client libraries quiet: at DEBUG they log whole messages, credentials included.

pywinrm, pypsrp, requests_ntlm, spnego, asyncssh and urllib3 stay at WARNING whatever
fleetfix's own verbosity, and `pin_third_party_loggers` is idempotent so every entry point
(CLI, TUI, engine) can call it.
"""

from __future__ import annotations

import logging

NOISY_LOGGERS = ("winrm", "pypsrp", "psrpcore", "requests_ntlm", "spnego", "asyncssh", "urllib3")


class _NotBelowWarning(logging.Filter):
    """Drops records below WARNING even if someone later lowers the logger's level."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


_FILTER = _NotBelowWarning()


def pin_third_party_loggers() -> None:
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
