"""``Context``: the session in its own thread, driven like a ``threading.Thread``.

A :class:`Context` runs an event loop (asyncio by default, or trio) in a thread of its own
and keeps one session up there (the same runtime as :func:`open_session`, on AnyIO).
``start()`` returns once that thread's loop runs; ``stop()`` asks for a graceful logout and
``join()`` waits for the thread to end. ``submit``, ``submit_batch`` and ``statistics`` may
be called from any thread: each runs in the context's thread and raises the core's errors
(:class:`~sessionkit.SessionBusyError` ...) in the caller's thread, at once. Processor
methods and callbacks run in the context's thread, in order; they may call ``submit`` too.

:meth:`Context.in_memory` makes a context whose session trades with a
:class:`~sessionkit.testing.ReferenceExchange` served in the same loop over the in-memory
adapter: a synchronous engine's tests need no sockets.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import importlib.util
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

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
from ._server import ExchangeServer, serve_reference_exchange
from ._transport import Connector
from ._util import collapse

if TYPE_CHECKING:
    from ..testing import ReferenceExchange

__all__ = ["Context"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_names = itertools.count(1)

#: the event loops a Context runs on
BACKENDS = ("asyncio", "trio")


async def _first_of(*waits: Callable[[], Awaitable[None]]) -> None:
    """Wait until one of ``waits`` returns."""
    async with anyio.create_task_group() as tasks:
        async def wait(fn: Callable[[], Awaitable[None]]) -> None:
            await fn()
            tasks.cancel_scope.cancel()

        for fn in waits:
            tasks.start_soon(wait, fn)


def _resolve_backend(backend: Any, backend_options: Any, clock: Any) -> tuple[str, dict[str, Any]]:
    """The backend and the options ``anyio.run`` gets (see :class:`Context`)."""
    if backend is None:
        backend = "trio" if clock is not None else "asyncio"
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be 'asyncio' or 'trio', got {backend!r}")
    if backend_options is not None and not isinstance(backend_options, dict):
        raise ConfigError(f"backend_options must be a dict (anyio.run's backend_options), "
                          f"got {type(backend_options).__name__}")
    options = dict(backend_options or {})
    if clock is not None:
        if backend != "trio":
            raise ConfigError("clock= is a trio clock (trio.testing.MockClock...): it needs "
                              "backend='trio', not 'asyncio'")
        options["clock"] = clock
    if backend == "trio" and importlib.util.find_spec("trio") is None:
        raise ConfigError("backend='trio' needs trio, which is not installed (install "
                          "sessionkit[trio]), or use backend='asyncio'")
    return backend, options


def _asyncio_call_context() -> contextvars.Context:
    """A context for callbacks handed to asyncio from another thread, in which AnyIO knows
    it runs on asyncio (no task is current in a loop callback: sniffio, when installed,
    learns the library from its context variable, as in ``anyio.from_thread``)."""
    ctx = contextvars.copy_context()
    try:
        import sniffio
    except ImportError:  # AnyIO then asks asyncio for the running loop
        return ctx
    ctx.run(sniffio.current_async_library_cvar.set, "asyncio")
    return ctx


class Context:
    """A session run in its own thread; the interface of ``threading.Thread``.

    Takes the options of :func:`open_session` (a :class:`SessionOptions`, its fields as
    keyword arguments, or both), plus ``name`` (the thread's name), ``daemon``,
    ``stop_timeout`` (the bound on the logout ``stop()`` asks for; infinity: no bound) and
    the event loop the thread runs:

    * ``backend``: ``"asyncio"`` (the default: the standard library's, nothing more to
      install) or ``"trio"`` (needs trio: ``sessionkit[trio]``);
    * ``backend_options``: handed to ``anyio.run`` (``{"use_uvloop": True}`` on asyncio,
      ``{"clock": ...}`` on trio);
    * ``clock``: a trio clock (tests pass a ``trio.testing.MockClock``); giving one without
      ``backend`` picks trio.

    Bad options raise :class:`~sessionkit.ConfigError` here, in the caller's thread (a
    processor class instead of an instance: :class:`~sessionkit.ConfigTypeError`, also a
    ``TypeError``); what ends the context later is :attr:`exception`.
    """

    def __init__(self, connector: Connector, processor: MessageProcessor,
                 options: SessionOptions | None = None, *, name: str | None = None,
                 daemon: bool = True, stop_timeout: float = 5.0, clock: Any = None,
                 backend: str | None = None, backend_options: dict[str, Any] | None = None,
                 **kwargs: Unpack[SessionOptionsArgs]) -> None:
        check_connector(connector)
        check_processor(processor)
        self._options = make_options(options, kwargs)
        positive_or_none("stop_timeout", stop_timeout, allow_zero=True)
        if stop_timeout is None:
            raise ConfigError("stop_timeout must be a non-negative number of seconds, got None")
        self._backend, self._backend_options = _resolve_backend(backend, backend_options,
                                                                clock)
        self._args = (connector, processor)
        self._stop_timeout = stop_timeout
        self.name = name or f"sessionkit-context-{next(_names)}"
        self._thread = threading.Thread(target=self._thread_main, name=self.name, daemon=daemon)
        self._client: SessionClient | None = None
        self._token: anyio.lowlevel.EventLoopToken | None = None
        self._trio_token: Any = None
        self._call_soon: Callable[[Callable[[], None]], None] | None = None
        self._calls: TaskGroup | None = None
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._pending_lock = threading.Lock()
        self._loop_done = False
        self._ident: int | None = None
        self._ready = threading.Event()
        self._signal = threading.Event()
        self._started = False
        self._logged_in = False
        self._exception: BaseException | None = None
        self._stop_event: anyio.Event | None = None
        self._stop_wait = stop_timeout
        self._scope: anyio.CancelScope | None = None
        self._login_scope: anyio.CancelScope | None = None
        self._exchange: ReferenceExchange | None = None
        self._server: ExchangeServer | None = None

    @classmethod
    def in_memory(cls, processor: MessageProcessor, exchange: ReferenceExchange | None = None,
                  options: SessionOptions | None = None, *, name: str | None = None,
                  daemon: bool = True, stop_timeout: float = 5.0, clock: Any = None,
                  backend: str | None = None, backend_options: dict[str, Any] | None = None,
                  **kwargs: Unpack[SessionOptionsArgs]) -> Context:
        """A context whose session trades with ``exchange`` (a new
        :class:`~sessionkit.testing.ReferenceExchange` by default), served in the context's
        own loop over the in-memory adapter (:mod:`sessionkit.runtime.memory`), in the
        session's codec: no sockets, no other thread.

        :attr:`exchange` is the exchange and :attr:`server` (once started) the
        :class:`ExchangeServer` serving it; they live in the context's thread, so touch them
        there: ``ctx.run_sync(ctx.server.drop)`` drops the connection (the session
        reconnects when its ``reconnect`` policy says so).

        >>> import threading
        >>> from sessionkit import GetBookState, MessageProcessor
        >>> class Engine(MessageProcessor):
        ...     def __init__(self):
        ...         self.outcomes, self.done = [], threading.Event()
        ...     def on_message_finished(self, event):
        ...         self.outcomes.append(event.outcome.value)
        ...         self.done.set()
        >>> engine = Engine()
        >>> ctx = Context.in_memory(engine, account="desk")  # backend="trio" runs on trio
        >>> ctx.start()
        >>> ctx.wait_logged_in(5)
        True
        >>> cid = ctx.submit(GetBookState(contract_id=1))
        >>> engine.done.wait(5)
        True
        >>> ctx.stop()
        >>> ctx.join(5)
        >>> engine.outcomes, ctx.exception
        (['completed'], None)
        """
        from ..runtime.memory import MemoryConnector
        from ..testing import ReferenceExchange

        address = f"context-{next(_names)}"
        ctx = cls(MemoryConnector(address=address), processor, options, name=name,
                  daemon=daemon, stop_timeout=stop_timeout, clock=clock, backend=backend,
                  backend_options=backend_options, **kwargs)
        ctx._exchange = exchange if exchange is not None else ReferenceExchange()
        return ctx

    def __repr__(self) -> str:
        state = self._client.state.value if self._client is not None else "initial"
        return f"<Context {self.name} {state}{' alive' if self.is_alive() else ''}>"

    # -- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the context's thread; returns once its loop runs (submits queue)."""
        if self._started:
            raise LocalProtocolError(f"Context {self.name} was already started; a Context "
                                     f"runs once (make a new one)")
        self._started = True
        self._thread.start()
        self._ready.wait()

    def _thread_main(self) -> None:
        try:
            anyio.run(self._main, backend=self._backend,
                      backend_options=self._backend_options or None)
        except BaseException as exc:
            exc = collapse(exc)
            self._exception = exc
            if not isinstance(exc, (SessionFailedError, HandlerError)):
                logger.error("Context %s ended by an unexpected error", self.name, exc_info=exc)
        finally:
            self._end_calls()
            self._ready.set()
            self._signal.set()

    def _bind_loop(self) -> None:
        """In the loop's thread: how other threads hand it calls."""
        self._token = anyio.lowlevel.current_token()
        self._ident = threading.get_ident()
        if self._backend == "trio":
            import trio

            token = self._trio_token = trio.lowlevel.current_trio_token()
            self._call_soon = token.run_sync_soon
        else:
            loop = asyncio.get_running_loop()
            ctx = _asyncio_call_context()

            def call_soon(fn: Callable[[], None]) -> None:
                loop.call_soon_threadsafe(fn, context=ctx.copy())

            self._call_soon = call_soon

    async def _main(self) -> None:
        self._bind_loop()
        self._stop_event = stop = anyio.Event()
        try:
            client = SessionClient(*self._args, self._options)
        except BaseException:
            self._ready.set()
            raise
        self._client = client
        async with self._serving(), anyio.create_task_group() as calls:
            self._calls = calls
            with anyio.CancelScope() as self._scope:
                self._ready.set()
                async with client.running(wait_login=False):
                    with anyio.CancelScope() as self._login_scope:
                        if stop.is_set():
                            self._login_scope.cancel()
                        await client.wait_login()
                    if client.has_logged_in:
                        self._logged_in = True
                        self._signal.set()
                    await _first_of(client.wait_closed, stop.wait)
                    await client.aclose(self._stop_wait)
            calls.cancel_scope.cancel()  # waiting submits left end with SessionClosedError
        if client.error is not None:
            raise client.error

    @asynccontextmanager
    async def _serving(self) -> AsyncIterator[None]:
        """Serve the in-memory exchange around the session (:meth:`in_memory`)."""
        if self._exchange is None:
            yield
            return
        from ..runtime.memory import adapter

        connector = self._args[0]
        address = getattr(connector, "address", None)
        async with adapter.serve(address=address) as endpoint, \
                anyio.create_task_group() as tasks:
            self._server = await tasks.start(serve_reference_exchange, endpoint,
                                             self._exchange, self._options.codec)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()

    def _end_calls(self) -> None:
        """The loop ended: calls handed to it and not run never will be."""
        with self._pending_lock:
            self._loop_done = True
            pending, self._pending = self._pending, set()
        for fut in pending:
            if not fut.done():
                fut.set_exception(SessionClosedError(self.close_reason or "the Context ended"))

    def stop(self, timeout: float | None = None) -> None:
        """Ask for a graceful logout (bounded by ``timeout``, else ``stop_timeout``); no wait.

        Safe from any thread, the context's own included; ``join()`` waits for the end.
        Raises :class:`~sessionkit.ConfigError` for a ``timeout`` that is NaN or negative
        (infinity: no bound).
        """
        positive_or_none("timeout", timeout, allow_zero=True)
        if timeout is not None:
            self._stop_wait = timeout
        self._soon(self._request_stop)

    def _soon(self, fn: Callable[[], None]) -> bool:
        """Run ``fn`` in the loop's thread: now when called there, else soon; False when the
        loop does not run (not yet, or no more)."""
        call_soon = self._call_soon
        if call_soon is None or self._loop_done:
            return False
        if threading.get_ident() == self._ident:
            fn()
            return True
        try:
            call_soon(fn)
        except RuntimeError:  # asyncio's loop is closed; trio's RunFinishedError is one too
            return False
        return True

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
    def backend(self) -> str:
        """The event loop the context runs: ``"asyncio"`` or ``"trio"``."""
        return self._backend

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
    def token(self) -> anyio.lowlevel.EventLoopToken | None:
        """The AnyIO token of the context's loop, on either backend (for calls of your own:
        ``anyio.from_thread.run_sync(fn, token=ctx.token)``); None before ``start()``."""
        return self._token

    @property
    def trio_token(self) -> Any:
        """The ``trio.lowlevel.TrioToken`` of the context's run on trio (for
        ``trio.from_thread`` calls of your own); None on asyncio and before ``start()``."""
        return self._trio_token

    @property
    def exchange(self) -> ReferenceExchange | None:
        """The exchange of an :meth:`in_memory` context (None otherwise); it lives in the
        context's thread: change it through :meth:`run_sync`."""
        return self._exchange

    @property
    def server(self) -> ExchangeServer | None:
        """The server of an :meth:`in_memory` context's exchange, once started (None
        otherwise): ``ctx.run_sync(ctx.server.drop)`` cuts the connection."""
        return self._server

    # -- calls from any thread ---------------------------------------------------------------------

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(*args)`` in the context's thread and return what it returns (or raise
        what it raises) here; called from that thread, it calls at once. Raises
        :class:`~sessionkit.SessionClosedError` once the context's loop has ended."""
        return self._in_loop(fn, *args)

    def _hand(self, run: Callable[[concurrent.futures.Future[T]], None]) -> T:
        """Hand ``run(future)`` to the loop's thread and wait for the future."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._pending_lock:
            if self._loop_done:
                raise SessionClosedError(self.close_reason or "the Context ended")
            self._pending.add(fut)
        try:
            if not self._soon(functools.partial(run, fut)):
                raise SessionClosedError(self.close_reason or "the Context ended")
            return fut.result()
        finally:
            with self._pending_lock:
                self._pending.discard(fut)

    def _in_loop(self, fn: Callable[..., T], *args: Any) -> T:
        if self._call_soon is None:
            raise LocalProtocolError(f"Context {self.name} is not running; call start() first")
        if threading.get_ident() == self._ident:
            return fn(*args)

        def run(fut: concurrent.futures.Future[T]) -> None:
            try:
                result = fn(*args)
            except BaseException as exc:
                _settle(fut, exc=exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                _settle(fut, result)

        return self._hand(run)

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
        if self._call_soon is None:
            raise LocalProtocolError(f"Context {self.name} is not running; call start() first")
        if threading.get_ident() == self._ident:
            raise LocalProtocolError("a waiting submit (timeout=) cannot be made from the "
                                     "Context's own thread; use timeout=None there")
        closed = self._closed_error

        async def call(fut: concurrent.futures.Future[T]) -> None:
            try:
                result = await afn()
            except anyio.get_cancelled_exc_class():
                # the context ended while the call waited: its loop cancelled the call
                _settle(fut, exc=closed())
                raise
            except BaseException as exc:
                _settle(fut, exc=exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                _settle(fut, result)

        def run(fut: concurrent.futures.Future[T]) -> None:
            calls = self._calls
            if calls is None or calls.cancel_scope.cancel_called:
                _settle(fut, exc=closed())
                return
            calls.start_soon(call, fut)

        return self._hand(run)

    def _closed_error(self) -> SessionClosedError:
        return SessionClosedError(self.close_reason or "the Context ended")


def _settle(fut: concurrent.futures.Future[T], result: Any = None, *,
            exc: BaseException | None = None) -> None:
    """Complete ``fut`` unless the loop's end already did."""
    try:
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass
