"""Compiled constructors for frozen attrs classes on the session's hot path.

A frozen attrs ``__init__`` sets each field through a guarded ``object.__setattr__``
call: for a request copied at every submit, or the events made for every answer, that
is a good part of the core's cost per order. Where a class allows it (every field a
slot, no ``__attrs_post_init__``, no ``__dict__``), the functions compiled here fill a
new instance's slots through their descriptors instead, without validators or
converters: use them only on values that already passed them (a copy of a validated
instance) or that the core made itself. For any other class they call its ``__init__``.
A copier also fills the slots of a class whose ``__attrs_post_init__`` is only the
check of its fields (:func:`sessionkit._rules.compile_check`): the copy of a checked
instance is checked but for the one value replaced, which its caller vouches for (the
session's own client id).
"""

from __future__ import annotations

from typing import Any

import attrs

from ._rules import CHECK_ONLY

__all__ = ["compile_copier", "compile_maker"]


def _slot_filled(cls: type, *, checked: bool = False) -> bool:
    fields = {a.name for a in attrs.fields(cls)}
    slots = {n for c in cls.__mro__ for n in getattr(c, "__slots__", ())} - {"__weakref__"}
    post_init = getattr(cls, "__attrs_post_init__", None)
    return (slots == fields and "__dict__" not in dir(cls)
            and (post_init is None or (checked and getattr(post_init, CHECK_ONLY, False))))


def _compile(cls: type, signature: str, values: dict[str, str], *,
             checked: bool = False) -> Any:
    names = [a.name for a in attrs.fields(cls)]
    namespace: dict[str, Any] = {"cls": cls, "new": object.__new__}
    if _slot_filled(cls, checked=checked):
        lines = [f"def make({signature}):", "    o = new(cls)"]
        for n in names:
            namespace[f"set_{n}"] = getattr(cls, n).__set__
            lines.append(f"    set_{n}(o, {values[n]})")
        lines.append("    return o")
    else:  # the class's __init__ (its fields with init=False are its own to set)
        args = ", ".join(f"{a.alias}={values[a.name]}" for a in attrs.fields(cls) if a.init)
        lines = [f"def make({signature}):", f"    return cls({args})"]
    exec("\n".join(lines), namespace)  # noqa: S102
    return namespace["make"]


def compile_copier(cls: type, field: str) -> Any:
    """``copy(instance, value)``: a copy of a ``cls`` instance with ``field`` replaced
    (by a value the class's check accepts: a checked class's check is not run again)."""
    values = {a.name: f"r.{a.name}" for a in attrs.fields(cls)}
    values[field] = "value"
    return _compile(cls, "r, value", values, checked=True)


def compile_maker(cls: type) -> Any:
    """``make(*values)``: a new ``cls`` from every field's value, in field order."""
    names = [a.name for a in attrs.fields(cls)]
    return _compile(cls, ", ".join(names), {n: n for n in names})
