"""Context id and reference id rules: charset, length, reserved names, case-insensitivity."""

from __future__ import annotations

from typing import Any

import pytest

from sessionkit.streaming import (
    DuplicateSubscriptionError,
    InvalidIdError,
    StreamingEngine,
    derive_reference_id,
    normalize_reference_id,
    validate_context_id,
    validate_reference_id,
)


@pytest.mark.parametrize("value", ["a", "A-z_09", "x" * 50, "0f8fad5b-d9cb-469f-a165-70867728950e"])
def test_valid_ids(value: str) -> None:
    assert validate_context_id(value) == value
    assert validate_reference_id(value) == value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "must not be empty"),
        ("x" * 51, "51 characters long, the limit is 50"),
        ("a b", "contains ' '"),
        ("a.b", "contains '.'"),
        ("é", "contains 'é'"),
        ("a/b", "contains '/'"),
        (12, "must be a string, not int"),
        (None, "must be a string, not NoneType"),
    ],
)
def test_invalid_ids_name_field_value_and_rule(value: Any, problem: str) -> None:
    with pytest.raises(InvalidIdError) as info:
        validate_reference_id(value)
    assert info.value.field == "reference_id"
    assert info.value.value == value
    assert problem in str(info.value)
    assert repr(value) in str(info.value)
    with pytest.raises(InvalidIdError) as ctx_info:
        StreamingEngine(value)
    assert ctx_info.value.field == "context_id"


@pytest.mark.parametrize("value", ["_heartbeat", "_ResetSubscriptions", "_DISCONNECT"])
def test_control_names_are_reserved(value: str) -> None:
    with pytest.raises(InvalidIdError, match="reserved"):
        validate_reference_id(value)


def test_subscribe_validates_reference_id() -> None:
    engine = StreamingEngine("ctx")
    with pytest.raises(InvalidIdError, match="reference_id"):
        engine.subscribe("trade/v1/infoprices", "bad id")
    assert engine.drain_requests() == []


def test_reference_ids_are_case_insensitive(snap: Any) -> None:
    engine = StreamingEngine("ctx1")
    name = engine.subscribe("trade/v1/infoprices", "Prices_EURUSD")
    with pytest.raises(DuplicateSubscriptionError):
        engine.subscribe("trade/v1/infoprices", "PRICES_eurusd")
    engine.receive_snapshot(snap("prices_eurusd", {"Bid": 1}), 0.0)
    engine.receive({"ReferenceId": "PRICES_EURUSD", "Data": {"Bid": 2}}, 1.0)
    assert engine.latest("prices_EURUSD") == {"Bid": 2}
    assert engine.info(name).name == "Prices_EURUSD"
    assert normalize_reference_id("AbC") == normalize_reference_id("aBc")


def test_derived_ids_are_deterministic_bounded_and_unused() -> None:
    assert derive_reference_id("p", 1, set()) == ("p-1", 1)
    long = "x" * 50
    ref, n = derive_reference_id(long, 12, set())
    assert len(ref) == 50 and ref.endswith("-12") and n == 12
    validate_reference_id(ref)
    assert derive_reference_id("p", 1, {"p-1", "p-2"}) == ("p-3", 3)
    assert derive_reference_id("P", 1, {"p-1"}) == ("P-2", 2)
