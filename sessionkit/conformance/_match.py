"""Field checks: resolving ``a.b.0.c`` paths on messages and comparing with an operator.

>>> from sessionkit import BatchAck, Status
>>> ba = BatchAck(cid="b", messages=(Status(cid="x", mid=7),))
>>> resolve(ba, "messages.0.mid"), resolve(ba, "messages.len"), resolve(ba, "type")
(7, 1, 'batch_ack')
>>> compare(7, ">=", 5), compare("bad token", "~=", "token"), compare(None, "=", None)
(True, True, True)
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any

from .._messages import Message, UnknownMessage
from ._script import Field

__all__ = ["MISSING", "resolve", "compare", "mismatches", "describe", "plain"]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def resolve(obj: Any, path: str) -> Any:
    """Follow a dotted path through attributes, dict keys and list indexes.

    ``type`` on a message is its wire type name; ``len`` on a list is its length.
    """
    for seg in path.split("."):
        if obj is MISSING or obj is None:
            return MISSING
        if seg == "type" and isinstance(obj, Message):
            obj = obj.type if isinstance(obj, UnknownMessage) else obj.TYPE
        elif seg == "len" and isinstance(obj, (list, tuple, dict, str)):
            obj = len(obj)
        elif isinstance(obj, dict):
            obj = obj.get(seg, MISSING)
        elif isinstance(obj, (list, tuple)):
            try:
                obj = obj[int(seg)]
            except (ValueError, IndexError):
                return MISSING
        elif isinstance(obj, UnknownMessage) and not hasattr(obj, seg):
            obj = obj.fields.get(seg, MISSING)
        else:
            obj = getattr(obj, seg, MISSING)
    return obj


def plain(value: Any) -> Any:
    """Enums by value, tuples as lists, exceptions as their text."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, BaseException):
        return str(value)
    return value


def compare(actual: Any, op: str, expected: Any) -> bool:
    if actual is MISSING:
        # a field left out of a frame means "not set"
        return (op == "=" and expected is None) or (op == "!=" and expected is not None)
    a = plain(actual)
    if op == "~=":
        return str(expected) in str(a)
    if op in ("=", "!="):
        if isinstance(expected, bool) or isinstance(a, bool):
            eq = a is expected or (type(a) is type(expected) and a == expected)
        elif isinstance(a, str) and not isinstance(expected, str) and expected is not None:
            eq = a == str(expected)
        else:
            eq = a == expected
        return eq if op == "=" else not eq
    try:
        if op == ">=":
            return bool(a >= expected)
        if op == "<=":
            return bool(a <= expected)
        if op == ">":
            return bool(a > expected)
        if op == "<":
            return bool(a < expected)
    except TypeError:
        return False
    raise ValueError(f"unknown operator {op!r}")


def mismatches(obj: Any, checks: Iterable[Field],
               value: Callable[[Any], Any] = lambda v: v) -> list[str]:
    """The checks ``obj`` fails, as ``key: wanted op X, got Y`` (``value`` resolves variables)."""
    out = []
    for f in checks:
        actual = resolve(obj, f.key)
        want = value(f.value)
        if not compare(actual, f.op, want):
            out.append(f"{f.key}: wanted {f.op}{plain(want)!r}, got {plain(actual)!r}")
    return out


def describe(obj: Any, limit: int = 160) -> str:
    """A short readable form of a message or value for failure reports."""
    if isinstance(obj, Message):
        parts = []
        for name in obj.__struct_fields__:
            v = getattr(obj, name)
            if v is None or (name == "replay" and not v) or name == "token":
                continue
            if isinstance(v, tuple) and len(v) > 3:
                v = f"<{len(v)} items>"
            parts.append(f"{name}={plain(v)!r}")
        name = obj.type if isinstance(obj, UnknownMessage) else obj.TYPE
        text = f"{name}({', '.join(parts)})"
    else:
        text = repr(plain(obj))
    return text if len(text) <= limit else text[:limit - 3] + "..."
