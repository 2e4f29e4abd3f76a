"""In-memory transports: a connected pair, fault hooks, a server endpoint and the adapter.

:func:`memory_transport_pair` gives two connected :class:`MemoryTransport`
objects, in the spirit of ``trio.testing.memory_stream_pair`` but carrying
whole frames. Each direction is a bounded buffer (a sender waits while the
far side holds ``max_buffer`` frames: backpressure, nothing is dropped), either
side can close (the far side
reads what was already sent, then :class:`TransportClosedError` with the reason)
or abort (both sides fail at once, buffered frames are lost), and each
direction has a :class:`Faults` object that can drop, duplicate, delay or
hold frames, or cut the connection at a chosen frame.

:data:`adapter` is what the ``memory`` entry point of ``sessionkit.adapters``
yields: ``async with adapter.serve() as endpoint`` gives a
:class:`MemoryEndpoint` whose ``accept()`` returns the server side of each new
pair and whose ``connector()`` connects to it; at most ``max_pending``
connections wait to be accepted (a backlog, as a listening socket has): past it a
connect is refused with :class:`ConnectError` naming the bound. Everything lives in
one run of the event loop (asyncio or trio): an endpoint refuses connections from another
run.

>>> import anyio
>>> async def demo():
...     a, b = memory_transport_pair()
...     await a.send_frames([b"one", b"two"])
...     got = await b.receive_frames()
...     b.close("bye")
...     try:
...         await a.receive_frames()
...     except TransportClosedError as exc:
...         return got, exc.reason
>>> anyio.run(demo)  # or anyio.run(demo, backend="trio")
([b'one', b'two'], 'bye')
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel

from .._errors import ConfigError
from ._faults import Faults, check_count, message_type
from ._transport import ConnectError, TransportClosedError
from ._util import Signal

__all__ = [
    "MemoryTransport",
    "memory_transport_pair",
    "Faults",
    "message_type",
    "MemoryEndpoint",
    "MemoryConnector",
    "MemoryAdapter",
    "adapter",
    "DEFAULT_MAX_BUFFER",
    "DEFAULT_MAX_PENDING",
]

#: frames one direction holds before a sender waits
DEFAULT_MAX_BUFFER = 4096
#: connections an endpoint holds before they are accepted; past it a connect is refused
DEFAULT_MAX_PENDING = 128

class _Pipe:
    """One direction of a pair: frames with their delivery times, and who waits."""

    __slots__ = ("frames", "max_buffer", "faults", "eof", "broken", "readable", "writable",
                 "last_due", "dead")

    def __init__(self, max_buffer: int, faults: Faults) -> None:
        self.frames: deque[tuple[float, bytes]] = deque()
        self.max_buffer = max_buffer
        self.faults = faults
        #: the sender closed: deliver what is buffered, then this reason
        self.eof: str | None = None
        #: the connection is gone for this direction: fail at once with this reason
        self.broken: str | None = None
        #: fired when frames arrive or the pipe ends (a receiver waits on it)
        self.readable = Signal()
        #: fired when room is made or the pipe ends (a sender waits on it)
        self.writable = Signal()
        self.last_due = 0.0
        self.dead = False
        faults.attach(self)

    def wake(self) -> None:
        self.readable.fire()
        self.writable.fire()


_names = itertools.count(1)


class MemoryTransport:
    """One side of an in-memory connection (see :func:`memory_transport_pair`)."""

    def __init__(self, out: _Pipe, inp: _Pipe, name: str) -> None:
        self._out = out
        self._in = inp
        self.name = name
        self.peer: MemoryTransport | None = None
        #: why this side stopped: None while open
        self.closed_reason: str | None = None
        self.frames_sent = 0
        self.frames_received = 0

    @property
    def faults(self) -> Faults:
        """The faults applied to the frames this side sends."""
        return self._out.faults

    @property
    def buffered(self) -> int:
        """Frames sent by the far side and not yet received here."""
        return len(self._in.frames)

    def __repr__(self) -> str:
        state = "open" if self.closed_reason is None else f"closed: {self.closed_reason}"
        return f"<MemoryTransport {self.name} {state}>"

    async def send_frames(self, frames: list[bytes]) -> None:
        await anyio.lowlevel.checkpoint_if_cancelled()
        pipe = self._out
        if pipe.faults.active:
            waited = await self._send_faulty(frames)
        else:
            waited = False
            i, n = 0, len(frames)
            while i < n:
                self._check_send()
                sent = self._put(frames[i:] if i else frames)
                if not sent:
                    waited = True
                    await pipe.writable.wait()
                i += sent
            if not n:
                self._check_send()
        if not waited:
            await anyio.lowlevel.cancel_shielded_checkpoint()

    def _check_send(self) -> None:
        if self.closed_reason is not None:
            raise TransportClosedError(f"this side is closed: {self.closed_reason}")
        pipe = self._out
        if pipe.broken is not None:
            raise TransportClosedError(pipe.broken)

    async def _send_faulty(self, frames: list[bytes]) -> bool:
        """Send frame by frame through the faults (still bounded); True if it waited."""
        pipe = self._out
        waited = False
        for frame in frames:
            self._check_send()
            copies, delay, cut, frame = pipe.faults.apply(frame)
            if cut is not None:
                self._break(cut)
                raise TransportClosedError(cut)
            if not copies:
                continue
            now = anyio.current_time()
            due = max(now + delay if delay else 0.0, pipe.last_due)
            if due > now:
                pipe.last_due = due
            for _ in range(copies):
                while len(pipe.frames) >= pipe.max_buffer:
                    waited = True
                    pipe.readable.fire()
                    await pipe.writable.wait()
                    self._check_send()
                pipe.frames.append((due, frame))
                self.frames_sent += 1
            pipe.readable.fire()
        return waited

    def send_frames_nowait(self, frames: list[bytes]) -> int:
        """Send what fits now without waiting; returns how many of ``frames`` went out.

        So this transport is a :class:`~sessionkit.runtime.NonBlockingTransport`. While
        faults are active nothing goes this way (0 is returned): :meth:`send_frames`
        applies them.
        """
        self._check_send()
        return 0 if self._out.faults.active else self._put(frames)

    def _put(self, frames: list[bytes]) -> int:
        """Buffer as many of ``frames`` as fit (no faults applied); how many did."""
        pipe = self._out
        n = min(len(frames), pipe.max_buffer - len(pipe.frames))
        if n <= 0:
            return 0
        due = pipe.last_due
        pipe.frames.extend((due, f) for f in frames[:n])
        self.frames_sent += n
        pipe.readable.fire()
        return n

    def receive_frames_nowait(self) -> list[bytes]:
        """Every frame readable now, without waiting: ``[]`` when none, or when the
        connection ended (then :meth:`receive_frames` says why). For a test driving the
        far side by hand; the runtime does not use it."""
        if self.closed_reason is not None or self._in.broken is not None:
            return []
        return self._take()[0]

    def _take(self) -> tuple[list[bytes], float]:
        """(the frames due now, the due time of the next one held back or 0.0)."""
        pipe = self._in
        frames = pipe.frames
        if not frames or pipe.faults.held:
            return [], 0.0
        head_due = frames[0][0]
        if not head_due:
            out = [f for _, f in frames]
            frames.clear()
        else:
            now = anyio.current_time()
            out = []
            while frames and frames[0][0] <= now:
                out.append(frames.popleft()[1])
            head_due = frames[0][0] if frames else 0.0
            if not frames:
                pipe.last_due = 0.0
        if out:
            self.frames_received += len(out)
            pipe.writable.fire()
        return out, head_due

    async def receive_frames(self) -> list[bytes]:
        await anyio.lowlevel.checkpoint_if_cancelled()
        pipe = self._in
        while True:
            if self.closed_reason is not None:
                raise TransportClosedError(f"this side is closed: {self.closed_reason}")
            if pipe.broken is not None:
                raise TransportClosedError(pipe.broken)
            out, head_due = self._take()
            if out:
                await anyio.lowlevel.cancel_shielded_checkpoint()
                return out
            frames = pipe.frames
            if not frames and pipe.eof is not None:
                raise TransportClosedError(pipe.eof)
            if head_due:
                with anyio.CancelScope(deadline=head_due):
                    await pipe.readable.wait()
            else:
                await pipe.readable.wait()

    def close(self, reason: str = "closed by the peer") -> None:
        """Close gracefully: the far side reads what was sent, then
        ``TransportClosedError(reason)``."""
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        out, inp = self._out, self._in
        if out.eof is None:
            out.eof = reason
        if inp.broken is None:
            inp.broken = f"the peer closed the connection: {reason}"
        inp.frames.clear()
        self._retire()

    def abort(self, reason: str = "connection aborted") -> None:
        """Fail the connection at once, both ways: buffered frames are lost."""
        if self.closed_reason is None:
            self.closed_reason = reason
        self._break(reason)

    def _break(self, reason: str) -> None:
        for pipe in (self._out, self._in):
            if pipe.broken is None:
                pipe.broken = reason
            pipe.frames.clear()
        self._retire()

    def _retire(self) -> None:
        for pipe in (self._out, self._in):
            pipe.wake()
            if pipe.broken is not None:
                pipe.dead = True

    @property
    def is_open(self) -> bool:
        """Neither side closed nor aborted (frames may still be readable after a close)."""
        return (self.closed_reason is None and self._in.broken is None
                and self._out.broken is None and self._in.eof is None)

    async def aclose(self) -> None:
        self.close()
        await anyio.lowlevel.checkpoint()


def memory_transport_pair(*, max_buffer: int = DEFAULT_MAX_BUFFER,
                          faults_a_to_b: Faults | None = None,
                          faults_b_to_a: Faults | None = None,
                          names: tuple[str, str] | None = None,
                          ) -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected transports ``(a, b)``: what ``a`` sends, ``b`` receives, and back."""
    _check_max_buffer(max_buffer)
    ab = _Pipe(max_buffer, faults_a_to_b or Faults())
    ba = _Pipe(max_buffer, faults_b_to_a or Faults())
    n = next(_names)
    na, nb = names or (f"a{n}", f"b{n}")
    a = MemoryTransport(ab, ba, na)
    b = MemoryTransport(ba, ab, nb)
    a.peer, b.peer = b, a
    return a, b


def _check_max_buffer(value: Any) -> None:
    _check_positive("max_buffer", value, "frames")


def _check_positive(name: str, value: Any, unit: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer ({unit}), got {value!r}")


# -- the endpoint and the adapter --------------------------------------------------------

_endpoints: dict[str, MemoryEndpoint] = {}


def _loop_name(token: anyio.lowlevel.EventLoopToken) -> str:
    return "asyncio" if isinstance(token.native_token, asyncio.AbstractEventLoop) else "trio"


class MemoryConnector:
    """Connects to a :class:`MemoryEndpoint` (directly, or by ``address`` at connect time)."""

    def __init__(self, endpoint: MemoryEndpoint | None = None, *,
                 address: str | None = None) -> None:
        if (endpoint is None) == (address is None):
            raise ConfigError("MemoryConnector needs exactly one of endpoint= or address=")
        self._endpoint = endpoint
        self.address: str = endpoint.address if endpoint is not None else str(address)
        self.attempts = 0

    async def connect(self) -> MemoryTransport:
        await anyio.lowlevel.checkpoint()
        self.attempts += 1
        ep = self._endpoint or _endpoints.get(self.address)
        if ep is None:
            raise ConnectError(f"connection refused: no in-memory endpoint at "
                               f"{self.address!r}")
        return ep._connect()


class MemoryEndpoint:
    """An in-memory listening server (see :meth:`MemoryAdapter.serve`).

    ``to_server`` and ``to_client`` are the :class:`Faults` applied to every
    connection it accepts; ``connections`` lists each ``(client, server)``
    pair made. :meth:`refuse` makes the next connection attempts fail and
    :meth:`drop_connections` cuts every open connection. At most ``max_pending``
    connections wait for :meth:`accept`; past it a connect is refused (``ConnectError``
    naming the bound), as a full listen backlog refuses one.
    """

    def __init__(self, *, address: str | None = None, max_buffer: int = DEFAULT_MAX_BUFFER,
                 rng: random.Random | None = None,
                 max_pending: int = DEFAULT_MAX_PENDING) -> None:
        _check_max_buffer(max_buffer)
        _check_positive("max_pending", max_pending, "connections")
        self.address = address or f"memory-{next(_names)}"
        self.max_buffer = max_buffer
        self.max_pending = max_pending
        rng = rng or random.Random(0)
        self.to_server = Faults(rng=rng)
        self.to_client = Faults(rng=rng)
        self.connections: list[tuple[MemoryTransport, MemoryTransport]] = []
        self._pending: deque[MemoryTransport] = deque()
        self._accepting = Signal()
        self._refuse: list[str] = []
        self._run = anyio.lowlevel.current_token()
        self.closed = False

    def connector(self, **options: Any) -> MemoryConnector:
        if options:
            raise ConfigError(f"MemoryEndpoint.connector takes no options, got "
                              f"{sorted(options)}")
        return MemoryConnector(self)

    def refuse(self, count: int = 1, reason: str = "connection refused") -> None:
        """Refuse the next ``count`` connection attempts with ``reason``."""
        check_count("MemoryEndpoint.refuse count", count)
        self._refuse.extend([reason] * count)

    def drop_connections(self, reason: str = "connection dropped") -> int:
        """Abort every open connection (both sides see ``reason``); returns how many."""
        n = 0
        for client, server in self.connections:
            if client.is_open or server.is_open:
                server.abort(reason)
                n += 1
        return n

    def open_connections(self) -> list[tuple[MemoryTransport, MemoryTransport]]:
        """The ``(client, server)`` pairs whose both sides are still open."""
        return [(c, s) for c, s in self.connections if c.is_open and s.is_open]

    def _connect(self) -> MemoryTransport:
        if self.closed:
            raise ConnectError(f"connection refused: in-memory endpoint {self.address!r} "
                               f"is closed")
        if anyio.lowlevel.current_token() != self._run:
            raise ConnectError(f"in-memory endpoint {self.address!r} belongs to another "
                               f"{_loop_name(self._run)} run; memory transports connect "
                               f"within one run of the event loop only")
        if self._refuse:
            raise ConnectError(self._refuse.pop(0))
        if len(self._pending) >= self.max_pending:
            raise ConnectError(f"connection refused: in-memory endpoint {self.address!r} "
                               f"has {len(self._pending)} connections not accepted yet "
                               f"(max_pending {self.max_pending})")
        n = len(self.connections) + 1
        client, server = memory_transport_pair(
            max_buffer=self.max_buffer, faults_a_to_b=self.to_server,
            faults_b_to_a=self.to_client,
            names=(f"{self.address}/client-{n}", f"{self.address}/server-{n}"))
        self.connections.append((client, server))
        self._pending.append(server)
        self._accepting.fire()
        return client

    async def accept(self) -> MemoryTransport:
        await anyio.lowlevel.checkpoint_if_cancelled()
        while not self._pending:
            if self.closed:
                raise TransportClosedError(f"in-memory endpoint {self.address!r} is closed")
            await self._accepting.wait()
        server = self._pending.popleft()
        await anyio.lowlevel.cancel_shielded_checkpoint()
        return server

    def close(self, reason: str = "server shut down") -> None:
        """Stop listening and abort every connection."""
        if self.closed:
            return
        self.closed = True
        if _endpoints.get(self.address) is self:
            del _endpoints[self.address]
        self.drop_connections(reason)
        for server in self._pending:
            server.abort(reason)
        self._pending.clear()
        self._accepting.fire()


class MemoryAdapter:
    """The ``memory`` adapter: every capability of the reference protocol, in one process."""

    name = "memory"
    capabilities = frozenset({"session", "ack_mid", "batch", "run_id", "event_replay",
                              "backpressure", "heartbeat", "idempotency", "reconnect"})
    #: frames of any size are carried (bytes objects handed over)
    max_frame_size: int | None = None
    #: the transport lives inside the event loop: virtual time (trio's MockClock) may jump
    #: whenever every task waits
    conformance_clock = "virtual"

    def connector(self, *, address: str, **options: Any) -> MemoryConnector:
        """A connector to the endpoint served at ``address`` (looked up at connect time)."""
        if options:
            raise ConfigError(f"the memory adapter's connector takes only address=, got "
                              f"{sorted(options)}")
        if not isinstance(address, str) or not address:
            raise ConfigError(f"address must be a non-empty string, got {address!r}")
        return MemoryConnector(address=address)

    @asynccontextmanager
    async def serve(self, *, address: str | None = None, max_buffer: int = DEFAULT_MAX_BUFFER,
                    rng: random.Random | None = None, max_pending: int = DEFAULT_MAX_PENDING,
                    **options: Any) -> AsyncIterator[MemoryEndpoint]:
        """Listen at ``address`` (a fresh name by default) until the block ends."""
        if options:
            raise ConfigError(f"the memory adapter's serve() takes address=, max_buffer=, "
                              f"max_pending= and rng=, got {sorted(options)}")
        if address is not None and address in _endpoints:
            raise ConfigError(f"an in-memory endpoint already serves {address!r}")
        ep = MemoryEndpoint(address=address, max_buffer=max_buffer, rng=rng,
                            max_pending=max_pending)
        _endpoints[ep.address] = ep
        try:
            yield ep
        finally:
            ep.close()

    def __repr__(self) -> str:
        return "<sessionkit memory adapter>"


#: the object the ``memory`` entry point of ``sessionkit.adapters`` names
adapter = MemoryAdapter()

