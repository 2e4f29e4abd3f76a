"""Compiled constructors (sessionkit._fastinit) make what the classes' own __init__ makes."""

from __future__ import annotations

import attrs
import pytest

from sessionkit import LimitOrder, MessageFinished, MessageReceived, Outcome, Status
from sessionkit._fastinit import compile_copier, compile_maker


def cb(msg: object, prev: object) -> None:
    pass


@pytest.mark.parametrize("cls, values", [
    (MessageReceived, (Status(cid="c-1", mid=3), LimitOrder(cid="c-1", contract_id=1, size=1,
                                                             price_in_cents=5), cb)),
    (MessageReceived, (Status(cid="c-2"), None, None)),
    (MessageFinished, ("c-1", 3, Outcome.DONE, LimitOrder(cid="c-1", contract_id=1, size=1,
                                                          price_in_cents=5), "", cb)),
])
def test_a_made_event_equals_the_one_init_makes(cls: type, values: tuple) -> None:
    made, built = compile_maker(cls)(*values), cls(*values)
    assert type(made) is cls and made == built and repr(made) == repr(built)
    assert hash(made) == hash(built)
    assert [getattr(made, a.name) for a in attrs.fields(cls)] == list(values)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.reason = "x"


def test_classes_with_more_than_slots_go_through_their_init() -> None:
    @attrs.frozen
    class Checked:
        n: int = attrs.field(validator=attrs.validators.gt(0))
        double: int = attrs.field(init=False, default=0)

        def __attrs_post_init__(self) -> None:
            object.__setattr__(self, "double", 2 * self.n)

    assert compile_maker(Checked)(4, 0).double == 8
    with pytest.raises(ValueError):  # the validator ran
        compile_maker(Checked)(-1, 0)
    assert compile_copier(Checked, "n")(Checked(1), 5).double == 10
