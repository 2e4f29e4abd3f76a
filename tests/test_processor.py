"""MessageProcessor handlers bound once (sessionkit._processor.message_handlers)."""

from __future__ import annotations

from typing import Any

from sessionkit import (
    ActionReport,
    BookTop,
    Heartbeat,
    MessageProcessor,
    Status,
    UnknownMessage,
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
