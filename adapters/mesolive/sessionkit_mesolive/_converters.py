"""The MesoLive wire format: a cattrs converter between the models and JSON values.

Like cattrs' ``preconf`` converters, :func:`configure_converter` installs hooks on any
:class:`cattrs.Converter` and :func:`make_converter` builds a ready one. Rules:

* **Names.** Attributes are snake_case, the wire is PascalCase. Wire names are generated
  (:func:`wire_name`) and installed through ``make_dict_structure_fn`` /
  ``make_dict_unstructure_fn`` with ``override(rename=...)``; ``PnL`` and the odd
  ``PnlFields`` are the only irregular spellings.
* **Money** is :class:`~decimal.Decimal`. Decoding accepts JSON numbers and numeric strings;
  encoding writes a JSON number (the reference: "JSON number (or possibly string)"), as an
  :class:`orjson.Fragment` holding the exact digits, or a string with
  ``decimal_format="string"``. Non-finite values are refused both ways.
* **Datetimes** are aware UTC. Decoding parses ISO-8601 with ``Z`` or an offset and converts
  to UTC; a naive timestamp is taken as UTC because the docs say every timestamp is UTC
  (**inferred**). Encoding writes ISO-8601 with ``Z`` and refuses naive datetimes.
* **Integers** (ids, sequence ids) accept JSON numbers and decimal strings ("some numeric ids,
  notably event sequence ids, may be strings"), and are sent as numbers. ``dict[int, ...]``
  keys are JSON object keys, so strings on the wire (**inferred**).
* **Open enums** decode known values to members and keep unknown text as-is. A numeric enum
  value (the wire form is unknown) is kept as its decimal text.
* Unknown extra fields are ignored; missing optional fields take their defaults.
* Any bad input raises :class:`~._errors.DecodeError` naming the model and the field path.

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

import json
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar, Union, get_args, get_origin
from uuid import UUID

import attrs
import cattrs
import orjson
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
    StructureHandlerNotFoundError,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import DecodeError, EncodeError
from .models import EventRecord, OpenEnum, open_enum

__all__ = [
    "MesoLiveConverter",
    "make_converter",
    "configure_converter",
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

_WORDS = {"pnl": "PnL", "pnls": "PnLs"}
_NAMES = {"pnl_fields": "PnlFields"}


def wire_name(attribute: str) -> str:
    """The PascalCase wire name of a snake_case attribute.

    >>> wire_name("broker_account_id"), wire_name("position_pnls"), wire_name("pnl_fields")
    ('BrokerAccountId', 'PositionPnLs', 'PnlFields')
    """
    if attribute in _NAMES:
        return _NAMES[attribute]
    return "".join(_WORDS.get(w, w[:1].upper() + w[1:]) for w in attribute.split("_") if w)


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


# -- leaf hooks ----------------------------------------------------------------------------


def _structure_int(value: Any, _: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text and (text.isdigit() or (text[0] in "+-" and text[1:].isdigit())):
            return int(text)
    raise _Invalid(f"expected an integer, got {_kind(value)}")


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Invalid(f"expected a boolean, got {_kind(value)}")


def _structure_str(value: Any, _: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Invalid(f"expected a string, got {_kind(value)}")


def _structure_decimal(value: Any, _: Any) -> Decimal:
    result: Decimal | None = None
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    elif isinstance(value, float):
        # repr gives the shortest text that round-trips: 0.1 -> Decimal("0.1"), not the
        # binary expansion. Exact beyond ~15 significant digits needs exact JSON parsing.
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            result = None
    if result is None or not result.is_finite():
        raise _Invalid(f"expected a number, got {_kind(value)}")
    return result


def _structure_datetime(value: Any, _: Any) -> datetime:
    if not isinstance(value, str):
        raise _Invalid(f"expected an ISO-8601 timestamp string, got {_kind(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _Invalid(f"expected an ISO-8601 timestamp, got {_show(value)}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)  # the docs: every timestamp is UTC
    return parsed.astimezone(UTC)


def _structure_uuid(value: Any, _: Any) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise _Invalid(f"expected a UUID string, got {_kind(value)}")


def _unstructure_datetime(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise EncodeError(f"cannot send naive datetime {value.isoformat()}: MesoLive timestamps "
                          "are UTC; attach a timezone")
    text = value.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text + "Z"


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise EncodeError(f"cannot send non-finite decimal {value}")
    return format(value, "f")


def _unstructure_decimal_number(value: Decimal) -> orjson.Fragment:
    return orjson.Fragment(_decimal_text(value).encode())


# -- type helpers --------------------------------------------------------------------------


def _union_args(tp: Any) -> tuple[Any, ...]:
    if get_origin(tp) in (Union, types.UnionType):
        return get_args(tp)
    return ()


def _open_enum_of(tp: Any) -> type[OpenEnum] | None:
    """``E`` when ``tp`` is ``E | str`` or ``E | str | None`` for an :class:`OpenEnum` ``E``."""
    args = _union_args(tp)
    if not args or str not in args:
        return None
    enums = [a for a in args if isinstance(a, type) and issubclass(a, OpenEnum)]
    rest = [a for a in args if a is not str and a is not type(None) and a not in enums]
    return enums[0] if len(enums) == 1 and not rest else None


def _is_int_keyed_dict(tp: Any) -> bool:
    origin = get_origin(tp)
    return origin in (dict, Mapping, typing.Dict) and get_args(tp)[:1] == (int,)  # noqa: UP006


def _parametrize(cl: Any) -> Any:
    """A bare generic model (``MesoLiveApiResponse``) is taken as ``MesoLiveApiResponse[Any]``."""
    params = getattr(cl, "__parameters__", ())
    if get_origin(cl) is None and params:
        return cl[tuple(Any for _ in params) if len(params) > 1 else Any]
    return cl


def _is_attrs(tp: Any) -> bool:
    target: Any = get_origin(tp) or tp
    return isinstance(target, type) and attrs.has(target)


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    origin = get_origin(tp)
    if origin is not None and isinstance(origin, type) and attrs.has(origin):
        return origin.__name__
    return str(tp).replace("typing.", "")


def _event_payload_types() -> dict[str, type]:
    # the catalogue is the single table of callback names -> payload models
    from ._catalogue import CALLBACKS

    return {cb.name: cb.payload_type for cb in CALLBACKS.values()}


# -- configuration -------------------------------------------------------------------------


def configure_converter(
    conv: cattrs.Converter, *, decimal_format: DecimalFormat = "number"
) -> None:
    """Install the MesoLive wire rules on ``conv`` (see the module docstring)."""
    if decimal_format not in ("number", "string"):
        raise ValueError(f"decimal_format must be 'number' or 'string', got {decimal_format!r}")

    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_structure_hook(UUID, _structure_uuid)
    conv.register_unstructure_hook(datetime, _unstructure_datetime)
    conv.register_unstructure_hook(UUID, str)
    if decimal_format == "number":
        conv.register_unstructure_hook(Decimal, _unstructure_decimal_number)
    else:
        conv.register_unstructure_hook(Decimal, _decimal_text)

    # open enums: `E | str` and `E | str | None`
    def open_enum_hook_factory(tp: Any) -> Any:
        enum_type = _open_enum_of(tp)
        assert enum_type is not None
        nullable = type(None) in _union_args(tp)

        def hook(value: Any, _: Any) -> Any:
            if value is None and nullable:
                return None
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)  # numeric wire form: meaning unknown, keep the raw value
            if not isinstance(value, str):
                raise _Invalid(f"expected a {enum_type.__name__} name, got {_kind(value)}")
            return open_enum(enum_type, value)

        return hook

    conv.register_structure_hook_factory(lambda tp: _open_enum_of(tp) is not None,
                                         open_enum_hook_factory)
    conv.register_unstructure_hook(OpenEnum, lambda e: e.value)
    # an unparametrized generic (bare ``MesoLiveApiResponse``): keep the raw JSON
    conv.register_structure_hook_func(lambda tp: isinstance(tp, TypeVar), lambda v, _: v)

    # dict[int, X]: keys are strings on the wire
    def int_dict_unstructure_factory(tp: Any) -> Any:
        value_hook = conv.get_unstructure_hook(get_args(tp)[1])
        return lambda d: {str(k): value_hook(v) for k, v in d.items()}

    conv.register_unstructure_hook_factory(_is_int_keyed_dict, int_dict_unstructure_factory)

    # attrs models: generated with PascalCase renames
    def attrs_structure_factory(cl: Any) -> Any:
        cl = _parametrize(cl)
        target = get_origin(cl) or cl
        renames: dict[str, Any] = {
            a.name: override(rename=wire_name(a.name)) for a in attrs.fields(target)}
        if target is EventRecord:
            renames["payload"] = override(rename="Payload", struct_hook=lambda v, _: v)
        inner = make_dict_structure_fn(cl, conv, **renames)
        name = _type_name(cl)

        def hook(value: Any, tp: Any) -> Any:
            if not isinstance(value, Mapping):
                raise _Invalid(f"expected an object for {name}, got {_kind(value)}")
            result = inner(value, tp)
            if target is EventRecord:
                result = _decode_event_payload(conv, result)
            return result

        return hook

    def attrs_unstructure_factory(cl: Any) -> Any:
        cl = _parametrize(cl)
        target = get_origin(cl) or cl
        renames: dict[str, Any] = {
            a.name: override(rename=wire_name(a.name)) for a in attrs.fields(target)}
        if target is EventRecord:
            renames["payload"] = override(rename="Payload", unstruct_hook=conv.unstructure)
        return make_dict_unstructure_fn(cl, conv, **renames)

    conv.register_structure_hook_factory(_is_attrs, attrs_structure_factory)
    conv.register_unstructure_hook_factory(_is_attrs, attrs_unstructure_factory)


def _decode_event_payload(conv: cattrs.Converter, record: EventRecord) -> EventRecord:
    payload_type = _event_payload_types().get(record.event_type)
    if payload_type is None or not isinstance(record.payload, Mapping):
        return record  # unknown callback: keep the raw JSON (open, like the enums)
    try:
        payload: Any = conv.get_structure_hook(payload_type)(record.payload, payload_type)
    except (BaseValidationError, _Invalid) as exc:
        raise _NestedDecode(exc, "payload") from exc
    return attrs.evolve(record, payload=payload)


class _NestedDecode(Exception):
    def __init__(self, exc: BaseException, attribute: str) -> None:
        super().__init__(attribute)
        self.exc = exc
        self.attribute = attribute


def _problems(exc: BaseException, path: str, out: list[tuple[str, str]]) -> None:
    if isinstance(exc, _NestedDecode):
        _problems(exc.exc, f"{path}.{exc.attribute}", out)
    elif isinstance(exc, ClassValidationError | IterableValidationError):
        with_notes, without = exc.group_exceptions()
        for inner, note in with_notes:
            if isinstance(note, AttributeValidationNote):
                _problems(inner, f"{path}.{note.name}", out)
            elif isinstance(note, IterableValidationNote):
                sub = f"{path}[{note.index!r}]"
                if str(note).startswith("Structuring mapping key"):
                    out.append((sub, "bad key: " + _leaf_text(inner)))
                else:
                    _problems(inner, sub, out)
            else:
                _problems(inner, path, out)
        for inner in without:
            _problems(inner, path, out)
    else:
        out.append((path, _leaf_text(exc)))


def _leaf_text(exc: BaseException) -> str:
    if isinstance(exc, _Invalid):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, BaseValidationError):
        parts: list[tuple[str, str]] = []
        _problems(exc, "", parts)
        return "; ".join(f"{p}: {m}" if p else m for p, m in parts)
    return f"invalid value ({type(exc).__name__}: {exc})"


class MesoLiveConverter(cattrs.Converter):
    """A :class:`cattrs.Converter` with the MesoLive rules installed.

    :meth:`structure` raises :class:`~._errors.DecodeError` (naming the model and field path)
    for any bad input; :meth:`dumps`/:meth:`loads` go to and from JSON bytes.
    """

    def __init__(self, *, decimal_format: DecimalFormat = "number") -> None:
        super().__init__(detailed_validation=True, forbid_extra_keys=False)
        self.decimal_format = decimal_format
        configure_converter(self, decimal_format=decimal_format)

    def structure(self, obj: Any, cl: Any, *, path: str | None = None) -> Any:
        """Decode the JSON value ``obj`` into ``cl``; bad input raises ``DecodeError``."""
        try:
            return super().structure(obj, cl)
        except StructureHandlerNotFoundError:
            raise
        except (BaseValidationError, _Invalid, _NestedDecode, KeyError, TypeError,
                ValueError) as exc:
            out: list[tuple[str, str]] = []
            _problems(exc, path or _type_name(cl), out)
            raise DecodeError(out) from None

    def dumps(self, obj: Any, unstructure_as: Any = None) -> bytes:
        """Encode ``obj`` to JSON bytes (exact decimal digits)."""
        return orjson.dumps(self.unstructure(obj, unstructure_as=unstructure_as))

    def loads_json(self, data: bytes | bytearray | memoryview | str) -> Any:
        """Parse JSON text, keeping every JSON number with a fraction as an exact Decimal."""
        if isinstance(data, memoryview | bytearray):
            data = bytes(data)
        try:
            return json.loads(data, parse_float=Decimal, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecodeError([("JSON", f"not valid JSON ({exc})")]) from None

    def loads(self, data: bytes | bytearray | memoryview | str, cl: Any) -> Any:
        """Parse JSON text and decode it into ``cl``."""
        return self.structure(self.loads_json(data), cl)

    def allows_none(self, tp: Any) -> bool:
        """Whether ``None`` is a valid value of ``tp``."""
        return tp is None or tp is type(None) or tp is Any or type(None) in _union_args(tp)

    def type_name(self, tp: Any) -> str:
        return _type_name(tp)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def make_converter(*, decimal_format: DecimalFormat = "number") -> MesoLiveConverter:
    """A new converter with the MesoLive wire rules."""
    return MesoLiveConverter(decimal_format=decimal_format)


default_converter = make_converter()
"""The shared converter (decimals as JSON numbers)."""


def structure(obj: Any, cl: type[T] | Any) -> T:
    """Decode a JSON value with :data:`default_converter`."""
    return default_converter.structure(obj, cl)  # type: ignore[no-any-return]


def unstructure(obj: Any, unstructure_as: Any = None) -> Any:
    """Encode to JSON values with :data:`default_converter` (decimals are ``orjson.Fragment``)."""
    return default_converter.unstructure(obj, unstructure_as=unstructure_as)


def dumps(obj: Any, unstructure_as: Any = None) -> bytes:
    """Encode to JSON bytes with :data:`default_converter`."""
    return default_converter.dumps(obj, unstructure_as)


def loads(data: bytes | str, cl: type[T] | Any) -> T:
    """Decode JSON bytes with :data:`default_converter`, numbers kept exact."""
    return default_converter.loads(data, cl)  # type: ignore[no-any-return]

