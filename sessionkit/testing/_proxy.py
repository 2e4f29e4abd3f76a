"""A loopback TCP proxy that puts real network faults between a client and its server.

:func:`open_fault_proxy` listens on ``127.0.0.1`` (port 0: a free one) and forwards every
connection it accepts to a target address, byte for byte, both ways. On command it breaks
them the way networks do, with real sockets, so a transport's own handling of each fault is
what gets exercised:

=====================================  ===========================================================
``refuse()`` / ``await listen()``       close the listening socket (a connect is truly refused,
                                        ``ECONNREFUSED``) / listen again on the same port
``reset()``                             RST: ``SO_LINGER`` 0, then close (both sides see
                                        ``ECONNRESET``)
``half_close("to_client")``             shut one direction down (its reader sees EOF); the other
                                        keeps flowing
``stall()`` / ``resume()``              stop forwarding, sockets left open (only heartbeats or
                                        timeouts can tell)
``delay(seconds)``                      hold each chunk that long before forwarding it
``split(size, pause=0)``                forward each chunk in pieces of ``size`` bytes, as separate
                                        writes (``pause`` seconds apart), to exercise reassembly
=====================================  ===========================================================

Each fault applies to the connections open now; ``new=True`` applies it to the ones accepted
later too (a reset or half-close then hits each new connection as soon as it is accepted),
until :meth:`FaultProxy.heal`. A :class:`ProxyConnection` (``proxy.connections``) takes the
same commands for itself alone. Faults the proxy did not cause are passed on as they came:
an EOF as an EOF, a reset as a reset, a refused target as a reset of the client's connection.

It runs on asyncio or on trio (AnyIO: plain non-blocking sockets, waited on with
``anyio.wait_readable``/``wait_writable``). Time is the event loop's (``delay``, ``pause``),
so under trio's ``MockClock`` they cost no real time. The proxy is for tests and adapter
authors; it is not a production component.
"""

from __future__ import annotations

import logging
import os
import socket as _socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import anyio
import anyio.lowlevel
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["FaultProxy", "ProxyConnection", "Direction", "open_fault_proxy"]

logger = logging.getLogger(__name__)

#: ``"to_client"``: what the target sends to the client; ``"to_server"``: the other way
Direction = Literal["to_client", "to_server"]
DIRECTIONS: tuple[Direction, Direction] = ("to_client", "to_server")

#: most bytes read at once
CHUNK = 65536
#: chunks held per direction (a delayed or stalled link); past it the proxy stops reading
QUEUED_CHUNKS = 64
_LINGER_ZERO = struct.pack("ii", 1, 0)


def _check_direction(direction: str) -> Direction:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'to_client' or 'to_server', got {direction!r}")
    return direction


def _check_seconds(name: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0 \
            or value == float("inf"):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _check_split(size: int) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"split size must be an integer >= 0, got {size!r}")
    return size


@attrs.define
class _Faults:
    """Stall, delay and split settings (of one connection, or for new connections)."""

    stalled: bool = False
    delay: float = 0.0
    split: int = 0
    pause: float = 0.0


def _family(host: str) -> int:
    return _socket.AF_INET6 if ":" in host else _socket.AF_INET


def _socket_for(host: str) -> _socket.socket:
    sock = _socket.socket(_family(host), _socket.SOCK_STREAM)
    sock.setblocking(False)
    return sock


# Plain non-blocking sockets, as trio's socket methods use them: a cancellation point before
# the call, a wait while it would block, a schedule point (shielded) once it is made.

async def _recv(sock: _socket.socket, size: int) -> bytes:
    await anyio.lowlevel.checkpoint_if_cancelled()
    while True:
        try:
            data = sock.recv(size)
        except BlockingIOError:
            await anyio.wait_readable(sock)
            continue
        await anyio.lowlevel.cancel_shielded_checkpoint()
        return data


async def _send(sock: _socket.socket, data: memoryview) -> int:
    await anyio.lowlevel.checkpoint_if_cancelled()
    while True:
        try:
            sent = sock.send(data)
        except BlockingIOError:
            await anyio.wait_writable(sock)
            continue
        await anyio.lowlevel.cancel_shielded_checkpoint()
        return sent


async def _accept(listener: _socket.socket) -> tuple[_socket.socket, tuple[str, int]]:
    await anyio.lowlevel.checkpoint_if_cancelled()
    while True:
        try:
            sock, peer = listener.accept()
        except BlockingIOError:
            await anyio.wait_readable(listener)
            continue
        sock.setblocking(False)
        await anyio.lowlevel.cancel_shielded_checkpoint()
        return sock, (str(peer[0]), int(peer[1]))


async def _connect(sock: _socket.socket, address: tuple[str, int]) -> None:
    try:
        sock.connect(address)
    except BlockingIOError:  # in progress: writable once it is made (or failed)
        await anyio.wait_writable(sock)
        err = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err)) from None
    else:
        await anyio.lowlevel.checkpoint()


def _close(sock: _socket.socket) -> None:
    """Close ``sock``, waking (with ClosedResourceError) a task waiting on it."""
    if sock.fileno() != -1:
        anyio.notify_closing(sock)
    sock.close()


#: what a socket closed or broken under a task raises
_BROKEN = (OSError, anyio.ClosedResourceError, anyio.BrokenResourceError)


class ProxyConnection:
    """One connection through the proxy: the client's socket and the one to the target."""

    def __init__(self, proxy: FaultProxy, number: int, client: _socket.socket,
                 peer: tuple[str, int]) -> None:
        self.proxy = proxy
        self.number = number
        self.peer = peer
        self._client = client
        self._server: _socket.socket | None = None
        self._faults = _Faults()
        self._flowing = anyio.Event()
        self._flowing.set()
        self._scopes: dict[Direction, anyio.CancelScope] = {d: anyio.CancelScope()
                                                            for d in DIRECTIONS}
        self._open: set[Direction] = set(DIRECTIONS)
        self._done = anyio.Event()
        #: why the connection ended (None while open)
        self.closed: str | None = None
        #: bytes forwarded each way
        self.forwarded: dict[Direction, int] = {d: 0 for d in DIRECTIONS}
        #: writes made each way (a split chunk is several)
        self.writes: dict[Direction, int] = {d: 0 for d in DIRECTIONS}

    def __repr__(self) -> str:
        state = f"closed: {self.closed}" if self.closed else "open"
        return f"<ProxyConnection #{self.number} from {self.peer[0]}:{self.peer[1]} {state}>"

    # -- commands -----------------------------------------------------------------------

    @property
    def stalled(self) -> bool:
        return self._faults.stalled

    def stall(self) -> None:
        """Stop forwarding both ways; the sockets stay open (until :meth:`resume`)."""
        if not self._faults.stalled:
            self._faults.stalled = True
            self._flowing = anyio.Event()

    def resume(self) -> None:
        """Forward again what was held and what comes next."""
        self._faults.stalled = False
        self._flowing.set()

    def delay(self, seconds: float) -> None:
        """Hold each chunk ``seconds`` after it was read before forwarding it (0: none)."""
        self._faults.delay = _check_seconds("delay", seconds)

    def split(self, size: int, *, pause: float = 0.0) -> None:
        """Forward each chunk in pieces of ``size`` bytes, each its own write, ``pause``
        seconds apart (0: a scheduling point apart). ``size`` 0 forwards chunks whole."""
        self._faults.pause = _check_seconds("pause", pause)
        self._faults.split = _check_split(size)

    def reset(self) -> None:
        """RST both sides (``SO_LINGER`` 0, then close): each peer sees a connection reset."""
        self._end("reset by the fault proxy", abort=True)

    def half_close(self, direction: Direction = "to_client") -> None:
        """Shut ``direction`` down: its reader gets EOF (``shutdown(SHUT_WR)`` towards it) and
        nothing more is forwarded that way; the other direction keeps flowing."""
        direction = _check_direction(direction)
        if direction not in self._open or self.closed is not None:
            return
        self._scopes[direction].cancel()
        self._finish_direction(direction)

    async def wait_closed(self) -> str:
        """Wait until the connection ended; returns why."""
        await self._done.wait()
        assert self.closed is not None
        return self.closed

    # -- forwarding ---------------------------------------------------------------------

    def _sockets(self, direction: Direction) -> tuple[_socket.socket, _socket.socket]:
        assert self._server is not None
        if direction == "to_client":
            return self._server, self._client
        return self._client, self._server

    async def _run(self, target: tuple[str, int]) -> None:
        try:
            server = _socket_for(target[0])
            try:
                await _connect(server, target)
            except ConnectionResetError as exc:  # made, then reset by the target at once
                _close(server)
                self._broken("to_client", exc)
                return
            except OSError as exc:
                _close(server)
                logger.info("proxy connection #%d: the target %s:%d refused: %s",
                            self.number, *target, exc)
                self._end(f"the target refused: {exc}", abort=True)
                return
            if self.closed is not None:  # reset while connecting
                _close(server)
                return
            self._server = server
            for sock in (self._client, server):
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            for direction in DIRECTIONS:
                if direction not in self._open:  # half-closed before the target answered
                    self._finish_direction(direction)
            async with anyio.create_task_group() as tasks:
                for direction in DIRECTIONS:
                    if direction in self._open:
                        tasks.start_soon(self._pump, direction)
        finally:
            self._end("closed", abort=False)

    async def _pump(self, direction: Direction) -> None:
        """Forward one direction: a reader and a writer, a bounded queue between them."""
        src, dst = self._sockets(direction)
        send, receive = anyio.create_memory_object_stream[tuple[float, bytes]](QUEUED_CHUNKS)
        finished = False
        with self._scopes[direction]:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._read, src, send, direction)
                finished = await self._write(dst, receive, direction)
        if finished and self.closed is None:
            self._finish_direction(direction)

    def _broken(self, direction: Direction, exc: BaseException) -> None:
        """A peer reset or vanished (not a fault of ours): pass it on as a reset."""
        if self.closed is None:
            self._end(f"{direction}: {type(exc).__name__}: {exc}", abort=True)

    async def _read(self, src: _socket.socket,
                    send: MemoryObjectSendStream[tuple[float, bytes]],
                    direction: Direction) -> None:
        async with send:
            try:
                while True:
                    await self._flowing.wait()
                    data = await _recv(src, CHUNK)
                    await send.send((anyio.current_time(), data))
                    if not data:  # EOF: passed on once the writer gets to it
                        return
            except _BROKEN as exc:
                self._broken(direction, exc)

    async def _write(self, dst: _socket.socket,
                     receive: MemoryObjectReceiveStream[tuple[float, bytes]],
                     direction: Direction) -> bool:
        """Forward until EOF (True) or until the connection broke (False)."""
        async with receive:
            try:
                async for stamp, data in receive:
                    if not data:
                        return True
                    faults = self._faults
                    if faults.delay:
                        await anyio.sleep_until(stamp + faults.delay)
                    size = faults.split or len(data)
                    for start in range(0, len(data), size):
                        if start and faults.pause:
                            await anyio.sleep(faults.pause)
                        elif start:
                            await anyio.lowlevel.checkpoint()
                        await self._flowing.wait()
                        self.writes[direction] += 1
                        view = memoryview(data)[start:start + size]
                        while view:
                            view = view[await _send(dst, view):]
                    self.forwarded[direction] += len(data)
            except _BROKEN as exc:
                self._broken(direction, exc)
        return False

    def _finish_direction(self, direction: Direction) -> None:
        """``direction`` is over: its reader gets an EOF; both over: the connection ends."""
        self._open.discard(direction)
        if self._server is None:  # not connected to the target yet: done by _run
            return
        _, dst = self._sockets(direction)
        try:
            dst.shutdown(_socket.SHUT_WR)
        except OSError:
            pass
        if not self._open:
            self._end("closed", abort=False)

    def _end(self, why: str, *, abort: bool) -> None:
        if self.closed is not None:
            return
        self.closed = why
        for scope in self._scopes.values():
            scope.cancel()
        for sock in (self._client, self._server):
            if sock is None:
                continue
            if abort:
                try:
                    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_LINGER, _LINGER_ZERO)
                except OSError:
                    pass
            _close(sock)
        self._flowing.set()
        self.proxy._forget(self)
        self._done.set()
        logger.debug("proxy connection #%d ended: %s", self.number, why)


class FaultProxy:
    """A listening loopback proxy (see the module docstring); made by :func:`open_fault_proxy`.

    ``address`` is where clients connect (``(host, port)``); ``target`` is where it forwards.
    """

    def __init__(self, target: tuple[str, int], host: str, tasks: TaskGroup) -> None:
        self.target = target
        self.host = host
        self.port = 0
        self._tasks = tasks
        self._listener: _socket.socket | None = None
        self._new = _Faults()
        self._reset_new = False
        self._half_close_new: Direction | None = None
        #: connections open now, oldest first
        self.connections: list[ProxyConnection] = []
        #: connections accepted so far
        self.accepted = 0
        self._accepted_changed = anyio.Event()

    def __repr__(self) -> str:
        state = "listening" if self.listening else "refusing"
        return (f"<FaultProxy {self.host}:{self.port} -> {self.target[0]}:{self.target[1]} "
                f"({state}, {len(self.connections)} open)>")

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def listening(self) -> bool:
        return self._listener is not None

    # -- listening ------------------------------------------------------------------------

    async def listen(self) -> None:
        """Listen (again, on the same port once it had one): new connections are accepted."""
        if self._listener is not None:
            return
        await anyio.lowlevel.checkpoint()
        sock = _socket_for(self.host)
        try:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"the fault proxy cannot listen on {self.host}:"
                                     f"{self.port}: {exc.strerror}") from None
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._tasks.start_soon(self._accept_loop, sock)

    def refuse(self) -> None:
        """Close the listening socket: a connect to :attr:`address` is refused until
        :meth:`listen` (connections already made are not touched)."""
        sock, self._listener = self._listener, None
        if sock is not None:
            _close(sock)

    async def _accept_loop(self, listener: _socket.socket) -> None:
        while True:
            try:
                client, peer = await _accept(listener)
            except (OSError, anyio.ClosedResourceError):
                return  # refused: the listener was closed
            self.accepted += 1
            conn = ProxyConnection(self, self.accepted, client, peer)
            conn._faults = attrs.evolve(self._new)
            if conn._faults.stalled:
                conn._flowing = anyio.Event()
            self.connections.append(conn)
            self._accepted_changed.set()
            self._accepted_changed = anyio.Event()
            logger.debug("proxy connection #%d from %s:%d", conn.number, *peer)
            if self._reset_new:
                conn.reset()
                continue
            if self._half_close_new is not None:
                conn.half_close(self._half_close_new)
            self._tasks.start_soon(conn._run, self.target)

    async def wait_accepted(self, count: int) -> None:
        """Wait until ``count`` connections were accepted in all."""
        while self.accepted < count:
            await self._accepted_changed.wait()

    def _forget(self, conn: ProxyConnection) -> None:
        if conn in self.connections:
            self.connections.remove(conn)

    # -- faults -----------------------------------------------------------------------------

    def _each(self) -> list[ProxyConnection]:
        return list(self.connections)

    def reset(self, *, new: bool = False) -> None:
        """RST every open connection; ``new``: also each one accepted later, at once."""
        for conn in self._each():
            conn.reset()
        self._reset_new = self._reset_new or new

    def half_close(self, direction: Direction = "to_client", *, new: bool = False) -> None:
        """Shut ``direction`` down on every open connection (see
        :meth:`ProxyConnection.half_close`); ``new``: also on each one accepted later."""
        direction = _check_direction(direction)
        for conn in self._each():
            conn.half_close(direction)
        if new:
            self._half_close_new = direction

    def stall(self, *, new: bool = False) -> None:
        """Stop forwarding on every open connection; ``new``: new ones start stalled."""
        for conn in self._each():
            conn.stall()
        self._new.stalled = self._new.stalled or new

    def resume(self) -> None:
        """Forward again on every connection; new ones are no longer stalled."""
        for conn in self._each():
            conn.resume()
        self._new.stalled = False

    def delay(self, seconds: float, *, new: bool = False) -> None:
        """Hold each chunk ``seconds`` before forwarding it (0: none), on every open
        connection; ``new``: on each one accepted later too."""
        seconds = _check_seconds("delay", seconds)
        for conn in self._each():
            conn.delay(seconds)
        if new:
            self._new.delay = seconds

    def split(self, size: int, *, pause: float = 0.0, new: bool = False) -> None:
        """Forward each chunk in pieces of ``size`` bytes (see :meth:`ProxyConnection.split`),
        on every open connection; ``new``: on each one accepted later too."""
        _check_split(size)
        pause = _check_seconds("pause", pause)
        for conn in self._each():
            conn.split(size, pause=pause)
        if new:
            self._new.split, self._new.pause = size, pause

    async def heal(self) -> None:
        """Undo what can be undone: listen again, resume, no delay, no split, and no fault
        on new connections. (A reset or half-closed connection stays broken.)"""
        self._new = _Faults()
        self._reset_new = False
        self._half_close_new = None
        for conn in self._each():
            conn.resume()
            conn.delay(0.0)
            conn.split(0)
        await self.listen()

    async def aclose(self) -> None:
        """Stop listening and close every connection (plainly, not as a fault)."""
        self._close()
        await anyio.lowlevel.checkpoint()

    def _close(self) -> None:
        self.refuse()
        for conn in self._each():
            conn._end("the fault proxy closed", abort=False)


@asynccontextmanager
async def open_fault_proxy(target: tuple[str, int], *, host: str = "127.0.0.1",
                           port: int = 0) -> AsyncIterator[FaultProxy]:
    """A :class:`FaultProxy` on ``host:port`` (0: a free port) forwarding to ``target``,
    until the block ends.

    >>> import anyio, socket
    >>> async def main():
    ...     listener = socket.create_server(("127.0.0.1", 0))
    ...     async with open_fault_proxy(listener.getsockname()) as proxy:
    ...         stream = await anyio.connect_tcp(*proxy.address)
    ...         server, _ = await anyio.to_thread.run_sync(listener.accept)
    ...         await stream.send(b"ping")
    ...         print(await anyio.to_thread.run_sync(server.recv, 10))
    ...         proxy.reset()
    ...         try:
    ...             await stream.receive(10)
    ...         except anyio.BrokenResourceError as exc:
    ...             print("reset:", type(exc.__cause__).__name__)
    ...         server.close()
    ...     listener.close()
    >>> anyio.run(main)  # or anyio.run(main, backend="trio")
    b'ping'
    reset: ConnectionResetError
    """
    if not isinstance(target, tuple) or len(target) != 2 or not isinstance(target[1], int):
        raise ValueError(f"target must be (host, port), got {target!r}")
    body_error: BaseException | None = None
    try:
        async with anyio.create_task_group() as tasks:
            proxy = FaultProxy((str(target[0]), int(target[1])), host, tasks)
            proxy.port = port
            await proxy.listen()
            try:
                yield proxy
            except BaseException as exc:
                body_error = exc
                raise
            finally:  # nothing awaits here: a cancelled await would hide the block's error
                proxy._close()
                tasks.cancel_scope.cancel()
    except BaseExceptionGroup as group:  # the block's own error comes out as itself
        if body_error is not None and list(group.exceptions) == [body_error]:
            raise body_error from None
        raise
