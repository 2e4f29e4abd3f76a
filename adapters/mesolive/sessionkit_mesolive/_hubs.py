"""Typed hub clients: one generic invoke path and one generic stream path over a SignalR
:class:`~sessionkit_mesolive.signalr.HubConnection`.

Every catalogue method becomes a method of :class:`ControlHub`, :class:`DataHub` or
:class:`EventHub` under its ``python_name`` (installed from :mod:`._hub_methods`, whose
``.pyi`` stub gives each one its typed signature). A method takes its argument model, or the
model's fields as keywords::

    account = await control.get_account(broker_account_id="ML1234")
    account = await control.get_account(m.GetAccountArgs(broker_account_id="ML1234"))
    async with data.stream_position_data(position_id=7, include_position="All",
                                         include_legs="None", include_leg_groups="None") as s:
        async for entry in s:                     # m.PositionDataEntry
            ...

:meth:`HubClient.call` encodes the argument model through the converter, invokes the method,
and unwraps the ``MesoLiveApiResponse`` envelope into the typed result, raising
:class:`~._errors.MesoLiveApiException` (a subclass per status) for any status but Success.
Transport and protocol failures raise :class:`~._errors.MesoLiveSignalRError`; when the call
may or may not have reached the server (connection lost before the answer, or
``call_timeout`` passed) the error is :class:`OutcomeUnknownError`, so idempotent callers know
to ask ``GetIdempotencyRecord``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

import anyio

from ._catalogue import CALLBACKS, METHODS, Hub, HubMethod
from ._converters import MesoLiveConverter, default_converter
from ._errors import DecodeError, MesoLiveSignalRError, unwrap
from ._hub_methods import ControlHubMethods, DataHubMethods, EventHubMethods
from .signalr import (
    AuthenticationError,
    ConnectionLostError,
    HubConnection,
    HubError,
    HubStream,
    ItemsDropped,
    SignalRError,
)

__all__ = [
    "HubClient",
    "ControlHub",
    "DataHub",
    "EventHub",
    "TypedStream",
    "DATA_STREAM_BUFFER",
    "OutcomeUnknownError",
    "MesoLiveAuthenticationError",
    "signalr_error",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DATA_STREAM_BUFFER = 16
"""Data Hub stream items that may wait for a slow reader before the oldest is dropped."""


class OutcomeUnknownError(MesoLiveSignalRError):
    """The call may or may not have taken effect: the connection was lost (or the call timed
    out) before its answer came. Idempotent operations resolve this with
    ``GetIdempotencyRecord``; ``method`` names the call."""

    def __init__(self, message: str, *, method: str) -> None:
        super().__init__(message)
        self.method = method


class MesoLiveAuthenticationError(MesoLiveSignalRError):
    """The hub refused the bearer token (the MesoLive API key); ``status_code`` is the HTTP
    status (401/403)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def signalr_error(exc: BaseException, what: str) -> MesoLiveSignalRError:
    """The :class:`MesoLiveSignalRError` for a SignalR-level failure while doing ``what``."""
    if isinstance(exc, MesoLiveSignalRError):
        return exc
    if isinstance(exc, AuthenticationError):
        return MesoLiveAuthenticationError(
            f"{what}: the MesoLive API key was refused (HTTP {exc.status_code}); check the "
            "bearer token given to token_factory", status_code=exc.status_code)
    if isinstance(exc, ConnectionLostError):
        return OutcomeUnknownError(f"{what}: {exc}", method=what)
    if isinstance(exc, HubError):
        return MesoLiveSignalRError(f"{what}: the hub reported an error: {exc.message}")
    return MesoLiveSignalRError(f"{what}: {type(exc).__name__}: {exc}")


class TypedStream(Generic[T]):
    """A Data Hub server stream whose items are decoded into the method's item model.

    Iterate it (``async for item in stream``); leaving the loop early, :meth:`aclose` or the
    end of an ``async with`` block cancels it on the server. A stream the server ends with
    an error (a required ``Provider`` missing, say), a lost connection or an item that does
    not fit its model raises :class:`~._errors.MesoLiveSignalRError`.

    Data Hub items are level-triggered (each is the whole newest state), so at most
    ``max_buffered`` of them wait for a slow reader: older ones are dropped, and the reader is
    told: an :class:`~.signalr.ItemsDropped` (``count``, ``total``) stands in the items where
    they were dropped.
    """

    def __init__(self, inner: HubStream, spec: HubMethod, converter: MesoLiveConverter) -> None:
        self._inner = inner
        self.spec = spec
        self._conv = converter

    def __aiter__(self) -> TypedStream[T]:
        return self

    async def __anext__(self) -> T:
        try:
            raw = await self._inner.__anext__()
        except StopAsyncIteration:
            raise
        except (SignalRError, HubError) as exc:
            raise signalr_error(exc, self.spec.name) from exc
        if isinstance(raw, ItemsDropped):
            return raw  # type: ignore[return-value]
        try:
            item: T = self._conv.structure(raw, self.spec.result_type)
        except DecodeError:
            await self.aclose()
            raise
        return item

    @property
    def dropped(self) -> int:
        """Items dropped so far for a slow reader (each drop was reported in the items)."""
        return self._inner.dropped

    @property
    def peak_buffered(self) -> int:
        """The most items that ever waited for the reader at once."""
        return self._inner.peak_buffered

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> TypedStream[T]:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()


class HubClient:
    """The calls of one hub over one :class:`HubConnection` (see the module docstring).

    ``call_timeout``: seconds a call may wait for its answer before it fails with
    :class:`OutcomeUnknownError` (None: wait as long as the connection lives).
    """

    hub: ClassVar[Hub]

    def __init__(self, connection: HubConnection, *,
                 converter: MesoLiveConverter = default_converter,
                 call_timeout: float | None = None) -> None:
        self.connection = connection
        self.converter = converter
        self.call_timeout = call_timeout

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.connection.url}>"

    def _spec(self, method: str | HubMethod) -> HubMethod:
        spec = method if isinstance(method, HubMethod) else METHODS.get(method)
        if spec is None:
            raise ValueError(f"unknown MesoLive hub method {method!r}")
        if spec.hub is not self.hub:
            raise ValueError(f"{spec.name} is a method of the {spec.hub.name.lower()} hub, "
                             f"not the {self.hub.name.lower()} hub")
        return spec

    @staticmethod
    def arguments(spec: HubMethod, args: Any = None, fields: dict[str, Any] | None = None) -> Any:
        """The argument model of ``spec``: ``args`` itself, or built from ``fields``."""
        if args is None:
            try:
                return spec.args_type(**(fields or {}))
            except TypeError as exc:
                raise TypeError(f"{spec.python_name}(): {exc}") from None
        if fields:
            raise TypeError(f"{spec.python_name}() takes an argument model or keyword fields, "
                            f"not both (got {sorted(fields)} too)")
        if not isinstance(args, spec.args_type):
            raise TypeError(f"{spec.python_name}() takes {spec.args_type.__name__}, got "
                            f"{type(args).__name__}")
        return args

    async def call(self, method: str | HubMethod, args: Any = None, /, **fields: Any) -> Any:
        """Invoke a (non-stream) method and return its typed result (see the module doc)."""
        spec = self._spec(method)
        raw = await self.call_raw(spec, args, **fields)
        return unwrap(raw, spec.result_type, converter=self.converter)

    async def call_raw(self, method: str | HubMethod, args: Any = None, /,
                       **fields: Any) -> Any:
        """:meth:`call` without the decoding: the envelope as it came (wire JSON)."""
        spec = self._spec(method)
        if spec.stream:
            raise ValueError(f"{spec.name} is a stream: use open_stream()")
        model = self.arguments(spec, args, fields)
        payload = self.converter.unstructure(model, spec.args_type)
        try:
            if self.call_timeout is None:
                raw = await self.connection.invoke(spec.name, payload)
            else:
                with anyio.fail_after(self.call_timeout):
                    raw = await self.connection.invoke(spec.name, payload)
        except TimeoutError:
            raise OutcomeUnknownError(
                f"{spec.name}: no answer within {self.call_timeout:g} s; the call's outcome is "
                "unknown", method=spec.name) from None
        except (SignalRError, HubError) as exc:
            raise signalr_error(exc, spec.name) from exc
        return raw

    def open_stream(self, method: str | HubMethod, args: Any = None, /, *,
                    max_buffered: int = DATA_STREAM_BUFFER, **fields: Any) -> TypedStream[Any]:
        """The typed stream of a stream method (it starts on the first iteration).

        Its items are level-triggered: at most ``max_buffered`` wait for the reader, older ones
        are dropped and reported (see :class:`TypedStream`).
        """
        spec = self._spec(method)
        if not spec.stream:
            raise ValueError(f"{spec.name} is not a stream: use call()")
        model = self.arguments(spec, args, fields)
        payload = self.converter.unstructure(model, spec.args_type)
        inner = self.connection.stream(spec.name, payload, max_buffered=max_buffered,
                                       overflow="drop_oldest")
        return TypedStream(inner, spec, self.converter)


class ControlHub(HubClient, ControlHubMethods):
    """``/hubs/control/v1``: agents, accounts, strategies, positions, legs, orders,
    preparation jobs, execution and idempotency records."""

    hub = Hub.CONTROL


class DataHub(HubClient, DataHubMethods):
    """``/hubs/data/v1``: ``get_*_snapshot`` calls and ``stream_*_data`` streams."""

    hub = Hub.DATA


class EventHub(HubClient, EventHubMethods):
    """``/hubs/event/v1``: subscriptions, replay, and the server-to-client callbacks.

    :meth:`on` registers a handler for a callback; the payload reaches it decoded into the
    callback's model. Every handler gets every payload whatever another one raised (the
    exception is logged). A payload that does not decode goes to the
    :meth:`on_undecodable` handlers instead, with the raw JSON and the error. Register
    handlers before the connection opens to see the active state the server pushes on connect.
    """

    hub = Hub.EVENT

    def __init__(self, connection: HubConnection, **options: Any) -> None:
        super().__init__(connection, **options)
        self._listeners: dict[str, list[Callable[[Any], Any]]] = {}
        self._undecodable: list[Callable[[str, Any, DecodeError], Any]] = []

    def on(self, callback: str, handler: Callable[[Any], Any]) -> None:
        """Call ``handler(payload)`` (sync or async) for every ``callback`` the server sends."""
        spec = CALLBACKS.get(callback)
        if spec is None:
            raise ValueError(f"unknown Event Hub callback {callback!r}; known: "
                             f"{', '.join(sorted(CALLBACKS))}")
        listeners = self._listeners.get(callback)
        if listeners is None:
            listeners = self._listeners[callback] = []
            self.connection.on(callback, self._dispatcher(callback, spec.payload_type, listeners))
        listeners.append(handler)

    def on_every_callback(self, handler: Callable[[Any], Any]) -> None:
        """:meth:`on` for every known callback."""
        for name in CALLBACKS:
            self.on(name, handler)

    def on_undecodable(self, handler: Callable[[str, Any, DecodeError], Any]) -> None:
        """Call ``handler(callback_name, raw_payload, error)`` (sync or async) for every
        callback of a known name whose payload does not fit its model (it reaches no
        :meth:`on` handler). A callback's handlers must be registered (:meth:`on`) for its
        payloads to be looked at."""
        self._undecodable.append(handler)

    def _dispatcher(self, name: str, payload_type: type,
                    listeners: list[Callable[[Any], Any]]) -> Callable[..., Any]:
        async def dispatch(raw: Any = None, *extra: Any) -> None:
            try:
                payload = self.converter.structure(raw, payload_type)
            except DecodeError as exc:
                logger.warning("%s: the payload does not decode: %s", name, exc)
                for on_bad in list(self._undecodable):
                    await _isolated(on_bad, name, raw, exc)
                return
            for handler in list(listeners):
                await _isolated(handler, payload)

        return dispatch


async def _isolated(handler: Callable[..., Any], *args: Any) -> None:
    """Run one Event Hub handler; its exception is logged and stops nothing else."""
    try:
        result = handler(*args)
        if hasattr(result, "__await__"):
            await result
    except Exception:
        logger.exception("Event Hub handler %r failed; the other handlers still get the "
                         "event", handler)

