"""The JSON hub protocol's wire format: a cattrs converter between messages and JSON values.

This is the only place that knows the camelCase field names, which keys are optional and how a
Completion tells "no result" from "result null". Decoding validates like the ASP.NET Core
server does and raises :class:`ProtocolError` naming the message type and field at fault.
Unknown message types decode to ``None`` (callers skip them); ``headers`` are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import cattrs
import orjson

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
)

__all__ = [
    "converter",
    "message_to_wire",
    "message_from_wire",
    "handshake_request_from_wire",
    "handshake_response_from_wire",
    "loads_json",
]

logger = logging.getLogger(__name__)

converter = cattrs.Converter()
"""Unstructures hub messages to JSON-ready dicts; structures validated dicts back to messages."""


# --- encoding ---------------------------------------------------------------------------------


def _invocation_out(m: Invocation) -> dict[str, Any]:
    d: dict[str, Any] = {"type": 1}
    if m.invocation_id is not None:
        d["invocationId"] = m.invocation_id
    d["target"] = m.target
    d["arguments"] = list(m.arguments)
    if m.stream_ids is not None:
        d["streamIds"] = list(m.stream_ids)
    return d


def _stream_invocation_out(m: StreamInvocation) -> dict[str, Any]:
    d: dict[str, Any] = {
        "type": 4,
        "invocationId": m.invocation_id,
        "target": m.target,
        "arguments": list(m.arguments),
    }
    if m.stream_ids is not None:
        d["streamIds"] = list(m.stream_ids)
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
for _cls, _fn in _OUT.items():
    converter.register_unstructure_hook(_cls, _fn)


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


def _arguments(d: dict[str, Any], type_id: int) -> list[Any]:
    try:
        value = d["arguments"]
    except KeyError:
        raise ProtocolError(f"{_what(type_id)} is missing required field 'arguments'") from None
    if not isinstance(value, list):
        raise ProtocolError(
            f"{_what(type_id)} field 'arguments' must be an array, got {type(value).__name__}"
        )
    return value


def _stream_ids(d: dict[str, Any], type_id: int) -> list[str] | None:
    value = d.get("streamIds")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise ProtocolError(
            f"{_what(type_id)} field 'streamIds' must be an array of strings, got {value!r:.80}"
        )
    return value


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
        return orjson.loads(record)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"{what} is not valid JSON ({exc}): {record[:80]!r}") from None


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


def _structure_message(value: Any, _cls: Any) -> HubMessage | None:
    return message_from_wire(value)


for _cls in (
    Invocation,
    StreamItem,
    Completion,
    StreamInvocation,
    CancelInvocation,
    Ping,
    Close,
    Ack,
    Sequence,
):
    converter.register_structure_hook(_cls, _structure_message)


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


converter.register_structure_hook(HandshakeRequest, lambda v, _c: handshake_request_from_wire(v))
converter.register_structure_hook(HandshakeResponse, lambda v, _c: handshake_response_from_wire(v))
