"""Fault hooks of the in-memory transport (see :mod:`sessionkit.runtime.memory`):
:class:`Faults` drops, duplicates, garbles, delays or holds the frames one direction
carries, or cuts the connection at a chosen frame; :func:`message_type` picks frames.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .._codec import Codec, JsonCodec
from .._errors import ConfigError, DecodeError

__all__ = ["Faults", "Match", "message_type"]

Match = Callable[[bytes], bool]


def message_type(*type_names: str, codec: Codec | None = None) -> Match:
    """A frame matcher for :class:`Faults`: true for frames of these message types.

    >>> from sessionkit import JsonCodec, Heartbeat
    >>> message_type("heartbeat")(JsonCodec().encode(Heartbeat()))
    True
    """
    if not type_names or not all(isinstance(t, str) and t for t in type_names):
        raise ConfigError(f"message_type needs one or more type names, got {type_names!r}")
    wanted = frozenset(type_names)
    dec = codec or JsonCodec()

    def match(frame: bytes) -> bool:
        try:
            return dec.decode(frame).TYPE in wanted
        except DecodeError:
            return False

    return match


class _Rule:
    __slots__ = ("kind", "count", "match", "seconds", "after", "reason")

    def __init__(self, kind: str, count: int | None, match: Match | None, seconds: float = 0.0,
                 after: int = 0, reason: str = "") -> None:
        self.kind, self.count, self.match = kind, count, match
        self.seconds, self.after, self.reason = seconds, after, reason


def check_count(name: str, value: Any, *, allow_none: bool = False) -> None:
    """Raise :class:`ConfigError` naming ``name`` unless ``value`` is an int >= 0."""
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")


class Faults:
    """Faults injected into one direction of in-memory connections.

    Drop, duplicate, delay or garble frames, hold them back, or cut the
    connection at a chosen frame.

    Rules are armed by count and apply, in the order armed, to the frames
    that ``match`` (every frame when ``match`` is None). Probabilities use the
    seeded ``rng``. A ``Faults`` object may be shared by many connections (a
    :class:`MemoryEndpoint` shares one per direction across all it accepts).

    ``dropped``, ``duplicated``, ``delayed``, ``garbled`` and ``disconnects``
    count what was done.
    """

    def __init__(self, *, rng: random.Random | None = None, p_drop: float = 0.0,
                 p_duplicate: float = 0.0) -> None:
        for name, p in (("p_drop", p_drop), ("p_duplicate", p_duplicate)):
            if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
                raise ConfigError(f"Faults.{name} must be a probability in [0, 1], got {p!r}")
        self.rng = rng or random.Random(0)
        self.p_drop = float(p_drop)
        self.p_duplicate = float(p_duplicate)
        self._rules: list[_Rule] = []
        self._held = False
        self._pipes: list[Any] = []  # the memory pipes it applies to (see attach)
        self.dropped = self.duplicated = self.delayed = self.disconnects = self.garbled = 0

    @property
    def active(self) -> bool:
        return bool(self._rules or self._held or self.p_drop or self.p_duplicate)

    def drop(self, count: int = 1, *, match: Match | None = None) -> None:
        """Lose the next ``count`` matching frames."""
        check_count("Faults.drop count", count)
        self._rules.append(_Rule("drop", count, match))

    def duplicate(self, count: int = 1, *, match: Match | None = None) -> None:
        """Deliver the next ``count`` matching frames twice."""
        check_count("Faults.duplicate count", count)
        self._rules.append(_Rule("duplicate", count, match))

    def garble(self, count: int = 1, *, match: Match | None = None) -> None:
        """Replace the next ``count`` matching frames with bytes no codec decodes."""
        check_count("Faults.garble count", count)
        self._rules.append(_Rule("garble", count, match))

    def delay(self, seconds: float, count: int = 1, *, match: Match | None = None) -> None:
        """Hold the next ``count`` matching frames for ``seconds`` (later frames queue behind)."""
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
            raise ConfigError(f"Faults.delay seconds must be a number >= 0, got {seconds!r}")
        check_count("Faults.delay count", count)
        self._rules.append(_Rule("delay", count, match, seconds=float(seconds)))

    def disconnect(self, *, after: int = 0, match: Match | None = None,
                   reason: str = "connection lost (fault injected)") -> None:
        """Let ``after`` matching frames pass, then abort the connection at the next one.

        The frame that trips the rule is lost, and both sides see
        :class:`TransportClosedError` with ``reason``.
        """
        check_count("Faults.disconnect after", after)
        self._rules.append(_Rule("disconnect", 1, match, after=after, reason=reason))

    @property
    def held(self) -> bool:
        """Between :meth:`hold` and :meth:`release`: no frame is delivered."""
        return self._held

    def attach(self, pipe: Any) -> None:
        """Apply to ``pipe`` too (one direction of a memory connection: what
        :meth:`release` wakes). A ``Faults`` outlives connections (an endpoint shares one
        across all it accepts): the pipes of connections that ended (``dead``) are let go
        as new ones come."""
        self._pipes = [p for p in self._pipes if not p.dead]
        self._pipes.append(pipe)

    def hold(self) -> None:
        """Stop delivering frames (they queue, bounded) until :meth:`release`."""
        self._held = True

    def release(self) -> None:
        """Deliver what :meth:`hold` kept back, and go on delivering."""
        self._held = False
        self._pipes = [p for p in self._pipes if not p.dead]
        for p in self._pipes:
            p.readable.fire()

    def clear(self) -> None:
        """Disarm every rule and release held frames (counters are kept)."""
        self._rules.clear()
        self.p_drop = self.p_duplicate = 0.0
        self.release()

    def apply(self, frame: bytes) -> tuple[int, float, str | None, bytes]:
        """(copies, extra delay, disconnect reason, frame) for one frame sent (the memory
        transport asks, frame by frame, while :attr:`active`)."""
        copies, delay, cut = 1, 0.0, None
        rng = self.rng
        if self.p_drop and rng.random() < self.p_drop:
            self.dropped += 1
            return 0, 0.0, None, frame
        if self.p_duplicate and rng.random() < self.p_duplicate:
            copies = 2
        for rule in self._rules:
            if rule.count == 0 or (rule.match is not None and not rule.match(frame)):
                continue
            if rule.kind == "disconnect":
                if rule.after > 0:
                    rule.after -= 1
                    continue
                rule.count = 0
                cut = rule.reason
                self.disconnects += 1
                return 0, 0.0, cut, frame
            assert rule.count is not None
            rule.count -= 1
            if rule.kind == "drop":
                self.dropped += 1
                copies = 0
                break
            if rule.kind == "duplicate":
                copies = 2
            elif rule.kind == "delay":
                delay += rule.seconds
            elif rule.kind == "garble":
                frame = b"\x00garbled\xff" + frame[:8]
                self.garbled += 1
        self._rules = [r for r in self._rules if r.count != 0]
        if copies == 2:
            self.duplicated += 1
        if delay:
            self.delayed += 1
        return copies, delay, cut, frame
