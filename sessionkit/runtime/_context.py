"""``Context``: the session in its own thread, driven like a ``threading.Thread``.

A :class:`Context` runs ``trio.run`` in a thread of its own and keeps one
session up there (the same runtime as :func:`open_session`). ``start()``
returns once that thread's trio loop runs; ``stop()`` asks for a graceful
logout and ``join()`` waits for the thread to end. ``submit``,
``submit_batch`` and ``statistics`` may be called from any thread: each runs
in the context's thread (``trio.from_thread.run_sync``) and raises the core's
errors (:class:`~sessionkit.SessionBusyError` ...) in the caller's thread, at once.
Processor methods and callbacks run in the context's thread, in order; they
may call ``submit`` too.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, Unpack

import trio

from .._errors import ConfigError, LocalProtocolError, SessionClosedError
from .._events import Callback
from .._messages import Request
from .._processor import MessageProcessor
from .._session import BatchTicket
from .._stats import SessionStatistics
from ._client import ClientState, SessionClient
from ._errors import HandlerError, SessionFailedError
from ._options import (
    SessionOptions,
    SessionOptionsArgs,
    check_connector,
    check_processor,
    make_options,
    positive_or_none,
)
from ._transport import Connector
from ._util import collapse

__all__ = ["Context"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_names = itertools.count(1)


async def _first_of(*waits: Callable[[], Awaitable[None]]) -> None:
    """Wait until one of ``waits`` returns."""
    async with trio.open_nursery() as nursery:
        async def wait(fn: Callable[[], Awaitable[None]]) -> None:
            await fn()
            nursery.cancel_scope.cancel()

        for fn in waits:
            nursery.start_soon(wait, fn)


class Context:
    """A session run in its own thread; the interface of ``threading.Thread``.

    Takes the options of :func:`open_session` (a :class:`SessionOptions`, its fields as
    keyword arguments, or both), plus ``name`` (the thread's name), ``daemon``,
    ``stop_timeout`` (the bound on the logout ``stop()`` asks for; infinity: no bound)
    and ``clock`` (handed to ``trio.run``; tests pass a ``trio.testing.MockClock``).
    Bad options raise :class:`~sessionkit.ConfigError` here, in the caller's thread (a
    processor class instead of an instance: :class:`~sessionkit.ConfigTypeError`, also a
    ``TypeError``); what ends the context later is :attr:`exception`.
    """

    def __init__(self, connector: Connector, processor: MessageProcessor,
                 options: SessionOptions | None = None, *, name: str | None = None,
                 daemon: bool = True, stop_timeout: float = 5.0, clock: Any = None,
                 **kwargs: Unpack[SessionOptionsArgs]) -> None:
        check_connector(connector)
        check_processor(processor)
        self._options = make_options(options, kwargs)
        positive_or_none("stop_timeout", stop_timeout, allow_zero=True)
        if stop_timeout is None:
            raise ConfigError("stop_timeout must be a non-negative number of seconds, got None")
        self._args = (connector, processor)
        self._stop_timeout = stop_timeout
        self._clock = clock
        self.name = name or f"sessionkit-context-{next(_names)}"
        self._thread = threading.Thread(target=self._thread_main, name=self.name, daemon=daemon)
        self._client: SessionClient | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._ident: int | None = None
        self._ready = threading.Event()
        self._signal = threading.Event()
        self._started = False
        self._logged_in = False
        self._exception: BaseException | None = None
        self._stop_event: trio.Event | None = None
        self._stop_wait = stop_timeout
        self._scope: trio.CancelScope | None = None
        self._login_scope: trio.CancelScope | None = None

    def __repr__(self) -> str:
        state = self._client.state.value if self._client is not None else "initial"
        return f"<Context {self.name} {state}{' alive' if self.is_alive() else ''}>"

    # -- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the context's thread; returns once its trio loop runs (submits queue)."""
        if self._started:
            raise LocalProtocolError(f"Context {self.name} was already started; a Context "
                                     f"runs once (make a new one)")
        self._started = True
        self._thread.start()
        self._ready.wait()

    def _thread_main(self) -> None:
        try:
            trio.run(self._main, clock=self._clock)
        except BaseException as exc:
            exc = collapse(exc)
            self._exception = exc
            if not isinstance(exc, (SessionFailedError, HandlerError)):
                logger.error("Context %s ended by an unexpected error", self.name, exc_info=exc)
        finally:
            self._ready.set()
            self._signal.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._ident = threading.get_ident()
        self._stop_event = stop = trio.Event()
        try:
            client = SessionClient(*self._args, self._options)
        except BaseException:
            self._ready.set()
            raise
        self._client = client
        with trio.CancelScope() as self._scope:
            self._ready.set()
            async with client.running(wait_login=False):
                with trio.CancelScope() as self._login_scope:
                    if stop.is_set():
                        self._login_scope.cancel()
                    await client.wait_login()
                if client.has_logged_in:
                    self._logged_in = True
                    self._signal.set()
                await _first_of(client.wait_closed, stop.wait)
                await client.aclose(self._stop_wait)
        if client.error is not None:
            raise client.error

    def stop(self, timeout: float | None = None) -> None:
        """Ask for a graceful logout (bounded by ``timeout``, else ``stop_timeout``); no wait.

        Safe from any thread, a trio thread included; ``join()`` waits for the end.
        Raises :class:`~sessionkit.ConfigError` for a ``timeout`` that is NaN or negative
        (infinity: no bound).
        """
        positive_or_none("timeout", timeout, allow_zero=True)
        if timeout is not None:
            self._stop_wait = timeout
        self._soon(self._request_stop)

    def _soon(self, fn: Callable[[], None]) -> None:
        token = self._token
        if token is None:
            return
        if threading.get_ident() == self._ident:
            fn()
            return
        try:
            token.run_sync_soon(fn)
        except trio.RunFinishedError:
            pass

    def _request_stop(self) -> None:
        if self._stop_event is not None:
            self._stop_event.set()
        if self._login_scope is not None:
            self._login_scope.cancel()

    def cancel(self) -> None:
        """End the session at once, without a logout (requests not final are reported)."""
        self._soon(self._request_cancel)

    def _request_cancel(self) -> None:
        if self._scope is not None:
            self._scope.cancel()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the context's thread ends (see ``threading.Thread.join``)."""
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def wait_logged_in(self, timeout: float | None = None) -> bool:
        """Wait for the login: True once logged in, False on timeout.

        Raises the error that ended the context when it ended without a login
        (:class:`LoginFailedError`, :class:`ConnectionFailedError`...).
        """
        if not self._started:
            raise LocalProtocolError("wait_logged_in() before start(): start the Context first")
        self._signal.wait(timeout)
        if self._logged_in:
            return True
        if not self._thread.is_alive() and self._signal.is_set():
            if self._exception is not None:
                raise self._exception
            raise SessionClosedError(self.close_reason or "the Context ended before the login")
        return False

    # -- state ----------------------------------------------------------------------------------

    @property
    def options(self) -> SessionOptions:
        """The options the context's session runs with."""
        return self._options

    @property
    def exception(self) -> BaseException | None:
        """The error that ended the context (None: it ended by stop() or is running)."""
        return self._exception

    @property
    def state(self) -> ClientState:
        client = self._client
        return client.state if client is not None else ClientState.CONNECTING

    @property
    def close_reason(self) -> str | None:
        client = self._client
        return client.close_reason if client is not None else None

    @property
    def trio_token(self) -> trio.lowlevel.TrioToken | None:
        """The token of the context's trio run (for ``trio.from_thread`` calls of your own)."""
        return self._token

    # -- calls from any thread ---------------------------------------------------------------------

    def _in_loop(self, fn: Callable[..., T], *args: Any) -> T:
        token = self._token
        if token is None:
            raise LocalProtocolError(f"Context {self.name} is not running; call start() first")
        if threading.get_ident() == self._ident:
            return fn(*args)
        try:
            return trio.from_thread.run_sync(fn, *args, trio_token=token)
        except trio.RunFinishedError:
            raise SessionClosedError(self.close_reason or "the Context ended") from None

    def _client_or_raise(self) -> SessionClient:
        if self._client is None:
            raise LocalProtocolError(f"Context {self.name} is not running; call start() first")
        return self._client

    def submit(self, request: Request, callback: Callback | None = None, *,
               timeout: float | None = None) -> str:
        """Submit one request; returns its cid.

        With ``timeout`` None a busy session raises :class:`~sessionkit.SessionBusyError`
        at once; with a number the call waits up to that long for room.
        """
        client = self._client_or_raise()
        if timeout is None:
            return self._in_loop(client.submit_nowait, request, callback)
        return self._in_loop_async(functools.partial(client.submit, request, callback,
                                                     timeout=timeout))

    def submit_batch(self, requests: Sequence[Request],
                     callbacks: Sequence[Callback | None] | None = None, *,
                     timeout: float | None = None) -> list[BatchTicket]:
        """Submit batches of at most ``config.batch_limit`` (see :meth:`submit`)."""
        client = self._client_or_raise()
        requests = list(requests)
        if timeout is None:
            return self._in_loop(client.submit_batch_nowait, requests, callbacks)
        return self._in_loop_async(functools.partial(client.submit_batch, requests, callbacks,
                                                     timeout=timeout))

    def request_message_replay(self) -> str | None:
        """Ask for what was ACKed without a final response (S2)."""
        client = self._client_or_raise()
        return self._in_loop(client.request_message_replay_nowait)

    def statistics(self) -> SessionStatistics:
        """The session's statistics (summed over reconnects), read in the context's thread."""
        client = self._client_or_raise()
        try:
            return self._in_loop(client.statistics)
        except SessionClosedError:
            return client.statistics()

    def _in_loop_async(self, afn: Callable[[], Awaitable[T]]) -> T:
        token = self._token
        if token is None:
            raise LocalProtocolError(f"Context {self.name} is not running; call start() first")
        if threading.get_ident() == self._ident:
            raise LocalProtocolError("a waiting submit (timeout=) cannot be made from the "
                                     "Context's own thread; use timeout=None there")
        try:
            return trio.from_thread.run(afn, trio_token=token)
        except (trio.RunFinishedError, trio.Cancelled):
            # the context ended while the call waited: its trio run cancelled the call
            raise SessionClosedError(self.close_reason or "the Context ended") from None
