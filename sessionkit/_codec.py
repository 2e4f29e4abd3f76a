"""Wire formats of the reference protocol: cattrs converters at the edge.

A frame is one encoded message: a JSON object (orjson) or a msgpack map, with
a ``type`` key naming the message class. Decoding is strict (an ``int`` field
takes an integer, not ``"12"`` nor ``true``; an id field, :data:`~sessionkit._rules.Id`,
an integer in ``0..2^63-1``; a message the client sends obeys its rules, see
:mod:`sessionkit._rules`), rejects frames over the size limit, and raises
:class:`~sessionkit.DecodeError` naming the field at fault.
Unknown message types decode to :class:`~sessionkit.UnknownMessage` so the
processor's fallback handler can see them; unknown fields are ignored, so a
newer exchange can add fields without breaking older clients.
"""

from __future__ import annotations

import functools
import operator
import types
import typing
from typing import Annotated, Any, Protocol

import cattrs
import cattrs.v
import msgpack  # type: ignore[import-untyped]
import orjson

from ._errors import DecodeError, InvalidRequestError, LocalProtocolError
from ._messages import MESSAGE_TYPES, Message, Request, UnknownMessage
from ._rules import ID_MARK, ID_MAX

__all__ = ["Codec", "JsonCodec", "MsgpackCodec", "DEFAULT_MAX_FRAME_SIZE", "make_converter"]

DEFAULT_MAX_FRAME_SIZE = 1 << 20


def _strict(tp: type, name: str) -> Any:
    def check(value: Any, _: Any) -> Any:
        # bool is a subclass of int: refuse it where an int is wanted.
        if type(value) is tp or (tp is float and type(value) is int):
            return value
        raise TypeError(f"expected {name}, got {type(value).__name__} {value!r:.40}")

    return check


class IdOutOfRange(ValueError):
    """An id field holds an integer outside ``0..2^63-1``."""


def _structure_id(value: Any, _: Any) -> int:
    if type(value) is int and 0 <= value <= ID_MAX:
        return value
    if type(value) is int:
        raise IdOutOfRange(f"id out of range: {value} is not in 0..2^63-1")
    raise TypeError(f"expected an id (an integer), got {type(value).__name__} {value!r:.40}")


def _structure_optional_id(value: Any, _: Any) -> int | None:
    # ``Id | None`` in one call (cattrs' generic optional dispatches on the type each time)
    if value is None or (type(value) is int and 0 <= value <= ID_MAX):
        return value
    return _structure_id(value, _)


def _is_id(tp: Any) -> bool:
    return typing.get_origin(tp) is Annotated and ID_MARK in tp.__metadata__


def _is_optional_id(tp: Any) -> bool:
    args = typing.get_args(tp)
    return (typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 2
            and type(None) in args and any(_is_id(a) for a in args))


def make_converter(*, detailed: bool) -> cattrs.Converter:
    """The converter between messages and plain dicts (JSON/msgpack ready)."""
    conv = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=False)
    conv.register_structure_hook_func(_is_id, _structure_id)
    conv.register_structure_hook_func(_is_optional_id, _structure_optional_id)
    conv.register_structure_hook(int, _strict(int, "an integer"))
    conv.register_structure_hook(str, _strict(str, "a string"))
    conv.register_structure_hook(bool, _strict(bool, "a boolean"))
    conv.register_structure_hook(float, _strict(float, "a number"))

    def structure_request(value: Any, _: Any) -> Request:
        msg = _structure_message(conv, value)
        if not isinstance(msg, Request):
            raise TypeError(f"expected a request, got {type(msg).__name__}")
        return msg

    conv.register_structure_hook_func(lambda t: t is Request, structure_request)

    def unstructure_message(msg: Message) -> dict[str, Any]:
        return _unstructure_message(conv, msg)

    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, Message), unstructure_message
    )
    return conv


def _unstructure_message(conv: cattrs.Converter, msg: Message) -> dict[str, Any]:
    if isinstance(msg, UnknownMessage):
        return {**msg.fields, "type": msg.type}
    out: dict[str, Any] = {"type": msg.TYPE}
    for a in msg.__attrs_attrs__:
        value = getattr(msg, a.name)
        if value is None or (a.name == "replay" and not value):
            continue
        if not isinstance(value, (int, str)):
            value = conv.unstructure(value, a.type)
        out[a.name] = value
    return out


def _structure_message(conv: cattrs.Converter, raw: Any) -> Message:
    if not isinstance(raw, dict):
        raise TypeError(f"a message must be an object, got {type(raw).__name__}")
    type_name = raw.get("type")
    if not isinstance(type_name, str):
        raise DecodeError("message has no string 'type' field", field="type")
    cls = MESSAGE_TYPES.get(type_name)
    if cls is None:
        return UnknownMessage(type=type_name, fields={k: v for k, v in raw.items() if k != "type"})
    return conv.structure(raw, cls)


_FAST = make_converter(detailed=False)
_DETAILED = make_converter(detailed=True)


def _plain(tp: Any) -> Any:
    """``tp`` with its ids shown as ``int`` (for an error message)."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return typing.get_args(tp)[0]
    if origin in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, [_plain(a) for a in typing.get_args(tp)])
    return tp


def _format(exc: BaseException, tp: Any) -> str:
    if isinstance(exc, (InvalidRequestError, IdOutOfRange)):
        return str(exc)
    return cattrs.v.format_exception(exc, None if tp is None else _plain(tp))


def _first_error(exc: BaseException, path: str, tp: Any = None) -> tuple[str, str]:
    """The first leaf error under ``exc`` and its path (as ``cattrs.transform_error`` walks
    them); a message's own check names its field (``InvalidRequestError.field``)."""
    if isinstance(exc, (cattrs.IterableValidationError, cattrs.ClassValidationError)):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            if isinstance(note, cattrs.errors.IterableValidationNote):
                return _first_error(sub, f"{path}[{note.index!r}]", note.type)
            return _first_error(sub, f"{path}.{note.name}", note.type)
        for sub in without:
            return _first_error(sub, path)
    if isinstance(exc, InvalidRequestError) and exc.field:
        path = f"{path}.{exc.field}"
    return _format(exc, tp), path


def _explain(raw: dict[str, Any], exc: Exception) -> DecodeError:
    """Re-run the structuring with detailed validation to name the field at fault."""
    type_name = raw.get("type") if isinstance(raw.get("type"), str) else None
    try:
        _structure_message(_DETAILED, raw)
    except DecodeError as err:
        return err
    except cattrs.BaseValidationError as err:
        text, field = _first_error(err, str(type_name or "message"))
        return DecodeError(f"invalid {type_name} message: {text} @ {field}", field=field,
                           type_name=type_name)
    except Exception as err:  # pragma: no cover - detailed run failed differently
        return DecodeError(f"invalid {type_name} message: {err}", type_name=type_name)
    return DecodeError(f"invalid {type_name} message: {exc}", type_name=type_name)


def structure(raw: Any) -> Message:
    """Turn a decoded dict into a message, or raise :class:`DecodeError`."""
    try:
        return _structure_message(_FAST, raw)
    except DecodeError:
        raise
    except Exception as exc:
        if not isinstance(raw, dict):
            raise DecodeError(f"a message must be an object, got {type(raw).__name__}") from None
        raise _explain(raw, exc) from None


def _structure_frame(raw: Any, frame: bytes) -> Message:
    """:func:`structure`, the error carrying the frame it came from (``offending``)."""
    try:
        return structure(raw)
    except DecodeError as err:
        if err.offending is None:
            err.offending = frame
        raise


def unstructure(msg: Message) -> dict[str, Any]:
    return _unstructure_message(_FAST, msg)


class Codec(Protocol):
    """Turns messages into frames and back. ``decode`` raises :class:`DecodeError`."""

    name: str
    max_frame_size: int

    def encode(self, msg: Message) -> bytes: ...

    def decode(self, frame: bytes) -> Message: ...


class _BaseCodec:
    name = "base"

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if not isinstance(max_frame_size, int) or max_frame_size <= 0:
            raise ValueError(f"max_frame_size must be a positive integer, got {max_frame_size!r}")
        self.max_frame_size = max_frame_size

    def _check_size(self, frame: bytes) -> None:
        if len(frame) > self.max_frame_size:
            raise DecodeError(
                f"frame of {len(frame)} bytes exceeds max_frame_size {self.max_frame_size}",
                offending=frame)

    def _check_outgoing(self, data: bytes, msg: Message) -> bytes:
        if len(data) > self.max_frame_size:
            raise LocalProtocolError(
                f"{msg.TYPE} message encodes to {len(data)} bytes, over max_frame_size "
                f"{self.max_frame_size}"
            )
        return data


class JsonCodec(_BaseCodec):
    """JSON frames through orjson (the default)."""

    name = "json"

    def encode(self, msg: Message) -> bytes:
        try:
            data = orjson.dumps(unstructure(msg))
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise LocalProtocolError(f"cannot encode {msg.TYPE} message as JSON: {exc}") from None
        return self._check_outgoing(data, msg)

    def decode(self, frame: bytes) -> Message:
        self._check_size(frame)
        try:
            raw = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"frame is not valid JSON: {exc}", offending=frame) from None
        return _structure_frame(raw, frame)


class MsgpackCodec(_BaseCodec):
    """msgpack frames."""

    name = "msgpack"

    def encode(self, msg: Message) -> bytes:
        try:
            data = msgpack.packb(unstructure(msg), use_bin_type=True)
        except (TypeError, ValueError, UnicodeEncodeError) as exc:
            raise LocalProtocolError(
                f"cannot encode {msg.TYPE} message as msgpack: {exc}") from None
        return self._check_outgoing(data, msg)

    def decode(self, frame: bytes) -> Message:
        self._check_size(frame)
        try:
            raw = msgpack.unpackb(frame, raw=False, strict_map_key=True)
        except Exception as exc:
            raise DecodeError(f"frame is not valid msgpack: {exc}", offending=frame) from None
        return _structure_frame(raw, frame)
