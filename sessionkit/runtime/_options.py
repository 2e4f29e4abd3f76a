"""Validation of the options ``open_session`` and ``Context`` take."""

from __future__ import annotations

import math
from typing import Any, Literal

from .._codec import Codec
from .._config import SessionConfig
from .._errors import ConfigError, ConfigTypeError
from .._processor import MessageProcessor
from .._rules import ID_MAX
from ._reconnect import ReconnectPolicy

__all__ = ["HandlerErrors", "check_options", "check_processor", "positive_or_none",
           "PROCESSOR_METHODS"]

#: what a processor method that raises does: log it and go on, or stop the session
HandlerErrors = Literal["log", "stop"]

#: the methods a processor may have (MessageProcessor's handlers and callbacks)
PROCESSOR_METHODS = tuple(sorted(n for n in vars(MessageProcessor)
                                 if n.startswith(("handle_", "on_"))))


def positive_or_none(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """A bound on a wait: None (the default), or a number of seconds > 0 (>= 0 with
    ``allow_zero``). Infinity is allowed (no bound, as None where None means that); NaN is
    not: it compares false to everything, so no deadline made of it ever passes."""
    if value is None:
        return
    if (not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value)
            or value < 0 or (value == 0 and not allow_zero)):
        raise ConfigError(f"{name} must be None or a {'non-negative' if allow_zero else 'positive'}"
                          f" number of seconds, got {value!r}")


def check_processor(processor: Any) -> None:
    """Raise :class:`~sessionkit.ConfigTypeError` (a ``TypeError``) unless ``processor`` is
    a processor: an instance (not a class) of :class:`~sessionkit.MessageProcessor`, or an
    object with at least one of its methods, each of them callable."""
    if processor is None:
        raise ConfigTypeError("processor must be a MessageProcessor instance (or an object "
                              "with its methods), got None")
    if isinstance(processor, type):
        raise ConfigTypeError(f"processor must be an instance, got the class "
                              f"{processor.__qualname__}: pass {processor.__name__}(), not "
                              f"{processor.__name__}")
    present = [n for n in PROCESSOR_METHODS if getattr(processor, n, None) is not None]
    if not present:
        text = repr(processor)
        text = text if len(text) <= 60 else text[:57] + "..."
        raise ConfigTypeError(f"processor must be a MessageProcessor instance (or an object "
                              f"with its handle_*/on_* methods), got {type(processor).__name__} "
                              f"{text}, which has none of them")
    for name in present:
        method = getattr(processor, name)
        if not callable(method):
            raise ConfigTypeError(f"processor.{name} must be callable, got "
                                  f"{type(method).__name__} {method!r:.40}")


def check_options(connector: Any, processor: Any, *, account: str, token: str = "",
                  config: SessionConfig | None = None, codec: Codec | None = None,
                  reconnect: ReconnectPolicy | None = None, handler_errors: HandlerErrors = "log",
                  resume_event_id: int | None = None, login_timeout: float | None = None,
                  store: Any = None, submit_timeout: float = 5.0,
                  close_timeout: float = 5.0) -> None:
    """Raise :class:`~sessionkit.ConfigError` naming the first bad option of open_session
    (:class:`~sessionkit.ConfigTypeError`, also a ``TypeError``, for an option of the wrong
    kind). ``login_timeout``, ``submit_timeout`` and ``close_timeout`` may be infinite (no
    bound), never NaN."""
    if not callable(getattr(connector, "connect", None)):
        raise ConfigTypeError(f"connector must have an async connect() method, got "
                              f"{type(connector).__name__}")
    check_processor(processor)
    if not isinstance(account, str) or not account:
        raise ConfigError(f"account must be a non-empty string, got {account!r}")
    if not isinstance(token, str):
        raise ConfigTypeError(f"token must be a string, got {type(token).__name__}")
    if handler_errors not in ("log", "stop"):
        raise ConfigError(f"handler_errors must be 'log' or 'stop', got {handler_errors!r}")
    if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
        raise ConfigTypeError(f"reconnect must be a ReconnectPolicy or None, got "
                              f"{type(reconnect).__name__}")
    if config is not None and not isinstance(config, SessionConfig):
        raise ConfigTypeError(f"config must be a SessionConfig, got {type(config).__name__}")
    if resume_event_id is not None and (type(resume_event_id) is not int
                                        or not 0 <= resume_event_id <= ID_MAX + 1):
        raise ConfigError(f"resume_event_id must be None or a resume token (an integer in "
                          f"0..2^63), got {resume_event_id!r}")
    positive_or_none("login_timeout", login_timeout)
    positive_or_none("submit_timeout", submit_timeout, allow_zero=True)
    positive_or_none("close_timeout", close_timeout, allow_zero=True)
    if codec is not None and not (callable(getattr(codec, "encode", None))
                                  and callable(getattr(codec, "decode", None))):
        raise ConfigTypeError(f"codec must have encode() and decode(), got "
                              f"{type(codec).__name__}")
