"""Sans-IO client side of a hub connection.

It allocates invocation ids, remembers pending invocations and streams, turns incoming frames
into :mod:`events <._events>`, sends keep-alive pings, detects a silent server and implements
the client half of stateful reconnect. No sockets, no clock: the I/O layer feeds it bytes and
time and writes out :meth:`~._endpoint.Endpoint.data_to_send`.

>>> from sessionkit_mesolive.signalr import ClientProtocol
>>> proto = ClientProtocol()
>>> proto.start(now=0.0, stateful=False)
>>> proto.data_to_send()
[b'{"protocol":"json","version":1}\\x1e']
>>> proto.receive_data(b'{}\\x1e', now=0.1)
[HandshakeCompleted(stateful=False)]
>>> proto.invoke("Add", [1, 2], now=0.2)
'0'
>>> answer = b'{"type":3,"invocationId":"0","result":3}\\x1e'
>>> proto.receive_data(answer, now=0.3)[0].completion.result
3
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from ._endpoint import Endpoint, EndpointState
from ._errors import HandshakeError, ProtocolError
from ._events import (
    ClientEvent,
    CloseReceived,
    HandshakeCompleted,
    InvocationCompleted,
    PeerTimedOut,
    ServerInvoked,
    StreamCompleted,
    StreamItemReceived,
)
from ._messages import (
    CancelInvocation,
    Close,
    Completion,
    HandshakeRequest,
    Invocation,
    StreamInvocation,
    StreamItem,
)
from ._protocol import decode_handshake_response, encode_handshake_request

__all__ = ["ClientProtocol"]

logger = logging.getLogger(__name__)

_INVOKE = "invoke"
_STREAM = "stream"


class ClientProtocol(Endpoint):
    """The client's hub connection state machine (see the module docstring).

    ``keepalive_interval`` (default 15 s): a Ping goes out when nothing was sent for that long.
    ``timeout`` (default 30 s): the server is considered gone when nothing arrived for that long
    (also bounds the handshake). ``buffer_size``: replay-buffer bound in bytes.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._next_id = 0
        # invocation id -> (kind, target)
        self._pending: dict[str, tuple[str, str]] = {}
        self._cancelled: set[str] = set()
        self._stateful_requested = False

    # --- lifecycle -----------------------------------------------------------------------

    def start(self, now: float, *, stateful: bool = False) -> None:
        """Begin a handshake on a fresh transport (version 2 when ``stateful``)."""
        self._parser.reset()
        self._outbox = [encode_handshake_request(HandshakeRequest("json", 2 if stateful else 1))]
        self._stateful_requested = stateful
        self._disable_stateful()
        self.state = EndpointState.HANDSHAKING
        self._last_sent = self._last_received = now

    def restart(self, now: float, *, stateful: bool = False) -> list[str]:
        """Start over on a brand-new connection (fresh negotiate).

        Returns the ids of the invocations and streams that were pending: their outcome is
        unknown and the caller must fail them.
        """
        lost = self.forget_pending()
        self.start(now, stateful=stateful)
        return lost

    def forget_pending(self) -> list[str]:
        """Drop every pending invocation and stream; returns their ids."""
        lost = list(self._pending)
        self._pending.clear()
        self._cancelled.clear()
        return lost

    def close(self) -> list[str]:
        """The caller closed the connection; returns the pending ids to fail."""
        self.state = EndpointState.CLOSED
        self._outbox = []
        return self.forget_pending()

    def pending_target(self, invocation_id: str) -> str | None:
        entry = self._pending.get(invocation_id)
        return entry[1] if entry else None

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    # --- outgoing calls ------------------------------------------------------------------

    def _new_id(self) -> str:
        value = str(self._next_id)
        self._next_id += 1
        return value

    def invoke(self, target: str, arguments: Iterable[Any], now: float) -> str:
        """Queue an Invocation expecting a Completion; returns its invocation id."""
        invocation_id = self._new_id()
        self._queue(Invocation(target, tuple(arguments), invocation_id), now)
        self._pending[invocation_id] = (_INVOKE, target)
        return invocation_id

    def send(self, target: str, arguments: Iterable[Any], now: float) -> None:
        """Queue a fire-and-forget Invocation (no id, no Completion)."""
        self._queue(Invocation(target, tuple(arguments)), now)

    def start_stream(self, target: str, arguments: Iterable[Any], now: float) -> str:
        """Queue a StreamInvocation; returns its id (items arrive as StreamItemReceived)."""
        invocation_id = self._new_id()
        self._queue(StreamInvocation(invocation_id, target, tuple(arguments)), now)
        self._pending[invocation_id] = (_STREAM, target)
        return invocation_id

    def cancel_stream(self, invocation_id: str, now: float) -> bool:
        """Ask the server to stop a stream. Returns False when it was not running."""
        entry = self._pending.pop(invocation_id, None)
        if entry is None or entry[0] != _STREAM:
            return False
        if self.state in (EndpointState.CONNECTED, EndpointState.DISCONNECTED) and (
            self.state is EndpointState.CONNECTED or self.stateful
        ):
            self._cancelled.add(invocation_id)
            self._queue(CancelInvocation(invocation_id), now)
        return True

    def abandon(self, invocation_id: str) -> None:
        """Stop tracking an invocation whose caller went away (its Completion will be ignored)."""
        if self._pending.pop(invocation_id, None) is not None:
            self._cancelled.add(invocation_id)

    def send_close(self, now: float) -> None:
        """Queue a Close message telling the server the client is leaving (best effort).

        Microsoft's clients do the same on ``stop()``; the server then ends the connection at
        once instead of waiting for a stateful resume.
        """
        if self.state is EndpointState.CONNECTED:
            self._queue(Close(), now)

    def complete_server_invocation(self, completion: Completion, now: float) -> None:
        """Answer a server-to-client invocation that carried an invocation id."""
        self._queue(completion, now)

    # --- incoming ------------------------------------------------------------------------

    def receive_data(self, data: bytes | str, now: float) -> list[ClientEvent]:
        """Feed bytes from the transport; returns the resulting events in order.

        Raises :class:`HandshakeError` when the server refuses the handshake and
        :class:`ProtocolError` for invalid frames (the connection should then be dropped).
        """
        events: list[ClientEvent] = []
        for record in self._records(data, now):
            if self.state is EndpointState.HANDSHAKING:
                self._handle_handshake(record, events)
                continue
            message = self._filter(record, now, events)
            if message is not None:
                self._dispatch(message, events)
        return events

    def _handle_handshake(self, record: bytes, events: list[ClientEvent]) -> None:
        response = decode_handshake_response(record)
        if response.error is not None:
            self.state = EndpointState.CLOSED
            raise HandshakeError(f"server refused the handshake: {response.error}")
        self.state = EndpointState.CONNECTED
        if self._stateful_requested:
            self._enable_stateful()
        events.append(HandshakeCompleted(self.stateful))

    def _dispatch(self, message: Any, events: list[ClientEvent]) -> None:
        if isinstance(message, Completion):
            entry = self._pending.pop(message.invocation_id, None)
            if entry is None:
                if message.invocation_id in self._cancelled:
                    self._cancelled.discard(message.invocation_id)
                else:
                    logger.warning(
                        "the server sent a Completion for invocation id %r, which this client "
                        "never sent (or already had the answer to): ignored",
                        message.invocation_id,
                    )
                return
            kind, target = entry
            if kind == _INVOKE:
                events.append(InvocationCompleted(message.invocation_id, target, message))
            else:
                events.append(StreamCompleted(message.invocation_id, target, message.error))
        elif isinstance(message, StreamItem):
            entry = self._pending.get(message.invocation_id)
            if entry is None or entry[0] != _STREAM:
                if message.invocation_id not in self._cancelled:
                    logger.warning(
                        "the server sent a StreamItem for stream id %r, which this client never "
                        "started: ignored",
                        message.invocation_id,
                    )
                return
            events.append(StreamItemReceived(message.invocation_id, message.item))
        elif isinstance(message, Invocation):
            events.append(ServerInvoked(message))
        elif isinstance(message, Close):
            self.state = EndpointState.CLOSED
            events.append(CloseReceived(message.error, message.allow_reconnect))
        elif isinstance(message, (StreamInvocation, CancelInvocation)):
            raise ProtocolError(
                f"server sent a {type(message).__name__} message, which only clients may send"
            )

    def handle_timer(self, now: float) -> list[Any]:
        events = super().handle_timer(now)
        for event in events:
            if isinstance(event, PeerTimedOut):
                logger.warning(
                    "no message from the server for %.1f s (timeout %.1f s)",
                    event.silence,
                    self.timeout,
                )
        return events
