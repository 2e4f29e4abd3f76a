"""MessageProcessor handlers bound once (sessionkit._processor.message_handlers), and
``sessionkit.dispatch``: each consumer of a message gets it whatever the other raised."""

from __future__ import annotations

from typing import Any

import pytest

from sessionkit import (
    ActionReport,
    BookTop,
    Heartbeat,
    LimitOrder,
    MessageProcessor,
    MessageReceived,
    Status,
    UnknownMessage,
    dispatch,
)
from sessionkit._processor import message_handlers


def test_the_do_nothing_defaults_are_not_bound() -> None:
    assert set(message_handlers(MessageProcessor()).values()) == {None}


def test_overridden_and_instance_handlers_are_bound_the_rest_not() -> None:
    calls: list[Any] = []

    class Mine(MessageProcessor):
        def handle_status_message(self, msg: Any, prev: Any) -> None:
            calls.append(("status", msg))

    p = Mine()
    p.handle_action_report = lambda msg, prev: calls.append(("report", msg))  # type: ignore
    table = message_handlers(p)
    table[Status]("s", None)  # type: ignore[misc]
    table[ActionReport]("a", None)  # type: ignore[misc]
    assert calls == [("status", "s"), ("report", "a")]
    assert table[Heartbeat] is None and table[BookTop] is None


def test_a_processor_without_a_handler_gets_its_unknown_message_handler() -> None:
    got: list[Any] = []

    class Duck:  # not a MessageProcessor subclass
        def handle_unknown_message(self, msg: Any, prev: Any) -> None:
            got.append(msg)

    table = message_handlers(Duck())
    assert all(h is not None for h in table.values())
    table[BookTop]("b", None)  # type: ignore[misc]
    table[UnknownMessage]("u", None)  # type: ignore[misc]
    assert got == ["b", "u"]
    assert set(message_handlers(object()).values()) == {None}


# -- dispatch(): the callback gets the message whatever the handler did ---------------------

ORDER = LimitOrder(cid="c-1", contract_id=1, side="buy", size=1, price_in_cents=10)
ACK = Status(cid="c-1", mid=7, status=0, event_id=1)


class RaisingHandler(MessageProcessor):
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.seen: list[Any] = []

    def handle_status_message(self, msg: Any, prev: Any) -> None:
        self.seen.append(msg)
        if self.error is not None:
            raise self.error


def callback_that(calls: list[Any], error: Exception | None = None) -> Any:
    def callback(msg: Any, prev: Any) -> None:
        calls.append((msg, prev))
        if error is not None:
            raise error
    return callback


def test_dispatch_hands_the_message_to_the_callback_even_when_the_handler_raises() -> None:
    boom = ValueError("handler bug")
    processor, calls = RaisingHandler(boom), []
    with pytest.raises(ValueError) as info:
        dispatch(MessageReceived(ACK, ORDER, callback_that(calls)), processor)
    assert info.value is boom  # the handler's own error, unchanged
    assert processor.seen == [ACK] and calls == [(ACK, ORDER)]


def test_dispatch_raises_the_callbacks_error_after_a_handler_that_returned() -> None:
    oops = KeyError("callback bug")
    processor, calls = RaisingHandler(None), []
    with pytest.raises(KeyError) as info:
        dispatch(MessageReceived(ACK, ORDER, callback_that(calls, oops)), processor)
    assert info.value is oops and processor.seen == [ACK] and calls == [(ACK, ORDER)]


def test_dispatch_loses_neither_error_when_handler_and_callback_both_raise() -> None:
    boom, oops = ValueError("handler bug"), KeyError("callback bug")
    processor, calls = RaisingHandler(boom), []
    with pytest.raises(ExceptionGroup) as info:
        dispatch(MessageReceived(ACK, ORDER, callback_that(calls, oops)), processor)
    assert info.value.exceptions == (boom, oops)  # the handler's first
    assert "handle_status_message" in str(info.value) and "callback" in str(info.value)
    assert calls == [(ACK, ORDER)]


def test_dispatch_lets_a_base_exception_of_the_handler_through_at_once() -> None:
    class Interrupt(BaseException):
        pass

    class Handler(MessageProcessor):
        def handle_status_message(self, msg: Any, prev: Any) -> None:
            raise Interrupt()

    calls: list[Any] = []
    with pytest.raises(Interrupt):
        dispatch(MessageReceived(ACK, ORDER, callback_that(calls)), Handler())
    assert calls == []
