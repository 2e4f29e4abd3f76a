"""Sans-IO codec for the SignalR JSON hub protocol: record framing plus message encoding.

Every message (and the handshake) is a JSON text followed by the record separator 0x1E. A
WebSocket frame may carry part of a record or several records, so :class:`RecordParser` is
incremental: feed it whatever arrived (``bytes`` or ``str``) and it returns the complete records.
0x1E cannot occur inside JSON text (control characters must be escaped) nor inside a UTF-8
multi-byte sequence, so splitting bytes on it is exact.

>>> from sessionkit_mesolive.signalr import Invocation, encode_message, RecordParser, decode_record
>>> frame = encode_message(Invocation("Echo", ["hi"], invocation_id="1"))
>>> frame
b'{"type":1,"invocationId":"1","target":"Echo","arguments":["hi"]}\\x1e'
>>> parser = RecordParser()
>>> parser.feed(frame[:10]), len(parser.feed(frame[10:] + frame))
([], 2)
>>> decode_record(parser.feed(frame)[0])
Invocation(target='Echo', arguments=('hi',), invocation_id='1', stream_ids=None)
"""

from __future__ import annotations

from typing import Any

from ._errors import HandshakeError, ProtocolError
from ._messages import HandshakeRequest, HandshakeResponse, HubMessage
from ._wire import (
    decode_message,
    encode_json,
    handshake_request_from_wire,
    handshake_response_from_wire,
    loads_json,
    message_to_wire,
)

__all__ = [
    "RECORD_SEPARATOR",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "RecordParser",
    "encode_message",
    "encode_handshake_request",
    "encode_handshake_response",
    "decode_record",
    "decode_handshake_request",
    "decode_handshake_response",
]

RECORD_SEPARATOR = b"\x1e"
_RS = 0x1E
DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
"""Largest record accepted by default (1 MiB, a little over what ASP.NET Core allows: 32 KiB)."""


class RecordParser:
    """Incremental splitter of a byte stream into 0x1E-terminated records.

    ``max_message_size`` bounds one record (without its separator) and also the bytes held
    while waiting for a separator, so a peer that never sends 0x1E cannot grow memory.
    """

    __slots__ = ("_buffer", "max_message_size")

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        if max_message_size <= 0:
            raise ValueError(f"max_message_size must be positive, got {max_message_size}")
        self.max_message_size = max_message_size
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a complete record."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview | str) -> list[bytes]:
        """Add ``data``; return the records it completed (separators removed), in order."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        limit = self.max_message_size
        if not self._buffer and data[-1:] == RECORD_SEPARATOR:
            # Fast path: the frame holds whole records only (the usual case).
            records = bytes(data).split(RECORD_SEPARATOR)
            records.pop()
        else:
            self._buffer += data
            end = self._buffer.rfind(_RS)
            if end < 0:
                if len(self._buffer) > limit:
                    size = len(self._buffer)
                    self._buffer.clear()
                    raise ProtocolError(
                        f"incoming message exceeds the maximum message size of {limit} bytes "
                        f"({size} bytes received without a record separator)"
                    )
                return []
            records = bytes(self._buffer[:end]).split(RECORD_SEPARATOR)
            del self._buffer[: end + 1]
            if len(self._buffer) > limit:
                size = len(self._buffer)
                self._buffer.clear()
                raise ProtocolError(
                    f"incoming message exceeds the maximum message size of {limit} bytes "
                    f"({size} bytes received without a record separator)"
                )
        for record in records:
            if len(record) > limit:
                raise ProtocolError(
                    f"incoming message of {len(record)} bytes exceeds the maximum message size "
                    f"of {limit} bytes"
                )
            if not record:
                raise ProtocolError("empty record: two record separators (0x1E) in a row")
        return records

    def reset(self) -> None:
        """Forget any partial record (used when the transport is replaced)."""
        self._buffer.clear()


def _dumps(value: Any) -> bytes:
    return encode_json(value) + RECORD_SEPARATOR


def encode_message(message: HubMessage) -> bytes:
    """The framed JSON bytes of ``message`` (ends with 0x1E)."""
    return _dumps(message_to_wire(message))


def encode_handshake_request(request: HandshakeRequest) -> bytes:
    return _dumps(message_to_wire(request))


def encode_handshake_response(response: HandshakeResponse) -> bytes:
    return _dumps(message_to_wire(response))


def decode_record(record: bytes | str) -> HubMessage | None:
    """Decode one record (no separator) into a message; ``None`` for an unknown message type.

    Raises :class:`ProtocolError` naming what was wrong for anything that is not a valid hub
    message.
    """
    return decode_message(record)


def decode_handshake_request(record: bytes | str) -> HandshakeRequest:
    try:
        value = loads_json(record, "handshake request")
    except ProtocolError as exc:
        raise HandshakeError(str(exc)) from None
    return handshake_request_from_wire(value)


def decode_handshake_response(record: bytes | str) -> HandshakeResponse:
    try:
        value = loads_json(record, "handshake response")
    except ProtocolError as exc:
        raise HandshakeError(str(exc)) from None
    return handshake_response_from_wire(value)
