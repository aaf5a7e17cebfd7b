"""A TLS failure is a trust problem only when a certificate was refused: a handshake cut short
by a host that went away (a boot loop's window closing) is a lost connection, to be retried."""

from __future__ import annotations

import ssl

import requests

from fleetfix.transports import errors
from fleetfix.transports.classify import classify


def _wrapped(cause: BaseException) -> requests.exceptions.SSLError:
    try:
        raise requests.exceptions.SSLError("handshake") from cause
    except requests.exceptions.SSLError as exc:
        return exc


def test_a_refused_certificate_is_untrusted() -> None:
    refused = ssl.SSLCertVerificationError(1, "certificate verify failed")
    found = classify("PACS-01", _wrapped(refused))
    assert isinstance(found, errors.CertificateError)
    assert "--ca-file" in found.reason


def test_a_handshake_cut_short_is_a_lost_connection() -> None:
    for cause in (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
                  ConnectionResetError(104, "reset")):  # fmt: skip
        found = classify("PACS-01", _wrapped(cause))
        assert isinstance(found, errors.ConnectionLost), cause
    assert isinstance(classify("PACS-01", ssl.SSLEOFError(8, "EOF")), errors.ConnectionLost)
