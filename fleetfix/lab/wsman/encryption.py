"""WinRM message encryption over HTTP ([MS-WSMV] 2.2.9.1.1): what NTLM and Negotiate
clients send instead of a plain SOAP body when the transport is not TLS.

A body is a MIME-like sequence: a part naming the protocol and the plain length, then a
part holding `<4-byte little-endian signature length><signature><sealed bytes>`, closed by
`--Encrypted Boundary--`.
"""

from __future__ import annotations

import re
import struct
from typing import Protocol

SPNEGO_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"
_PART_SPLIT = re.compile(rb"--\s*Encrypted Boundary\r\n")
_LENGTH = re.compile(rb"Length=(\d+)")
_OCTET_HEADER = b"\tContent-Type: application/octet-stream\r\n"


class EncryptionError(Exception):
    """A body that does not decrypt, or whose length does not match what it claims."""


class WrapResult(Protocol):
    """pyspnego's WinRMWrapResult: the signature and the sealed bytes."""

    @property
    def header(self) -> bytes: ...

    @property
    def data(self) -> bytes: ...


class SealingContext(Protocol):
    """The half of a pyspnego context message encryption needs."""

    def wrap_winrm(self, data: bytes) -> WrapResult: ...

    def unwrap_winrm(self, header: bytes, data: bytes) -> bytes: ...


def is_encrypted(content_type: str) -> bool:
    return content_type.lower().startswith("multipart/encrypted")


def content_type() -> str:
    return f'multipart/encrypted;protocol="{SPNEGO_PROTOCOL}";boundary="Encrypted Boundary"'


def decrypt(context: SealingContext, body: bytes) -> bytes:
    """The SOAP envelope inside an encrypted request body."""
    if body.endswith(BOUNDARY + b"--\r\n"):
        body = body[: -len(BOUNDARY + b"--\r\n")]
    parts = [part for part in _PART_SPLIT.split(body) if part]
    if len(parts) % 2:
        raise EncryptionError("encrypted body has a header part without a payload")
    message = bytearray()
    for header, payload in zip(parts[::2], parts[1::2], strict=True):
        match = _LENGTH.search(header)
        if match is None:
            raise EncryptionError("encrypted part without OriginalContent length")
        sealed = payload.removeprefix(_OCTET_HEADER)
        if len(sealed) < 4:
            raise EncryptionError("encrypted part too short")
        (signature_length,) = struct.unpack("<I", sealed[:4])
        signature = sealed[4 : 4 + signature_length]
        try:
            plain = context.unwrap_winrm(signature, sealed[4 + signature_length :])
        except Exception as exc:
            # pyspnego raises its own tree for bad signatures; the server only needs to
            # know the body is not to be trusted.
            raise EncryptionError("encrypted part does not verify") from exc
        if len(plain) != int(match.group(1)):
            raise EncryptionError("encrypted part length does not match OriginalContent")
        message += plain
    return bytes(message)


def encrypt(context: SealingContext, message: bytes) -> bytes:
    """An encrypted response body carrying `message`."""
    wrapped = context.wrap_winrm(message)
    header, sealed = wrapped.header, wrapped.data
    return (
        BOUNDARY
        + b"\r\n\tContent-Type: "
        + SPNEGO_PROTOCOL.encode()
        + b"\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
        + str(len(message)).encode()
        + b"\r\n"
        + BOUNDARY
        + b"\r\n"
        + _OCTET_HEADER
        + struct.pack("<I", len(header))
        + header
        + sealed
        + BOUNDARY
        + b"--\r\n"
    )
