"""Hub protocol messages as immutable models.

The models say nothing about the wire: :mod:`._wire` maps them to and from the JSON hub
protocol. Field names follow Python style (``invocation_id``); the wire uses camelCase.

``arguments`` and ``item``/``result`` hold plain JSON values (dict, list, str, int, float,
bool, None): turning them into domain models is the job of the domain's cattrs converter.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

__all__ = [
    "MessageType",
    "HandshakeRequest",
    "HandshakeResponse",
    "Invocation",
    "StreamItem",
    "Completion",
    "StreamInvocation",
    "CancelInvocation",
    "Ping",
    "Close",
    "Ack",
    "Sequence",
    "HubMessage",
    "is_sequenced",
]


class MessageType(enum.IntEnum):
    """The ``type`` field of a hub message."""

    INVOCATION = 1
    STREAM_ITEM = 2
    COMPLETION = 3
    STREAM_INVOCATION = 4
    CANCEL_INVOCATION = 5
    PING = 6
    CLOSE = 7
    ACK = 8
    SEQUENCE = 9


def _to_tuple(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else tuple(value)


def _to_opt_tuple(value: Any) -> tuple[str, ...] | None:
    return None if value is None else _to_tuple(value)


@attrs.frozen
class HandshakeRequest:
    """First message a client sends: the hub protocol name and version (2 = stateful reconnect)."""

    protocol: str = "json"
    version: int = 1


@attrs.frozen
class HandshakeResponse:
    """The server's answer to the handshake: empty on success, ``error`` when refused."""

    error: str | None = None


@attrs.frozen
class Invocation:
    """Type 1: call ``target`` with ``arguments``.

    Without ``invocation_id`` it is fire-and-forget; with one, the caller expects a Completion.
    ``stream_ids`` name client-to-server streams passed as arguments.
    """

    target: str
    arguments: tuple[Any, ...] = attrs.field(default=(), converter=_to_tuple)
    invocation_id: str | None = None
    stream_ids: tuple[str, ...] | None = attrs.field(default=None, converter=_to_opt_tuple)

    type = MessageType.INVOCATION


@attrs.frozen
class StreamItem:
    """Type 2: one item of the stream started by ``invocation_id``."""

    invocation_id: str
    item: Any = None

    type = MessageType.STREAM_ITEM


@attrs.frozen
class Completion:
    """Type 3: the end of an invocation or stream.

    Exactly one of three shapes: ``error`` set (failure), ``has_result`` true (a value, possibly
    None/null), or neither (a void method, or a stream that ended normally).
    """

    invocation_id: str
    result: Any = None
    error: str | None = None
    has_result: bool = False

    type = MessageType.COMPLETION

    @classmethod
    def with_result(cls, invocation_id: str, result: Any) -> Completion:
        return cls(invocation_id, result=result, has_result=True)

    @classmethod
    def with_error(cls, invocation_id: str, error: str) -> Completion:
        return cls(invocation_id, error=error)


@attrs.frozen
class StreamInvocation:
    """Type 4: start the server-to-client stream ``target``; items come back as StreamItem."""

    invocation_id: str
    target: str
    arguments: tuple[Any, ...] = attrs.field(default=(), converter=_to_tuple)
    stream_ids: tuple[str, ...] | None = attrs.field(default=None, converter=_to_opt_tuple)

    type = MessageType.STREAM_INVOCATION


@attrs.frozen
class CancelInvocation:
    """Type 5: stop the stream started by ``invocation_id``."""

    invocation_id: str

    type = MessageType.CANCEL_INVOCATION


@attrs.frozen
class Ping:
    """Type 6: keep-alive; carries nothing."""

    type = MessageType.PING


@attrs.frozen
class Close:
    """Type 7: the sender is closing the connection, optionally with an error text.

    ``allow_reconnect`` tells a client that reconnecting (with a fresh negotiate) is welcome.
    """

    error: str | None = None
    allow_reconnect: bool = False

    type = MessageType.CLOSE


@attrs.frozen
class Ack:
    """Type 8 (stateful reconnect): every sequenced message up to ``sequence_id`` arrived."""

    sequence_id: int

    type = MessageType.ACK


@attrs.frozen
class Sequence:
    """Type 9 (stateful reconnect): the next sequenced message has id ``sequence_id``."""

    sequence_id: int

    type = MessageType.SEQUENCE


HubMessage = (
    Invocation
    | StreamItem
    | Completion
    | StreamInvocation
    | CancelInvocation
    | Ping
    | Close
    | Ack
    | Sequence
)

_SEQUENCED = (Invocation, StreamItem, Completion, StreamInvocation, CancelInvocation)


def is_sequenced(message: HubMessage) -> bool:
    """True for the message kinds that stateful reconnect numbers, buffers and acks (types 1-5).

    Ping, Close, Ack and Sequence are never buffered nor counted.
    """
    return isinstance(message, _SEQUENCED)
