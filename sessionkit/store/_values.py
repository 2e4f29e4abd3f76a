"""What a journal can hold: integers and strings SQLite and PostgreSQL store as they are.

Both stores refuse the same values (the memory store could hold any Python
integer, but a test on it must find what the SQLite store would refuse), at
the call that hands them over, before anything is recorded.
"""

from __future__ import annotations

__all__ = ["INT_MIN", "INT_MAX", "JSON_MIN", "JSON_MAX", "bad_int", "bad_text", "unstorable"]

#: the integers a journal holds (SQLite INTEGER: signed 64-bit); event ids and MIDs outside
#: are refused by both stores alike, so that a test on the memory store finds what the SQLite
#: one would refuse
INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1
_INT_RANGE = "a journal holds integers from -2**63 to 2**63-1 (SQLite INTEGER)"
#: a request's fields are kept as JSON text: integers from -2**63 to 2**64-1
JSON_MIN, JSON_MAX = INT_MIN, (1 << 64) - 1


def bad_int(value: object, low: int = INT_MIN, high: int = INT_MAX) -> str | None:
    """Why ``value`` is not an integer a journal holds, or None."""
    if not isinstance(value, int) or isinstance(value, bool):
        return f"an integer is needed, not {type(value).__name__}"
    if not low <= value <= high:
        return _INT_RANGE if high == INT_MAX else \
            "a request's integers must lie from -2**63 to 2**64-1 to be journalled"
    return None


def bad_text(value: object, *, column: bool = True) -> str | None:
    """Why ``value`` is not a string a journal holds (UTF-8 text, and in a column of its
    own no NUL character, which PostgreSQL's text cannot hold), or None. ``column=False``:
    a string inside a request, kept as JSON text (which escapes a NUL)."""
    if not isinstance(value, str):
        return f"a string is needed, not {type(value).__name__}"
    if column and "\x00" in value:
        return (f"it holds a NUL character (at index {value.index(chr(0))}), which a "
                f"journal's text cannot (PostgreSQL text)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            return (f"it is not valid Unicode ({err.reason} at index {err.start}); "
                    f"the journal stores UTF-8 text")
    return None


def unstorable(obj: object, where: str) -> tuple[str, object, str] | None:
    """The first value of a request's dict form that JSON text cannot hold: (field, value, why)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            found = unstorable(v, f"{where}.{k}" if where else str(k))
            if found is not None:
                return found
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            found = unstorable(v, f"{where}[{i}]")
            if found is not None:
                return found
    elif isinstance(obj, int) and not isinstance(obj, bool):
        why = bad_int(obj, JSON_MIN, JSON_MAX)
        if why is not None:
            return where, obj, why
    elif isinstance(obj, str):
        why = bad_text(obj, column=False)
        if why is not None:
            return where, obj, why
    return None
