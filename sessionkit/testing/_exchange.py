"""An in-memory exchange that speaks the reference protocol, for tests and demos.

It is sans-IO like the core: ``connect()`` gives an :class:`ExchangeConnection`
whose ``receive(msg)`` takes client messages and whose ``outbox()`` drains
what the exchange sends back. Time is passed to ``tick(now)`` (heartbeats).
The exchange keeps a session event log with ids that rise with gaps (its
heartbeats consume ids), de-duplicates requests by client id within a run,
matches orders price-time, and can restart with a new run id (cancelling
every open order silently), signal congestion, or go silent.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import attrs
from msgspec.structs import replace

from .._messages import (
    ActionReport,
    Batch,
    BatchAck,
    BookOrder,
    BookStateSnapshot,
    BookTop,
    CancelOrder,
    Congestion,
    Contract,
    ContractDetail,
    EventReplay,
    GetBookState,
    GetContracts,
    Heartbeat,
    LimitOrder,
    Login,
    LoginAck,
    LoginReject,
    Logout,
    Message,
    MessageReplay,
    Request,
    ResendComplete,
    Status,
    StatusCode,
)

__all__ = ["ReferenceExchange", "ExchangeConnection", "DEFAULT_CONTRACTS"]

DEFAULT_CONTRACTS = (
    Contract(contract_id=1, label="BTC-DEC26-C-100000"),
    Contract(contract_id=2, label="BTC-DEC26-P-90000"),
    Contract(contract_id=3, label="ETH-DEC26-C-5000"),
)
"""The contracts a :class:`ReferenceExchange` lists unless it is given others."""


@attrs.define
class _Order:
    mid: int
    cid: str
    contract_id: int
    side: str
    size: int
    price_in_cents: int
    run_id: str
    filled: int = 0


class ReferenceExchange:
    """The exchange side of the reference protocol, in memory.

    ``accounts`` maps account names to tokens (None: any login is accepted).
    ``gap_every``: every that many event ids, one id is skipped (more gaps).
    """

    def __init__(self, *, run_id: str = "run-1", contracts: Iterable[Contract] = DEFAULT_CONTRACTS,
                 accounts: dict[str, str] | None = None, heartbeat_interval_ms: int = 1000,
                 gap_every: int = 0, batch_limit: int = 200) -> None:
        self.run_id = run_id
        self.contracts = {c.contract_id: c for c in contracts}
        self.accounts = accounts
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.gap_every = gap_every
        self.batch_limit = batch_limit
        self.log: list[Message] = []
        self._next_event_id = 1
        self._mids = itertools.count(1)
        self._runs = itertools.count(2)
        self.orders: dict[int, _Order] = {}
        self._dedup: dict[str, tuple[Status, int | None]] = {}
        self._latest_by_mid: dict[int, Message] = {}
        self.congested = False
        self.silent = False
        self.connection: ExchangeConnection | None = None
        self._next_heartbeat: float | None = None
        #: every execution (cid, mid, run) the exchange performed, for invariant checks
        self.executions: list[tuple[str, int, str]] = []

    # -- control knobs -------------------------------------------------------------

    def connect(self) -> ExchangeConnection:
        """A new client connection; it replaces (and closes) the previous one."""
        if self.connection is not None:
            self.connection.closed = True
        self.connection = ExchangeConnection(self)
        return self.connection

    def restart(self, run_id: str | None = None) -> str:
        """Restart with a new run id: every open order is cancelled, silently."""
        self.run_id = run_id or f"run-{next(self._runs)}"
        self.orders.clear()
        self._dedup.clear()
        return self.run_id

    def set_congested(self, busy: bool) -> None:
        self.congested = busy
        self._send(Congestion(busy=busy, run_id=self.run_id))

    def tick(self, now: float) -> None:
        """Advance time: send a heartbeat when one is due (it consumes an event id)."""
        if self._next_heartbeat is None or now >= self._next_heartbeat:
            self._next_heartbeat = now + self.heartbeat_interval_ms / 1000.0
            self._consume_event_id()
            self._send(Heartbeat(interval_ms=self.heartbeat_interval_ms, run_id=self.run_id))

    def publish_book_top(self, contract_id: int) -> None:
        bids = [o.price_in_cents for o in self.orders.values()
                if o.contract_id == contract_id and o.side == "buy"]
        asks = [o.price_in_cents for o in self.orders.values()
                if o.contract_id == contract_id and o.side == "sell"]
        self._event(BookTop(contract_id=contract_id, bid_in_cents=max(bids, default=None),
                            ask_in_cents=min(asks, default=None)))

    @property
    def last_event_id(self) -> int:
        return self._next_event_id - 1

    # -- internals -------------------------------------------------------------------

    def _consume_event_id(self) -> int:
        eid = self._next_event_id
        self._next_event_id += 1
        if self.gap_every and eid % self.gap_every == 0:
            self._next_event_id += 1
        return eid

    def _send(self, msg: Message) -> None:
        conn = self.connection
        if conn is not None and not conn.closed and conn.logged_in and not self.silent:
            conn._outbox.append(msg)

    def _event(self, msg: Message) -> Message:
        msg = replace(msg, event_id=self._consume_event_id(), run_id=self.run_id)
        self.log.append(msg)
        mid = getattr(msg, "mid", None)
        if mid is not None and not isinstance(msg, (Status, BatchAck)):
            self._latest_by_mid[mid] = msg
        self._send(msg)
        return msg

    def _status(self, req: Request, code: int = StatusCode.OK, message: str = "",
                mid: int | None = None, emit: bool = True) -> Status:
        st = Status(cid=req.cid or "", mid=mid, status=code, message=message)
        if emit:
            st = self._event(st)  # type: ignore[assignment]
        return st

    # -- requests ----------------------------------------------------------------------

    def handle(self, msg: Message) -> None:
        if isinstance(msg, Batch):
            self._batch(msg)
        elif isinstance(msg, Request):
            self._request(msg)
        elif isinstance(msg, EventReplay):
            self._replay_events(msg.from_event_id, msg.to_event_id)

    def _request(self, req: Request, *, in_batch: bool = False) -> tuple[Status, bool]:
        """ACK one request; returns its status and whether it is to be executed now."""
        assert req.cid is not None
        seen = self._dedup.get(req.cid)
        if seen is not None:  # a resend: ACK again, execute nothing
            st = seen[0]
            if not in_batch:
                self._event(st)
            return st, False
        if self.congested:
            return self._status(req, StatusCode.BUSY, "exchange congested",
                                emit=not in_batch), False
        mid = next(self._mids)
        st = self._check(req, mid)
        self._dedup[req.cid] = (st, mid)
        if not in_batch:
            self._event(st)
        if st.ok:
            self.executions.append((req.cid, mid, self.run_id))
            if not in_batch:
                self._execute(req, mid)
        return st, st.ok

    def _check(self, req: Request, mid: int) -> Status:
        def status(code: int, message: str) -> Status:
            return Status(cid=req.cid or "", mid=mid, status=code, message=message)

        if isinstance(req, LimitOrder):
            if req.contract_id not in self.contracts:
                return status(StatusCode.NOT_FOUND, f"unknown contract {req.contract_id}")
            if req.size <= 0 or req.price_in_cents <= 0 or req.side not in ("buy", "sell"):
                return status(StatusCode.BAD_REQUEST, "size and price must be positive, "
                                                      "side buy or sell")
        elif isinstance(req, CancelOrder):
            if req.order_mid not in self.orders:
                return status(StatusCode.NOT_FOUND, f"no open order {req.order_mid}")
        elif isinstance(req, GetBookState):
            if req.contract_id not in self.contracts:
                return status(StatusCode.NOT_FOUND, f"unknown contract {req.contract_id}")
        return status(StatusCode.OK, "accepted")

    def _execute(self, req: Request, mid: int) -> None:
        if isinstance(req, LimitOrder):
            self._place(req, mid)
        elif isinstance(req, CancelOrder):
            order = self.orders.pop(req.order_mid)
            self._event(ActionReport(mid=order.mid, cid=order.cid, contract_id=order.contract_id,
                                     status_type="cancelled", size=0, filled_size=order.filled,
                                     price_in_cents=order.price_in_cents))
        elif isinstance(req, GetContracts):
            items = list(self.contracts.values())
            for i, c in enumerate(items):
                self._event(ContractDetail(mid=mid, cid=req.cid, contract=c,
                                          last=i == len(items) - 1))
            if not items:
                self._event(ContractDetail(mid=mid, cid=req.cid, contract=None, last=True))
        elif isinstance(req, GetBookState):
            resting = tuple(
                BookOrder(mid=o.mid, side=o.side, size=o.size, price_in_cents=o.price_in_cents)
                for o in self.orders.values() if o.contract_id == req.contract_id)
            self._event(BookStateSnapshot(mid=mid, cid=req.cid, contract_id=req.contract_id,
                                          orders=resting))
        elif isinstance(req, MessageReplay):
            for m in req.mids:
                latest = self._latest_by_mid.get(m)
                if latest is not None:
                    self._send(replace(latest, event_id=None, replay=False))

    def _place(self, req: LimitOrder, mid: int) -> None:
        order = _Order(mid, req.cid or "", req.contract_id, req.side, req.size,
                       req.price_in_cents, self.run_id)
        self._report(order, "inserted")
        for other in [o for o in self.orders.values()
                      if o.contract_id == order.contract_id and o.side != order.side]:
            if order.size == 0:
                break
            crosses = (order.price_in_cents >= other.price_in_cents if order.side == "buy"
                       else order.price_in_cents <= other.price_in_cents)
            if not crosses:
                continue
            qty = min(order.size, other.size)
            for o in (other, order):
                o.size -= qty
                o.filled += qty
                self._report(o, "filled" if o.size == 0 else "partially_filled")
            if other.size == 0:
                del self.orders[other.mid]
        if order.size > 0:
            self.orders[mid] = order

    def _report(self, o: _Order, status_type: str) -> None:
        self._event(ActionReport(mid=o.mid, cid=o.cid, contract_id=o.contract_id,
                                 status_type=status_type, size=o.size, filled_size=o.filled,
                                 price_in_cents=o.price_in_cents))

    def _batch(self, batch: Batch) -> None:
        assert batch.cid is not None
        seen = self._dedup.get(batch.cid)
        if seen is not None:
            self._event(seen[0])
            acks = self._latest_by_mid.get(seen[1]) if seen[1] is not None else None
            if isinstance(acks, BatchAck):
                self._event(replace(acks, event_id=None))
            return
        if len(batch.messages) > self.batch_limit or not batch.messages:
            self._event(self._status(batch, StatusCode.BAD_REQUEST,
                                     f"a batch holds 1 to {self.batch_limit} messages",
                                     emit=False))
            return
        mid = next(self._mids)
        st = Status(cid=batch.cid, mid=mid, status=StatusCode.OK, message="accepted")
        self._dedup[batch.cid] = (st, mid)
        self._event(st)
        results = [self._request(m, in_batch=True) for m in batch.messages]
        ba = self._event(BatchAck(cid=batch.cid, mid=mid, messages=tuple(r[0] for r in results)))
        self._latest_by_mid[mid] = ba
        for m, (st, fresh) in zip(batch.messages, results, strict=True):
            if fresh and st.mid is not None:
                self._execute(m, st.mid)

    def _replay_events(self, begin: int, end: int) -> None:
        for msg in self.log:
            assert msg.event_id is not None
            if begin <= msg.event_id <= end:
                self._send(replace(msg, replay=True))
        self._send(ResendComplete(begin=begin, end=end, run_id=self.run_id))


class ExchangeConnection:
    """One client connection to the :class:`ReferenceExchange`."""

    def __init__(self, exchange: ReferenceExchange) -> None:
        self.exchange = exchange
        self.logged_in = False
        self.closed = False
        self._outbox: list[Message] = []

    def receive(self, msg: Message) -> None:
        ex = self.exchange
        if self.closed or ex.silent:
            return
        if isinstance(msg, Login):
            self._login(msg)
        elif not self.logged_in:
            return
        elif isinstance(msg, Logout):
            self.closed = True
        elif isinstance(msg, Heartbeat):
            return
        else:
            ex.handle(msg)

    def _login(self, msg: Login) -> None:
        ex = self.exchange
        if ex.accounts is not None and ex.accounts.get(msg.account) != msg.token:
            self._outbox.append(LoginReject(reason=f"bad account or token for {msg.account!r}",
                                            run_id=ex.run_id))
            self.closed = True
            return
        self.logged_in = True
        self._outbox.append(LoginAck(run_id=ex.run_id, last_event_id=ex.last_event_id))
        if msg.resume_event_id >= 1:
            ex._replay_events(msg.resume_event_id, ex.last_event_id)

    def outbox(self) -> list[Message]:
        out, self._outbox = self._outbox, []
        return out
