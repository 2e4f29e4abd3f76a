"""A message the client sends is checked where it is made (sessionkit/_messages.py, _rules.py).

``LimitOrder(size="1")`` used to be accepted, submitted, resent until the attempts ran out
and reported "unknown" 25 s later, which looks like an exchange outage. Now the constructor
raises :class:`InvalidRequestError` naming the class, the field and the value, and nothing
invalid reaches ``submit`` or the wire.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec
import pytest

from sessionkit import (
    Batch,
    CancelOrder,
    EventReplay,
    GetBookState,
    GetContracts,
    InvalidRequestError,
    LimitOrder,
    LocalProtocolError,
    Login,
    MessageReplay,
    Request,
    SessionConfig,
    SessionkitError,
    Side,
    Status,
)
from sessionkit._rules import BATCH_LIMIT, ID_MAX
from sessionkit.testing import CoreLoop

ORDER = dict(contract_id=1, size=1, price_in_cents=5000)


class Colour(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize("field, value, words", [
    # the three of issue 14
    ("size", "1", "LimitOrder.size must be an integer in 1..2^63-1, got '1' (str)"),
    ("size", True, "LimitOrder.size must be an integer in 1..2^63-1, got True (bool)"),
    ("price_in_cents", None, "LimitOrder.price_in_cents must be a price in cents: an integer "
                             "in 1..2^63-1, got None (NoneType)"),
    ("size", 0, "got 0 (int)"),
    ("size", -5, "got -5 (int)"),
    ("size", 2**63, "got 9223372036854775808 (int)"),
    ("size", 1.0, "got 1.0 (float)"),
    ("size", float("nan"), "got nan (float)"),
    ("size", Colour.RED, "(Colour)"),
    ("price_in_cents", 0, "got 0 (int)"),
    ("price_in_cents", float("inf"), "got inf (float)"),
    ("contract_id", -1, "LimitOrder.contract_id must be an id: an integer in 0..2^63-1"),
    ("contract_id", 2**64 - 1, "got 18446744073709551615 (int)"),
    ("contract_id", False, "got False (bool)"),
    ("side", "BUY", "LimitOrder.side must be 'buy' or 'sell', got 'BUY' (str)"),
    ("side", None, "LimitOrder.side must be 'buy' or 'sell'"),
    ("cid", "", "LimitOrder.cid must be None or a client id: a string of 1 to 128 printable"),
    ("cid", "x" * 129, "'xxxx"),
    ("cid", "a\nb", "got 'a\\nb' (str)"),
    ("cid", 7, "got 7 (int)"),
    ("event_id", 2**63, "LimitOrder.event_id must be None or an id"),
    ("ts", -1, "LimitOrder.ts must be None or a timestamp"),
    ("replay", 1, "LimitOrder.replay must be a boolean (True or False), got 1 (int)"),
    ("run_id", 3, "LimitOrder.run_id must be None or a string (of Unicode text: no lone "
                  "surrogate), got 3 (int)"),
    ("run_id", "\ud800", "got '\\ud800' (str)"),  # could not be encoded to be sent
])
def test_a_limit_order_with_a_bad_field_is_refused_naming_class_field_and_value(
        field: str, value: Any, words: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        LimitOrder(**{**ORDER, field: value})
    assert words in str(err.value)
    assert err.value.type_name == "LimitOrder" and err.value.field == field
    assert err.value.value is value or err.value.value == value


def test_the_error_is_a_sessionkit_error_and_a_value_error() -> None:
    """Catchable as what it is (InvalidRequestError), as a local misuse of the protocol
    (LocalProtocolError), as anything sessionkit raises, and by plain code (ValueError)."""
    with pytest.raises(InvalidRequestError) as err:
        LimitOrder(**{**ORDER, "size": "1"})
    for kind in (LocalProtocolError, SessionkitError, ValueError):
        assert isinstance(err.value, kind)


@pytest.mark.parametrize("make, field, words", [
    (lambda: CancelOrder(order_mid=-1), "order_mid", "CancelOrder.order_mid must be an id"),
    (lambda: CancelOrder(order_mid="12"), "order_mid", "got '12' (str)"),
    (lambda: CancelOrder(order_mid=2**63), "order_mid", "got 9223372036854775808"),
    (lambda: GetContracts(all_contracts="yes"), "all_contracts", "must be a boolean"),
    (lambda: GetBookState(contract_id=None), "contract_id", "GetBookState.contract_id"),
    (lambda: MessageReplay(mids=(1, -2)), "mids[1]",
     "MessageReplay.mids[1] must be an id: an integer in 0..2^63-1, got -2 (int)"),
    (lambda: MessageReplay(mids=(1, True)), "mids[1]", "got True (bool)"),
    (lambda: MessageReplay(mids=5), "mids", "MessageReplay.mids must be a tuple"),
    (lambda: EventReplay(from_event_id=1, to_event_id=2**63), "to_event_id",
     "EventReplay.to_event_id must be an id"),
    (lambda: Login(account=""), "account", "Login.account must be a non-empty string"),
    (lambda: Login(account="a", resume_event_id=-1), "resume_event_id", "Login.resume_event_id"),
    (lambda: Login(account="a", resume_event_id=2**63 + 1), "resume_event_id",
     "Login.resume_event_id must be a resume token: an integer in 0..2^63"),
    (lambda: Batch(), "messages", f"Batch.messages must be a tuple of 1 to {BATCH_LIMIT} "
                                  f"requests, none a Batch, got () (tuple)"),
    (lambda: Batch(messages=tuple(CancelOrder(order_mid=i) for i in range(BATCH_LIMIT + 1))),
     "messages", "a tuple of 1 to 200 requests"),
    (lambda: Batch(messages=(CancelOrder(order_mid=1), Batch(messages=(
        CancelOrder(order_mid=2),)))), "messages[1]", "Batch.messages[1] must be a request "
                                                      "(not a Batch), got Batch("),
    (lambda: Batch(messages=(Status(cid="x"),)), "messages[0]", "got Status("),
])
def test_every_request_type_checks_its_fields(make: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        make()
    assert err.value.field == field
    assert words in str(err.value)


def test_the_ranges_edges_are_accepted() -> None:
    LimitOrder(contract_id=0, size=ID_MAX, price_in_cents=ID_MAX, cid="x" * 128, side="sell")
    LimitOrder(contract_id=ID_MAX, size=1, price_in_cents=1, side=Side.SELL, ts=ID_MAX,
               event_id=0, replay=True, run_id="")
    CancelOrder(order_mid=0)
    Batch(messages=tuple(CancelOrder(order_mid=i) for i in range(BATCH_LIMIT)))
    Login(account="a", resume_event_id=ID_MAX + 1)  # resume after the largest id


def test_a_list_is_taken_as_a_tuple() -> None:
    assert MessageReplay(mids=[3, 4]).mids == (3, 4)
    order = LimitOrder(**ORDER)
    assert Batch(messages=[order]).messages == (order,)
    assert hash(Batch(messages=[order])) == hash(Batch(messages=(order,)))


def test_a_token_is_never_in_the_error() -> None:
    with pytest.raises(InvalidRequestError) as err:
        Login(account="a", token=b"s3cret")  # type: ignore[arg-type]
    assert "s3cret" not in str(err.value) and "s3cret" not in repr(err.value.value)
    assert "got a value of type bytes" in str(err.value)


def test_a_copy_with_changes_is_checked_too() -> None:
    order = LimitOrder(**ORDER)
    with pytest.raises(InvalidRequestError, match="LimitOrder.size"):
        msgspec.structs.replace(order, size=0)


def test_a_subclass_is_checked_by_its_base() -> None:
    class Tagged(LimitOrder, frozen=True, kw_only=True):
        note: str = ""

    assert Tagged(**ORDER, note="n").note == "n"
    with pytest.raises(InvalidRequestError, match="Tagged.size must be"):
        Tagged(**{**ORDER, "size": "1"}, note="n")


def test_inbound_messages_are_not_checked_when_made() -> None:
    """What the exchange sends is checked by the codec at decode; a test can make any."""
    assert Status(cid="a", mid=-1).mid == -1


# -- submit -----------------------------------------------------------------------------------


class Unchecked(LimitOrder, frozen=True, kw_only=True):
    """A subclass whose own post-init step does not run its base's check."""

    def __post_init__(self) -> None:
        pass


@pytest.fixture
def loop() -> CoreLoop:
    lp = CoreLoop(config=SessionConfig(cid_prefix="c"))
    lp.login()
    return lp


def test_submit_never_sends_a_request_that_skipped_its_check(loop: CoreLoop) -> None:
    bad = Unchecked(contract_id=1, size=0, price_in_cents=5)
    for submit in (lambda: loop.session.submit(bad, loop.now),
                   lambda: loop.session.submit_batch([LimitOrder(**ORDER), bad], loop.now)):
        with pytest.raises(InvalidRequestError, match="Unchecked.size must be"):
            submit()
    assert loop.session.data_to_send() == []
    assert loop.session.statistics().submitted == 0
    # a valid instance of the same subclass goes
    assert loop.session.submit(Unchecked(**ORDER), loop.now)


def test_a_request_subclass_of_its_own_has_its_envelope_and_cid_checked() -> None:
    class Ping(Request, frozen=True, kw_only=True):
        TYPE = "ping_test_request"

    assert Ping(cid="p-1").cid == "p-1"
    with pytest.raises(InvalidRequestError, match="Ping.cid must be None or a client id"):
        Ping(cid="")
