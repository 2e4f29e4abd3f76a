"""``sessionkit demo``: a short trading session told as it happens.

The runtime (:func:`sessionkit.runtime.open_session`, on asyncio or on trio) connects over
an adapter's transport (the in-memory one by default) to the reference exchange,
served on that adapter's endpoint (``adapter.serve()``): login, contracts,
orders with their ACKs and MIDs, a batch, an exchange restart (run change: open
orders cancelled), a dropped connection and the resumed replay that ends with
resend complete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import click

from .._config import SessionConfig
from .._events import MessageFinished
from .._messages import (
    ActionReport,
    BatchAck,
    BookTop,
    ContractDetail,
    GetContracts,
    Heartbeat,
    LimitOrder,
    Message,
    Status,
)
from .._processor import MessageProcessor

__all__ = ["demo", "run_demo", "DemoPrinter"]


class DemoPrinter(MessageProcessor):
    """Prints what the session reports and keeps what the demo waits for."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.finished: dict[str, MessageFinished] = {}
        self.acks: dict[str, Status] = {}
        self.contracts = 0
        self.run_changes = 0
        self.resends_complete = 0
        self.reconnected = 0
        self.logins = 0

    # -- messages ------------------------------------------------------------------------
    def handle_status_message(self, msg: Status, prev_msg: Message | None) -> None:
        self.acks[msg.cid] = msg
        what = prev_msg.TYPE if prev_msg is not None else "?"
        verdict = "ACK" if msg.ok else f"REFUSED ({msg.status} {msg.message})"
        self.say(f"   <- {verdict} of {what} {msg.cid}: MID {msg.mid}"
                 f"{_where(msg)}")

    def handle_contract_detail(self, msg: ContractDetail, prev_msg: Message | None) -> None:
        self.contracts += 1
        if msg.contract is not None:
            self.say(f"   <- contract {msg.contract.contract_id}: {msg.contract.label}"
                     f"{' (last)' if msg.last else ''}")

    def handle_action_report(self, msg: ActionReport, prev_msg: Message | None) -> None:
        self.say(f"   <- action report for MID {msg.mid}: {msg.status_type}, "
                 f"{msg.size} left, {msg.filled_size} filled{_where(msg)}")

    def handle_batch_message(self, msg: BatchAck, prev_msg: Message | None) -> None:
        mids = [a.mid for a in msg.messages]
        self.say(f"   <- batch ACK for {msg.cid}: {len(mids)} ACKs, MIDs {mids}")

    def handle_book_top(self, msg: BookTop, prev_msg: Message | None) -> None:
        self.say(f"   <- book top of contract {msg.contract_id}: bid {msg.bid_in_cents} "
                 f"ask {msg.ask_in_cents}{_where(msg)}")

    def handle_heartbeat(self, msg: Heartbeat, prev_msg: Message | None) -> None:
        pass

    # -- session -------------------------------------------------------------------------
    def on_login_accepted(self, event_id: int) -> None:
        self.logins += 1
        self.say(f"   <- login accepted; the exchange is at event {event_id}")

    def on_login_failed(self, reason: str) -> None:
        self.say(f"   <- login FAILED: {reason}")

    def handle_run_change(self, run_id: str, prev_run_id: str | None) -> None:
        self.run_changes += 1
        self.say(f"   !! run change: {prev_run_id} -> {run_id}; the open orders of "
                 f"{prev_run_id} are gone")

    def on_message_finished(self, event: MessageFinished) -> None:
        self.finished[event.cid] = event
        why = f" ({event.reason})" if event.reason else ""
        self.say(f"   == {event.request.TYPE} {event.cid} is final: {event.outcome.value}{why}")

    def on_resend_complete(self, event_begin_id: int, event_end_id: int) -> None:
        self.resends_complete += 1
        self.say(f"   <- resend complete: events {event_begin_id}..{event_end_id} replayed")

    def on_connection_failed(self, reason: str) -> None:
        self.say(f"   !! connection lost: {reason}")

    def on_reconnecting(self, attempt: int, delay: float, reason: str) -> None:
        self.say(f"   .. reconnecting in {delay:.1f} s (attempt {attempt})")

    def on_reconnected(self, attempt: int) -> None:
        self.reconnected += 1
        self.say(f"   .. reconnected after {attempt} attempt(s)")

    def on_protocol_error(self, error: Exception, fatal: bool) -> None:
        self.say(f"   !! protocol error{' (fatal)' if fatal else ''}: {error}")

    def on_closed(self, reason: str) -> None:
        self.say(f"   == session closed: {reason}")


def _where(msg: Message) -> str:
    parts = []
    if msg.event_id is not None:
        parts.append(f"event {msg.event_id}")
    if msg.run_id is not None:
        parts.append(msg.run_id)
    if msg.replay:
        parts.append("replayed")
    return f"  [{', '.join(parts)}]" if parts else ""


async def _until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    with anyio.move_on_after(timeout):
        while not check():
            await anyio.sleep(0.005)
        return
    raise RuntimeError(f"the demo gave up waiting for {what}")


async def run_demo(say: Callable[[str], None], *, pause: float = 0.0,
                   adapter: Any = None) -> dict[str, Any]:
    """Run the demo session over ``adapter`` (an :class:`~sessionkit.runtime.Adapter`; the
    in-memory one by default), printing through ``say``; returns a summary."""
    from ..runtime import ReconnectPolicy, open_session, serve_reference_exchange
    from ..runtime.memory import adapter as memory
    from ..testing import ReferenceExchange

    adapter = adapter if adapter is not None else memory
    over = ("the in-memory transport" if adapter is memory
            else f"the {adapter.name} adapter's transport")

    async def act(title: str) -> None:
        if pause:
            await anyio.sleep(pause)
        say("")
        say(title)

    exchange = ReferenceExchange(run_id="run-1", heartbeat_interval_ms=1000)
    p = DemoPrinter(say)
    loop = _loop_name()
    say(f"sessionkit demo: the runtime on {loop} over {over}, trading with the "
        f"in-memory reference exchange (run-1).")
    config = SessionConfig(cid_prefix="demo", ack_timeout=1.0)
    policy = ReconnectPolicy(initial=0.2, max=1.0, jitter=0.0)
    async with adapter.serve() as endpoint, anyio.create_task_group() as tasks:
        server = await tasks.start(serve_reference_exchange, endpoint, exchange)
        await act("1. login")
        say("   -> login as account 'demo' (resume 0: no replay)")
        async with open_session(endpoint.connector(), p, account="demo", config=config,
                                reconnect=policy) as client:
            await act("2. contracts: one request, an ACK, then responses with its MID")
            cid = client.submit_nowait(GetContracts())
            say(f"   -> get_contracts {cid}")
            await _until(lambda: cid in p.finished, "the contracts")

            await act("3. a limit order: the ACK carries the MID the exchange gave it")
            mids: list[int | None] = []
            order = client.submit_nowait(
                LimitOrder(contract_id=1, side="buy", size=3, price_in_cents=5000),
                callback=lambda msg, prev: mids.append(getattr(msg, "mid", None)))
            say(f"   -> limit_order {order}: buy 3 of contract 1 at 5000")
            await _until(lambda: order in p.acks, "the order's ACK")
            say(f"   (the order's callback recorded MID {mids[0]}; the order stays open "
                f"until a report shows size 0)")

            await act("4. a batch of three sell orders (two of them cross the buy order)")
            tickets = client.submit_batch_nowait([
                LimitOrder(contract_id=1, side="sell", size=1, price_in_cents=4900),
                LimitOrder(contract_id=1, side="sell", size=1, price_in_cents=5000),
                LimitOrder(contract_id=2, side="sell", size=2, price_in_cents=7000)])
            t = tickets[0]
            say(f"   -> batch {t.cid} holding {', '.join(t.cids)}")
            await _until(lambda: t.cid in p.finished and all(c in p.acks for c in t.cids),
                         "the batch ACK")

            await act("5. the exchange restarts as run-2: its open orders are cancelled")
            exchange.restart("run-2")
            say("   (the exchange restarted; the client learns it from the next message)")
            probe = client.submit_nowait(
                LimitOrder(contract_id=3, side="buy", size=1, price_in_cents=100))
            say(f"   -> limit_order {probe}: buy 1 of contract 3 at 100")
            await _until(lambda: p.run_changes > 0 and probe in p.acks, "the run change")

            await act("6. the connection drops; the runtime reconnects and resumes")
            last = client.statistics().last_event_id
            server.drop("connection dropped (demo)")
            exchange.publish_book_top(3)
            exchange.publish_book_top(3)
            say(f"   (while the client is away the exchange publishes two book updates; "
                f"the client had events up to {last})")
            await _until(lambda: p.resends_complete >= 1 and p.reconnected >= 1,
                         "the resumed replay")

            await act("7. close: log out")
        tasks.cancel_scope.cancel()
    st = client.statistics()
    outcomes: dict[str, int] = {}
    for ev in p.finished.values():
        outcomes[ev.outcome.value] = outcomes.get(ev.outcome.value, 0) + 1
    summary = {"outcomes": outcomes, "events_delivered": st.events_delivered,
               "duplicate_events": st.duplicate_events, "run_changes": st.run_changes,
               "reconnects": client.reconnects, "acked": st.acked}
    say("")
    say(f"done: {st.acked} ACKs, {st.events_delivered} events delivered (none twice), "
        f"{st.run_changes} run change, {client.reconnects} reconnect; final states "
        f"{outcomes}")
    return summary


def _loop_name() -> str:
    """The event loop the demo runs on, as the narration names it."""
    try:
        import sniffio
    except ImportError:  # pragma: no cover - without sniffio, AnyIO runs asyncio only
        return "asyncio"
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:  # pragma: no cover - called inside a loop
        return "an event loop"


def _run(fn: Callable[[], Any], backend: str, clock: Any = None) -> Any:
    """``anyio.run(fn)`` on ``backend`` (a trio clock only on trio)."""
    options = {"clock": clock} if clock is not None else None
    return anyio.run(fn, backend=backend, backend_options=options)


def _adapter_demos() -> dict[str, Any]:
    """Demos adapters register under the ``sessionkit.demos`` entry point group."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group="sessionkit.demos")}


def _default_demo() -> str:
    return "zmq" if "zmq" in _adapter_demos() else "memory"


@click.command("demo")
@click.option("--adapter", "adapter", default=None, metavar="NAME|MODULE:ATTR",
              help="Which transport to run the demo over: 'memory', an adapter that "
                   "registers a demo ('zmq': simulator and client on loopback with CURVE), "
                   "or any other adapter, registered or given as module:attribute (the "
                   "reference exchange served on its adapter.serve()). Default: zmq when "
                   "installed, else memory.")
@click.option("--quick", is_flag=True,
              help="No pauses between the acts, and virtual time on trio: finishes at once "
                   "(memory demo).")
@click.option("--backend", type=click.Choice(["asyncio", "trio"]), default="asyncio",
              show_default=True,
              help="The event loop the runtime runs on (the same session on either).")
def demo(adapter: str | None, quick: bool, backend: str) -> None:
    """Run a short, narrated trading session against a simulated exchange.

    Login, contracts, orders with ACKs and MIDs, a batch, an exchange restart
    (run change: open orders cancelled), a dropped connection or restart and the
    resumed replay ending in resend complete. Everything stays on this machine.
    """
    name = adapter or _default_demo()
    demos = _adapter_demos()
    if name != "memory" and name in demos:
        run = demos[name].load()
        try:
            _run(lambda: run(click.echo), backend)
        except Exception as exc:  # a demo that fails says why, not a traceback
            raise click.ClickException(f"{name} demo failed: {exc}") from None
        return
    from ._adapters import load_cli_adapter

    try:
        chosen = load_cli_adapter(name)
    except Exception as exc:  # the error lists the installed adapters
        raise click.BadParameter(f"no demo for adapter {name!r}: {exc}",
                                 param_hint="--adapter") from None
    # virtual time (no waiting: trio's MockClock) suits only a transport living inside the
    # event loop; asyncio has no virtual clock: --quick then only drops the pauses
    in_loop = getattr(chosen, "conformance_clock", None) in (None, "virtual")
    clock = None
    if quick and in_loop and backend == "trio":
        import trio.testing

        clock = trio.testing.MockClock(autojump_threshold=0)
    try:
        _run(lambda: run_demo(click.echo, pause=0.0 if quick else 0.3, adapter=chosen),
             backend, clock)
    except Exception as exc:  # a demo that fails says why, not a traceback
        raise click.ClickException(f"the demo over {name} failed: {exc}") from None
