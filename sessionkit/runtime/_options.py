"""Validation of the options ``open_session`` and ``Context`` take."""

from __future__ import annotations

from typing import Any

from .._codec import Codec
from .._config import SessionConfig
from .._errors import ConfigError
from ._reconnect import ReconnectPolicy

__all__ = ["check_options", "positive_or_none"]


def positive_or_none(name: str, value: Any, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0
            or (value == 0 and not allow_zero)):
        raise ConfigError(f"{name} must be None or a {'non-negative' if allow_zero else 'positive'}"
                          f" number of seconds, got {value!r}")


def check_options(connector: Any, processor: Any, *, account: str, token: str = "",
                  config: SessionConfig | None = None, codec: Codec | None = None,
                  reconnect: ReconnectPolicy | None = None, handler_errors: str = "log",
                  resume_event_id: int | None = None, login_timeout: float | None = None,
                  store: Any = None, submit_timeout: float = 5.0,
                  close_timeout: float = 5.0) -> None:
    """Raise :class:`~sessionkit.ConfigError` naming the first bad option of open_session."""
    if not callable(getattr(connector, "connect", None)):
        raise ConfigError(f"connector must have an async connect() method, got "
                          f"{type(connector).__name__}")
    if processor is None:
        raise ConfigError("processor must be a MessageProcessor (or an object with its "
                          "methods), got None")
    if not isinstance(account, str) or not account:
        raise ConfigError(f"account must be a non-empty string, got {account!r}")
    if not isinstance(token, str):
        raise ConfigError(f"token must be a string, got {type(token).__name__}")
    if handler_errors not in ("log", "stop"):
        raise ConfigError(f"handler_errors must be 'log' or 'stop', got {handler_errors!r}")
    if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
        raise ConfigError(f"reconnect must be a ReconnectPolicy or None, got "
                          f"{type(reconnect).__name__}")
    if config is not None and not isinstance(config, SessionConfig):
        raise ConfigError(f"config must be a SessionConfig, got {type(config).__name__}")
    if resume_event_id is not None and (not isinstance(resume_event_id, int)
                                        or isinstance(resume_event_id, bool)
                                        or resume_event_id < 0):
        raise ConfigError(f"resume_event_id must be None or an integer >= 0, got "
                          f"{resume_event_id!r}")
    positive_or_none("login_timeout", login_timeout)
    positive_or_none("submit_timeout", submit_timeout, allow_zero=True)
    positive_or_none("close_timeout", close_timeout, allow_zero=True)
    if codec is not None and not (callable(getattr(codec, "encode", None))
                                  and callable(getattr(codec, "decode", None))):
        raise ConfigError(f"codec must have encode() and decode(), got {type(codec).__name__}")
