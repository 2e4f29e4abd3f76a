#!/usr/bin/env python3
"""The sans-IO core on its own: a session driven by hand against the in-memory exchange.

No sockets, no async: `CoreLoop` moves frames between a `Session` and the
reference exchange, and the processor below prints what the session reports.
Run it with `python examples/core_demo.py`.
"""

from __future__ import annotations

from sessionkit import (
    GetContracts,
    LimitOrder,
    MessageFinished,
    MessageProcessor,
    SessionConfig,
)
from sessionkit.testing import CoreLoop, ReferenceExchange


class Printer(MessageProcessor):
    def on_login_accepted(self, event_id: int) -> None:
        print(f"  login accepted, exchange at event {event_id}")

    def handle_status_message(self, msg, prev_msg) -> None:  # type: ignore[no-untyped-def]
        print(f"  ACK  cid={msg.cid} mid={msg.mid} status={msg.status} "
              f"(event {msg.event_id})")

    def handle_contract_detail(self, msg, prev_msg) -> None:  # type: ignore[no-untyped-def]
        print(f"  contract {msg.contract.contract_id}: {msg.contract.label}")

    def handle_action_report(self, msg, prev_msg) -> None:  # type: ignore[no-untyped-def]
        print(f"  report mid={msg.mid} {msg.status_type} remaining={msg.size} "
              f"(event {msg.event_id}{', replayed' if msg.replay else ''})")

    def handle_batch_message(self, msg, prev_msg) -> None:  # type: ignore[no-untyped-def]
        print(f"  batch ACK for {msg.cid}: {len(msg.messages)} ACKs, "
              f"mids {[a.mid for a in msg.messages]}")

    def handle_run_change(self, run_id: str, prev_run_id: str | None) -> None:
        print(f"  RUN CHANGE {prev_run_id} -> {run_id}: open orders of {prev_run_id} are gone")

    def on_message_finished(self, event: MessageFinished) -> None:
        print(f"  final: {event.cid} {event.outcome.value} {event.reason}".rstrip())

    def on_resend_complete(self, begin: int, end: int) -> None:
        print(f"  resend complete: events {begin}..{end}")


def main() -> None:
    exchange = ReferenceExchange(run_id="run-1", gap_every=4)
    loop = CoreLoop(exchange, config=SessionConfig(cid_prefix="demo"), processor=Printer())
    print("1. login")
    loop.login()
    print("2. contracts")
    loop.submit(GetContracts())
    print("3. a limit order; its MID comes back in the ACK")
    mids: list[int | None] = []
    loop.submit(LimitOrder(contract_id=1, size=2, price_in_cents=5000),
                callback=lambda msg, prev: mids.append(getattr(msg, "mid", None)))
    print(f"   recorded MID {mids[0]}")
    print("4. a batch of three orders")
    loop.session.submit_batch([LimitOrder(contract_id=2, size=1, price_in_cents=100 + i)
                               for i in range(3)], loop.now)
    loop.pump()
    print("5. the exchange restarts with a new run id")
    exchange.restart("run-2")
    loop.advance(1.0)
    print("6. the connection drops; a new session resumes from event 1 (full replay)")
    last = loop.session.last_event_id
    loop.disconnect()
    loop.reconnect(resume_event_id=1)
    st = loop.session.statistics()
    print(f"   cursor was {last}; replayed duplicates dropped: {st.duplicate_events}")
    outcomes: dict[str, int] = {}
    for ev in loop.events:
        if isinstance(ev, MessageFinished):
            outcomes[ev.outcome.value] = outcomes.get(ev.outcome.value, 0) + 1
    print(f"done: outcomes {outcomes}, {len(loop.messages())} messages delivered, none twice")


if __name__ == "__main__":
    main()
