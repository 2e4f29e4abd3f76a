"""Session configuration, validated on construction."""

from __future__ import annotations

import enum
import math
from typing import Any

import attrs

from ._errors import ConfigError
from ._rules import BATCH_LIMIT

__all__ = ["SessionConfig", "GapPolicy", "ViolationPolicy", "EventIdScope"]


class GapPolicy(enum.Enum):
    """What the session does when event ids jump."""

    #: gaps are expected (session-level messages consume ids): deliver and go on (Lime)
    TOLERATE = "tolerate"
    #: ask the exchange to replay the missing range, holding later events until it is done
    REQUEST = "request"


class EventIdScope(enum.Enum):
    """Where an exchange's event ids rise: what a run change found at a login can tell."""

    #: through the whole session, across runs (the reference protocol): a restart found
    #: at a login with the exchange's newest id at the last one delivered missed nothing,
    #: and a replay from the cursor brings the old run's last events
    SESSION = "session"
    #: each run starts them again: the old run's last events cannot be replayed once the
    #: exchange restarted, so its open orders end unknown when the restart is found at a
    #: login, and the new run is replayed from its start
    RUN = "run"


class ViolationPolicy(enum.Enum):
    """What the session does after reporting a protocol violation by the exchange.

    Either way the violation is reported once, as a ``ProtocolError`` event carrying the
    offending message, and that message is not applied (no guess is made from it).
    """

    #: end the connection (``ConnectionFailed``), so that a reconnect and the event replay
    #: can repair what the violation may have lost
    DISCONNECT = "disconnect"
    #: go on with the connection
    REPORT = "report"


def _positive(kind: type, *, allow_zero: bool = False, most: int | None = None) -> Any:
    """A number > 0 (>= 0 with ``allow_zero``; at most ``most``). A float must be finite:
    every time of the core is a timer that must fire (NaN compares false to everything and
    would pass a plain range test; an infinite wait never ends)."""
    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if kind is float:
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
                  and math.isfinite(value))
        if (not ok or value < 0 or (value == 0 and not allow_zero)
                or (most is not None and value > most)):
            need = "a non-negative" if allow_zero else "a positive"
            what = "finite number" if kind is float else kind.__name__
            limit = f" of at most {most}" if most is not None else ""
            raise ConfigError(f"SessionConfig.{attribute.name} must be {need} "
                              f"{what}{limit}, got {value!r}")

    return check


def _optional_positive_float(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        try:
            _positive(float)(inst, attribute, value)
        except ConfigError as err:
            raise ConfigError(str(err).replace(" must be ", " must be None or ", 1)) from None


@attrs.frozen(kw_only=True)
class SessionConfig:
    """Every knob of the session core. Times are in seconds.

    >>> from sessionkit import SessionConfig
    >>> SessionConfig(max_in_flight=100).low_water
    50
    """

    #: first wait for an ACK before resending (LedgerX scenario 1)
    ack_timeout: float = attrs.field(default=1.0, validator=_positive(float))
    #: each resend waits ``backoff`` times longer than the one before
    ack_backoff: float = attrs.field(default=2.0, validator=_positive(float))
    #: longest wait between two resends
    ack_timeout_max: float = attrs.field(default=10.0, validator=_positive(float))
    #: sends of one message before its outcome is reported unknown
    max_send_attempts: int = attrs.field(default=5, validator=_positive(int))
    #: the most messages sent and not yet ACKed (the window)
    max_in_flight: int = attrs.field(default=4096, validator=_positive(int))
    #: the most frames waiting for the transport to take them
    max_send_buffer: int = attrs.field(default=8192, validator=_positive(int))
    #: busy clears when both counts are below this (default: half of max_in_flight)
    low_water: int = attrs.field(default=None)
    #: messages per batch (the exchange's limit)
    batch_limit: int = attrs.field(default=200, validator=_positive(int, most=BATCH_LIMIT))
    #: what to do when event ids jump
    gap_policy: GapPolicy = attrs.field(default=GapPolicy.TOLERATE)
    #: the most live events held while a replay runs; past it the session fails
    max_replay_buffer: int = attrs.field(default=100_000, validator=_positive(int))
    #: extra fraction of the exchange's heartbeat interval tolerated before "offline"
    heartbeat_grace: float = attrs.field(default=0.5, validator=_positive(float, allow_zero=True))
    #: send a heartbeat when nothing was sent for this long (None: never)
    heartbeat_interval: float | None = attrs.field(default=None,
                                                    validator=_optional_positive_float)
    #: a login with no answer after this long fails the connection
    login_timeout: float = attrs.field(default=10.0, validator=_positive(float))
    #: after a reconnect, ask for a MessageReplay of messages ACKed without response
    auto_message_replay: bool = True
    #: prefix of generated client ids (None: random per session)
    cid_prefix: str | None = None
    #: what follows a protocol violation by the exchange (see docs/failures.md)
    on_violation: ViolationPolicy = attrs.field(default=ViolationPolicy.DISCONNECT)
    #: whether the exchange's event ids go on across runs or start again with each run
    event_id_scope: EventIdScope = attrs.field(default=EventIdScope.SESSION)
    #: a replay that delivers nothing and does not end for this long is a violation
    replay_timeout: float = attrs.field(default=30.0, validator=_positive(float))
    #: delivered events remembered to tell a repeated frame (dropped) from a reused event
    #: id (a violation); also the recently finished requests whose answers are remembered
    recent_window: int = attrs.field(default=1024, validator=_positive(int))

    def __attrs_post_init__(self) -> None:
        if self.low_water is None:
            object.__setattr__(self, "low_water", max(1, self.max_in_flight // 2))
        elif (not isinstance(self.low_water, int) or isinstance(self.low_water, bool)
              or not 0 < self.low_water <= self.max_in_flight):
            raise ConfigError(f"SessionConfig.low_water must be an integer in 1.."
                              f"{self.max_in_flight} (max_in_flight), got {self.low_water!r}")
        self._choice("gap_policy", GapPolicy)
        self._choice("on_violation", ViolationPolicy)
        self._choice("event_id_scope", EventIdScope)
        if self.cid_prefix is not None and (not isinstance(self.cid_prefix, str)
                                            or not self.cid_prefix.isprintable()
                                            or not 0 < len(self.cid_prefix) <= 32):
            raise ConfigError(f"SessionConfig.cid_prefix must be 1-32 printable characters, "
                              f"got {self.cid_prefix!r}")
        if self.ack_timeout_max < self.ack_timeout:
            raise ConfigError(f"SessionConfig.ack_timeout_max ({self.ack_timeout_max}) must not "
                              f"be below ack_timeout ({self.ack_timeout})")

    def _choice(self, name: str, kind: type[enum.Enum]) -> None:
        """Take a member of ``kind`` or its value (``"disconnect"``) for setting ``name``."""
        value = getattr(self, name)
        if isinstance(value, kind):
            return
        try:
            object.__setattr__(self, name, kind(value))
        except ValueError:
            known = [p.value for p in kind]
            raise ConfigError(f"SessionConfig.{name} must be one of {known}, "
                              f"got {value!r}") from None
