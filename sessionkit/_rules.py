"""The protocol's ranges, and the rules the fields of a message the client sends obey.

The ranges (``docs/protocol.md``, "Ranges"): every id (event ids, MIDs, contract ids, the
bounds of a replay) is an integer in ``0..ID_MAX`` (2^63-1, what a signed 64-bit integer
and SQLite's INTEGER hold); a resume token may be one more (``ID_MAX + 1`` resumes after
the largest id); sizes and prices are integers in ``1..ID_MAX``; a client id is 1 to
``CID_MAX_LENGTH`` printable characters; a batch holds 1 to ``BATCH_LIMIT`` requests.
``bool`` is not an integer here.

Inbound messages are checked by the codec when a frame is decoded: an :data:`Id` field
takes only an id, an :data:`Int` field only a signed 64-bit integer (msgspec
constraints, checked as the frame is read). A message the client sends is checked when it
is made: each field of such a class is declared with :func:`checked`, which gives it a
:class:`Rule`, and the class's ``__post_init__`` (which msgspec runs after ``__init__``,
after ``msgspec.structs.replace`` and after a decode) is :func:`compile_check`'s function
for it: one expression over every field, which only when it is false walks the rules
(:func:`check_fields`) to raise :class:`~sessionkit.InvalidRequestError` naming the
class, the field and the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import attrs
import msgspec

from ._errors import InvalidRequestError

__all__ = ["ID_MAX", "BATCH_LIMIT", "CID_MAX_LENGTH", "Id", "Int", "ID_MARK", "Rule", "ID",
           "COUNT", "CID", "TEXT", "FLAG", "TIMESTAMP", "RESUME", "optional", "tuple_of",
           "checked", "field_rules", "check_fields", "compile_check", "describe_value"]

#: the largest id (and size, price) the protocol allows: 2^63-1
ID_MAX = 2**63 - 1
#: the most requests one batch holds (the exchange's limit)
BATCH_LIMIT = 200
#: the longest client id
CID_MAX_LENGTH = 128


class _IdMark:
    """Marks an ``int`` field as an id of the protocol (``0..ID_MAX``) for the codec."""

    def __repr__(self) -> str:
        return "Id"


ID_MARK = _IdMark()
#: an id of the protocol: an ``int`` in ``0..ID_MAX`` (the codec refuses any other at decode)
Id = Annotated[int, ID_MARK, msgspec.Meta(ge=0, le=ID_MAX)]
#: an integer a signed 64-bit field holds (``-2^63..2^63-1``; msgpack carries no longer
#: one): the codec refuses any other at decode
Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


@attrs.frozen
class Rule:
    """What a field's valid values are: ``test`` is a Python expression over ``{v}`` that is
    true for them, ``words`` says it to a user ("an integer in 1..2^63-1"). ``names`` are
    the globals ``test`` uses besides ``ID_MAX``, ``CID_MAX_LENGTH`` and ``BATCH_LIMIT``."""

    words: str
    test: str
    names: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
    #: the rule of each item when the value is a tuple (``test`` checks the tuple itself)
    items: Rule | None = None
    #: a secret (a token): an error names the value's type, never the value
    secret: bool = False

    def expr(self, v: str) -> str:
        """The whole test over the name ``v`` (the items' too), for a compiled check."""
        own = self.test.format(v=v)
        if self.items is None:
            return own
        return f"{own} and all({self.items.expr('x_')} for x_ in {v})"

    def problem(self, value: Any) -> tuple[str, Any, str] | None:
        """None for a valid value, else (where below the field, the bad value, the words)."""
        if not _evaluate(self, value):
            return "", value, self.words
        if self.items is not None and value is not None:
            for i, item in enumerate(value):
                bad = self.items.problem(item)
                if bad is not None:
                    return f"[{i}]{bad[0]}", bad[1], bad[2]
        return None


def _namespace(rule: Rule) -> dict[str, Any]:
    ns: dict[str, Any] = {"ID_MAX": ID_MAX, "CID_MAX_LENGTH": CID_MAX_LENGTH,
                          "BATCH_LIMIT": BATCH_LIMIT}
    while rule is not None:
        ns.update(rule.names)
        rule = rule.items  # type: ignore[assignment]
    return ns


_TESTS: dict[Rule, Any] = {}


def _evaluate(rule: Rule, value: Any) -> bool:
    """The rule's own ``test`` (not its items') on ``value``."""
    fn = _TESTS.get(rule)
    if fn is None:
        fn = _TESTS[rule] = eval(  # noqa: S307 - our own rule text
            f"lambda v: bool({rule.test.format(v='v')})", _namespace(rule))
    return bool(fn(value))


ID = Rule("an id: an integer in 0..2^63-1", "type({v}) is int and 0 <= {v} <= ID_MAX")
COUNT = Rule("an integer in 1..2^63-1", "type({v}) is int and 0 < {v} <= ID_MAX")
#: a resume token: N replays the events from N on, so one past the largest id resumes
#: after it (the token is not journalled, the cursor N-1 is)
RESUME = Rule("a resume token: an integer in 0..2^63 (N: the events from N on)",
              "type({v}) is int and 0 <= {v} <= ID_MAX + 1")
TIMESTAMP = Rule("a timestamp: an integer in 0..2^63-1 (nanoseconds since the epoch)",
                 ID.test)
CID = Rule(f"a client id: a string of 1 to {CID_MAX_LENGTH} printable characters",
           "isinstance({v}, str) and 0 < len({v}) <= CID_MAX_LENGTH and {v}.isprintable()")


def _encodable(text: str) -> bool:
    """No lone surrogate: the text encodes as UTF-8 (JSON and msgpack need it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


TEXT = Rule("a string (of Unicode text: no lone surrogate)",
            "isinstance({v}, str) and ({v}.isascii() or encodable({v}))",
            {"encodable": _encodable})
FLAG = Rule("a boolean (True or False)", "({v} is True or {v} is False)")


def optional(rule: Rule) -> Rule:
    """``rule``, or None."""
    if rule.items is not None:
        raise TypeError("an optional tuple is not supported: use an empty tuple")
    return Rule(f"None or {rule.words}", f"({{v}} is None or ({rule.test}))", rule.names,
                secret=rule.secret)


def tuple_of(rule: Rule, *, min_len: int = 0, max_len: str | int | None = None,
             words: str | None = None) -> Rule:
    """A tuple of ``min_len`` to ``max_len`` items, each obeying ``rule``."""
    bound = f" and {min_len} <= len({{v}})" if min_len else ""
    if max_len is not None:
        bound = f" and {min_len} <= len({{v}}) <= {max_len}"
    count = (f"{min_len} to {max_len}" if max_len is not None
             else f"at least {min_len}" if min_len else "any number of")
    return Rule(words or f"a tuple of {count} items, each {rule.words}",
                f"type({{v}}) is tuple{bound}", items=rule)


#: the rules of the fields :func:`checked` made and no class has taken yet (by the field's
#: id; the field object is kept with its rule so that its id is not reused meanwhile)
_PENDING: dict[int, tuple[Any, Rule]] = {}


def checked(rule: Rule, **kwargs: Any) -> Any:
    """``msgspec.field(**kwargs)`` carrying ``rule`` for the class's check (the class's
    metaclass takes it, :func:`field_rules`). No ``default``: the field is required."""
    f = msgspec.field(**kwargs)
    _PENDING[id(f)] = (f, rule)
    return f


def field_rules(namespace: Mapping[str, Any]) -> dict[str, Rule]:
    """The rules of the fields a class body declared with :func:`checked` (taken: each
    field's rule belongs to one class)."""
    out = {}
    for name, value in namespace.items():
        entry = _PENDING.pop(id(value), None)
        if entry is not None and entry[0] is value:
            out[name] = entry[1]
    return out


def _rules(cls: type) -> dict[str, Rule]:
    rules: dict[str, Rule] = getattr(cls, "__rules__", {})
    return rules


def describe_value(value: Any) -> str:
    """``value`` for an error message: its repr (cut short) and its type."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_fields(msg: Any) -> None:
    """Raise :class:`~sessionkit.InvalidRequestError` for the first field of ``msg`` that
    breaks its rule (the slow path: field by field); return if none does."""
    cls = type(msg)
    name = cls.__name__
    for field, rule in _rules(cls).items():
        value = getattr(msg, field)
        bad = rule.problem(value)
        if bad is not None:
            where, what, words = bad
            got = (f"a value of type {type(what).__name__}" if rule.secret
                   else describe_value(what))
            raise InvalidRequestError(f"{name}.{field}{where} must be {words}, got {got}",
                                      type_name=name, field=field + where,
                                      value=None if rule.secret else what)


def _refuse(msg: Any) -> None:
    """The compiled check failed: raise naming the field."""
    check_fields(msg)
    # the compiled expression and the rules are the same text: check_fields raised above
    raise InvalidRequestError(  # pragma: no cover
        f"{type(msg).__name__} breaks a rule of its fields", type_name=type(msg).__name__)


def compile_check(qualname: str, rules: Mapping[str, Rule]) -> Any:
    """The ``__post_init__`` of a class whose fields obey ``rules``: every rule in one
    expression; when it is false, the slow path (:func:`check_fields`) says which field is
    wrong. A list given for a tuple field is taken as a tuple first."""
    ns: dict[str, Any] = {"refuse": _refuse, "force_setattr": msgspec.structs.force_setattr}
    lines = ["def __post_init__(self):"]
    tests = []
    for i, (field, rule) in enumerate(rules.items()):
        ns.update(_namespace(rule))
        lines.append(f"    v{i} = self.{field}")
        if rule.items is not None:
            lines.append(f"    if type(v{i}) is list:")
            lines.append(f"        v{i} = tuple(v{i})")
            lines.append(f"        force_setattr(self, {field!r}, v{i})")
        tests.append(f"({rule.expr(f'v{i}')})")
    lines.append(f"    if not ({' and '.join(tests) or 'True'}):")
    lines.append("        refuse(self)")
    exec("\n".join(lines), ns)  # noqa: S102 - generated from our own rules
    fn = ns["__post_init__"]
    fn.__qualname__ = f"{qualname}.__post_init__"
    return fn
