"""A user's script, as a new user writes it: the public API under ``mypy --strict``.

tests/typing/test_user_script.py type-checks this file (it must pass) and variants of it
with one mistake each (they must fail, naming the line), then runs it against the
in-memory reference exchange. A line a variant replaces ends in ``# variant: KIND``; where
mypy reports the mistake, when not on that line, ends in ``# expect: KIND``.
"""

from __future__ import annotations

import trio
from sessionkit_mesolive.signalr import HubConnection

from sessionkit import LimitOrder, Message, MessageProcessor, SessionConfig, Status
from sessionkit.runtime import (
    Context,
    ReconnectPolicy,
    SessionOptions,
    open_session,
    serve_reference_exchange,
)
from sessionkit.runtime.memory import adapter as memory
from sessionkit.testing import ReferenceExchange


class Processor(MessageProcessor):
    """Counts ACKs and remembers the last run change."""

    def __init__(self) -> None:
        self.acks: list[str] = []
        self.run_ids: list[str] = []

    def handle_status_message(self, msg: Status, prev_msg: Message | None) -> None:
        self.acks.append(msg.cid)

    def handle_run_change(self, run_id: str, prev_run_id: str | None) -> None:
        self.run_ids.append(run_id)


def on_answer(msg: Message, prev_msg: Message | None) -> None:  # variant: callback
    """A per-request callback: the answers to one request."""
    print("answer", type(msg).__name__)


async def trade(exchange: ReferenceExchange) -> list[str]:
    """Open a session, submit two orders (one with a callback), close it."""
    processor = Processor()
    async with memory.serve() as endpoint, trio.open_nursery() as nursery:
        await nursery.start(serve_reference_exchange, endpoint, exchange)
        async with open_session(  # expect: option
            endpoint.connector(),
            processor,  # variant: processor
            account="acct",  # variant: option
            config=SessionConfig(cid_prefix="user"),
            reconnect=ReconnectPolicy(initial=0.05, max=0.5),
            on_handler_error="stop",  # variant: value
        ) as client:
            first = client.submit_nowait(LimitOrder(contract_id=1, size=1, price_in_cents=5000))
            order = LimitOrder(contract_id=1, size=2, price_in_cents=4900)
            second = await client.submit(order, on_answer, timeout=5.0)  # expect: callback
            while second not in processor.acks:
                await trio.sleep(0.01)
            acked = client.statistics().acked
            assert acked >= 2, acked
            await client.aclose()
        nursery.cancel_scope.cancel()
    return [first, second]


def trade_in_a_thread(address: str) -> str:
    """The same from a program that is not async: the Context thread facade."""
    options = SessionOptions(account="acct", submit_timeout=2.0)  # variant: fields
    context = Context(memory.connector(address=address), Processor(), options,
                      name="engine-session")  # variant: context
    context.start()
    try:
        context.wait_logged_in(10.0)
        return context.submit(LimitOrder(contract_id=1, size=1, price_in_cents=5000),
                              on_answer)  # expect: callback
    finally:
        context.stop()
        context.join()


def hub(url: str) -> HubConnection:
    """A SignalR connection (MesoLive's adapter) with its closed choices and reconnect policy."""
    return HubConnection(url, websocket="websockets",
                         reconnect=ReconnectPolicy(initial=0.5, first_immediate=True),
                         token_transport="header")  # variant: signalr


if __name__ == "__main__":
    print(trio.run(trade, ReferenceExchange(run_id="run-1")))
