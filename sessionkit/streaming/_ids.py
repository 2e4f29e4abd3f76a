"""Context id and reference id rules.

Both ids are 1 to 50 characters from ``a-z A-Z 0-9 - _``. Reference ids are
case-insensitive: lookups use :func:`normalize_reference_id`. The names the
server uses for control messages (``_heartbeat``, ``_resetsubscriptions``,
``_disconnect``) cannot be used as reference ids.
"""

from __future__ import annotations

import re
from collections.abc import Container

from ._errors import InvalidIdError

__all__ = [
    "CONTROL_REFERENCE_IDS",
    "MAX_ID_LENGTH",
    "derive_reference_id",
    "normalize_reference_id",
    "validate_context_id",
    "validate_reference_id",
]

MAX_ID_LENGTH = 50
"""The longest context id or reference id (letters, digits, ``_`` and ``-``)."""
HEARTBEAT_ID = "_heartbeat"
RESET_ID = "_resetsubscriptions"
DISCONNECT_ID = "_disconnect"
CONTROL_REFERENCE_IDS = frozenset({HEARTBEAT_ID, RESET_ID, DISCONNECT_ID})

_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,50}")


def _validate(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidIdError(field, value, f"must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidIdError(field, value, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(
            field, value, f"is {len(value)} characters long, the limit is {MAX_ID_LENGTH}"
        )
    if _ID_RE.fullmatch(value) is None:
        bad = next(c for c in value if _ID_RE.fullmatch(c) is None)
        raise InvalidIdError(
            field, value, f"contains {bad!r}; only a-z A-Z 0-9 dash and underscore are allowed"
        )
    return value


def validate_context_id(value: object) -> str:
    """Return ``value`` if it is a valid streaming context id, else raise :class:`InvalidIdError`.

    >>> validate_context_id("ctx-1")
    'ctx-1'
    >>> validate_context_id("has space")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sessionkit.streaming._errors.InvalidIdError: invalid context_id 'has space': contains ' '; ...
    """
    return _validate("context_id", value)


def validate_reference_id(value: object, field: str = "reference_id") -> str:
    """Return ``value`` if it is a valid subscription reference id, else raise.

    >>> validate_reference_id("Prices_EURUSD")
    'Prices_EURUSD'
    """
    ref = _validate(field, value)
    if ref.lower() in CONTROL_REFERENCE_IDS:
        raise InvalidIdError(field, value, "is reserved for the server's control messages")
    return ref


def normalize_reference_id(value: str) -> str:
    """The lookup form of a reference id (reference ids are case-insensitive).

    >>> normalize_reference_id("Prices_EURUSD") == normalize_reference_id("PRICES_eurusd")
    True
    """
    return value.lower()


def derive_reference_id(base: str, counter: int, taken: Container[str]) -> tuple[str, int]:
    """A new reference id for a re-created subscription, deterministic for tests.

    The id is ``base`` + ``-`` + ``counter`` (the base is shortened to stay within
    50 characters); counters whose id is in ``taken`` (normalised ids) are skipped.
    Returns the id and the counter that produced it.

    >>> derive_reference_id("prices", 1, set())
    ('prices-1', 1)
    >>> derive_reference_id("prices", 1, {"prices-1"})
    ('prices-2', 2)
    """
    while True:
        suffix = f"-{counter}"
        candidate = base[: MAX_ID_LENGTH - len(suffix)] + suffix
        if normalize_reference_id(candidate) not in taken:
            return candidate, counter
        counter += 1
