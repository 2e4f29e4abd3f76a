"""What is particular to ``Context``: a thread's life, calls from many threads, its own thread."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import trio.testing

from sessionkit import (
    ConfigError,
    GetBookState,
    LocalProtocolError,
    SessionClosedError,
    SessionConfig,
)
from sessionkit.runtime import ClientState, Context
from sessionkit.testing import ReferenceExchange

CFG = SessionConfig(ack_timeout=1000.0, ack_timeout_max=1000.0, cid_prefix="c")


def make(parts: Any, exchange: ReferenceExchange | None = None, **options: Any) -> Any:
    emb = parts.EmbeddedExchange(exchange or ReferenceExchange())
    log = parts.Log()
    options.setdefault("config", CFG)
    options.setdefault("clock", trio.testing.MockClock(autojump_threshold=0))
    ctx = Context(emb, log, account="acct", **options)
    return ctx, log, emb


def all_finished(cids: list[str]) -> Any:
    return lambda log: all(c in log.finished() for c in cids)


def test_lifecycle_like_a_thread(parts: Any) -> None:
    ctx, log, _ = make(parts, name="engine-session")
    assert not ctx.is_alive() and ctx.state is ClientState.CONNECTING
    ctx.start()
    assert ctx.is_alive() and ctx.wait_logged_in(10)
    assert ctx.state is ClientState.ACTIVE
    assert "engine-session" in repr(ctx)
    ctx.stop()
    ctx.join(10)
    assert not ctx.is_alive()
    assert ctx.exception is None and ctx.state is ClientState.CLOSED
    assert log.of("closed")


def test_processor_runs_in_the_context_thread_only(parts: Any) -> None:
    ctx, log, _ = make(parts)
    seen: list[str] = []
    log.react = lambda item: seen.append(threading.current_thread().name)
    ctx.start()
    ctx.wait_logged_in(10)
    cid = ctx.submit(GetBookState(contract_id=1))
    assert log.wait_sync(all_finished([cid]), 10)
    ctx.stop()
    ctx.join(10)
    assert set(seen) == {ctx.name}
    assert threading.get_ident() not in log.threads


def test_submits_from_many_threads_all_go_through(parts: Any) -> None:
    ctx, log, _ = make(parts)
    ctx.start()
    ctx.wait_logged_in(10)
    cids: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            cid = ctx.submit(GetBookState(contract_id=1))
            with lock:
                cids.append(cid)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(cids)) == 200
    assert log.wait_sync(all_finished(cids), 20)
    assert ctx.statistics().finished["completed"] == 200
    ctx.stop()
    ctx.join(10)


def test_a_processor_may_submit_from_its_own_thread(parts: Any) -> None:
    ctx, log, _ = make(parts)
    follow: list[str] = []

    def react(item: Any) -> None:
        if item[0] == "finished" and not follow:
            follow.append(ctx.submit(GetBookState(contract_id=2)))

    log.react = react
    ctx.start()
    ctx.wait_logged_in(10)
    first = ctx.submit(GetBookState(contract_id=1))
    assert log.wait_sync(lambda log: len(follow) == 1 and follow[0] in log.finished(), 10)
    assert first in log.finished()
    refused: list[Exception] = []

    def waiting_submit(item: Any) -> None:
        if item[0] == "finished" and not refused:
            try:  # a waiting submit would block the very loop it waits on
                ctx.submit(GetBookState(contract_id=1), timeout=1.0)
            except LocalProtocolError as exc:
                refused.append(exc)

    log.react = waiting_submit
    ctx.submit(GetBookState(contract_id=1))
    assert log.wait_sync(lambda log: bool(refused), 10)
    assert "timeout=None" in str(refused[0])
    ctx.stop()
    ctx.join(10)


def test_start_twice_and_calls_before_start_are_refused(parts: Any) -> None:
    ctx, _, _ = make(parts)
    with pytest.raises(LocalProtocolError, match="start"):
        ctx.submit(GetBookState(contract_id=1))
    with pytest.raises(LocalProtocolError, match="start"):
        ctx.wait_logged_in(0)
    ctx.stop()  # nothing to stop yet: a no-op
    ctx.start()
    with pytest.raises(LocalProtocolError, match="already started"):
        ctx.start()
    ctx.stop()
    ctx.join(10)


def test_calls_after_the_end_raise_session_closed(parts: Any) -> None:
    ctx, _, _ = make(parts)
    ctx.start()
    ctx.wait_logged_in(10)
    ctx.stop()
    ctx.join(10)
    with pytest.raises(SessionClosedError):
        ctx.submit(GetBookState(contract_id=1))
    assert ctx.statistics().state == "closed"


def test_stop_before_the_login_ends_the_thread(parts: Any) -> None:
    ex = ReferenceExchange(heartbeat_interval_ms=10**9)
    ex.silent = True  # the login is never answered
    # virtual time that moves only when told: with autojump, the thread's clock leapt to
    # the login timeout whenever the thread idled before stop() came (a flaky failure)
    ctx, log, _ = make(parts, exchange=ex, config=SessionConfig(login_timeout=1e9),
                       clock=trio.testing.MockClock())
    ctx.start()
    assert ctx.wait_logged_in(0.01) is False
    ctx.stop()
    ctx.join(10)
    assert not ctx.is_alive()
    with pytest.raises(SessionClosedError):
        ctx.wait_logged_in(1)


def test_bad_options_fail_in_the_callers_thread(parts: Any) -> None:
    emb = parts.EmbeddedExchange(ReferenceExchange())
    with pytest.raises(ConfigError, match="on_handler_error"):
        Context(emb, parts.Log(), account="acct", on_handler_error="ignore")
    with pytest.raises(ConfigError, match="account"):
        Context(emb, parts.Log(), account="")
    with pytest.raises(TypeError, match="colour"):
        Context(emb, parts.Log(), account="acct", colour="blue")
