"""The WS-Management listener of one simulated host (5985 HTTP, 5986 HTTPS) on asyncio.

Each TCP connection keeps its own authentication state (NTLM authenticates connections)
and remembers the host's boot generation when it was accepted: once the host crashes or
reboots, the connection is reset, even in the middle of a request, as a real reboot does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from fleetfix.errors import LabError
from fleetfix.lab.api import FaultKind, Service, SimHost
from fleetfix.lab.wsman import encryption, faults
from fleetfix.lab.wsman.auth import CHALLENGE_HEADERS, ConnectionAuth
from fleetfix.lab.wsman.http import BadRequestError, Request, Response, read_request
from fleetfix.lab.wsman.psrp import PsrpShells
from fleetfix.lab.wsman.soap import (
    ACTION_COMMAND,
    ACTION_CREATE,
    ACTION_DELETE,
    ACTION_GET,
    ACTION_RECEIVE,
    ACTION_SEND,
    ACTION_SIGNAL,
    NS_SHELL,
    MalformedRequestError,
    WsmanFaultError,
    WsmanRequest,
    envelope,
    parse_request,
)
from fleetfix.lab.wsman.winrs import RESOURCE_CMD, ReceiveOptions, WinrsShells

log = logging.getLogger(__name__)
SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
_POWERSHELL_PREFIX = "http://schemas.microsoft.com/powershell/"
RESOURCE_SHELL = NS_SHELL  # a shell itself, whatever runs in it
# How often an in-flight request looks whether the host went down under it.
_GENERATION_POLL = 0.05
_T = TypeVar("_T")
# The endpoint behind each listener, so stop_wsman_server can reach its connections.
_ENDPOINTS: weakref.WeakKeyDictionary[asyncio.Server, WsmanEndpoint] = weakref.WeakKeyDictionary()


class LabClockLike(Protocol):
    """What the server needs of `fleetfix.lab.clock.LabClock`."""

    def to_real(self, lab_seconds: float) -> float: ...


class _SameTime:
    def to_real(self, lab_seconds: float) -> float:
        return lab_seconds


class _HostDownError(Exception):
    """The host's boot generation changed while a request was being served."""


@dataclass(frozen=True, slots=True)
class _Peer:
    client_ip: str
    endpoint_url: str


class WsmanEndpoint:
    """The WS-Man service of one host: shells and runspace pools, dispatch, faults."""

    def __init__(self, host: SimHost, clock: LabClockLike) -> None:
        self.host = host
        self.clock = clock
        self.winrs = WinrsShells(host)
        self.psrp = PsrpShells(host)
        # DROP decisions are seeded per host and boot so a lab run can be replayed. Not per host
        # alone: the listener is made anew at every boot, and a boot-looping host would then
        # drop the very same requests in every reachable window, forever.
        self.rng = random.Random(f"wsman-drop:{host.name}:{host.boot_generation}")
        self._generation = host.boot_generation
        # Replaced by the listener's is_serving once it exists: a closed listener resets
        # its open connections at their next request, as a stopped WinRM service does.
        self.is_open: Callable[[], bool] = lambda: True
        self.connections: set[asyncio.StreamWriter] = set()
        # One task per connection (asyncio starts them; nothing else holds them): stopping
        # the lab must cancel and await them, or a command still in flight stays pending
        # when the loop closes.
        self.handlers: set[asyncio.Task[None]] = set()

    def alive_since(self, generation: int) -> bool:
        """True while a connection accepted in `generation` may still be served."""
        host = self.host
        return (
            host.boot_generation == generation
            and host.is_listening(Service.WINRM)
            and self.is_open()
        )

    def forget_old_shells(self) -> None:
        """Shells die with the boot that made them."""
        if self.host.boot_generation != self._generation:
            self._generation = self.host.boot_generation
            self.winrs.clear()
            self.psrp.clear()

    async def respond(self, request: Request, auth: ConnectionAuth, peer: _Peer) -> Response:
        if faults.find(self.host.faults(), FaultKind.AUTH_FAIL) is not None:
            return Response(401, headers=list(CHALLENGE_HEADERS))
        if request.method != "POST":
            return Response(405)
        if request.path.split("?")[0].lower() != "/wsman":
            return Response(404)
        decision = auth.check(request)
        if not decision.accepted:
            return Response(401, headers=decision.headers)
        encrypted = encryption.is_encrypted(request.header("content-type"))
        sealing = auth.sealing if encrypted else None
        if encrypted and sealing is None:
            return Response(400)
        try:
            soap = request.body if sealing is None else encryption.decrypt(sealing, request.body)
        except encryption.EncryptionError:
            return Response(400)
        if not soap.strip():
            # The empty POST NTLM clients send to set up message encryption.
            return Response(200, headers=decision.headers)
        status, body = await self._soap(soap, owner=decision.user or "", peer=peer)
        if sealing is not None:
            return Response(
                status,
                encryption.encrypt(sealing, body),
                headers=decision.headers,
                content_type=encryption.content_type(),
            )
        return Response(status, body, headers=decision.headers, content_type=SOAP_CONTENT_TYPE)

    async def _soap(self, soap: bytes, *, owner: str, peer: _Peer) -> tuple[int, bytes]:
        try:
            request = parse_request(soap)
        except MalformedRequestError:
            return 400, b""
        try:
            if faults.find(self.host.faults(), FaultKind.HTTP_500) is not None:
                raise faults.internal_error()
            self.forget_old_shells()
            return 200, await self._dispatch(request, owner=owner, peer=peer)
        except WsmanFaultError as fault:
            return 500, fault.render(request.message_id, self.host.address)
        except LabError as exc:
            # The host went down between the generation check and the command: the
            # connection goes with it, as on a real reboot.
            raise _HostDownError from exc
        except Exception:
            # A bug in the lab must show as a fault to the client, not kill the listener.
            log.exception("wsman: request %s failed on %s", request.action, self.host.name)
            return 500, faults.internal_error().render(request.message_id, self.host.address)

    async def _dispatch(self, request: WsmanRequest, *, owner: str, peer: _Peer) -> bytes:
        uri = request.resource_uri
        if uri == RESOURCE_CMD or uri.lower().startswith(_POWERSHELL_PREFIX):
            shells: WinrsShells | PsrpShells = self.winrs if uri == RESOURCE_CMD else self.psrp
            return await self._shell_action(shells, request, owner=owner, peer=peer)
        if uri == RESOURCE_SHELL and request.action == ACTION_GET:
            return self._get_shell(request)
        raise faults.action_not_supported(request.action)

    def _get_shell(self, request: WsmanRequest) -> bytes:
        # pypsrp's RunspacePool.is_alive() asks for the shell itself with a WS-Transfer Get.
        shell = self.psrp.describe(request.shell_id)
        if shell is None:
            raise faults.shell_not_found(self.host.address)
        return envelope(f"{ACTION_GET}Response", request.message_id, shell)

    async def _shell_action(
        self, shells: WinrsShells | PsrpShells, request: WsmanRequest, *, owner: str, peer: _Peer
    ) -> bytes:
        action = request.action
        if action == ACTION_CREATE:
            return shells.create(
                request, owner=owner, client_ip=peer.client_ip, address=peer.endpoint_url
            )
        if action == ACTION_COMMAND:
            return shells.command(request)
        if action == ACTION_SEND:
            if isinstance(shells, WinrsShells):
                return shells.send(request, to_real=self.clock.to_real)
            return shells.send(request)
        if action == ACTION_RECEIVE:
            return await shells.receive(request, self._receive_options())
        if action == ACTION_SIGNAL:
            return shells.signal(request)
        if action == ACTION_DELETE:
            return shells.delete(request)
        raise faults.action_not_supported(action)

    def _receive_options(self) -> ReceiveOptions:
        slow = faults.find(self.host.faults(), FaultKind.SLOW_OUTPUT)
        return ReceiveOptions(
            to_real=self.clock.to_real,
            slow_chunk_delay=slow.seconds if slow is not None else None,
        )


async def start_wsman_server(
    host: SimHost,
    *,
    address: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    clock: LabClockLike | None = None,
    handlers: set[asyncio.Task[None]] | None = None,
) -> asyncio.Server:
    """Listen for WS-Management on `address:port` (`/wsman`) for `host`. Port 0 picks a
    free port: read it from `server.sockets[0].getsockname()[1]`. Connection handler tasks
    are also kept in `handlers` while they run: a lab passes one set for all its listeners,
    so that stopping it ends those of listeners closed earlier (a host that went down) too."""
    endpoint = WsmanEndpoint(host, clock or _SameTime())
    scheme = "https" if ssl_context is not None else "http"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        if handler is not None:
            for registry in (endpoint.handlers, handlers):
                if registry is not None:
                    registry.add(handler)
                    handler.add_done_callback(registry.discard)
        try:
            await _serve_connection(endpoint, reader, writer, scheme=scheme)
        except asyncio.CancelledError:
            # Cancelled when the lab stops or its loop shuts down: the connection dies with
            # it, and a re-raised cancel would only be logged by asyncio as an error.
            writer.transport.abort()

    server = await asyncio.start_server(serve, host=address, port=port, ssl=ssl_context)
    endpoint.is_open = server.is_serving
    _ENDPOINTS[server] = endpoint
    return server


async def stop_wsman_server(server: asyncio.Server) -> None:
    """Stop listening, reset every open connection at once, as a host that goes down does,
    and end their handlers, a command still running included. (`Server.close()` alone
    leaves idle keep-alive connections open on 3.11, and never ends a handler.)"""
    server.close()
    endpoint = _ENDPOINTS.pop(server, None)
    if endpoint is not None:
        for writer in list(endpoint.connections):
            writer.transport.abort()
        handlers = list(endpoint.handlers)
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
    await server.wait_closed()


async def _serve_connection(
    endpoint: WsmanEndpoint,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    scheme: str,
) -> None:
    host = endpoint.host
    generation = host.boot_generation
    if not host.is_listening(Service.WINRM):
        writer.transport.abort()
        return
    peer = _peer(writer, scheme)
    auth = ConnectionAuth(host)
    endpoint.connections.add(writer)
    try:
        while await _serve_one(
            endpoint, reader, writer, auth=auth, peer=peer, generation=generation
        ):
            pass
        # Not awaiting wait_closed(): a TLS peer that never answers close_notify would
        # hold this task for the 30 s SSL shutdown timeout.
        writer.close()
    except (_HostDownError, BadRequestError, ConnectionError, ssl.SSLError):
        writer.transport.abort()
    finally:
        endpoint.connections.discard(writer)


async def _serve_one(
    endpoint: WsmanEndpoint,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    auth: ConnectionAuth,
    peer: _Peer,
    generation: int,
) -> bool:
    """Serve one request; False when the connection is to be closed."""
    host = endpoint.host
    request = await read_request(reader)
    if request is None:
        return False
    if not endpoint.alive_since(generation):
        raise _HostDownError
    active = host.faults()
    if faults.drops(active, endpoint.rng):
        raise _HostDownError
    if faults.find(active, FaultKind.BLACKHOLE) is not None:
        await _until_closed(reader)
        return False
    response = await _unless_host_goes_down(
        endpoint.respond(request, auth, peer), endpoint, generation
    )
    latency = faults.find(active, FaultKind.LATENCY)
    if latency is not None:
        await _unless_host_goes_down(asyncio.sleep(latency.seconds), endpoint, generation)
    data = response.encode(keep_alive=request.keep_alive)
    if faults.find(host.faults(), FaultKind.RESET) is not None:
        writer.write(data[: len(data) // 2])
        await writer.drain()
        raise _HostDownError
    writer.write(data)
    await writer.drain()
    return request.keep_alive


async def _until_closed(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass


async def _unless_host_goes_down(
    work: Awaitable[_T], endpoint: WsmanEndpoint, generation: int
) -> _T:
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=_GENERATION_POLL)
            if done:
                return task.result()
            if not endpoint.alive_since(generation):
                raise _HostDownError
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _peer(writer: asyncio.StreamWriter, scheme: str) -> _Peer:
    client = writer.get_extra_info("peername") or ("127.0.0.1", 0)
    local = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
    return _Peer(client_ip=str(client[0]), endpoint_url=f"{scheme}://{local[0]}:{local[1]}/wsman")
