"""``SessionOptions``: the options of a session client, one typed, frozen, validated object.

:func:`~sessionkit.runtime.open_session`, :class:`~sessionkit.runtime.Context` and
:class:`~sessionkit.runtime.SessionClient` take it; the first two also take its fields as
keyword arguments (typed by :class:`SessionOptionsArgs`), made into one by
:func:`make_options`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import attrs

from .._codec import Codec, JsonCodec
from .._config import SessionConfig
from .._errors import ConfigError, ConfigTypeError
from .._processor import MessageProcessor
from .._reconnect import ReconnectPolicy
from .._rules import ID_MAX

if TYPE_CHECKING:
    from ..store import SessionStore

__all__ = ["OnHandlerError", "SessionOptions", "SessionOptionsArgs", "make_options",
           "check_connector", "check_frame_limit", "check_processor", "positive_or_none",
           "PROCESSOR_METHODS"]

OnHandlerError = Literal["log", "stop"]
"""What the runtime does when a processor method or callback raises (the
``on_handler_error`` option): ``"log"`` logs and counts it (``SessionClient.handler_errors``)
and goes on; ``"stop"`` ends the session with a :class:`~sessionkit.runtime.HandlerError`."""

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


def check_connector(connector: Any) -> None:
    """Raise :class:`~sessionkit.ConfigTypeError` unless ``connector`` has ``connect()``."""
    if not callable(getattr(connector, "connect", None)):
        raise ConfigTypeError(f"connector must have an async connect() method, got "
                              f"{type(connector).__name__}")


def _config(value: SessionConfig | None) -> SessionConfig:
    return SessionConfig() if value is None else value


def _codec(value: Codec | None) -> Codec:
    return JsonCodec() if value is None else value


@attrs.frozen(kw_only=True)
class SessionOptions:
    """What a session client is told: who logs in, how it resumes, reconnects and waits.

    Validated when made: a bad value raises :class:`~sessionkit.ConfigError` naming the
    field (:class:`~sessionkit.ConfigTypeError`, also a ``TypeError``, for a value of the
    wrong kind). ``login_timeout``, ``submit_timeout`` and ``close_timeout`` may be
    infinite (no bound), never NaN. ``attrs.evolve(options, account="b")`` makes a
    changed copy (validated too).

    >>> from sessionkit.runtime import SessionOptions
    >>> SessionOptions(account="acct", on_handler_error="stop").on_handler_error
    'stop'
    >>> SessionOptions(account="acct", on_handler_error="stpo")
    Traceback (most recent call last):
    ...
    sessionkit._errors.ConfigError: on_handler_error must be 'log' or 'stop', got 'stpo'
    """

    #: the account to log in as (not empty)
    account: str
    #: the login's credential
    token: str = ""
    #: the core session's knobs (None: the defaults)
    config: SessionConfig = attrs.field(default=None, converter=_config)
    #: how messages become frames (None: :class:`~sessionkit.JsonCodec`)
    codec: Codec = attrs.field(default=None, converter=_codec)
    #: reconnect after a lost connection, and how (None: the first failure ends the session)
    reconnect: ReconnectPolicy | None = None
    #: what a raising processor method or callback does (see :data:`OnHandlerError`)
    on_handler_error: OnHandlerError = "log"
    #: where the first login resumes: 0 no replay, 1 from the start, N after N-1 (None: 0,
    #: or where a ``store``'s journal left off)
    resume_event_id: int | None = None
    #: the bound on the first login (None: no bound)
    login_timeout: float | None = None
    #: a journal: requests survive a crash, events are handed once (``sessionkit.store``)
    store: SessionStore | None = None
    #: how long ``submit()`` waits for room by default
    submit_timeout: float = 5.0
    #: how long the logout of ``close()`` (and leaving ``open_session``) may take by default
    close_timeout: float = 5.0

    def __attrs_post_init__(self) -> None:
        account, token = self.account, self.token
        if not isinstance(account, str) or not account:
            raise ConfigError(f"account must be a non-empty string, got {account!r}")
        if not isinstance(token, str):
            raise ConfigTypeError(f"token must be a string, got {type(token).__name__}")
        if self.on_handler_error not in ("log", "stop"):
            raise ConfigError(f"on_handler_error must be 'log' or 'stop', got "
                              f"{self.on_handler_error!r}")
        if self.reconnect is not None and not isinstance(self.reconnect, ReconnectPolicy):
            raise ConfigTypeError(f"reconnect must be a ReconnectPolicy or None, got "
                                  f"{type(self.reconnect).__name__}")
        if not isinstance(self.config, SessionConfig):
            raise ConfigTypeError(f"config must be a SessionConfig, got "
                                  f"{type(self.config).__name__}")
        resume = self.resume_event_id
        if resume is not None and (type(resume) is not int or not 0 <= resume <= ID_MAX + 1):
            raise ConfigError(f"resume_event_id must be None or a resume token (an integer "
                              f"in 0..2^63), got {resume!r}")
        positive_or_none("login_timeout", self.login_timeout)
        positive_or_none("submit_timeout", self.submit_timeout, allow_zero=True)
        positive_or_none("close_timeout", self.close_timeout, allow_zero=True)
        codec = self.codec
        if not (callable(getattr(codec, "encode", None))
                and callable(getattr(codec, "decode", None))):
            raise ConfigTypeError(f"codec must have encode() and decode(), got "
                                  f"{type(codec).__name__}")


class SessionOptionsArgs(TypedDict, total=False):
    """:class:`SessionOptions`' fields as keyword arguments (``**kwargs:
    Unpack[SessionOptionsArgs]`` of :func:`~sessionkit.runtime.open_session` and
    :class:`~sessionkit.runtime.Context`), so a type checker catches a misspelled option or
    a wrong value. ``account`` is required unless a :class:`SessionOptions` is given.
    tests/runtime/test_options.py checks it has the same fields and types."""

    account: str
    token: str
    config: SessionConfig | None
    codec: Codec | None
    reconnect: ReconnectPolicy | None
    on_handler_error: OnHandlerError
    resume_event_id: int | None
    login_timeout: float | None
    store: SessionStore | None
    submit_timeout: float
    close_timeout: float


_NAMES = frozenset(a.name for a in attrs.fields(SessionOptions))


def make_options(options: SessionOptions | None, kwargs: Mapping[str, Any]) -> SessionOptions:
    """``options`` with ``kwargs`` (its fields) changed, or made of ``kwargs`` alone.

    Raises :class:`~sessionkit.ConfigTypeError` naming an unknown option, a missing
    ``account`` or an ``options`` that is not a :class:`SessionOptions`; what a field
    refuses raises as :class:`SessionOptions` does. ``handler_errors=`` (this option's
    name before 0.2, now the client's counter) is taken with a DeprecationWarning."""
    args = dict(kwargs)
    if "handler_errors" in args:
        warnings.warn("the handler_errors= option is now on_handler_error= (handler_errors "
                      "is the client's count of raising handlers)", DeprecationWarning,
                      stacklevel=4)
        args.setdefault("on_handler_error", args.pop("handler_errors"))
    unknown = sorted(set(args) - _NAMES)
    if unknown:
        raise ConfigTypeError(f"unknown session option{'s' if len(unknown) > 1 else ''} "
                              f"{', '.join(unknown)}; the options are "
                              f"{', '.join(a.name for a in attrs.fields(SessionOptions))}")
    if options is None:
        if "account" not in args:
            raise ConfigTypeError("account is required (or a SessionOptions)")
        return SessionOptions(**args)
    if not isinstance(options, SessionOptions):
        raise ConfigTypeError(f"options must be a SessionOptions, got "
                              f"{type(options).__name__}")
    return attrs.evolve(options, **args) if args else options


def check_frame_limit(connector: Any, codec: Codec) -> None:
    """A connector declaring ``max_frame_size`` (what its transport carries) must not get a
    codec that makes or accepts larger frames: such a frame could be sent and never arrive.
    Raise :class:`~sessionkit.ConfigError` naming both sizes."""
    limit = getattr(connector, "max_frame_size", None)
    if limit is None:
        return
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        raise ConfigError(f"{type(connector).__name__}.max_frame_size must be None or a "
                          f"positive number of bytes, got {limit!r}")
    codec_limit = getattr(codec, "max_frame_size", None)
    if isinstance(codec_limit, int) and codec_limit > limit:
        raise ConfigError(f"the codec's max_frame_size {codec_limit} is over what the "
                          f"transport carries ({type(connector).__name__}.max_frame_size "
                          f"{limit}): pass a codec with max_frame_size <= {limit}, e.g. "
                          f"JsonCodec(max_frame_size={limit})")
