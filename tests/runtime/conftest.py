"""Drivers that run one scenario through the async API or through ``Context`` from a thread.

A scenario is ``async def scenario(h)``; ``h`` is a harness with the same
async methods for both drivers. The ``async`` driver runs the session, the
exchange and the scenario in one trio run on a ``MockClock``; the ``thread``
driver runs the session and the exchange in a :class:`Context` (its own
thread and trio run, on a ``MockClock``) and makes every call to the
context from plain worker threads, as a synchronous program would.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

from sessionkit import JsonCodec, MessageProcessor
from sessionkit.runtime import ConnectError, Context, open_session, serve_reference_exchange
from sessionkit.runtime.memory import Faults, MemoryEndpoint
from sessionkit.testing import ReferenceExchange

WAIT = 600.0  # virtual seconds (async driver)
REAL_WAIT = 20.0  # real seconds (thread driver)


class Log(MessageProcessor):
    """Records every processor call as a tuple; thread-safe; can be told to raise."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, ...]] = []
        self.cond = threading.Condition()
        self.on_change: Callable[[], None] | None = None
        self.threads: set[int] = set()
        self.heartbeats = 0
        #: called with each item; an exception it returns is raised by the handler
        self.fail: Callable[[tuple[Any, ...]], BaseException | None] | None = None
        #: called with each item after it is recorded (inside the handler)
        self.react: Callable[[tuple[Any, ...]], None] | None = None

    def _add(self, *item: Any) -> None:
        self.threads.add(threading.get_ident())
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()
        if self.on_change is not None:
            self.on_change()
        if self.react is not None:
            self.react(item)
        if self.fail is not None:
            exc = self.fail(item)
            if exc is not None:
                raise exc

    # messages
    def handle_status_message(self, msg: Any, prev: Any) -> None:
        self._add("status", msg.cid, msg.status, msg.event_id)

    def handle_action_report(self, msg: Any, prev: Any) -> None:
        self._add("report", msg.cid, msg.size, msg.event_id)

    def handle_batch_message(self, msg: Any, prev: Any) -> None:
        self._add("batch_ack", msg.cid, len(msg.messages), msg.event_id)

    def handle_book_state_snapshot(self, msg: Any, prev: Any) -> None:
        self._add("snapshot", msg.mid, msg.event_id)

    def handle_book_top(self, msg: Any, prev: Any) -> None:
        self._add("book_top", msg.contract_id, msg.event_id)

    def handle_contract_detail(self, msg: Any, prev: Any) -> None:
        self._add("contract", msg.mid, msg.event_id)

    def handle_heartbeat(self, msg: Any, prev: Any) -> None:
        with self.cond:
            self.heartbeats += 1
            self.cond.notify_all()
        if self.on_change is not None:
            self.on_change()

    def handle_unknown_message(self, msg: Any, prev: Any) -> None:
        self._add("unknown", msg.TYPE, msg.event_id)

    # session
    def handle_run_change(self, run_id: str, prev_run_id: str | None) -> None:
        self._add("run_change", run_id, prev_run_id)

    def on_login_accepted(self, event_id: int) -> None:
        self._add("login", event_id)

    def on_login_failed(self, reason: str) -> None:
        self._add("login_failed", reason)

    def on_connection_failed(self, reason: str) -> None:
        self._add("connection_failed", reason)

    def on_connection_busy(self) -> None:
        self._add("busy")

    def on_connection_available(self) -> None:
        self._add("available")

    def on_resend_complete(self, begin: int, end: int) -> None:
        self._add("resend_complete", begin, end)

    def on_message_finished(self, event: Any) -> None:
        self._add("finished", event.cid, event.outcome.value, event.reason)

    def on_exchange_offline(self, silence: float) -> None:
        self._add("offline")

    def on_exchange_online(self) -> None:
        self._add("online")

    def on_protocol_error(self, error: Exception, fatal: bool) -> None:
        self._add("protocol_error", str(error), fatal)

    def on_closed(self, reason: str) -> None:
        self._add("closed", reason)

    def on_reconnecting(self, attempt: int, delay: float, reason: str) -> None:
        self._add("reconnecting", attempt, delay, reason)

    def on_reconnected(self, attempt: int) -> None:
        self._add("reconnected", attempt)

    # views
    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [i for i in list(self.items) if i[0] == kind]

    def kinds(self) -> list[str]:
        return [i[0] for i in list(self.items)]

    def finished(self) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        for _, cid, outcome, reason in self.of("finished"):
            assert cid not in out, f"{cid} finished twice"
            out[cid] = (outcome, reason)
        return out

    def event_ids(self) -> list[int]:
        """Event ids of the messages delivered, in delivery order."""
        out = []
        for item in list(self.items):
            if item[0] in ("status", "report", "batch_ack", "snapshot", "book_top",
                           "contract", "unknown") and item[-1] is not None:
                out.append(item[-1])
        return out

    def wait_sync(self, pred: Callable[[Log], bool], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: pred(self), timeout)


class EmbeddedExchange:
    """A connector that serves the reference exchange inside the trio run that connects.

    The memory endpoint and ``serve_reference_exchange`` start (as a system
    task) on the first connect, so they share the session's run and clock,
    whichever thread that run is in.
    """

    def __init__(self, exchange: ReferenceExchange) -> None:
        self.exchange = exchange
        self.codec = JsonCodec()
        self.to_server = Faults()
        self.to_client = Faults()
        self.endpoint: MemoryEndpoint | None = None
        self.server: Any = None
        self.refusals = 0
        self.attempts = 0

    async def connect(self) -> Any:
        self.attempts += 1
        if self.endpoint is None:
            ep = MemoryEndpoint()
            ep.to_server, ep.to_client = self.to_server, self.to_client
            self.endpoint = ep
            ready = trio.Event()

            async def serve() -> None:
                async with trio.open_nursery() as nursery:
                    self.server = await nursery.start(serve_reference_exchange, ep,
                                                      self.exchange, self.codec)
                    ready.set()

            trio.lowlevel.spawn_system_task(serve)
            await ready.wait()
        if self.refusals:
            self.refusals -= 1
            raise ConnectError("connection refused (test)")
        return await self.endpoint.connector().connect()

    def flush(self) -> None:
        if self.server is not None:
            self.server.flush()

    def drop(self, reason: str = "connection dropped (test)") -> None:
        if self.endpoint is not None:
            self.endpoint.drop_connections(reason)


class Harness:
    """What a scenario uses; see the module docstring."""

    def __init__(self, exchange: ReferenceExchange, options: dict[str, Any]) -> None:
        self.exchange = exchange
        self.emb = EmbeddedExchange(exchange)
        self.log = Log()
        self.options = dict(options)
        self.options.setdefault("account", "acct")
        self.outcome: BaseException | None = None

    def _opts(self, overrides: dict[str, Any]) -> dict[str, Any]:
        opts = {**self.options, **overrides}
        # frozen_time: the scenario needs no timer to fire. The thread harness then lets
        # its context's virtual clock jump only after 50 ms of real idleness, not at once
        # while the test thread works (five jumps to a 1e6 s ACK timeout would end the
        # held requests as unknown and free the window the scenario is filling)
        self.frozen_time = bool(opts.pop("frozen_time", False))
        return opts

    async def in_loop(self, fn: Callable[[], Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class AsyncHarness(Harness):
    kind = "async"

    def __init__(self, exchange: ReferenceExchange, options: dict[str, Any]) -> None:
        super().__init__(exchange, options)
        self.client: Any = None
        self._lot = trio.lowlevel.ParkingLot()
        self.log.on_change = self._lot.unpark_all
        self._nursery: trio.Nursery | None = None
        self._done: trio.Event | None = None

    async def open(self, **overrides: Any) -> None:
        opts = self._opts(overrides)
        opened, self._done, self._exit = trio.Event(), trio.Event(), trio.Event()
        self.client = None
        self.outcome = None

        async def runner() -> None:
            try:
                with trio.CancelScope() as self._scope:
                    async with open_session(self.emb, self.log, **opts) as client:
                        self.client = client
                        opened.set()
                        await self._exit.wait()
            except Exception as exc:
                self.outcome = exc
            finally:
                assert self._done is not None
                self._done.set()
                opened.set()

        assert self._nursery is not None
        self._nursery.start_soon(runner)
        await opened.wait()
        if self.client is None:
            assert self.outcome is not None
            raise self.outcome

    async def submit(self, request: Any, callback: Any = None, *, wait: float | None = None
                     ) -> str:
        if wait is None:
            return self.client.submit_nowait(request, callback)  # type: ignore[no-any-return]
        return await self.client.submit(request, callback, timeout=wait)  # type: ignore

    async def submit_batch(self, requests: Any, callbacks: Any = None, *,
                           wait: float | None = None) -> Any:
        if wait is None:
            return self.client.submit_batch_nowait(requests, callbacks)
        return await self.client.submit_batch(requests, callbacks, timeout=wait)

    async def request_message_replay(self) -> Any:
        return await self.client.request_message_replay()

    def submit_from_callback(self, request: Any) -> str:
        """A submit made by a processor method (in the session's own task)."""
        return self.client.submit_nowait(request)  # type: ignore[no-any-return]

    async def statistics(self) -> Any:
        return self.client.statistics()

    async def state(self) -> Any:
        return self.client.state

    async def wait_for(self, pred: Callable[[Log], bool], what: str = "") -> None:
        with trio.move_on_after(WAIT):
            while not pred(self.log):
                await self._lot.park()
            return
        raise AssertionError(f"timed out waiting for {what or pred}; log: {self.log.items}")

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    async def in_loop(self, fn: Callable[[], Any]) -> Any:
        result = fn()
        self.emb.flush()
        return result

    async def close(self, timeout: float = 5.0) -> None:
        await self.client.aclose(timeout)
        self._exit.set()
        assert self._done is not None
        await self._done.wait()

    async def cancel(self) -> None:
        self._scope.cancel()
        assert self._done is not None
        await self._done.wait()

    async def finish(self) -> BaseException | None:
        """Wait until the session ended by itself; the error that ended it, if any."""
        assert self._done is not None
        if self.client is not None:
            with trio.move_on_after(WAIT):
                await self.client.wait_closed()
            self._exit.set()
        await self._done.wait()
        if self.outcome is not None:
            return self.outcome
        return self.client.error if self.client is not None else None

    async def _teardown(self) -> None:
        if self._done is not None and not self._done.is_set():
            self._scope.cancel()
            await self._done.wait()


class ThreadHarness(Harness):
    kind = "thread"

    def __init__(self, exchange: ReferenceExchange, options: dict[str, Any]) -> None:
        super().__init__(exchange, options)
        self.ctx: Context | None = None

    async def _t(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await trio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    async def open(self, **overrides: Any) -> None:
        opts = self._opts(overrides)
        threshold = 0.05 if self.frozen_time else 0
        self.ctx = ctx = Context(self.emb, self.log,
                                 clock=trio.testing.MockClock(autojump_threshold=threshold),
                                 **opts)
        await self._t(ctx.start)
        ok = await self._t(ctx.wait_logged_in, REAL_WAIT)
        assert ok, "no login within the wait"

    async def submit(self, request: Any, callback: Any = None, *, wait: float | None = None
                     ) -> str:
        assert self.ctx is not None
        return await self._t(self.ctx.submit, request, callback, timeout=wait)  # type: ignore

    async def submit_batch(self, requests: Any, callbacks: Any = None, *,
                           wait: float | None = None) -> Any:
        assert self.ctx is not None
        return await self._t(self.ctx.submit_batch, requests, callbacks, timeout=wait)

    async def request_message_replay(self) -> Any:
        assert self.ctx is not None
        return await self._t(self.ctx.request_message_replay)

    def submit_from_callback(self, request: Any) -> str:
        """A submit made by a processor method (in the context's own thread)."""
        assert self.ctx is not None
        return self.ctx.submit(request)

    async def statistics(self) -> Any:
        assert self.ctx is not None
        return await self._t(self.ctx.statistics)

    async def state(self) -> Any:
        assert self.ctx is not None
        return self.ctx.state

    async def wait_for(self, pred: Callable[[Log], bool], what: str = "") -> None:
        ok = await self._t(self.log.wait_sync, pred, REAL_WAIT)
        if not ok:
            raise AssertionError(f"timed out waiting for {what or pred}; log: {self.log.items}")

    def _run_in_ctx(self, fn: Callable[[], Any]) -> Any:
        assert self.ctx is not None and self.ctx.trio_token is not None
        return trio.from_thread.run_sync(fn, trio_token=self.ctx.trio_token)

    async def sleep(self, seconds: float) -> None:
        assert self.ctx is not None
        token = self.ctx.trio_token

        def sleep() -> None:
            try:
                trio.from_thread.run(trio.sleep, seconds, trio_token=token)
            except (trio.RunFinishedError, trio.Cancelled):
                pass  # the context ended meanwhile (e.g. it gave up reconnecting)

        await self._t(sleep)

    async def in_loop(self, fn: Callable[[], Any]) -> Any:
        def call() -> Any:
            result = fn()
            self.emb.flush()
            return result

        def run() -> Any:
            if self.ctx is None or not self.ctx.is_alive():
                return fn()
            try:
                return self._run_in_ctx(call)
            except trio.RunFinishedError:
                return fn()  # the context's run is over: nothing else touches the exchange

        return await self._t(run)

    async def close(self, timeout: float = 5.0) -> None:
        assert self.ctx is not None
        self.ctx.stop(timeout)
        await self._t(self.ctx.join, REAL_WAIT)
        assert not self.ctx.is_alive()

    async def cancel(self) -> None:
        assert self.ctx is not None
        self.ctx.cancel()
        await self._t(self.ctx.join, REAL_WAIT)
        assert not self.ctx.is_alive()

    async def finish(self) -> BaseException | None:
        assert self.ctx is not None
        await self._t(self.ctx.join, REAL_WAIT)
        assert not self.ctx.is_alive()
        return self.ctx.exception

    async def _teardown(self) -> None:
        if self.ctx is not None and self.ctx.is_alive():
            self.ctx.cancel()
            await self._t(self.ctx.join, REAL_WAIT)


Scenario = Callable[[Any], Awaitable[None]]


class Driver:
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return self.kind

    def run(self, scenario: Scenario, *, exchange: ReferenceExchange | None = None,
            **options: Any) -> Harness:
        """Run ``scenario`` to its end; returns the harness (for checks afterwards)."""
        ex = exchange or ReferenceExchange()
        if self.kind == "async":
            ah = AsyncHarness(ex, options)

            async def main() -> None:
                # a real-time watchdog: virtual time does not pass while tasks spin
                token = trio.lowlevel.current_trio_token()
                with trio.CancelScope() as guard:
                    timer = threading.Timer(REAL_WAIT, token.run_sync_soon, (guard.cancel,))
                    timer.start()
                    try:
                        async with trio.open_nursery() as nursery:
                            ah._nursery = nursery
                            try:
                                await scenario(ah)
                            finally:
                                await ah._teardown()
                            nursery.cancel_scope.cancel()
                    finally:
                        timer.cancel()
                if guard.cancelled_caught:
                    raise AssertionError(f"the scenario did not end within {REAL_WAIT} real "
                                         f"seconds: a livelock or a hang")

            trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
            return ah
        th = ThreadHarness(ex, options)

        async def tmain() -> None:
            try:
                await scenario(th)
            finally:
                await th._teardown()

        trio.run(tmain)
        return th


@pytest.fixture(params=["async", "thread"])
def driver(request: pytest.FixtureRequest) -> Driver:
    return Driver(request.param)


@pytest.fixture
def parts() -> Any:
    """The helper classes, for tests that build a session by hand."""

    class Parts:
        Log = Log
        EmbeddedExchange = EmbeddedExchange

    return Parts
