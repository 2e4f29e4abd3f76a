"""Delta merge rules (object updates, plain arrays, keyed arrays), incl. the reference's
two worked examples with exactly the documented results."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sessionkit.streaming import InvalidArgumentError, KeySpec, MergeError, merge_delta


def test_reference_example_object_update() -> None:
    snapshot = {
        "Name": "Mister Green",
        "Age": 42,
        "Address": {"Street": "Green Boulevard", "City": "Green Town"},
    }
    update = {"Age": 43, "Address": {"Street": "Red Boulevard"}}
    assert merge_delta(snapshot, update) == {
        "Name": "Mister Green",
        "Age": 43,
        "Address": {"Street": "Red Boulevard", "City": "Green Town"},
    }


def _person(colour: str, age: int) -> dict[str, Any]:
    return {
        "Name": f"Mister {colour}",
        "Age": age,
        "Address": {"Street": f"{colour} Boulevard", "City": f"{colour} Town"},
    }


def test_reference_example_keyed_array_update_one_update_one_delete_one_add() -> None:
    snapshot = [_person("Red", 42), _person("Green", 42)]
    update = [
        {"Name": "Mister Red", "Age": 43},
        {"Name": "Mister Green", "__meta_deleted": True},
        _person("Blue", 42),
    ]
    result = merge_delta(snapshot, update, keys=("Name",))
    assert result == [
        {
            "Name": "Mister Red",
            "Age": 43,
            "Address": {"Street": "Red Boulevard", "City": "Red Town"},
        },
        {
            "Name": "Mister Blue",
            "Age": 42,
            "Address": {"Street": "Blue Boulevard", "City": "Blue Town"},
        },
    ]


def test_inputs_are_never_mutated() -> None:
    snapshot = {"A": {"B": 1}, "L": [{"Id": 1, "X": {"Y": 1}}], "P": [1, 2]}
    delta = {"A": {"C": 2}, "L": [{"Id": 1, "X": {"Y": 2}}, {"Id": 2, "X": {}}], "P": [3]}
    before_s, before_d = copy.deepcopy(snapshot), copy.deepcopy(delta)
    out = merge_delta(snapshot, delta, keys={"L": ["Id"]})
    assert snapshot == before_s and delta == before_d
    assert out == {
        "A": {"B": 1, "C": 2},
        "L": [{"Id": 1, "X": {"Y": 2}}, {"Id": 2, "X": {}}],
        "P": [3],
    }


def test_result_does_not_alias_the_delta() -> None:
    delta = {"New": {"Deep": [1, {"x": 1}]}}
    out = merge_delta({}, delta)
    delta["New"]["Deep"][1]["x"] = 99  # the caller reuses its message
    assert out == {"New": {"Deep": [1, {"x": 1}]}}


def test_untouched_branches_are_shared_copy_on_write() -> None:
    snapshot = {"Big": {"k": list(range(100))}, "Small": {"v": 1}}
    out = merge_delta(snapshot, {"Small": {"v": 2}})
    assert out["Big"] is snapshot["Big"]
    assert out["Small"] is not snapshot["Small"]


def test_array_without_keys_is_replaced_whole() -> None:
    assert merge_delta({"P": [1, 2, 3]}, {"P": [9]}) == {"P": [9]}
    assert merge_delta({"P": [{"a": 1}]}, {"P": [{"b": 2}]}) == {"P": [{"b": 2}]}
    assert merge_delta([1, 2], [3]) == [3]


def test_simple_value_replaces_structured_and_back() -> None:
    assert merge_delta({"A": {"B": 1}}, {"A": None}) == {"A": None}
    assert merge_delta({"A": 5}, {"A": {"B": 1}}) == {"A": {"B": 1}}
    assert merge_delta({"A": [1]}, {"A": {"B": 1}}) == {"A": {"B": 1}}


def test_keyed_update_merges_not_replaces_nested_objects() -> None:
    state = [{"Id": 1, "Quote": {"Bid": 1, "Ask": 2}, "Name": "x"}]
    assert merge_delta(state, [{"Id": 1, "Quote": {"Bid": 5}}], keys=["Id"]) == [
        {"Id": 1, "Quote": {"Bid": 5, "Ask": 2}, "Name": "x"}
    ]


def test_delete_of_absent_element_is_a_no_op_and_never_added() -> None:
    assert merge_delta([{"Id": 1}], [{"Id": 7, "__meta_deleted": True}], keys=["Id"]) == [{"Id": 1}]


def test_delete_then_add_same_key_in_one_update() -> None:
    out = merge_delta(
        [{"Id": 1, "V": 1}, {"Id": 2, "V": 2}],
        [{"Id": 1, "__meta_deleted": True}, {"Id": 1, "V": 9}],
        keys=["Id"],
    )
    assert out == [{"Id": 2, "V": 2}, {"Id": 1, "V": 9}]


def test_multiple_key_properties() -> None:
    state = [{"A": 1, "B": "x", "V": 1}, {"A": 1, "B": "y", "V": 2}]
    out = merge_delta(
        state, [{"A": 1, "B": "y", "V": 3}, {"A": 2, "B": "x", "V": 4}], keys=("A", "B")
    )
    assert out == [
        {"A": 1, "B": "x", "V": 1},
        {"A": 1, "B": "y", "V": 3},
        {"A": 2, "B": "x", "V": 4},
    ]


def test_nested_keyed_arrays_by_path() -> None:
    spec = {"Data": ["PositionId"], "Data.Legs": ["LegId"]}
    state = {"Data": [{"PositionId": "P1", "Legs": [{"LegId": 1, "Q": 1}, {"LegId": 2, "Q": 2}]}]}
    delta = {
        "Data": [
            {
                "PositionId": "P1",
                "Legs": [{"LegId": 2, "Q": 5}, {"LegId": 1, "__meta_deleted": True}],
            }
        ]
    }
    assert merge_delta(state, delta, keys=spec) == {
        "Data": [{"PositionId": "P1", "Legs": [{"LegId": 2, "Q": 5}]}]
    }


def test_added_element_is_cleaned_through_nested_keyed_arrays() -> None:
    spec = {"": ["Id"], "Legs": ["L"]}
    out = merge_delta(
        [], [{"Id": 1, "Legs": [{"L": 1}, {"L": 2, "__meta_deleted": True}]}], keys=spec
    )
    assert out == [{"Id": 1, "Legs": [{"L": 1}]}]


def test_list_resource_update_applies_to_the_data_array() -> None:
    state = {"Data": [{"Uic": 21, "Bid": 1}], "MaxRows": 10}
    out = merge_delta(state, [{"Uic": 21, "Bid": 2}, {"Uic": 22, "Bid": 3}], keys=("Uic",))
    assert out == {"Data": [{"Uic": 21, "Bid": 2}, {"Uic": 22, "Bid": 3}], "MaxRows": 10}


@pytest.mark.parametrize(
    ("delta", "path", "problem"),
    [
        ([{"Other": 1}], "$[0]", "lacks key property 'Id'"),
        ([{"Id": 1}, 5], "$[1]", "must be an object"),
        ([{"Id": {"x": 1}}], "$[0]", "not a plain value"),
    ],
)
def test_bad_keyed_elements_name_the_path(delta: Any, path: str, problem: str) -> None:
    with pytest.raises(MergeError) as info:
        merge_delta([{"Id": 1}], delta, keys=["Id"])
    assert info.value.path == path
    assert problem in str(info.value)


def test_bad_nested_element_path() -> None:
    with pytest.raises(MergeError, match=r"\$\.Data\[0\]\.Legs\[1\]"):
        merge_delta(
            {"Data": [{"P": 1, "Legs": []}]},
            {"Data": [{"P": 1, "Legs": [{"L": 1}, {"X": 2}]}]},
            keys={"Data": ["P"], "Data.Legs": ["L"]},
        )


def test_failed_merge_leaves_state_untouched() -> None:
    state = [{"Id": 1, "V": 1}]
    with pytest.raises(MergeError):
        merge_delta(state, [{"Id": 1, "V": 2}, {"nokey": 1}], keys=["Id"])
    assert state == [{"Id": 1, "V": 1}]


def test_other_mapping_types_are_accepted() -> None:
    from types import MappingProxyType

    out = merge_delta({"A": {"B": 1}}, MappingProxyType({"A": MappingProxyType({"C": (1, 2)})}))
    assert out == {"A": {"B": 1, "C": [1, 2]}}


def test_non_json_value_is_a_merge_error() -> None:
    with pytest.raises(MergeError, match=r"\$\.A.*object"):
        merge_delta({}, {"A": object()})


@pytest.mark.parametrize(
    "keys",
    ["Name", [], [""], {"a..b": ["x"]}, {"a": []}, {"a": "x"}, 5],
)
def test_key_spec_validation(keys: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        KeySpec.of(keys)
    assert info.value.field == "keys"


def test_key_spec_is_comparable_and_hashable() -> None:
    assert KeySpec.of({"Data": ["Id"]}) == KeySpec.of({"Data": ("Id",)})
    assert hash(KeySpec.of(("Id",))) == hash(KeySpec.of(["Id"]))
