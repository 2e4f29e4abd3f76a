"""The method catalogue: complete, consistent with the models, and the key rules."""

from __future__ import annotations

import doctest
import importlib
import uuid
from datetime import UTC, datetime
from typing import get_args, get_origin

import pytest
from sessionkit_mesolive import models as m
from sessionkit_mesolive._catalogue import (
    CALLBACKS,
    METHODS,
    Hub,
    callback_for,
    methods_of,
    validate_idempotency_key,
)
from sessionkit_mesolive._errors import InvalidIdempotencyKeyError

READ_CONTROL = {"StartPreparePositionEntry", "StartPreparePositionExit", "SendOrder",
                "GetIdempotencyRecord", "ListAgents", "ListAccounts", "GetAccount",
                "CreateStrategy", "UpdateStrategy", "RenameStrategy", "DeleteStrategy",
                "ListStrategies", "GetStrategy", "ListPositions", "GetPosition", "ListLegs",
                "GetLeg", "GetLegs", "GetPreparePositionEntryStatus", "CancelPreparePositionEntry"}


def test_hub_paths_and_method_counts() -> None:
    assert [h.path for h in Hub] == ["/hubs/control/v1", "/hubs/data/v1", "/hubs/event/v1"]
    assert READ_CONTROL <= {x.name for x in methods_of(Hub.CONTROL)}
    data = methods_of(Hub.DATA)
    assert {x.name for x in data if x.stream} == {
        "StreamPositionData", "StreamLegData", "StreamLegsData", "StreamUnderlyingData",
        "StreamContractData", "StreamComboContractsData"}
    assert len(data) == 12
    assert {x.name for x in methods_of(Hub.EVENT)} == {
        "SubscribeToStrategies", "UnsubscribeFromStrategies", "GetLatestEventSeqId",
        "GetEventsSince"}


def test_idempotent_methods_take_a_key_and_name_an_operation() -> None:
    idempotent = {x.name for x in METHODS.values() if x.idempotent}
    assert idempotent == {str(op) for op in m.IdempotencyOperation}
    for spec in METHODS.values():
        fields = set(spec.args_type.__struct_fields__)
        if spec.name != "GetIdempotencyRecord":  # reads a key, is not itself idempotent
            assert ("idempotency_key" in fields) == spec.idempotent, spec.name
        assert spec.operation == (spec.name if spec.idempotent else None)
        assert not (spec.stream and spec.idempotent)


def test_every_entry_points_at_models() -> None:
    for spec in METHODS.values():
        assert issubclass(spec.args_type, m.Model)
        result = spec.result_type
        if get_origin(result) is tuple:
            result = get_args(result)[0]
        assert issubclass(result, m.Model), spec.name
    for cb in CALLBACKS.values():
        assert issubclass(cb.payload_type, m.EventHeader)
        assert cb.name.startswith("On")
    assert len(CALLBACKS) == 14
    failed = m.PositionAdjustmentPreparationFailedEvent(
        event_id=uuid.UUID(int=1), event_seq_id=1, event_time=datetime(2024, 5, 1, tzinfo=UTC),
        job_id="j", strategy_id=1, strategy_name="s", error="no")
    assert callback_for(failed) == "OnPositionAdjustmentPreparationFailed"


def test_python_names_follow_the_sdk() -> None:
    assert METHODS["GetPreparePositionEntryStatus"].python_name == \
        "get_prepare_position_entry_status"
    assert METHODS["StreamComboContractsData"].python_name == "stream_combo_contracts_data"
    assert len({x.python_name for x in METHODS.values()}) == len(METHODS)


@pytest.mark.parametrize("key", ["a", "prep_entry_2024-05-01T13:30:00Z#1", "~" * 128,
                                 "5b1c7a7e-8f5b-4b7e-9a55-3f1d2c7e9b10"])
def test_valid_keys(key: str) -> None:
    assert validate_idempotency_key(key) == key


@pytest.mark.parametrize(("key", "message"), [
    ("", "must not be empty"),
    ("k" * 129, "129 characters long; the limit is 128"),
    ("tab\there", r"contains '\\t' at index 3"),
    ("clé", "contains 'é' at index 2"),
    (42, "must be a string, got int"),
])
def test_invalid_keys(key: object, message: str) -> None:
    with pytest.raises(InvalidIdempotencyKeyError, match=message):
        validate_idempotency_key(key)


@pytest.mark.parametrize("module", [
    "sessionkit_mesolive.models._enums", "sessionkit_mesolive._converters",
    "sessionkit_mesolive._errors", "sessionkit_mesolive._catalogue",
    "sessionkit_mesolive.sim.domain",
])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
