"""What only the async API has: how ``open_session``'s block ends, and its options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

from sessionkit import ConfigError, GetBookState, LimitOrder, SessionConfig
from sessionkit.runtime import (
    ClientState,
    ConnectionFailedError,
    HandlerError,
    ReconnectPolicy,
    open_session,
)
from sessionkit.testing import ReferenceExchange

CFG = SessionConfig(ack_timeout=1000.0, ack_timeout_max=1000.0, cid_prefix="c")


def run(parts: Any, body: Callable[[Any, Any], Awaitable[None]],
        exchange: ReferenceExchange | None = None) -> Any:
    emb = parts.EmbeddedExchange(exchange or ReferenceExchange())
    log = parts.Log()

    async def main() -> None:
        await body(emb, log)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return log


def resting() -> LimitOrder:
    return LimitOrder(contract_id=1, side="buy", size=1, price_in_cents=10)


def test_an_exception_in_the_block_comes_out_as_it_is(parts: Any) -> None:
    async def body(emb: Any, log: Any) -> None:
        with pytest.raises(ValueError, match="engine bug") as info:
            async with open_session(emb, log, account="acct", config=CFG) as client:
                cid = client.submit_nowait(resting())
                await trio.sleep(0.1)
                raise ValueError("engine bug")
        assert not isinstance(info.value, BaseExceptionGroup)
        assert log.finished()[cid] == ("unknown", "session cancelled")
        assert client.state is ClientState.CLOSED

    run(parts, body)


def test_an_outer_cancel_scope_ends_the_session_quietly(parts: Any) -> None:
    async def body(emb: Any, log: Any) -> None:
        with trio.move_on_after(5) as scope:
            async with open_session(emb, log, account="acct", config=CFG) as client:
                cid = await client.submit(resting())
                await trio.sleep_forever()
        assert scope.cancelled_caught
        assert log.finished()[cid] == ("unknown", "session cancelled")

    run(parts, body)


def test_a_handler_error_during_close_is_one_handler_error(parts: Any) -> None:
    async def body(emb: Any, log: Any) -> None:
        log.fail = lambda item: RuntimeError("in on_closed") if item[0] == "closed" else None
        with pytest.raises(HandlerError) as info:
            async with open_session(emb, log, account="acct", config=CFG,
                                    on_handler_error="stop"):
                pass  # leaving the block logs out; on_closed raises
        assert isinstance(info.value.original, RuntimeError)

    run(parts, body)


def test_login_timeout_bounds_connect_and_login_retries(parts: Any) -> None:
    async def body(emb: Any, log: Any) -> None:
        emb.refusals = 1000
        with pytest.raises(ConnectionFailedError, match="not logged in within 3 s"):
            async with open_session(emb, log, account="acct", login_timeout=3,
                                    reconnect=ReconnectPolicy(jitter=0.0)):
                pass
        assert len(log.of("reconnecting")) >= 3

    run(parts, body)


def test_submit_waits_at_most_its_timeout_then_raises_busy(parts: Any) -> None:
    from sessionkit import SessionBusyError

    async def body(emb: Any, log: Any) -> None:
        cfg = SessionConfig(max_in_flight=1, ack_timeout=1000.0, ack_timeout_max=1000.0)
        async with open_session(emb, log, account="acct", config=cfg) as client:
            emb.to_client.hold()
            client.submit_nowait(GetBookState(contract_id=1))
            t0 = trio.current_time()
            with pytest.raises(SessionBusyError):
                await client.submit(GetBookState(contract_id=1), timeout=2.5)
            assert trio.current_time() - t0 == pytest.approx(2.5)
            emb.to_client.release()

    run(parts, body)


@pytest.mark.parametrize("options, field", [
    (dict(on_handler_error="ignore"), "on_handler_error"),
    (dict(account=""), "account"),
    (dict(reconnect=True), "reconnect"),
    (dict(resume_event_id=-1), "resume_event_id"),
    (dict(login_timeout=0), "login_timeout"),
    (dict(config={"ack_timeout": 1}), "config"),
])
def test_bad_options_are_named(parts: Any, options: dict[str, Any], field: str) -> None:
    async def body(emb: Any, log: Any) -> None:
        opts: dict[str, Any] = dict(account="acct")
        opts.update(options)
        with pytest.raises(ConfigError, match=field):
            async with open_session(emb, log, **opts):
                pass

    run(parts, body)
