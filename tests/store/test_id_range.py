"""Ids the journal cannot hold never reach it (issue 14 class 5).

Ids are JSON integers and may be 2^63 or more, which SQLite's INTEGER cannot store: an ACK
with such a MID crashed a journalled client with a raw OverflowError and wedged every later
commit. The protocol's ids are 0..2^63-1 (docs/protocol.md "Ranges"); the codec refuses
any other at decode, so the engine sees a protocol error naming the field and the journal
goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from sessionkit import DecodeError, LimitOrder, ProtocolError, SessionConfig
from sessionkit.store import SqliteStore

from .conftest import JournalLoop, make_store_factory

#: an id one past what SQLite's INTEGER (a signed 64-bit integer) holds
TOO_BIG = 2**63


@pytest.fixture
def sqlite_loop(tmp_path: Any) -> Callable[..., JournalLoop]:
    # "report": both forged frames are seen on one connection (by default the first
    # violation ends it)
    return lambda: JournalLoop(make_store_factory("sqlite", tmp_path),
                               config=SessionConfig(cid_prefix="c", on_violation="report"))


def forged(loop: JournalLoop, **fields: Any) -> bytes:
    return msgspec.json.encode({"run_id": loop.exchange.run_id, **fields})


def test_an_ack_or_event_id_beyond_sqlite_integer_is_refused_and_the_journal_goes_on(
        sqlite_loop: Callable[..., JournalLoop]) -> None:
    loop = sqlite_loop()
    errors: list[ProtocolError] = []
    loop.on_event = lambda ev: errors.append(ev) if isinstance(ev, ProtocolError) else None
    cid = loop.submit(LimitOrder(contract_id=1, size=1, price_in_cents=100))
    loop.send()
    # the exchange's own ACK waits in its outbox; a forged one with mid 2^63 comes first,
    # then an event with id 2^63
    for frame in (forged(loop, type="status", cid=cid, mid=TOO_BIG),
                  forged(loop, type="book_top", contract_id=1, event_id=TOO_BIG)):
        loop.session.receive_data(frame, loop.now)
    loop.drain()  # handled and committed: no OverflowError
    assert [type(e.error) for e in errors] == [DecodeError, DecodeError]
    assert [e.error.field for e in errors] == ["status.mid", "book_top.event_id"]
    assert [e.error.offending[:17] for e in errors] == [b'{"run_id":"run-1"'] * 2
    assert loop.store.last_event_id < TOO_BIG
    # the real ACK is journalled as usual, and so is everything after it
    loop.pump()
    [record] = [m for m in loop.store.messages() if m.cid == cid]
    assert record.mid is not None and 0 < record.mid < TOO_BIG
    loop.restart()
    assert isinstance(loop.store, SqliteStore)
    assert [m.mid for m in loop.store.messages() if m.cid == cid] == [record.mid]
