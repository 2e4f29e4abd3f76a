"""The MesoLive wire models through the converter: round trips, wire names, leaf rules, errors."""

from __future__ import annotations

import functools
import json
import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Union, get_args, get_origin
from uuid import UUID

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionkit_mesolive import _converters as conv
from sessionkit_mesolive import models as m
from sessionkit_mesolive._catalogue import CALLBACKS
from sessionkit_mesolive._converters import default_converter, make_converter, wire_name
from sessionkit_mesolive._errors import (
    ConflictError,
    DecodeError,
    DuplicateRequestError,
    EncodeError,
    MesoLiveApiException,
    MesoLiveSignalRError,
    is_conflict,
    is_duplicate_request,
    unwrap,
)
from sessionkit_mesolive.models._base import is_wire_int, open_enum_of

# -- strategies built from the models -------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)
_decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda d: abs(d.adjusted()) < 40)
_datetimes = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                          timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                     timezone(-timedelta(hours=8))]))
_LEAVES: dict[Any, st.SearchStrategy[Any]] = {
    int: st.integers(-(2**63), 2**63 - 1),
    str: st.text(max_size=12),
    bool: st.booleans(),
    Decimal: _decimals,
    datetime: _datetimes,
    UUID: st.uuids(),
    type(None): st.none(),
}


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """A strategy for any annotation used by the models."""
    if tp is Any or isinstance(tp, typing.TypeVar):
        return _json
    enum_type = open_enum_of(tp)
    if enum_type is not None:
        return st.sampled_from(list(enum_type)) | st.just("SomethingNew")
    if is_wire_int(tp):
        return _LEAVES[int]
    if tp in _LEAVES:
        return _LEAVES[tp]
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return st.one_of([strategy_for(a) for a in get_args(tp)])
    if origin is tuple:
        return st.lists(strategy_for(get_args(tp)[0]), max_size=2).map(tuple)
    if origin is dict:
        key, value = get_args(tp)
        return st.dictionaries(strategy_for(key), strategy_for(value), max_size=2)
    if isinstance(tp, type) and issubclass(tp, m.OpenEnum):
        return st.sampled_from(list(tp))
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return st.deferred(lambda: model_strategy(tp))
    raise TypeError(f"no strategy for {tp!r}")


@functools.cache
def model_strategy(cls: type) -> st.SearchStrategy[Any]:
    if cls is m.EventRecord:
        known = st.sampled_from(sorted(CALLBACKS)).flatmap(lambda name: st.builds(
            m.EventRecord, event_seq_id=_LEAVES[int], event_type=st.just(name),
            payload=model_strategy(CALLBACKS[name].payload_type)))
        unknown = st.builds(m.EventRecord, event_seq_id=_LEAVES[int],
                            event_type=st.just("OnSomethingNew"),
                            payload=st.dictionaries(st.text(max_size=5), _json, max_size=3))
        return known | unknown
    return st.builds(cls, **{f.name: strategy_for(f.type) for f in msgspec.structs.fields(cls)})


ALL_MODELS = sorted((getattr(m, n) for n in m.__all__
                     if isinstance(getattr(m, n), type) and issubclass(getattr(m, n), m.Model)
                     and getattr(m, n) is not m.Model),
                    key=lambda c: c.__name__)
string_converter = make_converter(decimal_format="string")


def test_every_catalogue_and_callback_model_is_covered() -> None:
    from sessionkit_mesolive._catalogue import METHODS

    used = {c.payload_type for c in CALLBACKS.values()}
    for spec in METHODS.values():
        used.add(spec.args_type)
        result = get_args(spec.result_type)[0] if get_origin(spec.result_type) else spec.result_type
        used.add(result)
    assert used <= set(ALL_MODELS)
    assert len(ALL_MODELS) > 90


@pytest.mark.parametrize("cls", ALL_MODELS, ids=lambda c: c.__name__)
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_round_trip_through_json(cls: type, data: st.DataObject) -> None:
    value = data.draw(model_strategy(cls))
    assert conv.loads(conv.dumps(value), cls) == value
    # and as plain JSON values, decimals written as strings
    plain = json.loads(json.dumps(string_converter.unstructure(value)))
    assert string_converter.structure(plain, cls) == value


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([m.StartPreparationResult, m.LiveLeg, m.GetEventsSinceResult]).flatmap(
    lambda t: st.tuples(st.just(t), model_strategy(t))))
def test_generic_envelope_round_trip(pair: tuple[type, Any]) -> None:
    data_type, data = pair
    envelope = m.MesoLiveApiResponse(status=m.StatusCode.SUCCESS, message="ok", data=data)
    cls = m.MesoLiveApiResponse[data_type]  # type: ignore[valid-type]
    assert conv.loads(conv.dumps(envelope, cls), cls) == envelope
    assert unwrap(conv.dumps(envelope, cls), data_type) == data


# -- exact wire names -------------------------------------------------------------------------


def test_wire_names_of_send_order_args() -> None:
    args = m.SendOrderArgs(
        idempotency_key="send_order_1", broker_account_id="U1234567", exec_plan_id=88,
        leg_group_id=2, leg_group_order=m.LegGroupOrder(
            order_type=m.OrderType.LIMIT, time_in_force=m.TimeInForce.DAY,
            limit_price=Decimal("-1.35"), leg_names=("short_put", "long_put")))
    wire = json.loads(conv.dumps(args))
    assert wire == {
        "IdempotencyKey": "send_order_1", "BrokerAccountId": "U1234567", "ExecPlanId": 88,
        "LegGroupId": 2, "ReplacesOrder": None, "QtyMultiplier": None,
        "LegGroupOrder": {"OrderType": "Limit", "TimeInForce": "Day", "LimitPrice": -1.35,
                          "StopPrice": None, "LegNames": ["short_put", "long_put"]},
    }


def test_irregular_pnl_spellings() -> None:
    assert wire_name("user_set_realized_pnl") == "UserSetRealizedPnL"
    assert wire_name("position_pnls") == "PositionPnLs"
    assert wire_name("pnl_fields") == "PnlFields"
    args = m.StreamPositionDataArgs(position_id=12, include_position=m.LiveDataInclude.ALL,
                                    include_legs=m.LiveDataInclude.PRICES,
                                    include_leg_groups=m.LiveDataInclude.NONE)
    assert list(json.loads(conv.dumps(args))) == [
        "PositionId", "IncludePosition", "IncludeLegs", "IncludeLegGroups", "PriceFields",
        "GreekFields", "PnlFields", "Provider"]


def test_decodes_an_idempotency_record_shaped_like_the_reference() -> None:
    payload = {
        "IdempotencyKey": "send_order_7f3", "Operation": "SendOrder", "Status": "Completed",
        "CreatedAt": "2024-05-01T13:30:00.1234567Z", "UpdatedAt": "2024-05-01T15:30:01+02:00",
        "RequestHash": "ab12", "LiveExecPlanId": "4411", "LiveOrderIds": [9001, "9002"],
        "JobStatus": None, "JobResult": {"ExecPlanId": 4411}, "ResponseStatus": "Success",
        "ResponseData": "{\"LiveOrderIds\":[9001,9002]}", "SomeFutureField": {"x": 1},
    }
    rec = conv.structure(payload, m.IdempotencyRecord)
    assert rec.operation is m.IdempotencyOperation.SEND_ORDER
    assert rec.status is m.IdempotencyRecordStatus.COMPLETED
    # .NET's seven fractional digits, rounded to Python's microsecond
    assert rec.created_at == datetime(2024, 5, 1, 13, 30, 0, 123457, tzinfo=UTC)
    assert rec.updated_at == datetime(2024, 5, 1, 13, 30, 1, tzinfo=UTC)
    assert rec.updated_at.tzinfo is UTC
    assert rec.live_exec_plan_id == 4411 and rec.live_order_ids == (9001, 9002)
    assert rec.job_result == {"ExecPlanId": 4411}
    assert rec.response_error is None and rec.error_message is None


def test_decodes_a_position_data_entry_with_leg_id_keys() -> None:
    payload = {
        "PositionPrices": {"SnapshotTime": "2024-05-01T13:30:00Z", "Mark": 12.5, "MarkAgeMs": 40},
        "PositionGreeks": None, "PositionPnLs": {"Realized": "-15.25", "Mark": 100},
        "LegPrices": {"101": {"Bid": 1.05, "Ask": 1.1}, "102": {"Bid": 2.2}},
        "LegGroupPnLs": {"1": {"Realized": 0}},
    }
    entry = conv.structure(payload, m.PositionDataEntry)
    assert entry.position_prices is not None and entry.position_prices.mark == Decimal("12.5")
    assert entry.position_pnls == m.LivePnL(realized=Decimal("-15.25"), mark=Decimal(100))
    assert entry.leg_prices is not None and set(entry.leg_prices) == {101, 102}
    assert entry.leg_prices[101].ask == Decimal("1.1")
    assert entry.leg_group_pnls == {1: m.LivePnL(realized=Decimal(0))}
    assert json.loads(conv.dumps(entry))["LegPrices"].keys() == {"101", "102"}


def test_event_seq_ids_sent_as_strings_decode_to_int() -> None:
    payload = {"EventId": "5b1c7a7e-8f5b-4b7e-9a55-3f1d2c7e9b10", "EventSeqId": "9007199254740993",
               "EventTime": "2024-05-01T13:30:00Z", "PositionId": 5, "StrategyId": "12",
               "StrategyName": "SPX", "PositionName": "P", "BrokerAccountId": "ML1234",
               "Status": "RealizedPnLChanged", "RealizedPnL": 12.75}
    ev = conv.structure(payload, m.PositionUpdateEvent)
    assert ev.event_seq_id == 9007199254740993 and ev.strategy_id == 12
    assert ev.event_id == UUID("5b1c7a7e-8f5b-4b7e-9a55-3f1d2c7e9b10")
    assert ev.status is m.PositionStatus.REALIZED_PNL_CHANGED
    latest = conv.structure({"LatestEventSeqId": "42", "SnapshotTime": "2024-05-01T13:30:00Z"},
                            m.GetLatestEventSeqIdResult)
    assert latest.latest_event_seq_id == 42


def test_replay_records_decode_their_payload_by_callback_name() -> None:
    order = {"EventId": "5b1c7a7e-8f5b-4b7e-9a55-3f1d2c7e9b10", "EventSeqId": 8,
             "EventTime": "2024-05-01T13:30:00Z", "OrderId": 77, "StrategyId": 1,
             "StrategyName": "S", "State": "Filled", "FilledQty": "1", "RemainingQty": 0,
             "FillPrice": None, "AvgFillPrice": "1.25"}
    page = conv.structure({"Events": [
        {"EventSeqId": 8, "EventType": "OnOrderUpdate", "Payload": order},
        {"EventSeqId": 11, "EventType": "OnBrandNewThing", "Payload": {"Foo": 1}},
    ], "HasMore": False, "LastEventSeqId": 11}, m.GetEventsSinceResult)
    assert isinstance(page.events[0].payload, m.OrderUpdateEvent)
    assert page.events[0].payload.avg_fill_price == Decimal("1.25")
    assert page.events[1].payload == {"Foo": 1}


# -- leaf rules -------------------------------------------------------------------------------


def test_decimal_precision_is_preserved() -> None:
    value = m.LivePrices(bid=Decimal("123456789.123456789012345"), ask=Decimal("0.10"),
                         mark=Decimal("1E+3"))
    raw = conv.dumps(value)
    assert b'"Bid":123456789.123456789012345' in raw and b'"Ask":0.10' in raw
    assert b'"Mark":1E+3' in raw  # the exact digits as the Decimal holds them (a JSON number)
    back = conv.loads(raw, m.LivePrices)
    assert back.bid == Decimal("123456789.123456789012345") and str(back.ask) == "0.10"
    # JSON numbers parsed as floats elsewhere still decode to the short decimal, not 0.1000000001
    assert conv.structure({"Bid": 0.1}, m.LivePrices).bid == Decimal("0.1")
    assert conv.structure({"Bid": "2.50"}, m.LivePrices).bid == Decimal("2.50")
    assert json.loads(string_converter.dumps(value))["Bid"] == "123456789.123456789012345"


def test_non_finite_decimals_are_refused_both_ways() -> None:
    with pytest.raises(DecodeError, match=r"LivePrices.bid: expected a number, got 'NaN'"):
        conv.structure({"Bid": "NaN"}, m.LivePrices)
    with pytest.raises(EncodeError, match="non-finite"):
        conv.dumps(m.LivePrices(bid=Decimal("Infinity")))


def test_datetimes_are_utc() -> None:
    p = conv.structure({"SnapshotTime": "2024-05-01T09:30:00-04:00"}, m.LivePrices)
    assert p.snapshot_time == datetime(2024, 5, 1, 13, 30, tzinfo=UTC)
    assert p.snapshot_time is not None and p.snapshot_time.utcoffset() == timedelta(0)
    naive = conv.structure({"SnapshotTime": "2024-05-01T13:30:00"}, m.LivePrices)
    assert naive.snapshot_time == datetime(2024, 5, 1, 13, 30, tzinfo=UTC)  # docs: always UTC
    plus_two = timezone(timedelta(hours=2))
    out = json.loads(conv.dumps(m.LivePrices(
        snapshot_time=datetime(2024, 5, 1, 15, 30, 0, 250000, tzinfo=plus_two))))
    assert out["SnapshotTime"] == "2024-05-01T13:30:00.250000Z"
    with pytest.raises(EncodeError, match="naive datetime"):
        conv.dumps(m.LivePrices(snapshot_time=datetime(2024, 5, 1)))
    with pytest.raises(DecodeError, match=r"LivePrices.snapshot_time: expected an ISO-8601"):
        conv.structure({"SnapshotTime": "yesterday"}, m.LivePrices)


def test_a_model_holds_the_wire_rules_when_it_is_made() -> None:
    plus_two = timezone(timedelta(hours=2))
    prices = m.LivePrices(snapshot_time=datetime(2024, 5, 1, 15, 30, tzinfo=plus_two), bid=5)
    assert prices.snapshot_time is not None and prices.snapshot_time.tzinfo is UTC
    assert prices.snapshot_time == datetime(2024, 5, 1, 13, 30, tzinfo=UTC)
    assert prices.bid == Decimal(5) and type(prices.bid) is Decimal
    assert m.LiveAccount(broker_account_id="A", broker_type="Ibkr", account_type="X",
                         currency="USD", is_paper_account=True).broker_type is m.BrokerType.IBKR
    assert m.GetLegsArgs(leg_ids=("7", 8)).leg_ids == (7, 8)  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match=r"LivePrices.snapshot_time: naive datetime"):
        m.LivePrices(snapshot_time=datetime(2024, 5, 1))
    with pytest.raises(EncodeError, match=r"LegGroupQtys.leg_qtys: non-finite decimal NaN"):
        m.LegGroupQtys(qty=Decimal(1), leg_qtys={"a": Decimal("NaN")})
    with pytest.raises(EncodeError, match="non-finite"):
        msgspec.structs.replace(prices, ask=Decimal("-Infinity"))
    # a replay record made with a known callback's JSON holds the callback's model
    record = m.EventRecord(event_seq_id=1, event_type="OnAgentStatus", payload={
        "EventId": str(UUID(int=1)), "EventSeqId": 1, "EventTime": "2024-05-01T13:30:00Z",
        "Status": "Connected", "Message": "up"})
    assert isinstance(record.payload, m.AgentStatusEvent)


def test_lenient_and_strict_spellings_decode_alike() -> None:
    # a payload msgspec reads in one step and one it reads again field by field (a naive
    # timestamp, a numeric enum) give equal models
    strict = {"Id": 5, "State": "Open", "CreatedAt": "2024-05-01T13:30:00Z", "Name": "P",
              "BrokerAccountId": "A", "LiveStrategyId": 9, "StrategyName": "S",
              "QtyMultiplier": 2}
    lenient = {**strict, "Id": " 5", "CreatedAt": "2024-05-01T13:30:00", "QtyMultiplier": "2"}
    assert conv.structure(lenient, m.LivePosition) == conv.structure(strict, m.LivePosition)
    assert conv.loads(json.dumps(lenient), m.LivePosition) == conv.structure(strict,
                                                                            m.LivePosition)


def test_open_enums_keep_unknown_values() -> None:
    assert m.open_enum(m.OrderState, "Filled") is m.OrderState.FILLED
    assert m.open_enum(m.OrderState, "PendingCancelNew") == "PendingCancelNew"
    ev = conv.structure({"State": "PendingCancelNew", "OrderId": 1, "StrategyId": 1,
                         "StrategyName": "S", "EventId": str(UUID(int=1)), "EventSeqId": 1,
                         "EventTime": "2024-05-01T13:30:00Z"}, m.OrderUpdateEvent)
    assert ev.state == "PendingCancelNew" and not isinstance(ev.state, m.OrderState)
    assert json.loads(conv.dumps(ev))["State"] == "PendingCancelNew"
    env = conv.structure({"Status": "RateLimited", "Message": "slow down"},
                         m.MesoLiveApiResponse[Any])
    assert env.status == "RateLimited"
    # the wire form of enums is unknown: a number is kept as its text rather than failing
    assert conv.structure({"Status": 4}, m.MesoLiveApiResponse[Any]).status == "4"
    assert m.flags(m.LiveDataInclude.PRICES, m.LiveDataInclude.PNL) == "Prices, PnL"


def test_unknown_fields_are_ignored_and_optional_fields_default() -> None:
    acct = conv.structure({"BrokerAccountId": "ML1234", "BrokerType": "Ibkr", "AccountType": "X",
                           "Currency": "USD", "IsPaperAccount": True, "Whatever": [1, 2]},
                          m.LiveAccount)
    assert acct.net_liquidation_value is None and acct.active_positions == 0


# -- bad input names the field path ---------------------------------------------------------


def test_bad_leaf_names_model_and_path() -> None:
    leg = {"Id": 1, "Name": "a", "LegGroupId": 1, "CreatedAt": "2024-05-01T13:30:00Z",
           "LivePositionId": 1, "AccountId": "A", "Underlying": "SPX", "Qty": "abc",
           "AvgEntryPrice": 1, "LiveContract": {"ContractType": "Options",
                                                "Underlying": {"Symbol": "SPX"}}}
    with pytest.raises(DecodeError) as exc:
        conv.structure({"Legs": [leg, leg, leg]}, m.ListLegsResult)
    assert str(exc.value).startswith("ListLegsResult.legs[0].qty: expected a number, got 'abc'")
    assert exc.value.problems[2] == ("ListLegsResult.legs[2].qty", "expected a number, got 'abc'")
    assert isinstance(exc.value, MesoLiveSignalRError)


@pytest.mark.parametrize(("payload", "cls", "message"), [
    ({"Symbol": None}, m.LiveUnderlying, "LiveUnderlying.symbol: expected a string, got null"),
    ({}, m.LiveUnderlying, "LiveUnderlying.symbol: required field missing"),
    ([], m.LiveUnderlying, "LiveUnderlying: expected an object for LiveUnderlying, got an array"),
    ({"LegIds": [1, True]}, m.GetLegsArgs,
     "GetLegsArgs.leg_ids[1]: expected an integer, got a boolean"),
    ({"Strategies": ["1x"]}, m.SubscribeToStrategiesArgs,
     "SubscribeToStrategiesArgs.strategies[0]: expected an integer, got '1x'"),
    ({"Qty": 1, "LegQtys": {"a": "z"}}, m.LegGroupQtys,
     "LegGroupQtys.leg_qtys['a']: expected a number, got 'z'"),
    ({"EventId": "nope", "EventSeqId": 1, "EventTime": "2024-05-01T13:30:00Z"},
     m.EventHeader, "EventHeader.event_id: expected a UUID string, got 'nope'"),
])
def test_bad_input_messages(payload: Any, cls: type, message: str) -> None:
    with pytest.raises(DecodeError) as exc:
        conv.structure(payload, cls)
    assert str(exc.value).startswith(message)
    with pytest.raises(DecodeError) as exc:  # and read from JSON text, the same words
        conv.loads(json.dumps(payload), cls)
    assert str(exc.value).startswith(message)


def test_bad_int_key_is_reported() -> None:
    with pytest.raises(DecodeError,
                       match=r"LegsDataEntry.leg_prices\['x'\]: bad key: expected an integer"):
        conv.structure({"LegPrices": {"x": {}}}, m.LegsDataEntry)


def test_bad_payload_inside_a_replay_record() -> None:
    bad = {"EventId": str(UUID(int=3)), "EventSeqId": 3, "EventTime": "2024-05-01T13:30:00Z",
           "OrderId": "seven", "StrategyId": 1, "StrategyName": "S", "State": "Filled"}
    with pytest.raises(DecodeError, match=r"GetEventsSinceResult.events\[0\].payload.order_id: "
                                          "expected an integer, got 'seven'"):
        conv.structure({"Events": [{"EventSeqId": 3, "EventType": "OnOrderUpdate",
                                    "Payload": bad}], "HasMore": False, "LastEventSeqId": 3},
                       m.GetEventsSinceResult)


def test_invalid_json_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="not valid JSON"):
        conv.loads(b"{nope", m.LiveUnderlying)
    with pytest.raises(DecodeError, match="not valid JSON"):
        conv.loads(b'{"Bid": NaN}', m.LivePrices)
    with pytest.raises(DecodeError, match="not valid JSON"):  # deeper than msgspec reads
        conv.loads(b'{"Bid": ' + b"[" * 100_000, m.LivePrices)


# -- envelope and errors --------------------------------------------------------------------


def test_unwrap_raises_the_status_subclass() -> None:
    envelope = {"Status": "DuplicateRequest", "Message": "already completed",
                "Error": {"Code": "Dup", "ValidationErrors": {"IdempotencyKey": ["seen"]}},
                "Data": {"LiveOrderIds": [5]}}
    with pytest.raises(DuplicateRequestError) as exc:
        unwrap(envelope, m.SendOrderResult)
    assert is_duplicate_request(exc.value) and not is_conflict(exc.value)
    assert exc.value.error == m.MesoLiveApiError(code="Dup",
                                                 validation_errors={"IdempotencyKey": ("seen",)})
    assert exc.value.data == {"LiveOrderIds": [5]}
    with pytest.raises(ConflictError):
        unwrap(b'{"Status": "Conflict"}', m.SendOrderResult)
    with pytest.raises(MesoLiveApiException) as unknown:
        unwrap({"Status": "RateLimited"}, m.SendOrderResult)
    assert type(unknown.value) is MesoLiveApiException and unknown.value.status == "RateLimited"


def test_unwrap_shape_errors_are_signalr_errors() -> None:
    with pytest.raises(MesoLiveSignalRError, match="expected a JSON object"):
        unwrap([1], m.SendOrderResult)
    with pytest.raises(DecodeError, match="MesoLiveApiResponse.status: required field missing"):
        unwrap({"Data": {}}, m.SendOrderResult)
    with pytest.raises(DecodeError, match="MesoLiveApiResponse.data: required for SendOrderResult"):
        unwrap({"Status": "Success"}, m.SendOrderResult)
    with pytest.raises(DecodeError, match=r"SendOrderResult.live_order_ids\[0\]"):
        unwrap({"Status": "Success", "Data": {"LiveOrderIds": ["x"]}}, m.SendOrderResult)
    assert unwrap({"Status": "Success"}, m.SendOrderResult | None) is None
    assert unwrap({"Status": "Success", "Data": [{"Connector": "Ibkr", "Status": "Connected"}]},
                  tuple[m.AgentInfo, ...]) == (
        m.AgentInfo(connector=m.AgentConnector.IBKR, status=m.AgentStatus.CONNECTED),)


def test_default_converter_is_shared() -> None:
    assert conv.structure({"Symbol": "SPX"}, m.LiveUnderlying) == default_converter.structure(
        {"Symbol": "SPX"}, m.LiveUnderlying)
