"""Partitioned updates: an update split over several messages (``__pn`` of ``__pc``).

Partitions of one update are numbered from 0 and must arrive complete and in
order; other messages may come in between. Only the whole update is applied.
Anything else (a gap, a repeat, a changed total, a new update before the last
partition) is a :class:`PartitionError`, after which the engine resets the
subscription instead of applying half an update.
"""

from __future__ import annotations

from typing import Any

from ._wire import show

__all__ = ["PartitionAssembler", "PartitionError", "join_updates"]


class PartitionError(ValueError):
    """The partitions of an update did not arrive as one complete, ordered set."""


def _check_number(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PartitionError(f"{name} must be an integer, got {show(value)}")
    return value


def join_updates(parts: list[Any]) -> Any:
    """One update equivalent to applying ``parts`` in order.

    Arrays are joined end to end (an array split over partitions, keyed or not);
    objects are joined property by property with the same rule, later values
    winning for plain properties.

    >>> join_updates([[{"Id": 1}], [{"Id": 2}]])
    [{'Id': 1}, {'Id': 2}]
    >>> join_updates([{"Data": [1], "A": 1}, {"Data": [2], "B": 2}])
    {'Data': [1, 2], 'A': 1, 'B': 2}
    """
    out = parts[0]
    for part in parts[1:]:
        out = _join(out, part)
    return out


def _join(a: Any, b: Any) -> Any:
    if type(a) is list and type(b) is list:
        return a + b
    if type(a) is dict and type(b) is dict:
        out = dict(a)
        for k, v in b.items():
            out[k] = _join(out[k], v) if k in out else v
        return out
    return b


class PartitionAssembler:
    """Collects the partitions of the update in progress for one subscription."""

    __slots__ = ("parts", "started", "total")

    def __init__(self) -> None:
        self.total = 0
        self.parts: list[Any] = []
        self.started = 0.0

    @property
    def active(self) -> bool:
        """True while some but not all partitions of an update have arrived."""
        return self.total > 0

    def clear(self) -> None:
        self.total = 0
        self.parts = []

    def add(self, pn: Any, pc: Any, data: Any, now: float, max_partitions: int = 1000) -> Any:
        """Take one partition; return the joined update when it was the last one, else None.

        Raises :class:`PartitionError` (and forgets the partial update) if the
        partition does not continue the set in progress, or announces more than
        ``max_partitions`` partitions.
        """
        try:
            number = _check_number("__pn", pn)
            count = _check_number("__pc", pc)
            if count < 1:
                raise PartitionError(f"__pc must be at least 1, got {count}")
            if count > max_partitions:
                raise PartitionError(
                    f"__pc {count} is more than the {max_partitions} partitions accepted "
                    "(max_partitions)"
                )
            if not 0 <= number < count:
                raise PartitionError(f"__pn {number} is outside 0..{count - 1} (__pc {count})")
            if type(data) is not dict and type(data) is not list:
                raise PartitionError(
                    f"partition {number} of {count} has no object or array Data: {show(data)}"
                )
            if not self.total:
                if number != 0:
                    raise PartitionError(
                        f"partition {number} of {count} arrived without partition 0 "
                        "(missing or out-of-order partitions)"
                    )
                self.total = count
                self.started = now
            elif count != self.total:
                raise PartitionError(
                    f"partition {number} says __pc {count}, the update in progress has "
                    f"__pc {self.total}"
                )
            else:
                expected = len(self.parts)
                if number < expected:
                    raise PartitionError(
                        f"partition {number} of {count} arrived twice (expected {expected})"
                    )
                if number > expected:
                    raise PartitionError(
                        f"partition {number} of {count} arrived but partition {expected} is "
                        "missing (missing or out-of-order partitions)"
                    )
            if self.parts and type(self.parts[0]) is not type(data):
                raise PartitionError(f"partition {number} of {count} mixes object and array Data")
        except PartitionError:
            self.clear()
            raise
        self.parts.append(data)
        if number == count - 1:
            parts = self.parts
            self.clear()
            return join_updates(parts)
        return None
