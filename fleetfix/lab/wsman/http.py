"""Just enough HTTP/1.1 for WS-Management: keep-alive, Content-Length and chunked bodies.

The lab writes its own server instead of using a framework because WinRM needs what
frameworks hide: authentication state that belongs to one TCP connection (NTLM), and the
freedom to break a connection half-way through a response (faults).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_HEADER_BYTES = 64 * 1024
# WinRM's MaxEnvelopeSize is 500 KB by default; base64 and encryption add a third on top.
MAX_BODY_BYTES = 8 * 1024 * 1024

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
}


class BadRequestError(Exception):
    """The peer sent something that is not HTTP/1.1 as the lab understands it."""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    version: str
    # Lower-cased names; a repeated header keeps its last value (WinRM clients send none twice).
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def keep_alive(self) -> bool:
        connection = self.header("connection").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    # A list, not a dict: Windows sends WWW-Authenticate once per scheme.
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = None

    def encode(self, *, keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Unknown')}"]
        lines.append("Server: Microsoft-HTTPAPI/2.0")
        if self.content_type is not None:
            lines.append(f"Content-Type: {self.content_type}")
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        lines.append(f"Content-Length: {len(self.body)}")
        if not keep_alive:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on the connection, or None when the peer closed it cleanly."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadRequestError("connection closed inside the request head") from exc
    except asyncio.LimitOverrunError as exc:
        raise BadRequestError("request head too large") from exc
    method, path, version, headers = _parse_head(head)
    body = await _read_body(reader, headers)
    return Request(method, path, version, headers, body)


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequestError(f"bad request line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequestError(f"bad header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], parts[2], headers


async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return await _read_chunked(reader)
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise BadRequestError(f"bad Content-Length {length_text!r}")
    length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise BadRequestError("body too large")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise BadRequestError("connection closed inside the body") from exc


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    try:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                await _skip_trailers(reader)
                return bytes(body)
            body += await reader.readexactly(size)
            await reader.readexactly(2)
            if len(body) > MAX_BODY_BYTES:
                raise BadRequestError("body too large")
    except (asyncio.IncompleteReadError, ValueError) as exc:
        raise BadRequestError("bad chunked body") from exc


async def _skip_trailers(reader: asyncio.StreamReader) -> None:
    while (await reader.readuntil(b"\r\n")) != b"\r\n":
        pass
