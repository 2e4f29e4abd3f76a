"""Sans-IO server side of a hub connection (used by the simulator's hub server).

It validates the client's handshake, answers it, hands the hub layer the messages to act on,
sends keep-alive pings, notices a silent client and implements the server half of stateful
reconnect (the same buffer and sequencing rules as the client).

>>> from sessionkit_mesolive.signalr import ServerProtocol
>>> proto = ServerProtocol(stateful_allowed=True)
>>> proto.start(now=0.0)
>>> events = proto.receive_data(b'{"protocol":"json","version":2}\\x1e', now=0.1)
>>> events[0].stateful, proto.data_to_send()
(True, [b'{}\\x1e'])
"""

from __future__ import annotations

import logging
from typing import Any

from ._endpoint import Endpoint, EndpointState
from ._errors import HandshakeError
from ._events import ClientHandshaked, CloseReceived
from ._messages import Close, HandshakeResponse, HubMessage, Invocation
from ._protocol import decode_handshake_request, encode_handshake_response, encode_message

__all__ = ["ServerProtocol", "MAX_PROTOCOL_VERSION"]

logger = logging.getLogger(__name__)

MAX_PROTOCOL_VERSION = 2
"""Highest JSON hub protocol version served (2 adds Ack/Sequence for stateful reconnect)."""


class ServerProtocol(Endpoint):
    """One client connection as the server sees it.

    ``stateful_allowed``: the negotiate answer offered stateful reconnect; it is used when the
    client's handshake asks for version 2 or more. ``timeout`` is the client timeout (30 s) and
    ``keepalive_interval`` the server's ping interval (15 s).
    """

    def __init__(self, *, stateful_allowed: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stateful_allowed = stateful_allowed
        self.protocol_version: int | None = None

    def start(self, now: float) -> None:
        """A transport is open: expect the handshake request."""
        self.state = EndpointState.HANDSHAKING
        self._last_sent = self._last_received = now

    def receive_data(self, data: bytes | str, now: float) -> list[Any]:
        """Feed bytes from the transport.

        Returns, in order: :class:`ClientHandshaked`, :class:`Acked`, :class:`CloseReceived`
        events and the hub messages the hub layer must handle (Invocation, StreamInvocation,
        CancelInvocation, Completion, StreamItem). Raises :class:`HandshakeError` (the answer
        is already queued) or :class:`ProtocolError`.
        """
        events: list[Any] = []
        for record in self._records(data, now):
            if self.state is EndpointState.HANDSHAKING:
                self._handle_handshake(record, events)
                continue
            if self.state is EndpointState.CLOSED:
                break
            message = self._filter(record, now, events)
            if message is None:
                continue
            if isinstance(message, Close):
                self.state = EndpointState.CLOSED
                events.append(CloseReceived(message.error, message.allow_reconnect))
                break
            events.append(message)
        return events

    def _refuse(self, reason: str) -> HandshakeError:
        self._outbox.append(encode_handshake_response(HandshakeResponse(reason)))
        self.state = EndpointState.CLOSED
        return HandshakeError(reason)

    def _handle_handshake(self, record: bytes, events: list[Any]) -> None:
        try:
            request = decode_handshake_request(record)
        except HandshakeError as exc:
            raise self._refuse(f"Handshake was canceled: {exc}") from None
        if request.protocol != "json":
            raise self._refuse(f"The protocol '{request.protocol}' is not supported.")
        if request.version > MAX_PROTOCOL_VERSION or request.version < 0:
            raise self._refuse(
                f"The server does not support version {request.version} of the "
                f"'{request.protocol}' protocol."
            )
        self.protocol_version = request.version
        self._outbox.append(encode_handshake_response(HandshakeResponse()))
        self.state = EndpointState.CONNECTED
        if self.stateful_allowed and request.version >= 2:
            self._enable_stateful()
        events.append(ClientHandshaked(request, self.stateful))

    def send(self, message: HubMessage, now: float) -> None:
        """Queue a message for the client (numbered and buffered when stateful)."""
        self._queue(message, now)

    def invoke_client(self, target: str, arguments: tuple[Any, ...], now: float) -> None:
        """Queue a fire-and-forget call of a client method."""
        self._queue(Invocation(target, arguments), now)

    def close(self, now: float, error: str | None = None, *, allow_reconnect: bool = False) -> None:
        """Queue a Close message; nothing more is accepted after it."""
        if self.state in (EndpointState.CONNECTED, EndpointState.HANDSHAKING):
            self._outbox.append(encode_message(Close(error, allow_reconnect)))
        self.state = EndpointState.CLOSED
