"""The runs the exchange left survive a restart from the journal.

A session remembers the run ids the exchange left (``Handoff.old_runs``): a message carrying
one is stale, a protocol violation. The journal kept only the current run, so a process
restarted from it took a message of a run left before the restart for a new run: a run
change, with the open orders of the current run reported cancelled. The journal now records
the runs left at each run change and hands them back in ``load_handoff``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from sessionkit import LimitOrder, RemoteProtocolError, SessionConfig, Side
from sessionkit._events import Event, ProtocolError, RunChanged
from sessionkit.store import MemoryStore
from sessionkit.store._base import RUN_HISTORY

from .conftest import JournalLoop


def test_a_message_of_a_run_left_before_a_restart_is_a_violation_not_a_run_change(
        store_factory: Callable[..., Any]) -> None:
    loop = JournalLoop(store_factory,
                       config=SessionConfig(cid_prefix="c", on_violation="report"))
    events: list[Event] = []
    loop.on_event = events.append
    loop.pump()
    assert loop.store.run_id == "run-1"
    # the exchange restarts (run-2); the client reconnects and learns it
    loop.exchange.restart("run-2")
    loop.crash()
    loop.pump()
    assert [(e.run_id, e.prev_run_id) for e in events if isinstance(e, RunChanged)] == [
        ("run-2", "run-1")]
    assert loop.store.run_id == "run-2"
    # an order rests open in run-2
    cid = loop.submit(LimitOrder(contract_id=1, side=Side.BUY, size=1, price_in_cents=100))
    loop.pump()
    assert [(m.cid, m.state.value, m.run_id) for m in loop.store.messages()] == [
        (cid, "open", "run-2")]
    # the process restarts from its journal: a new store on the same journal
    loop.restart()
    assert loop.store.old_runs == ("run-1",)
    handoff = loop.store.load_handoff()
    assert handoff is not None and handoff.old_runs == ("run-1",)
    events.clear()
    # a message of run-1 arrives (a stale frame the old run left behind)
    stale = msgspec.json.encode({"type": "book_top", "run_id": "run-1", "contract_id": 1,
                                 "event_id": loop.store.last_event_id + 1})
    loop.session.receive_data(stale, loop.now)
    loop.drain()
    [err] = [e for e in events if isinstance(e, ProtocolError)]
    assert isinstance(err.error, RemoteProtocolError) and not err.fatal
    assert "run id 'run-1', a run the exchange left" in err.message
    assert not [e for e in events if isinstance(e, RunChanged)]
    # the order of run-2 is still open, in the journal too, and the run is run-2
    assert [(m.cid, m.state.value) for m in loop.store.messages()] == [(cid, "open")]
    assert cid not in loop.processor.finished
    assert loop.store.run_id == "run-2"
    loop.restart()
    assert loop.store.run_id == "run-2" and loop.store.old_runs == ("run-1",)


def test_the_runs_left_are_committed_with_the_run_change_and_bounded(
        store_factory: Callable[..., Any]) -> None:
    store = store_factory()
    store.run_changed("r0")
    store.commit()
    for i in range(1, RUN_HISTORY + 3):
        store.run_changed(f"r{i}")
        assert store.pending
        store.commit()
    store.run_changed(f"r{RUN_HISTORY + 3}")  # not committed: a crash loses it
    store.close(commit=False)
    store = store_factory()
    assert store.run_id == f"r{RUN_HISTORY + 2}"
    want = tuple(f"r{i}" for i in range(2, RUN_HISTORY + 2))
    assert store.old_runs == want
    handoff = store.load_handoff()
    assert handoff is not None and handoff.old_runs == want
    store.close()


def test_a_first_run_is_learnt_not_left() -> None:
    store = MemoryStore("acct", "2026-05-04")
    store.run_changed("r1")
    store.run_changed("r1")
    store.commit()
    assert store.old_runs == ()
    store.close()
    handoff = store.reopen().load_handoff()
    assert handoff is not None and handoff.old_runs == ()
