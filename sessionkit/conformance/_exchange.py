"""The scripted exchange: the far side of a scenario, over the adapter's real transport.

It accepts connections from the adapter's :class:`ServerEndpoint`, decodes
what the client sends with the core codec, and sends what the script says,
through the fault injector (drop, duplicate, delay, garbled or oversize
frames, disconnects).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import anyio
import anyio.abc
import msgspec

from .._codec import JsonCodec
from .._errors import DecodeError
from .._messages import Heartbeat, Message
from ..runtime._transport import ConnectError, Transport, TransportClosedError
from ._inflight import InFlight, counting

__all__ = ["ScriptedExchange", "StepFailed", "GuardedConnector"]

logger = logging.getLogger(__name__)


class StepFailed(Exception):
    """A scenario step did not hold; the message says what was expected and what happened.

    ``step`` is the step to blame when it is not the one running (None: that one).
    """

    def __init__(self, message: str, step: Any = None) -> None:
        super().__init__(message)
        self.step = step


class _Conn:
    """One accepted connection and its reader task's buffer."""

    def __init__(self, number: int, transport: Transport, inflight: InFlight) -> None:
        self.number = number
        self.inflight = inflight
        self.transport = transport
        self.frames: deque[bytes] = deque()
        self.closed: str | None = None
        self.closed_by_us = False
        self.changed = anyio.Event()

    def notify(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    async def reader(self) -> None:
        try:
            while True:
                frames = await self.transport.receive_frames()
                self.inflight.exchange_read(len(frames))
                self.frames.extend(frames)
                self.notify()
        except TransportClosedError as exc:
            self.closed = exc.reason or "closed"
        except Exception as exc:  # a transport bug: report it as a close with the reason
            self.closed = f"receive_frames raised {type(exc).__name__}: {exc}"
        self.inflight.closed()
        self.notify()


class GuardedConnector:
    """Wraps the adapter's connector to refuse connection attempts on demand."""

    def __init__(self, inner: Any, inflight: InFlight) -> None:
        self.inner = inner
        self.inflight = inflight
        self.refuse = 0
        self.attempts = 0

    async def connect(self) -> Transport:
        self.attempts += 1
        if self.refuse > 0:
            self.refuse -= 1
            raise ConnectError("connection refused (conformance fault: inject refuse-connect)")
        transport: Transport = await self.inner.connect()
        return counting(transport, self.inflight)


class ScriptedExchange:
    def __init__(self, endpoint: Any, nursery: anyio.abc.TaskGroup, codec: JsonCodec,
                 inflight: InFlight) -> None:
        self.endpoint = endpoint
        self.inflight = inflight
        self.nursery = nursery
        self.codec = codec
        self.conns: list[_Conn] = []
        self.current: _Conn | None = None
        self._accepting: anyio.Event | None = None
        self._accept_error: BaseException | None = None
        self.run_id: str | None = None
        #: cid -> mid, learnt from every status/batch_ack the exchange sent
        self.mids: dict[str, int] = {}
        self.drop = 0
        self.duplicate = 0
        self.delay = 0.0

    # -- connections ------------------------------------------------------------------

    def start_accept(self) -> None:
        """Accept the next connection in the background (``connect`` step)."""
        done = self._accepting = anyio.Event()
        self._accept_error = None

        async def accept() -> None:
            try:
                transport = await self.endpoint.accept()
            except BaseException as exc:
                if isinstance(exc, anyio.get_cancelled_exc_class()):
                    raise
                self._accept_error = exc
            else:
                conn = _Conn(len(self.conns) + 1, transport, self.inflight)
                self.conns.append(conn)
                self.current = conn
                self.nursery.start_soon(conn.reader)
            finally:
                done.set()

        self.nursery.start_soon(accept)

    async def connection(self, timeout: float) -> _Conn:
        """The current connection, waiting for a pending accept."""
        if self._accepting is not None:
            with anyio.move_on_after(timeout):
                await self._accepting.wait()
            if not self._accepting.is_set():
                raise StepFailed(f"the client did not connect within {timeout:g} s")
            self._accepting = None
            if self._accept_error is not None:
                raise StepFailed(f"accept() failed: {self._accept_error!r}"
                                 ) from self._accept_error
        if self.current is None:
            raise StepFailed("no connection: the script needs a 'connect' step first")
        return self.current

    async def expect_no_connect(self, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            transport = await self.endpoint.accept()
            conn = _Conn(len(self.conns) + 1, transport, self.inflight)
            self.conns.append(conn)
            self.nursery.start_soon(conn.reader)
            raise StepFailed(f"the client opened connection #{conn.number} within {seconds:g} s")

    async def disconnect(self, timeout: float) -> None:
        conn = await self.connection(timeout)
        conn.closed_by_us = True
        self.inflight.closed()
        with anyio.move_on_after(timeout):
            await conn.transport.aclose()
        self.current = None

    async def expect_disconnect(self, timeout: float) -> None:
        conn = await self.connection(timeout)
        with anyio.move_on_after(timeout):
            while conn.closed is None:
                await conn.changed.wait()
        if conn.closed is None:
            raise StepFailed(f"the client did not close connection #{conn.number} within "
                             f"{timeout:g} s")

    # -- receiving ----------------------------------------------------------------------

    async def next_message(self, timeout: float, want: str) -> Message:
        """The next frame the client sends (heartbeats skipped unless ``want`` is heartbeat)."""
        conn = await self.connection(timeout)
        with anyio.move_on_after(timeout):
            while True:
                while conn.frames:
                    frame = conn.frames.popleft()
                    try:
                        msg = self.codec.decode(frame)
                    except DecodeError as exc:
                        raise StepFailed(f"the client sent a frame that does not decode: {exc} "
                                         f"(frame {frame[:80]!r})") from None
                    if isinstance(msg, Heartbeat) and want != "heartbeat":
                        continue
                    return msg
                if conn.closed is not None:
                    raise StepFailed(f"connection #{conn.number} closed ({conn.closed}) before "
                                     f"the client sent {want}")
                await conn.changed.wait()
        raise StepFailed(f"the client sent no {want} within {timeout:g} s")

    async def expect_silence(self, seconds: float) -> None:
        conn = await self.connection(seconds)
        await anyio.sleep(seconds)
        for frame in conn.frames:
            try:
                msg = self.codec.decode(frame)
            except DecodeError:
                raise StepFailed(f"the client sent an undecodable frame {frame[:80]!r}") from None
            if not isinstance(msg, Heartbeat):
                from ._match import describe

                raise StepFailed(f"the client sent {describe(msg)} within {seconds:g} s")
        conn.frames.clear()

    # -- sending --------------------------------------------------------------------------

    def encode(self, fields: dict[str, Any]) -> bytes:
        if self.run_id is not None and "run_id" not in fields:
            fields = {**fields, "run_id": self.run_id}
        fields = {k: v for k, v in fields.items() if v is not None}
        self._learn(fields)
        return msgspec.json.encode(fields)

    def _learn(self, fields: dict[str, Any]) -> None:
        if fields.get("type") in ("status", "batch_ack"):
            cid, mid = fields.get("cid"), fields.get("mid")
            if isinstance(cid, str) and isinstance(mid, int):
                self.mids[cid] = mid
            for st in fields.get("messages") or ():
                if isinstance(st, dict) and isinstance(st.get("cid"), str) \
                        and isinstance(st.get("mid"), int):
                    self.mids[st["cid"]] = st["mid"]

    async def send_frame(self, frame: bytes, timeout: float) -> None:
        """Send one frame through the armed faults."""
        conn = await self.connection(timeout)
        if self.drop:
            self.drop -= 1
            return
        frames = [frame]
        if self.duplicate:
            self.duplicate -= 1
            frames.append(frame)
        if self.delay:
            delay, self.delay = self.delay, 0.0

            async def later() -> None:
                await anyio.sleep(delay)
                await self._write(conn, frames)

            self.nursery.start_soon(later)
            return
        await self._write(conn, frames)

    async def _write(self, conn: _Conn, frames: list[bytes]) -> None:
        if conn.closed is not None or conn.closed_by_us:
            return
        self.inflight.exchange_sent(len(frames))
        try:
            await conn.transport.send_frames(frames)
        except TransportClosedError as exc:
            self.inflight.closed()
            conn.closed = conn.closed or exc.reason or "closed"

    def garbled_frame(self) -> bytes:
        return b"\x00\xffgarbled{frame"

    def oversize_frame(self) -> bytes:
        """A heartbeat one byte over the codecs' ``max_frame_size``: the transport carries
        it (the suite keeps its codecs under the adapter's ``max_frame_size``), the
        client's codec refuses it."""
        head, tail = b'{"type":"heartbeat","pad":"', b'"}'
        return head + b"x" * (self.codec.max_frame_size + 1 - len(head) - len(tail)) + tail
