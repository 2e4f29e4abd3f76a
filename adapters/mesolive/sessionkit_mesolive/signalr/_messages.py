"""Hub protocol messages as immutable models: frozen msgspec Structs.

Field names follow Python style (``invocation_id``); the wire uses camelCase (the Structs'
``rename``), and a message's ``type`` number is its msgspec tag, so that :mod:`._wire` reads
a record straight into its message (an Invocation, StreamItem, StreamInvocation or Completion
through a wire twin of its own: the wire requires fields the constructor has defaults for).
Writing a record, :mod:`._wire` says which optional keys are left out (a Completion tells "no
result" from "result null").

``arguments`` and ``item``/``result`` hold plain JSON values (dict, list, str, int, float,
bool, None): turning them into domain models is the job of the domain's converter.
A field's constraints (a non-empty ``target``, a non-negative ``sequence_id``) hold for a
message read from the wire; a message made in Python is not checked.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, ClassVar

import msgspec
from msgspec.structs import force_setattr

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


#: an id or a method name: a non-empty string on the wire
Text = Annotated[str, msgspec.Meta(min_length=1)]
#: a sequence id: a non-negative integer on the wire
SequenceId = Annotated[int, msgspec.Meta(ge=0)]


def _as_tuples(msg: Any) -> None:
    """A list given for ``arguments`` or ``stream_ids`` is kept as a tuple."""
    if type(msg.arguments) is not tuple:
        force_setattr(msg, "arguments", tuple(msg.arguments))
    if msg.stream_ids is not None and type(msg.stream_ids) is not tuple:
        force_setattr(msg, "stream_ids", tuple(msg.stream_ids))


class HandshakeRequest(msgspec.Struct, frozen=True):
    """First message a client sends: the hub protocol name and version (2 = stateful reconnect)."""

    protocol: str = "json"
    version: int = 1


class HandshakeResponse(msgspec.Struct, frozen=True):
    """The server's answer to the handshake: empty on success, ``error`` when refused."""

    error: str | None = None


class Invocation(msgspec.Struct, frozen=True):
    """Type 1: call ``target`` with ``arguments``.

    Without ``invocation_id`` it is fire-and-forget; with one, the caller expects a Completion.
    ``stream_ids`` name client-to-server streams passed as arguments.
    """

    target: str
    arguments: tuple[Any, ...] = ()
    invocation_id: str | None = None
    stream_ids: tuple[str, ...] | None = None

    type: ClassVar[MessageType] = MessageType.INVOCATION

    def __post_init__(self) -> None:
        _as_tuples(self)


class StreamItem(msgspec.Struct, frozen=True):
    """Type 2: one item of the stream started by ``invocation_id``."""

    invocation_id: str
    item: Any = None

    type: ClassVar[MessageType] = MessageType.STREAM_ITEM


class Completion(msgspec.Struct, frozen=True):
    """Type 3: the end of an invocation or stream.

    Exactly one of three shapes: ``error`` set (failure), ``has_result`` true (a value, possibly
    None/null), or neither (a void method, or a stream that ended normally).
    """

    invocation_id: str
    result: Any = None
    error: str | None = None
    has_result: bool = False

    type: ClassVar[MessageType] = MessageType.COMPLETION

    @classmethod
    def with_result(cls, invocation_id: str, result: Any) -> Completion:
        return cls(invocation_id, result=result, has_result=True)

    @classmethod
    def with_error(cls, invocation_id: str, error: str) -> Completion:
        return cls(invocation_id, error=error)


class StreamInvocation(msgspec.Struct, frozen=True):
    """Type 4: start the server-to-client stream ``target``; items come back as StreamItem."""

    invocation_id: str
    target: str
    arguments: tuple[Any, ...] = ()
    stream_ids: tuple[str, ...] | None = None

    type: ClassVar[MessageType] = MessageType.STREAM_INVOCATION

    def __post_init__(self) -> None:
        _as_tuples(self)


class CancelInvocation(msgspec.Struct, frozen=True, tag_field="type", tag=5, rename="camel"):
    """Type 5: stop the stream started by ``invocation_id``."""

    invocation_id: Text

    type: ClassVar[MessageType] = MessageType.CANCEL_INVOCATION


class Ping(msgspec.Struct, frozen=True, tag_field="type", tag=6):
    """Type 6: keep-alive; carries nothing."""

    type: ClassVar[MessageType] = MessageType.PING


class Close(msgspec.Struct, frozen=True, tag_field="type", tag=7, rename="camel"):
    """Type 7: the sender is closing the connection, optionally with an error text.

    ``allow_reconnect`` tells a client that reconnecting (with a fresh negotiate) is welcome.
    """

    error: str | None = None
    allow_reconnect: bool = False

    type: ClassVar[MessageType] = MessageType.CLOSE


class Ack(msgspec.Struct, frozen=True, tag_field="type", tag=8, rename="camel"):
    """Type 8 (stateful reconnect): every sequenced message up to ``sequence_id`` arrived."""

    sequence_id: SequenceId

    type: ClassVar[MessageType] = MessageType.ACK


class Sequence(msgspec.Struct, frozen=True, tag_field="type", tag=9, rename="camel"):
    """Type 9 (stateful reconnect): the next sequenced message has id ``sequence_id``."""

    sequence_id: SequenceId

    type: ClassVar[MessageType] = MessageType.SEQUENCE


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
