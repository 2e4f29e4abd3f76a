"""Wire formats of the reference protocol: msgspec decoders and encoders at the edge.

A frame is one encoded message: a JSON object or a msgpack map, with a ``type`` key
naming the message class (the messages' msgspec tag, see :mod:`sessionkit._messages`).
One decoder per format reads a frame straight into a message of the tagged union of
every message type. Decoding is strict (an ``int`` field takes an integer, not ``"12"``
nor ``true``; an id field, :data:`~sessionkit._rules.Id`, an integer in ``0..2^63-1``;
an integer field a signed 64-bit integer; a message the client sends obeys its rules,
see :mod:`sessionkit._rules`), rejects frames over the size limit before reading them,
and raises :class:`~sessionkit.DecodeError` naming the field at fault.
Unknown message types decode to :class:`~sessionkit.UnknownMessage` so the
processor's fallback handler can see them; unknown fields are ignored, so a
newer exchange can add fields without breaking older clients. Fields equal to their
default are left out of a frame (a reader takes an absent field as its default).

Only a frame that failed is read a second time, as plain data: to tell an unknown type
from a bad one, and to word the error as :func:`explain` does (the field's dotted path
from the wire type, ``batch_ack.messages[1].mid``, and what was wrong with it).
"""

from __future__ import annotations

import functools
import operator
import re
import types
import typing
from typing import Annotated, Any, Protocol, Union

import msgspec

from ._errors import DecodeError, InvalidRequestError, LocalProtocolError
from ._messages import MESSAGE_TYPES, Message, UnknownMessage
from ._rules import ID_MARK

__all__ = ["Codec", "JsonCodec", "MsgpackCodec", "DEFAULT_MAX_FRAME_SIZE", "structure",
           "unstructure", "explain"]

DEFAULT_MAX_FRAME_SIZE = 1 << 20
"""The codecs' default frame limit (1 MiB): a larger frame is refused, naming its size."""

#: every message a frame may hold: msgspec picks the class by the frame's ``type``
_ANY_MESSAGE: Any = Union[tuple(MESSAGE_TYPES.values())]  # noqa: UP007 - built at run time

_JSON_DECODER = msgspec.json.Decoder(_ANY_MESSAGE)
_JSON_ENCODER = msgspec.json.Encoder()
_MSGPACK_DECODER = msgspec.msgpack.Decoder(_ANY_MESSAGE)
_MSGPACK_ENCODER = msgspec.msgpack.Encoder()
#: a failed frame read again as plain data (the error path only)
_JSON_PLAIN = msgspec.json.Decoder()
_MSGPACK_PLAIN = msgspec.msgpack.Decoder()

#: what msgspec raises for a value it cannot write (a type it does not know, an integer
#: beyond 64 bits in msgpack, text with a lone surrogate)
_ENCODE_ERRORS = (TypeError, ValueError, OverflowError, UnicodeEncodeError)


# -- the error path ----------------------------------------------------------------------

_AT = re.compile(r" - at `(\$[^`]*)`$")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[\.\.\.\]")
_MISSING = re.compile(r"^Object missing required field `([^`]+)`$")
_BOUND = re.compile(r"^Expected `[^`]*` [<>]=? ")
_64_BITS = (-(2**63), 2**64 - 1)


def _args(tp: Any) -> tuple[Any, ...]:
    return typing.get_args(tp)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _is_id(tp: Any) -> bool:
    """Is ``tp`` an :data:`~sessionkit._rules.Id` (or ``Id | None``)?"""
    if typing.get_origin(tp) is Annotated:
        return ID_MARK in tp.__metadata__
    return _is_union(tp) and any(_is_id(a) for a in _args(tp))


def _plain(tp: Any) -> Any:
    """``tp`` without its constraints (an id shown as ``int``)."""
    if typing.get_origin(tp) is Annotated:
        return _plain(_args(tp)[0])
    if _is_union(tp):
        return functools.reduce(operator.or_, [_plain(a) for a in _args(tp)])
    return tp


def _words(tp: Any) -> str:
    """``tp`` as an error says it: ``int``, ``int | None``, ``tuple``, ``Request``."""
    tp = _plain(tp)
    if _is_union(tp):
        members = [a for a in _args(tp) if a is not type(None)]
        if len(members) > 1 and all(isinstance(a, type) and issubclass(a, Message)
                                    for a in members):
            # the requests a batch holds: named by their common base
            common = set(members[0].__mro__).intersection(*(a.__mro__ for a in members))
            base: type = min(common, key=lambda c: -len(c.__mro__))
            return base.__name__
        return repr(tp)
    name = getattr(tp, "__name__", None)
    return name if isinstance(name, str) else repr(tp)


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    return {f.name: f.type for f in msgspec.structs.fields(cls)}


def _narrow(tp: Any, raw: Any) -> Any:
    """``tp`` without ``None`` and constraints; of a union of messages, the one ``raw``
    names by its ``type``."""
    while True:
        if typing.get_origin(tp) is Annotated:
            tp = _args(tp)[0]
        elif _is_union(tp):
            members = [a for a in _args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
            else:
                kind = raw.get("type") if isinstance(raw, dict) else None
                named = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
                return named if named in members else tp
        else:
            return tp


def _walk(cls: type, raw: Any, path: str) -> tuple[Any, Any]:
    """The declared type at ``path`` (msgspec's ``$.a[1].b``) of a ``cls`` message and the
    plain value there (``raw`` is the whole frame as plain data)."""
    tp: Any = cls
    for name, index in ((m.group(1), m.group(2)) for m in _STEP.finditer(path)):
        cur = _narrow(tp, raw)
        if name is not None:
            fields = _field_types(cur) if isinstance(cur, type) and hasattr(
                cur, "__struct_fields__") else {}
            tp = fields.get(name)
            raw = raw.get(name) if isinstance(raw, dict) else None
        elif index is not None:
            args = _args(cur)
            tp = args[0] if args else None
            i = int(index)
            raw = raw[i] if isinstance(raw, list) and i < len(raw) else None
        else:
            tp = raw = None
    return tp, raw


def explain(raw: Any, exc: msgspec.ValidationError) -> Message | DecodeError:
    """What msgspec's refusal of ``raw`` (a frame as plain data) means: the
    :class:`UnknownMessage` of a type this version does not know, or the
    :class:`DecodeError` naming the field, worded as the protocol's errors are
    (``invalid status message: id out of range: ... @ status.mid``)."""
    if not isinstance(raw, dict):
        return DecodeError(f"a message must be an object, got {_kind(raw)}")
    type_name = raw.get("type")
    if not isinstance(type_name, str):
        return DecodeError("message has no string 'type' field", field="type")
    cls = MESSAGE_TYPES.get(type_name)
    if cls is None:
        return UnknownMessage(type=type_name,
                              fields={k: v for k, v in raw.items() if k != "type"})
    text = str(exc)
    found = _AT.search(text)
    path = found.group(1) if found else "$"
    what = text[:found.start()] if found else text
    missing = _MISSING.match(what)
    if missing:
        path = f"{path}.{missing.group(1)}"
    cause = exc.__cause__
    if isinstance(cause, InvalidRequestError):  # a request's rule (its __post_init__)
        if cause.field:
            path = f"{path}.{cause.field}"
        words = str(cause)
    else:
        tp, value = _walk(cls, raw, path)
        if path.endswith(".type") and path != "$.type":
            # an item of a batch (or batch_ack) of no type it may hold
            path = path[:-len(".type")]
            tp = _walk(cls, raw, path)[0]
            words = f"invalid value for type, expected {_words(tp)}"
        elif missing:
            words = "required field missing"
        elif tp is None:
            words = what[:1].lower() + what[1:]
        elif (_BOUND.match(what) and type(value) is int
              and _64_BITS[0] <= value <= _64_BITS[1]):
            words = (f"id out of range: {value} is not in 0..2^63-1" if _is_id(tp) else
                     f"integer out of range: {value} is not in -2^63..2^63-1")
        else:  # a wrong type, or an integer beyond 64 bits (as JSON readers read it: a float)
            words = f"invalid value for type, expected {_words(tp)}"
    field = type_name + path[1:]
    return DecodeError(f"invalid {type_name} message: {words} @ {field}", field=field,
                       type_name=type_name)


def _kind(value: Any) -> str:
    return type(value).__name__


def structure(raw: Any) -> Message:
    """Turn plain data (a frame's dict form, see :func:`unstructure`) into a message, or
    raise :class:`DecodeError`."""
    try:
        msg: Message = msgspec.convert(raw, _ANY_MESSAGE, strict=True)
        return msg
    except msgspec.ValidationError as exc:
        result = explain(raw, exc)
    if isinstance(result, DecodeError):
        raise result
    return result


def unstructure(msg: Message) -> dict[str, Any]:
    """A message as plain data (what its frame holds: ``type`` and the fields that are not
    their default)."""
    if isinstance(msg, UnknownMessage):
        return {**msg.fields, "type": msg.type}
    out: dict[str, Any] = msgspec.to_builtins(msg)
    return out


class Codec(Protocol):
    """Turns messages into frames and back. ``decode`` raises :class:`DecodeError`."""

    name: str
    max_frame_size: int

    def encode(self, msg: Message) -> bytes: ...

    def decode(self, frame: bytes) -> Message: ...


class _BaseCodec:
    name = "base"
    _format = "base"
    _decoder: Any
    _encoder: Any
    _plain: Any

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if not isinstance(max_frame_size, int) or max_frame_size <= 0:
            raise ValueError(f"max_frame_size must be a positive integer, got {max_frame_size!r}")
        self.max_frame_size = max_frame_size
        self._encode = self._encoder.encode

    def encode(self, msg: Message) -> bytes:
        try:
            if type(msg) is UnknownMessage:  # not a member of the union: its own frame
                data: bytes = self._encode({**msg.fields, "type": msg.type})
            else:
                data = self._encode(msg)
        except _ENCODE_ERRORS as exc:
            raise LocalProtocolError(
                f"cannot encode {msg.TYPE} message as {self._format}: {exc}") from None
        if len(data) > self.max_frame_size:
            raise LocalProtocolError(
                f"{msg.TYPE} message encodes to {len(data)} bytes, over max_frame_size "
                f"{self.max_frame_size}"
            )
        return data

    def decode(self, frame: bytes) -> Message:
        if len(frame) > self.max_frame_size:
            raise DecodeError(
                f"frame of {len(frame)} bytes exceeds max_frame_size {self.max_frame_size}",
                offending=frame)
        try:
            msg: Message = self._decoder.decode(frame)
            return msg
        except msgspec.ValidationError as exc:
            try:
                raw = self._plain.decode(frame)
            except (msgspec.DecodeError, RecursionError):  # valid as a message only
                raise DecodeError(f"invalid frame: {exc}", offending=frame) from None
            result = explain(raw, exc)
        except (msgspec.DecodeError, RecursionError) as exc:
            # RecursionError: nested deeper than msgspec reads (Python's recursion limit)
            raise DecodeError(f"frame is not valid {self._format}: {exc}",
                              offending=frame) from None
        if isinstance(result, DecodeError):
            result.offending = frame
            raise result
        return result


class JsonCodec(_BaseCodec):
    """JSON frames (the default)."""

    name = "json"
    _format = "JSON"
    _decoder = _JSON_DECODER
    _encoder = _JSON_ENCODER
    _plain = _JSON_PLAIN


class MsgpackCodec(_BaseCodec):
    """msgpack frames."""

    name = "msgpack"
    _format = "msgpack"
    _decoder = _MSGPACK_DECODER
    _encoder = _MSGPACK_ENCODER
    _plain = _MSGPACK_PLAIN

