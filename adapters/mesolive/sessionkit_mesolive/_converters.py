"""The MesoLive wire format: msgspec between the models and JSON.

The models (:mod:`.models`) are msgspec Structs: msgspec reads JSON (or the values a JSON
reader made) straight into them, strictly, and writes them back. :class:`MesoLiveConverter`
is that reading and writing; :data:`default_converter` is the shared one. Rules:

* **Names.** Attributes are snake_case, the wire is PascalCase. Wire names are generated
  (:func:`wire_name`, the models' msgspec ``rename``); ``PnL`` and the odd ``PnlFields``
  are the only irregular spellings.
* **Money** is :class:`~decimal.Decimal`. Decoding accepts JSON numbers and numeric strings;
  encoding writes a JSON number holding the exact digits (the reference: "JSON number (or
  possibly string)"), or a string with ``decimal_format="string"``. Non-finite values are
  refused both ways (a model refuses one when it is made).
* **Datetimes** are aware UTC. Decoding parses ISO-8601 with ``Z`` or an offset and converts
  to UTC; a naive timestamp is taken as UTC because the docs say every timestamp is UTC
  (**inferred**). Encoding writes ISO-8601 with ``Z``; a model refuses a naive datetime when
  it is made (:class:`~._errors.EncodeError`).
* **Integers** (ids, sequence ids) accept JSON numbers and decimal strings ("some numeric ids,
  notably event sequence ids, may be strings"), and are sent as numbers. ``dict[int, ...]``
  keys are JSON object keys, so strings on the wire (**inferred**).
* **Open enums** decode known values to members and keep unknown text as-is. A numeric enum
  value (the wire form is unknown) is kept as its decimal text.
* Unknown extra fields are ignored; missing optional fields take their defaults.
* Any bad input raises :class:`~._errors.DecodeError` naming the model and the field path.

msgspec does the work for a payload that follows the rules in their usual (strict) form; the
lenient spellings it does not read (a numeric enum value, a naive timestamp, a timestamp
msgspec's RFC 3339 reader refuses) and every bad payload are read a second time, field by
field (:func:`_Reader`), which normalises what the rules allow and names every problem found.

>>> from .models import LiveUnderlying, GetLatestEventSeqIdResult
>>> default_converter.unstructure(LiveUnderlying(symbol="SPX"))
{'Symbol': 'SPX'}
>>> default_converter.structure({"LatestEventSeqId": "42", "SnapshotTime": "2024-05-01T12:00:00Z"},
...                             GetLatestEventSeqIdResult).latest_event_seq_id
42
>>> default_converter.structure({"Symbol": 5}, LiveUnderlying)
Traceback (most recent call last):
...
sessionkit_mesolive._errors.DecodeError: LiveUnderlying.symbol: expected a string, got 5
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar, Union
from uuid import UUID

import msgspec

from ._errors import DecodeError, EncodeError
from .models import EventRecord, OpenEnum, open_enum
from .models._base import is_wire_int, open_enum_of, wire_name

__all__ = [
    "MesoLiveConverter",
    "make_converter",
    "default_converter",
    "wire_name",
    "structure",
    "unstructure",
    "dumps",
    "loads",
    "DecimalFormat",
]

T = TypeVar("T")
DecimalFormat = Literal["number", "string"]

#: what msgspec raises for a value it cannot write
_ENCODE_ERRORS = (TypeError, ValueError, OverflowError, UnicodeEncodeError)


class _Invalid(ValueError):
    """A leaf value is wrong; the text says how (``expected a number, got 'abc'``)."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return _show(value)


def _union_args(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return ()


def _struct_class(tp: Any) -> type | None:
    target = typing.get_origin(tp) or tp
    if isinstance(target, type) and issubclass(target, msgspec.Struct):
        return target
    return None


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    cls = _struct_class(tp)
    if cls is not None:
        return cls.__name__
    return str(tp).replace("typing.", "")


# -- the leaves, as the second reading takes them -------------------------------------------


def _read_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text and (text.isdigit() or (text[0] in "+-" and text[1:].isdigit())):
            return int(text)
    raise _Invalid(f"expected an integer, got {_kind(value)}")


def _read_decimal(value: Any) -> Decimal:
    result: Decimal | None = None
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    elif isinstance(value, float):
        # repr gives the shortest text that round-trips: 0.1 -> Decimal("0.1"), not the
        # binary expansion (msgspec converts a float the same way)
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            result = None
    if result is None or not result.is_finite():
        raise _Invalid(f"expected a number, got {_kind(value)}")
    return result


def _read_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif not isinstance(value, str):
        raise _Invalid(f"expected an ISO-8601 timestamp string, got {_kind(value)}")
    else:
        try:
            parsed = msgspec.convert(value, datetime)  # as the first reading parses it
        except msgspec.ValidationError:
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                raise _Invalid(f"expected an ISO-8601 timestamp, got {_show(value)}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)  # the docs: every timestamp is UTC
    return parsed.astimezone(UTC)


def _read_uuid(value: Any) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise _Invalid(f"expected a UUID string, got {_kind(value)}")


def _read_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Invalid(f"expected a string, got {_kind(value)}")


def _read_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Invalid(f"expected a boolean, got {_kind(value)}")


_LEAVES: dict[Any, Any] = {
    int: _read_int,
    bool: _read_bool,
    str: _read_str,
    Decimal: _read_decimal,
    datetime: _read_datetime,
    UUID: _read_uuid,
}

_BAD: Any = object()


@functools.cache
def _fields(tp: Any) -> tuple[tuple[str, str, Any, bool], ...]:
    """``(name, wire name, type, required)`` of each field of a model (or a generic alias)."""
    return tuple((f.name, f.encode_name, f.type, f.required)
                 for f in msgspec.structs.fields(tp))


@functools.cache
def _payload_types() -> dict[str, type]:
    from ._catalogue import CALLBACKS

    return {cb.name: cb.payload_type for cb in CALLBACKS.values()}


class _Reader:
    """The second reading of a payload: field by field, normalising the lenient spellings and
    collecting every problem as ``(path, what was wrong)``."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def read(self, value: Any, tp: Any, path: str) -> Any:
        try:
            return self._read(value, tp, path)
        except _Invalid as exc:
            self.problems.append((path, str(exc)))
            return _BAD

    def _read(self, value: Any, tp: Any, path: str) -> Any:
        if tp is Any or isinstance(tp, TypeVar):
            return value  # raw JSON (or a bare generic's parameter)
        enum_type = open_enum_of(tp)
        if enum_type is not None:
            return self._enum(value, enum_type)
        if is_wire_int(tp):
            return _read_int(value)
        if typing.get_origin(tp) is typing.Annotated:
            return self._read(value, typing.get_args(tp)[0], path)
        args = _union_args(tp)
        if args:
            if value is None and type(None) in args:
                return None
            members = [a for a in args if a is not type(None)]
            if len(members) == 1:
                return self._read(value, members[0], path)
            return value  # a union of Any (a replay record's payload, read by its record)
        leaf = _LEAVES.get(tp)
        if leaf is not None:
            return leaf(value)
        if tp is type(None):
            if value is None:
                return None
            raise _Invalid(f"expected null, got {_kind(value)}")
        cls = _struct_class(tp)
        if cls is not None:
            return self._model(value, tp, cls, path)
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is tuple:
            if not isinstance(value, list | tuple):
                raise _Invalid(f"expected an array, got {_kind(value)}")
            items = [self.read(v, args[0], f"{path}[{i}]") for i, v in enumerate(value)]
            return tuple(items)
        if origin is dict:
            return self._dict(value, args[0], args[1], path)
        raise _Invalid(f"cannot read {_type_name(tp)}")

    def _enum(self, value: Any, enum_type: type[OpenEnum]) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # numeric wire form: meaning unknown, keep the raw value
        if not isinstance(value, str):
            raise _Invalid(f"expected a {enum_type.__name__} name, got {_kind(value)}")
        return open_enum(enum_type, value)

    def _dict(self, value: Any, key_type: Any, value_type: Any, path: str) -> Any:
        if not isinstance(value, Mapping):
            raise _Invalid(f"expected an object, got {_kind(value)}")
        out: dict[Any, Any] = {}
        for raw_key, item in value.items():
            where = f"{path}[{raw_key!r}]"
            try:
                key = _read_int(raw_key) if key_type is int else _read_str(raw_key)
            except _Invalid as exc:
                self.problems.append((where, f"bad key: {exc}"))
                continue
            out[key] = self.read(item, value_type, where)
        return out

    def _model(self, value: Any, tp: Any, cls: type, path: str) -> Any:
        if not isinstance(value, Mapping):
            raise _Invalid(f"expected an object for {_type_name(tp)}, got {_kind(value)}")
        before = len(self.problems)
        kwargs: dict[str, Any] = {}
        for name, wire, field_type, required in _fields(tp):
            if wire in value:
                kwargs[name] = self.read(value[wire], field_type, f"{path}.{name}")
            elif required:
                self.problems.append((f"{path}.{name}", "required field missing"))
        if cls is EventRecord and "payload" in kwargs:
            payload_type = _payload_types().get(kwargs.get("event_type", _BAD))
            if payload_type is not None and isinstance(kwargs["payload"], Mapping):
                kwargs["payload"] = self.read(kwargs["payload"], payload_type, f"{path}.payload")
        if len(self.problems) > before:
            return _BAD
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:  # the model's own rules (cannot happen: normalised)
            raise _Invalid(f"invalid value ({type(exc).__name__}: {exc})") from None


class MesoLiveConverter:
    """Reads and writes the MesoLive models (the rules are in the module docstring).

    :meth:`structure` raises :class:`~._errors.DecodeError` (naming the model and field path)
    for any bad input; :meth:`dumps`/:meth:`loads` go to and from JSON bytes.
    ``decimal_format`` says how a Decimal is written: a JSON number (``"number"``, exact
    digits) or a string.
    """

    def __init__(self, *, decimal_format: DecimalFormat = "number") -> None:
        if decimal_format not in ("number", "string"):
            raise ValueError(
                f"decimal_format must be 'number' or 'string', got {decimal_format!r}")
        self.decimal_format = decimal_format
        self._encoder = msgspec.json.Encoder(decimal_format=decimal_format)
        #: what unstructure keeps as it is (a Decimal written as a number by a JSON encoder
        #: with ``decimal_format="number"``, as the SignalR layer's)
        self._builtin_types: tuple[type, ...] = (Decimal,) if decimal_format == "number" else ()

    def __repr__(self) -> str:
        return f"<MesoLiveConverter decimal_format={self.decimal_format!r}>"

    def structure(self, obj: Any, cl: Any, *, path: str | None = None) -> Any:
        """Decode the JSON value ``obj`` into ``cl``; bad input raises ``DecodeError``."""
        try:
            return msgspec.convert(obj, cl, str_keys=True)
        except msgspec.ValidationError:
            pass
        return self._read_again(obj, cl, path)

    def _read_again(self, obj: Any, cl: Any, path: str | None) -> Any:
        reader = _Reader()
        result = reader.read(obj, cl, path or _type_name(cl))
        if reader.problems:
            raise DecodeError(reader.problems)
        return result

    def unstructure(self, obj: Any, unstructure_as: Any = None) -> Any:
        """``obj`` as JSON values (dicts, lists, text, numbers; a Decimal stays a Decimal
        with ``decimal_format="number"``: a JSON encoder writes it as a number)."""
        try:
            return msgspec.to_builtins(obj, builtin_types=self._builtin_types, str_keys=True)
        except _ENCODE_ERRORS as exc:
            raise EncodeError(f"cannot encode {type(obj).__name__}: {exc}") from None

    def dumps(self, obj: Any, unstructure_as: Any = None) -> bytes:
        """Encode ``obj`` to JSON bytes (exact decimal digits)."""
        try:
            return self._encoder.encode(obj)
        except _ENCODE_ERRORS as exc:
            raise EncodeError(f"cannot encode {type(obj).__name__}: {exc}") from None

    def loads_json(self, data: bytes | bytearray | memoryview | str) -> Any:
        """Parse JSON text, keeping every JSON number with a fraction as an exact Decimal."""
        try:
            return _PLAIN.decode(data)
        except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: nested too deep
            raise DecodeError([("JSON", f"not valid JSON ({exc})")]) from None

    def loads(self, data: bytes | bytearray | memoryview | str, cl: Any) -> Any:
        """Parse JSON text and decode it into ``cl``."""
        try:
            return _decoder(cl).decode(data)
        except msgspec.ValidationError:
            pass
        except (msgspec.DecodeError, RecursionError) as exc:
            raise DecodeError([("JSON", f"not valid JSON ({exc})")]) from None
        return self._read_again(self.loads_json(data), cl, None)

    def allows_none(self, tp: Any) -> bool:
        """Whether ``None`` is a valid value of ``tp``."""
        return tp is None or tp is type(None) or tp is Any or type(None) in _union_args(tp)

    def type_name(self, tp: Any) -> str:
        return _type_name(tp)


#: JSON text as plain values, numbers with a fraction as exact Decimals
_PLAIN = msgspec.json.Decoder(float_hook=Decimal)


@functools.lru_cache(maxsize=256)
def _decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(tp, float_hook=Decimal)


def make_converter(*, decimal_format: DecimalFormat = "number") -> MesoLiveConverter:
    """A new converter with the MesoLive wire rules."""
    return MesoLiveConverter(decimal_format=decimal_format)


default_converter = make_converter()
"""The shared converter (decimals as JSON numbers)."""


def structure(obj: Any, cl: type[T] | Any) -> T:
    """Decode a JSON value with :data:`default_converter`."""
    return default_converter.structure(obj, cl)  # type: ignore[no-any-return]


def unstructure(obj: Any, unstructure_as: Any = None) -> Any:
    """Encode to JSON values with :data:`default_converter` (decimals stay Decimals)."""
    return default_converter.unstructure(obj, unstructure_as=unstructure_as)


def dumps(obj: Any, unstructure_as: Any = None) -> bytes:
    """Encode to JSON bytes with :data:`default_converter`."""
    return default_converter.dumps(obj, unstructure_as)


def loads(data: bytes | str, cl: type[T] | Any) -> T:
    """Decode JSON bytes with :data:`default_converter`, numbers kept exact."""
    return default_converter.loads(data, cl)  # type: ignore[no-any-return]
