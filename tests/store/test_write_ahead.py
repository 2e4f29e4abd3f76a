"""Write-ahead ordering under crashes at any point (hypothesis).

Two levels: the store alone against a model of what a journal must hold
after a crash (what was committed, nothing pending), and a whole client
(session, recorder, journal) against the reference exchange, crashed at
random points of a random run, then settled: every request reaches exactly
one final state whose handling was committed, nothing executes twice, and
no committed event is handed to the processor again.
"""

from __future__ import annotations

import copy
import itertools
import tempfile
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sessionkit import (
    Batch,
    CancelOrder,
    GetBookState,
    GetContracts,
    LimitOrder,
    MessageState,
    Outcome,
    RequestKind,
    SessionConfig,
)
from sessionkit.store import MemoryStore, PostgresStore, SqliteStore

# -- the store against a model ------------------------------------------------------------------

ACCOUNT, DAY = "acct", "2026-05-04"


class Model:
    """What a journal holds, as plain data: the pending view and the committed image."""

    def __init__(self) -> None:
        self.msgs: dict[str, dict[str, Any]] = {}
        self.cursor = 0
        self.run_id: str | None = None
        #: the runs left, oldest first (a run is current or left, never both)
        self.old_runs: list[str] = []
        #: the run changed and none of its events was handled: the next sets the cursor
        self.fresh = False
        self.intents: dict[str, tuple[str | None, str | None]] = {}
        self.jobs: dict[str, str] = {}
        self.committed = self.image()

    def image(self) -> dict[str, Any]:
        return copy.deepcopy({"msgs": self.msgs, "cursor": self.cursor, "run_id": self.run_id,
                              "old_runs": self.old_runs, "intents": self.intents,
                              "jobs": self.jobs})

    def crash(self) -> None:
        im = copy.deepcopy(self.committed)
        self.msgs, self.cursor, self.run_id = im["msgs"], im["cursor"], im["run_id"]
        self.old_runs = im["old_runs"]
        self.fresh = False
        self.intents, self.jobs = im["intents"], im["jobs"]


def request(kind: str, cid: str, n: int) -> Any:
    if kind == "order":
        return LimitOrder(cid=cid, contract_id=1, size=1, price_in_cents=100 + n)
    if kind == "cancel":
        return CancelOrder(cid=cid, order_mid=n)
    return GetContracts(cid=cid)


def check(store: Any, model: Model) -> None:
    im = model.committed
    got = {m.cid: {"state": m.state, "mid": m.mid, "attempts": m.attempts, "parent": m.parent,
                   "run_id": m.run_id, "request": m.request} for m in store.messages()}
    assert got == im["msgs"]
    assert [m.cid for m in store.messages()] == list(im["msgs"])  # submission order
    assert (store.last_event_id, store.run_id) == (im["cursor"], im["run_id"])
    assert store.old_runs == tuple(im["old_runs"])
    assert {i.key: (i.cid, i.outcome) for i in store.intents()} == im["intents"]
    assert {j.job_id: j.kind for j in store.jobs()} == im["jobs"]
    handoff = store.load_handoff("p")
    if handoff is not None:
        assert [t.request.cid for t in handoff.tracked] == list(im["msgs"])
        assert handoff.last_event_id == im["cursor"] and handoff.run_id == im["run_id"]
        assert handoff.old_runs == tuple(im["old_runs"])
        assert handoff.cid_prefix == f"p.{store.incarnation}"


OPS = st.sampled_from(["submit", "batch", "sent", "ack", "finish", "event", "run", "intent",
                       "resolve", "job", "finish_job", "commit", "commit", "crash"])


def run_model(data: st.DataObject, open_store: Any) -> None:
    store = open_store(None)
    model = Model()
    n = 0
    for _ in range(data.draw(st.integers(5, 60), label="steps")):
        op = data.draw(OPS, label="op")
        live = list(model.msgs)
        pick = (data.draw(st.sampled_from(live), label="cid") if live and
                data.draw(st.booleans(), label="known") else f"x-{n}")
        if op in ("submit", "batch"):
            n += 1
            if op == "submit":
                kind = data.draw(st.sampled_from(["order", "cancel", "contracts"]), label="kind")
                req = request(kind, f"c-{n}", n)
                store.message_submitted(req)
                items = [(req, None)]
            else:
                k = data.draw(st.integers(1, 3), label="size")
                msgs = tuple(request("order", f"c-{n}.{i}", n) for i in range(k))
                req = Batch(cid=f"b-{n}", messages=msgs)
                store.message_submitted(req)
                items = [(req, None)] + [(m, req.cid) for m in msgs]
            for r, parent in items:
                model.msgs[r.cid] = {"state": MessageState.QUEUED, "mid": None, "attempts": 0,
                                     "parent": parent, "run_id": None, "request": r}
        elif op == "sent":
            store.message_sent(pick)
            top = model.msgs.get(pick)
            targets = [] if top is None or top["state"] not in (
                MessageState.QUEUED, MessageState.SENT) else [pick] + (
                [m.cid for m in top["request"].messages]
                if isinstance(top["request"], Batch) else [])
            for c in targets:
                m = model.msgs.get(c)
                if m and m["state"] in (MessageState.QUEUED, MessageState.SENT):
                    m["state"] = MessageState.SENT
                    m["attempts"] += 1
        elif op == "ack":
            mid = data.draw(st.none() | st.integers(1, 99), label="mid")
            rid = data.draw(st.sampled_from([None, "r1", "r2"]), label="ack_run")
            store.message_acked(pick, mid, rid)
            m = model.msgs.get(pick)
            if m and m["state"] in (MessageState.QUEUED, MessageState.SENT):
                trade = m["request"].KIND is RequestKind.TRADE
                m.update(state=MessageState.OPEN if trade else MessageState.ACKED, mid=mid,
                         run_id=rid or model.run_id)
        elif op == "finish":
            outcome = data.draw(st.sampled_from(list(Outcome)), label="outcome")
            store.message_finished(pick, outcome)
            model.msgs.pop(pick, None)
            for key, (cid, out) in model.intents.items():
                if cid == pick and out is None:
                    model.intents[key] = (cid, outcome.value)
        elif op == "event":
            eid = model.cursor + data.draw(st.integers(-2, 3), label="step")
            store.event_handled(eid)
            # a new run's first event sets the cursor (its ids may start again)
            model.cursor = eid if model.fresh else max(model.cursor, eid)
            model.fresh = False
        elif op == "run":
            rid = data.draw(st.sampled_from(["r1", "r2", "r3"]), label="run")
            restart = data.draw(st.booleans(), label="ids_restart")
            store.run_changed(rid, ids_restart=restart)
            if rid != model.run_id and model.run_id is not None:
                if rid in model.old_runs:
                    model.old_runs.remove(rid)
                model.old_runs.append(model.run_id)
                model.fresh = True
                if restart:
                    model.cursor = 0
            model.run_id = rid
        elif op == "intent":
            key = f"k-{data.draw(st.integers(0, 5), label='key')}"
            cid = pick if pick in model.msgs else None
            linked = cid is not None and any(c == cid and o is None
                                             for c, o in model.intents.values())
            if key not in model.intents and linked:
                with pytest.raises(ValueError, match="already carries the open intent"):
                    store.record_intent(key, "op", "h", cid=cid)
            elif key not in model.intents:
                assert store.record_intent(key, "op", "h", cid=cid) is None
                model.intents[key] = (cid, None)
            else:
                assert store.record_intent(key, "op", "h", cid=cid) is not None
        elif op == "resolve" and model.intents:
            key = data.draw(st.sampled_from(sorted(model.intents)), label="resolve")
            store.resolve_intent(key, "ok")
            model.intents[key] = (model.intents[key][0], "ok")
        elif op == "job":
            job = f"j-{n}"
            n += 1
            store.add_job(job, "prepare")
            model.jobs[job] = "prepare"
        elif op == "finish_job" and model.jobs:
            job = data.draw(st.sampled_from(sorted(model.jobs)), label="job")
            store.finish_job(job)
            del model.jobs[job]
        elif op == "commit":
            store.commit()
            model.committed = model.image()
        elif op == "crash":
            store.close(commit=False)
            model.crash()
            store = open_store(store)
            check(store, model)
    store.close(commit=False)
    model.crash()
    check(open_store(store), model)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_the_memory_journal_holds_exactly_what_was_committed(data):
    def open_store(prev: Any) -> Any:
        return MemoryStore(ACCOUNT, DAY) if prev is None else prev.reopen()

    run_model(data, open_store)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_sqlite_journal_holds_exactly_what_was_committed(data):
    with tempfile.TemporaryDirectory() as d:
        def open_store(prev: Any) -> Any:
            if prev is not None and not prev.closed:
                prev.close(commit=False)
            return SqliteStore(f"{d}/j", account=ACCOUNT, session_id=DAY, durability="fast")

        run_model(data, open_store)


@pytest.fixture(scope="module")
def model_db(postgres_server: Any) -> str:
    return str(postgres_server.create_database())


_DAYS = itertools.count()


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_postgres_journal_holds_exactly_what_was_committed(model_db, data):
    """Each example is a session of its own in one database (as a deployment holds them)."""
    day = f"day-{next(_DAYS)}"

    def open_store(prev: Any) -> Any:
        if prev is not None and not prev.closed:
            prev.close(commit=False)
        return PostgresStore(model_db, account=ACCOUNT, session_id=day, durability="fast")

    run_model(data, open_store)


# -- a whole client, crashed at random points ---------------------------------------------------

def client_request(kind: str, side: str) -> Any:
    if kind == "cross":
        return LimitOrder(contract_id=1, side=side, size=1, price_in_cents=100)
    if kind == "reject":
        return LimitOrder(contract_id=99, side=side, size=1, price_in_cents=100)
    if kind == "contracts":
        return GetContracts()
    return GetBookState(contract_id=1)


ACTIONS = st.one_of(
    st.tuples(st.just("submit"), st.sampled_from(["cross", "cross", "reject", "contracts",
                                                   "book"]), st.sampled_from(["buy", "sell"])),
    st.tuples(st.just("batch"), st.integers(1, 4), st.sampled_from(["buy", "sell"])),
    st.tuples(st.just("send"), st.none() | st.integers(0, 3), st.none()),
    st.tuples(st.just("receive"), st.none() | st.integers(1, 5),
              st.none() | st.integers(1, 6)),
    st.tuples(st.just("timer"), st.sampled_from([0.5, 1.5, 5.0]), st.none()),
    st.tuples(st.just("crash"), st.none(), st.none()),
)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=st.lists(ACTIONS, max_size=40))
def test_a_client_crashed_anywhere_loses_nothing_and_repeats_nothing(fresh_loops, actions):
    loop = fresh_loops(config=SessionConfig(cid_prefix="c", max_send_attempts=50))
    crash_markers: list[int] = []
    submitted: set[str] = set()
    for act, a, b in actions:
        try:
            if act == "submit":
                req = client_request(a, b)
                submitted.add(loop.submit(req))
            elif act == "batch":
                reqs = [client_request("cross", "buy" if (i % 2 == 0) == (b == "buy") else "sell")
                        for i in range(a)]
                for t in loop.submit_batch(reqs):
                    submitted.update((t.cid, *t.cids))
            elif act == "send":
                loop.send(a)
                if a is not None:
                    crash_markers.append(len(loop.committed))
                    loop.crash()  # died while writing the frames
            elif act == "receive":
                loop.crash_after = b
                loop.receive(a)
                loop.crash_after = None
            elif act == "timer":
                loop.advance(a)
            else:
                crash_markers.append(len(loop.committed))
                loop.crash()
        except Exception as err:  # an injected crash inside the processor loop
            if type(err).__name__ != "Crash":
                raise
            loop.crash_after = None
            crash_markers.append(len(loop.committed))
            loop.crash()
    _settle(loop)

    # nothing handled and committed twice: events and final states
    counts = Counter(loop.committed)
    assert [k for k, c in counts.items() if c > 1] == []
    finished = {k for kind, k in loop.committed if kind == "finish"}
    # every request the exchange may have seen reached exactly one final state
    assert loop.durable & submitted <= finished
    assert {c for c, _, _ in loop.exchange.executions} & submitted <= loop.durable
    assert loop.store.messages() == []
    ex = loop.exchange.executions
    assert len({c for c, _, _ in ex}) == len(ex) and len({m for _, m, _ in ex}) == len(ex)
    # the cursor only covers events that were handed to the processor
    handled = {eid for kind, eid in loop.committed if kind == "event"}
    assert loop.store.last_event_id in handled | {0}
    event(f"crashes: {min(loop.crashes, 3)}+, requests: {min(len(submitted) // 5 * 5, 10)}+")


def _settle(loop: Any) -> None:
    """Run without crashes until every journalled request is final (cancel what rests)."""
    loop.pump()
    for _ in range(40):
        loop.advance(2.0)
        msgs = loop.store.messages()
        if not msgs:
            return
        for m in msgs:
            if (m.state is MessageState.OPEN and isinstance(m.request, LimitOrder)
                    and m.mid is not None and not any(
                        isinstance(o.request, CancelOrder) and o.request.order_mid == m.mid
                        for o in msgs)):
                loop.submit(CancelOrder(order_mid=m.mid))
        loop.pump()
    raise AssertionError(f"not settled: {loop.store.messages()}")
