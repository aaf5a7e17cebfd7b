"""Authentication for one TCP connection: Basic, and NTLM or Negotiate through pyspnego's
acceptor.

pyspnego's NTLM acceptor reads the users it may accept from a file named by the environment
variable NTLM_USER_FILE, looked up while it processes the client's AUTHENTICATE message.
The lab has one host per password set, so the file is written just for that one step:
it holds only the NT hash (never the password) of the one user the message names, lives
in a private 0700 directory with mode 0600, and is deleted, and the variable restored,
before the step returns. The lab runs on one event loop thread, so no other acceptor sees
the variable while it is set.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import os
import secrets
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import spnego
from spnego._ntlm_raw.crypto import ntowfv1  # NT hash (MD4); OpenSSL 3 ships no MD4

from fleetfix.lab.api import SimHost
from fleetfix.lab.wsman.http import Request

# Windows answers an unauthenticated request with one header per enabled scheme.
CHALLENGE_HEADERS = [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", 'Basic realm="WSMAN"')]
_NTLM_SIGNATURE = b"NTLMSSP\x00"
_NEGOTIATE_UNICODE = 0x1
_private_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class AuthDecision:
    """Serve the request (`accepted`) or answer 401 with `headers`."""

    accepted: bool
    headers: list[tuple[str, str]]
    user: str | None = None


def _reject() -> AuthDecision:
    return AuthDecision(accepted=False, headers=list(CHALLENGE_HEADERS))


def local_user(name: str) -> str:
    """`HOST\\user`, `.\\user` and `user@HOST` all name the local account `user`."""
    return name.rpartition("\\")[2].partition("@")[0]


@dataclass(slots=True)
class ConnectionAuth:
    """What one connection has proven so far. NTLM authenticates the connection, not each
    request: after the handshake, requests come without an Authorization header."""

    host: SimHost
    user: str | None = None
    context: spnego.ContextProxy | None = field(default=None, repr=False)

    @property
    def sealing(self) -> spnego.ContextProxy | None:
        """The completed NTLM/Negotiate context that seals messages, if any."""
        if self.context is not None and self.context.complete:
            return self.context
        return None

    def check(self, request: Request) -> AuthDecision:
        scheme, _, credential = request.header("authorization").partition(" ")
        scheme = scheme.lower()
        if not scheme:
            if self.sealing is not None and self.user is not None:
                return AuthDecision(accepted=True, headers=[], user=self.user)
            return _reject()
        if scheme == "basic":
            return self._basic(credential.strip())
        if scheme in ("negotiate", "ntlm"):
            return self._spnego(scheme, credential.strip())
        return _reject()

    def _basic(self, credential: str) -> AuthDecision:
        self.context = None
        try:
            username, _, password = base64.b64decode(credential).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _reject()
        user = local_user(username)
        if not self.host.check_password(user, password):
            return _reject()
        self.user = user
        return AuthDecision(accepted=True, headers=[], user=user)

    def _spnego(self, scheme: str, credential: str) -> AuthDecision:
        try:
            token = base64.b64decode(credential)
        except binascii.Error:
            return _reject()
        if self.context is None or self.context.complete:
            self.context = None
            self.user = None
            with _credential_file(None, None):
                self.context = spnego.server(protocol="negotiate")
        user = _authenticate_user(token)
        try:
            with _credential_file(
                user, self.host.password_for(local_user(user[1])) if user else None
            ):
                out_token = self.context.step(token)
        except Exception:  # a bad password or a garbled token: both are a 401
            self.context = None
            return _reject()
        label = "NTLM" if scheme == "ntlm" else "Negotiate"
        headers = (
            [("WWW-Authenticate", f"{label} {base64.b64encode(out_token).decode()}")]
            if out_token
            else []
        )
        if not self.context.complete:
            return AuthDecision(accepted=False, headers=headers)
        self.user = local_user(user[1]) if user else None
        return AuthDecision(accepted=True, headers=headers, user=self.user)


def _authenticate_user(token: bytes) -> tuple[str, str] | None:
    """(domain, user) named by an NTLM AUTHENTICATE message, bare or inside SPNEGO."""
    start = token.find(_NTLM_SIGNATURE)
    if start < 0 or len(token) < start + 64:
        return None
    message = token[start:]
    (message_type,) = struct.unpack_from("<I", message, 8)
    if message_type != 3:
        return None
    (flags,) = struct.unpack_from("<I", message, 60)
    encoding = "utf-16-le" if flags & _NEGOTIATE_UNICODE else "cp437"
    return _field(message, 28, encoding), _field(message, 36, encoding)


def _field(message: bytes, offset: int, encoding: str) -> str:
    length, _, start = struct.unpack_from("<HHI", message, offset)
    return message[start : start + length].decode(encoding, errors="replace")


def credential_directory() -> Path:
    """The private (0700) directory the one-step credential files live in."""
    global _private_dir  # one private directory per process, made lazily
    if _private_dir is None or not _private_dir.is_dir():
        _private_dir = Path(tempfile.mkdtemp(prefix="fleetfix-ntlm-"))  # mode 0700
        atexit.register(_remove_directory, _private_dir)
    return _private_dir


def _remove_directory(path: Path) -> None:
    # Files are deleted after each step; only the empty directory is left at exit.
    with contextlib.suppress(OSError):
        path.rmdir()


@contextlib.contextmanager
def _credential_file(user: tuple[str, str] | None, password: str | None) -> Iterator[None]:
    path = credential_directory() / secrets.token_hex(8)
    line = b""
    if user is not None and password is not None:
        domain, name = user
        account = f"{domain}\\{name}" if domain else name
        nt_hash = ntowfv1(password).hex().upper()
        line = f"{account}:0:{'0' * 32}:{nt_hash}:[U]:LCT-00000000\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(line)
    previous = os.environ.get("NTLM_USER_FILE")
    os.environ["NTLM_USER_FILE"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("NTLM_USER_FILE", None)
        else:
            os.environ["NTLM_USER_FILE"] = previous
        path.unlink(missing_ok=True)
