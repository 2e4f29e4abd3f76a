"""Restart recovery through the core: resume after the cursor, resend, replay, report."""

from __future__ import annotations

from collections import Counter

import pytest

from sessionkit import ActionReport, CancelOrder, LimitOrder, MessageState, Outcome
from sessionkit._events import MessageReceived
from sessionkit.store import JournalMismatchError, Recorder


def buy(price: int = 100) -> LimitOrder:
    return LimitOrder(contract_id=1, side="buy", size=1, price_in_cents=price)


def sell(price: int = 100) -> LimitOrder:
    return LimitOrder(contract_id=1, side="sell", size=1, price_in_cents=price)


def executed_once(loop) -> None:
    ex = loop.exchange.executions
    assert len({c for c, _, _ in ex}) == len(ex), "a cid executed twice"
    assert len({m for _, m, _ in ex}) == len(ex), "a MID executed twice"


def test_requests_never_acked_are_resent_with_their_cids(make_loop):
    loop = make_loop()
    cids = [loop.submit(buy()), loop.submit(sell())]
    loop.send()  # the exchange executes both; the client dies before reading anything
    loop.crash()
    report = loop.processor.recovered[-1]
    assert report.resend == tuple(cids) and report.incarnation == 2
    loop.pump()
    assert loop.processor.finished == {c: ["done"] for c in cids}
    executed_once(loop)
    assert loop.store.messages() == []


def test_requests_acked_without_a_final_answer_are_replayed(make_loop):
    loop = make_loop()
    first = loop.submit(buy())
    loop.pump()
    assert [m.state for m in loop.store.messages()] == [MessageState.OPEN]
    loop.crash()
    report = loop.processor.recovered[-1]
    (replayed,) = report.replay
    assert replayed[0] == first
    # after the restart the order fills: its final report reaches the new process
    second = loop.submit(sell())
    assert second == "c.2-2"  # c.2-1 is the MessageReplay the session sent at login
    loop.pump()
    assert loop.processor.finished == {first: ["done"], "c.2-1": ["completed"],
                                       second: ["done"]}
    executed_once(loop)


def test_events_resume_after_the_cursor_and_reach_the_processor_once(make_loop):
    loop = make_loop()
    for _ in range(3):
        loop.submit(buy())
        loop.submit(sell())
        loop.pump()
    cursor = loop.store.last_event_id
    loop.restart()
    assert loop.processor.recovered[-1].last_event_id == cursor
    assert loop.processor.resends[-1] == (cursor + 1, loop.exchange.last_event_id)
    loop.submit(buy())
    loop.submit(sell())
    loop.pump()
    seen = Counter(eid for _, eid in loop.handled)
    assert max(seen.values()) == 1
    assert sorted(seen) == list(range(1, loop.exchange.last_event_id + 1))


def test_events_handled_but_not_committed_are_handed_over_again(make_loop):
    loop = make_loop()
    loop.submit(buy())
    loop.submit(sell())
    loop.pump()
    committed = loop.store.last_event_id

    class Crash(Exception):
        pass

    seen: list[int] = []

    def die_on_third(ev: object) -> None:
        msg = getattr(ev, "msg", None)
        if msg is not None and msg.event_id is not None:
            seen.append(msg.event_id)
            if len(seen) == 3:
                raise Crash

    loop.on_event = die_on_third
    loop.submit(buy())
    loop.submit(sell())
    try:
        loop.pump()
    except Crash:
        pass
    loop.on_event = None
    loop.crash()
    loop.pump()
    # the two events handled in the failed batch were not committed: they come again
    again = [eid for _, eid in loop.handled if eid > committed]
    assert again[:3] == seen[:3] and again[3:6] == seen[:3]
    assert len(set(loop.processor.finished)) == 4
    assert all(len(v) >= 1 for v in loop.processor.finished.values())


def test_a_batch_is_resent_whole(make_loop):
    loop = make_loop()
    tickets = loop.submit_batch([buy(), sell(), buy(), sell()])
    loop.send()
    loop.crash()
    assert loop.processor.recovered[-1].resend == (tickets[0].cid,)
    loop.pump()
    assert sorted(loop.processor.finished) == sorted([*tickets[0].cids, tickets[0].cid])
    assert all(v == ["done"] for k, v in loop.processor.finished.items() if k in tickets[0].cids)
    executed_once(loop)
    assert loop.store.messages() == []


def test_a_forced_full_replay_does_not_hand_handled_events_over_again(make_loop):
    loop = make_loop()
    loop.submit(buy())
    loop.submit(sell())
    loop.pump()
    loop.store.close()
    loop.conn.closed = True
    loop.start(resume_event_id=1)  # the engine asks for the whole day again
    loop.pump()
    assert max(Counter(eid for _, eid in loop.handled).values()) == 1


def test_an_exchange_restart_while_down_ends_the_old_runs_orders(make_loop):
    loop = make_loop()
    resting = loop.submit(buy(90))
    loop.pump()
    loop.store.close()
    loop.exchange.restart()
    loop.start()
    assert loop.processor.finished[resting] == [Outcome.CANCELLED_BY_RUN_CHANGE.value]
    assert loop.store.messages() == [] and loop.store.run_id == "run-2"


def test_a_cancel_after_a_restart_finishes_the_resting_order(make_loop):
    loop = make_loop()
    resting = loop.submit(buy(90))
    loop.pump()
    loop.crash()
    (cid, mid), = loop.processor.recovered[-1].replay
    assert cid == resting
    loop.submit(CancelOrder(order_mid=mid))
    loop.pump()
    assert loop.processor.finished[resting] == ["done"]
    assert loop.store.messages() == []


def test_new_client_ids_never_repeat_across_processes(make_loop):
    loop = make_loop()
    cids = {loop.submit(buy(50))}
    for _ in range(3):
        loop.send()
        loop.crash()
        cids.add(loop.submit(buy(50)))
    loop.pump()
    assert len(cids) == 4
    assert len({c for c, _, _ in loop.exchange.executions if c in cids}) == 4
    assert {m.cid for m in loop.store.messages() if m.state is MessageState.OPEN} == cids
    executed_once(loop)


def test_intents_tell_a_restarted_engine_what_it_already_did(make_loop):
    loop = make_loop()
    plan = [f"order-{i}" for i in range(6)]

    def place(key: str, request: LimitOrder) -> None:
        store = loop.store
        known = store.intent(key)
        if known is not None:
            return
        cid = loop.session.submit(request, loop.now)
        store.record_intent(key, request.TYPE, str(hash(request)), cid=cid)
        loop.recorder.submitted(request, cid)

    for i, key in enumerate(plan[:3]):
        place(key, buy() if i % 2 == 0 else sell())
    loop.send()
    loop.crash()
    assert set(loop.store.recovery_report().open_intents) <= set(plan[:3])
    for i, key in enumerate(plan):  # the engine walks its whole plan again
        place(key, buy() if i % 2 == 0 else sell())
    loop.pump()
    orders = {i.cid for i in loop.store.intents()}
    assert len([cid for cid, _, _ in loop.exchange.executions if cid in orders]) == 6
    assert {i.key: i.outcome for i in loop.store.intents()} == {k: "done" for k in plan}


def test_a_response_overtaking_its_ack_is_journalled_as_an_ack(store_factory):
    store = store_factory()
    recorder = Recorder(store)
    req = LimitOrder(cid="c-1", contract_id=1, side="buy", size=1, price_in_cents=1)
    store.message_submitted(req)
    report = ActionReport(mid=5, cid="c-1", contract_id=1, size=1, event_id=3, run_id="r")
    recorder.handled(MessageReceived(report, req))
    assert [(m.state, m.mid) for m in store.messages()] == [(MessageState.OPEN, 5)]
    assert store.last_event_id == 3


def test_a_recorder_refuses_the_journal_of_another_account(store_factory):
    store = store_factory()
    Recorder(store, account="acct")
    with pytest.raises(JournalMismatchError, match="belongs to account 'acct' session "
                                                   "'2026-05-04'; the session logs in as "
                                                   "account 'other'"):
        Recorder(store, account="other")
