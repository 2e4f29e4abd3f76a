"""Events the sans-IO connection state machines report to their I/O layer."""

from __future__ import annotations

from typing import Any

import attrs

from ._messages import Completion, HandshakeRequest, Invocation

__all__ = [
    "HandshakeCompleted",
    "InvocationCompleted",
    "StreamItemReceived",
    "StreamCompleted",
    "ServerInvoked",
    "CloseReceived",
    "Acked",
    "PeerTimedOut",
    "Resumed",
    "ClientEvent",
    "ClientHandshaked",
    "HubRequest",
]


@attrs.frozen
class HandshakeCompleted:
    """The handshake succeeded; ``stateful`` tells whether stateful reconnect is on."""

    stateful: bool


@attrs.frozen
class ClientHandshaked:
    """Server side: the client's handshake was accepted."""

    request: HandshakeRequest
    stateful: bool


@attrs.frozen
class InvocationCompleted:
    """The Completion of ``invoke(target, ...)`` arrived (a result, or an error text)."""

    invocation_id: str
    target: str
    completion: Completion


@attrs.frozen
class StreamItemReceived:
    invocation_id: str
    item: Any


@attrs.frozen
class StreamCompleted:
    """A server-to-client stream ended: normally (``error`` None) or with the server's error."""

    invocation_id: str
    target: str
    error: str | None


@attrs.frozen
class ServerInvoked:
    """The server called a client method (``invocation.invocation_id`` set: it wants a result)."""

    invocation: Invocation


@attrs.frozen
class CloseReceived:
    """The peer sent a Close message."""

    error: str | None
    allow_reconnect: bool


@attrs.frozen
class Acked:
    """The peer acknowledged numbered messages: replay-buffer space may have been freed."""

    sequence_id: int
    freed_bytes: int


@attrs.frozen
class Resumed:
    """Stateful reconnect: the peer's ``Sequence`` message arrived on a resumed transport, so
    the peer still knows the connection and replays from ``sequence_id``. Until then a resume
    is only attempted, not acknowledged."""

    sequence_id: int


@attrs.frozen
class PeerTimedOut:
    """Nothing arrived from the peer for ``silence`` seconds (the timeout elapsed)."""

    silence: float


ClientEvent = (
    HandshakeCompleted
    | InvocationCompleted
    | StreamItemReceived
    | StreamCompleted
    | ServerInvoked
    | CloseReceived
    | Acked
    | PeerTimedOut
    | Resumed
)

HubRequest = Any
"""Server side: a hub message the hub layer must act on (Invocation, StreamInvocation, ...)."""
