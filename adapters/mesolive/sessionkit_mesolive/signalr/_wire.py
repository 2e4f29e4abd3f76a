"""The JSON hub protocol's wire format: msgspec between messages and JSON text.

This is the only place that knows which keys are optional and how a Completion tells "no
result" from "result null" (the camelCase names are the messages' msgspec ``rename``).
Decoding validates like the ASP.NET Core server does and raises :class:`ProtocolError` naming
the message type and field at fault. Unknown message types decode to ``None`` (callers skip
them); ``headers`` are ignored.

A record is read in one step by msgspec, straight into its message (the messages are a
tagged union on ``type``); only a record msgspec refuses is read a second time, as plain
JSON, by the checks below, which word what was wrong (or find an unknown type).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Union

import msgspec

from ._errors import HandshakeError, ProtocolError
from ._messages import (
    Ack,
    CancelInvocation,
    Close,
    Completion,
    HandshakeRequest,
    HandshakeResponse,
    HubMessage,
    Invocation,
    MessageType,
    Ping,
    Sequence,
    StreamInvocation,
    StreamItem,
    Text,
)

__all__ = [
    "encode_json",
    "message_to_wire",
    "message_from_wire",
    "decode_message",
    "handshake_request_from_wire",
    "handshake_response_from_wire",
    "loads_json",
]

logger = logging.getLogger(__name__)

_ENCODER = msgspec.json.Encoder(decimal_format="number")
_PLAIN = msgspec.json.Decoder()


def encode_json(value: Any) -> bytes:
    """JSON text of ``value`` (a Decimal is written as a number with its exact digits)."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"cannot encode hub message as JSON: {exc}") from None


# --- encoding ---------------------------------------------------------------------------------


def _invocation_out(m: Invocation) -> dict[str, Any]:
    d: dict[str, Any] = {"type": 1}
    if m.invocation_id is not None:
        d["invocationId"] = m.invocation_id
    d["target"] = m.target
    d["arguments"] = m.arguments
    if m.stream_ids is not None:
        d["streamIds"] = m.stream_ids
    return d


def _stream_invocation_out(m: StreamInvocation) -> dict[str, Any]:
    d: dict[str, Any] = {
        "type": 4,
        "invocationId": m.invocation_id,
        "target": m.target,
        "arguments": m.arguments,
    }
    if m.stream_ids is not None:
        d["streamIds"] = m.stream_ids
    return d


def _completion_out(m: Completion) -> dict[str, Any]:
    d: dict[str, Any] = {"type": 3, "invocationId": m.invocation_id}
    if m.error is not None:
        d["error"] = m.error
    elif m.has_result:
        d["result"] = m.result
    return d


def _close_out(m: Close) -> dict[str, Any]:
    d: dict[str, Any] = {"type": 7}
    if m.error is not None:
        d["error"] = m.error
    if m.allow_reconnect:
        d["allowReconnect"] = True
    return d


_OUT: dict[type, Callable[[Any], dict[str, Any]]] = {
    Invocation: _invocation_out,
    StreamItem: lambda m: {"type": 2, "invocationId": m.invocation_id, "item": m.item},
    Completion: _completion_out,
    StreamInvocation: _stream_invocation_out,
    CancelInvocation: lambda m: {"type": 5, "invocationId": m.invocation_id},
    Ping: lambda m: {"type": 6},
    Close: _close_out,
    Ack: lambda m: {"type": 8, "sequenceId": m.sequence_id},
    Sequence: lambda m: {"type": 9, "sequenceId": m.sequence_id},
    HandshakeRequest: lambda m: {"protocol": m.protocol, "version": m.version},
    HandshakeResponse: lambda m: {} if m.error is None else {"error": m.error},
}


def message_to_wire(message: HubMessage | HandshakeRequest | HandshakeResponse) -> dict[str, Any]:
    """The JSON object for ``message`` (fast path: a direct table look-up)."""
    return _OUT[type(message)](message)


# --- decoding ---------------------------------------------------------------------------------

_NAMES = {t.value: t.name for t in MessageType}


def _what(type_id: int) -> str:
    return f"{_NAMES.get(type_id, type_id)} message"


def _req_str(d: dict[str, Any], key: str, type_id: int) -> str:
    try:
        value = d[key]
    except KeyError:
        raise ProtocolError(f"{_what(type_id)} is missing required field {key!r}") from None
    if not isinstance(value, str) or not value:
        raise ProtocolError(
            f"{_what(type_id)} field {key!r} must be a non-empty string, got {value!r:.80}"
        )
    return value


def _opt_str(d: dict[str, Any], key: str, type_id: int, *, allow_empty: bool = False) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ProtocolError(f"{_what(type_id)} field {key!r} must be a string, got {value!r:.80}")
    return value


def _arguments(d: dict[str, Any], type_id: int) -> tuple[Any, ...]:
    try:
        value = d["arguments"]
    except KeyError:
        raise ProtocolError(f"{_what(type_id)} is missing required field 'arguments'") from None
    if not isinstance(value, list):
        raise ProtocolError(
            f"{_what(type_id)} field 'arguments' must be an array, got {type(value).__name__}"
        )
    return tuple(value)


def _stream_ids(d: dict[str, Any], type_id: int) -> tuple[str, ...] | None:
    value = d.get("streamIds")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise ProtocolError(
            f"{_what(type_id)} field 'streamIds' must be an array of strings, got {value!r:.80}"
        )
    return tuple(value)


def _seq_id(d: dict[str, Any], type_id: int) -> int:
    value = d.get("sequenceId")
    if type(value) is not int or value < 0:
        raise ProtocolError(
            f"{_what(type_id)} field 'sequenceId' must be a non-negative integer, got {value!r:.80}"
        )
    return value


def _invocation_in(d: dict[str, Any]) -> Invocation:
    return Invocation(
        _req_str(d, "target", 1),
        _arguments(d, 1),
        _opt_str(d, "invocationId", 1),
        _stream_ids(d, 1),
    )


def _stream_item_in(d: dict[str, Any]) -> StreamItem:
    invocation_id = _req_str(d, "invocationId", 2)
    if "item" not in d:
        raise ProtocolError("STREAM_ITEM message is missing required field 'item'")
    return StreamItem(invocation_id, d["item"])


def _completion_in(d: dict[str, Any]) -> Completion:
    invocation_id = _req_str(d, "invocationId", 3)
    error = d.get("error")
    has_result = "result" in d
    if error is not None:
        if has_result:
            raise ProtocolError("COMPLETION message has both 'result' and 'error'")
        if not isinstance(error, str):
            raise ProtocolError(
                f"COMPLETION message field 'error' must be a string, got {error!r:.80}"
            )
        return Completion(invocation_id, error=error)
    if has_result:
        return Completion(invocation_id, result=d["result"], has_result=True)
    return Completion(invocation_id)


def _stream_invocation_in(d: dict[str, Any]) -> StreamInvocation:
    return StreamInvocation(
        _req_str(d, "invocationId", 4),
        _req_str(d, "target", 4),
        _arguments(d, 4),
        _stream_ids(d, 4),
    )


def _close_in(d: dict[str, Any]) -> Close:
    allow = d.get("allowReconnect", False)
    if allow is None:
        allow = False
    if not isinstance(allow, bool):
        raise ProtocolError(
            f"CLOSE message field 'allowReconnect' must be a boolean, got {allow!r:.80}"
        )
    return Close(_opt_str(d, "error", 7, allow_empty=True), allow)


_IN: dict[int, Callable[[dict[str, Any]], HubMessage]] = {
    1: _invocation_in,
    2: _stream_item_in,
    3: _completion_in,
    4: _stream_invocation_in,
    5: lambda d: CancelInvocation(_req_str(d, "invocationId", 5)),
    6: lambda d: Ping(),
    7: _close_in,
    8: lambda d: Ack(_seq_id(d, 8)),
    9: lambda d: Sequence(_seq_id(d, 9)),
}


def loads_json(record: bytes | str, what: str) -> Any:
    """Parse one JSON record, turning decode failures into :class:`ProtocolError`."""
    try:
        return _PLAIN.decode(record)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"{what} is not valid JSON ({exc}): {record[:80]!r}") from None
    except RecursionError:  # msgspec recurses: nested deeper than Python's limit
        raise ProtocolError(f"{what} is not valid JSON (nested too deeply): "
                            f"{record[:80]!r}") from None


def message_from_wire(value: Any) -> HubMessage | None:
    """Validate a decoded JSON value as a hub message; ``None`` for an unknown message type."""
    if not isinstance(value, dict):
        raise ProtocolError(f"hub message must be a JSON object, got {type(value).__name__}")
    type_id = value.get("type")
    if type(type_id) is not int:
        if type_id is None:
            raise ProtocolError("hub message has no 'type' field")
        raise ProtocolError(f"hub message field 'type' must be an integer, got {type_id!r:.40}")
    decode = _IN.get(type_id)
    if decode is None:
        logger.info("ignoring hub message of unknown type %d", type_id)
        return None
    return decode(value)


def handshake_request_from_wire(value: Any) -> HandshakeRequest:
    """Validate a client's handshake request (raises :class:`HandshakeError`)."""
    if not isinstance(value, dict):
        raise HandshakeError(f"handshake request must be a JSON object, got {type(value).__name__}")
    protocol = value.get("protocol")
    if not isinstance(protocol, str) or not protocol:
        raise HandshakeError(
            f"handshake request field 'protocol' must be a string, got {protocol!r:.40}"
        )
    version = value.get("version")
    if type(version) is not int:
        raise HandshakeError(
            f"handshake request field 'version' must be an integer, got {version!r:.40}"
        )
    return HandshakeRequest(protocol, version)


def handshake_response_from_wire(value: Any) -> HandshakeResponse:
    """Validate a server's handshake response (raises :class:`HandshakeError` when malformed)."""
    if not isinstance(value, dict):
        raise HandshakeError(
            f"handshake response must be a JSON object, got {type(value).__name__}"
        )
    if "type" in value:
        raise HandshakeError(
            f"expected a handshake response but got a hub message of type {value['type']!r:.20}"
        )
    error = value.get("error")
    if error is not None and not isinstance(error, str):
        raise HandshakeError(
            f"handshake response field 'error' must be a string, got {error!r:.40}"
        )
    return HandshakeResponse(error)


# --- the one-step reading ---------------------------------------------------------------------


class _InvocationIn(msgspec.Struct, frozen=True, tag_field="type", tag=1, rename="camel"):
    """An Invocation as the wire has it (``arguments`` required)."""

    target: Text
    arguments: tuple[Any, ...]
    invocation_id: Text | None = None
    stream_ids: tuple[Text, ...] | None = None


class _StreamItemIn(msgspec.Struct, frozen=True, tag_field="type", tag=2, rename="camel"):
    """A StreamItem as the wire has it (``item`` required)."""

    invocation_id: Text
    item: Any


class _StreamInvocationIn(msgspec.Struct, frozen=True, tag_field="type", tag=4,
                          rename="camel"):
    """A StreamInvocation as the wire has it (``arguments`` required)."""

    invocation_id: Text
    target: Text
    arguments: tuple[Any, ...]
    stream_ids: tuple[Text, ...] | None = None


class _CompletionIn(msgspec.Struct, frozen=True, tag_field="type", tag=3, rename="camel"):
    """A Completion as the wire has it: ``result`` absent (``UNSET``) or a value."""

    invocation_id: Text
    result: Any = msgspec.UNSET
    error: str | None = None

    def __post_init__(self) -> None:
        if self.error is not None and self.result is not msgspec.UNSET:
            raise ValueError("both 'result' and 'error'")  # worded by the second reading


_DECODER = msgspec.json.Decoder(Union[  # noqa: UP007 - a union of classes, made at run time
    _InvocationIn, _StreamItemIn, _CompletionIn, _StreamInvocationIn, CancelInvocation, Ping,
    Close, Ack, Sequence])


def _completion(m: _CompletionIn) -> Completion:
    if m.error is not None:
        return Completion(m.invocation_id, error=m.error)
    if m.result is msgspec.UNSET:
        return Completion(m.invocation_id)
    return Completion(m.invocation_id, result=m.result, has_result=True)


#: a wire twin -> its message
_FROM_TWIN: dict[type, Callable[[Any], HubMessage]] = {
    _InvocationIn: lambda m: Invocation(m.target, m.arguments, m.invocation_id, m.stream_ids),
    _StreamItemIn: lambda m: StreamItem(m.invocation_id, m.item),
    _StreamInvocationIn: lambda m: StreamInvocation(m.invocation_id, m.target, m.arguments,
                                                    m.stream_ids),
    _CompletionIn: _completion,
}


def decode_message(record: bytes | str) -> HubMessage | None:
    """Read one record into its message; ``None`` for an unknown message type. Anything else
    that is not a valid hub message raises :class:`ProtocolError` naming what was wrong."""
    try:
        msg: Any = _DECODER.decode(record)
    except msgspec.ValidationError:
        return message_from_wire(loads_json(record, "hub message"))
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"hub message is not valid JSON ({exc}): {record[:80]!r}") from None
    except RecursionError:
        raise ProtocolError(f"hub message is not valid JSON (nested too deeply): "
                            f"{record[:80]!r}") from None
    twin = _FROM_TWIN.get(type(msg))
    return msg if twin is None else twin(msg)
