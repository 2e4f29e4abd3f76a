"""Wire formats: every message type round-trips; bad frames are refused with the field named."""

from __future__ import annotations

import types
import typing

import msgspec
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sessionkit import (
    Batch,
    DecodeError,
    InvalidRequestError,
    JsonCodec,
    LimitOrder,
    LocalProtocolError,
    Login,
    Message,
    MsgpackCodec,
    Request,
    Status,
    UnknownMessage,
)
from sessionkit._messages import CHECKED_TYPES, MESSAGE_TYPES
from sessionkit._rules import BATCH_LIMIT, ID_MARK, ID_MAX, check_fields

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
ints = st.integers(-(2**53), 2**53)
ids = st.integers(0, ID_MAX)
counts = st.integers(1, ID_MAX)
#: what str.isprintable() accepts: no control, format, surrogate or separator but a space
printable = st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"))
cids = st.text(printable | st.just(" "), min_size=1, max_size=40)

st.register_type_strategy(str, text)
st.register_type_strategy(int, ints)


def id_kind(tp: object) -> str | None:
    """How a field's type holds ids: "id", "optional" (Id | None), "tuple" or None."""
    if typing.get_origin(tp) is typing.Annotated and ID_MARK in tp.__metadata__:  # type: ignore[attr-defined]
        return "id"
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and any(id_kind(a) for a in args):
        return "optional"
    if typing.get_origin(tp) is tuple and args and id_kind(args[0]) == "id":
        return "tuple"
    return None


#: a valid value of each field of the checked (client-sent) messages, by field name
VALID: dict[str, st.SearchStrategy[object]] = {
    "run_id": st.none() | text, "event_id": st.none() | ids, "ts": st.none() | ids,
    "replay": st.booleans(), "cid": st.none() | cids, "contract_id": ids,
    "side": st.sampled_from(["buy", "sell"]), "size": counts, "price_in_cents": counts,
    "order_mid": ids, "all_contracts": st.booleans(), "mids": st.lists(ids, max_size=5),
    "account": text.filter(bool), "token": text, "resume_event_id": st.integers(0, ID_MAX + 1),
    "from_event_id": ids, "to_event_id": ids,
}
_SIMPLE_REQUESTS = [c for c in MESSAGE_TYPES.values() if issubclass(c, Request) and c is not Batch]


def message(cls: type[Message]) -> st.SearchStrategy[Message]:
    """Any valid message of ``cls``: a client-sent one obeys its rules, an inbound one holds
    ids in the protocol's range."""
    if cls is Batch:
        return st.builds(Batch, cid=VALID["cid"],
                         messages=st.lists(st.one_of([message(c) for c in _SIMPLE_REQUESTS]),
                                           min_size=1, max_size=3))
    if cls in CHECKED_TYPES:
        return st.builds(cls, **{a.name: VALID[a.name] for a in msgspec.structs.fields(cls)})
    fixed: dict[str, st.SearchStrategy[object]] = {}
    for a in msgspec.structs.fields(cls):
        kind = id_kind(a.type)
        if kind == "id":
            fixed[a.name] = ids
        elif kind == "optional":
            fixed[a.name] = st.none() | ids
        elif a.name == "messages":  # BatchAck's statuses
            fixed[a.name] = st.lists(message(Status), max_size=3).map(tuple)
        elif a.name == "orders":
            from sessionkit import BookOrder

            fixed[a.name] = st.lists(st.builds(BookOrder, mid=ids), max_size=3).map(tuple)
        elif a.name == "contract":
            from sessionkit import Contract

            fixed[a.name] = st.none() | st.builds(Contract, contract_id=ids)
    return st.builds(cls, **fixed)


ALL_TYPES = sorted(MESSAGE_TYPES.values(), key=lambda c: c.TYPE)
CODECS = [JsonCodec(), MsgpackCodec()]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.TYPE)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_message_type_round_trips(cls: type[Message], codec: JsonCodec,
                                        data: st.DataObject) -> None:
    msg = data.draw(message(cls))
    assert codec.decode(codec.encode(msg)) == msg


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_unknown_type_round_trips_for_the_fallback(codec: JsonCodec) -> None:
    msg = UnknownMessage(type="weather", fields={"temp": 3, "unit": "C"})
    assert codec.decode(codec.encode(msg)) == msg


@pytest.mark.parametrize("frame,field,words", [
    (b'{"type":"limit_order","cid":"x","contract_id":"1","size":1,"price_in_cents":3}',
     "limit_order.contract_id", "expected int"),
    (b'{"type":"limit_order","cid":"x","contract_id":1,"size":true,"price_in_cents":3}',
     "limit_order.size", "expected int"),
    (b'{"type":"limit_order","cid":"x","size":1,"price_in_cents":3}',
     "limit_order.contract_id", "required field missing"),
    (b'{"type":"status","cid":7}', "status.cid", "expected str"),
    (b'{"type":"batch","cid":"b","messages":[{"type":"limit_order","cid":"x","contract_id":1,'
     b'"size":"a","price_in_cents":3}]}', "batch.messages[0].size", "expected int"),
    (b'{"type":"batch","cid":"b","messages":[{"type":"status","cid":"a"}]}',
     "batch.messages[0]", "Request"),
    (b'{"cid":"x"}', "type", "no string 'type'"),
])
def test_bad_fields_are_named(frame: bytes, field: str, words: str) -> None:
    with pytest.raises(DecodeError) as err:
        JsonCodec().decode(frame)
    assert err.value.field == field
    assert words in str(err.value)


@pytest.mark.parametrize("frame", [b"", b"\x00\x01", b"[1,2]", b"nul", b'"text"'])
def test_frames_that_are_not_objects(frame: bytes) -> None:
    with pytest.raises(DecodeError):
        JsonCodec().decode(frame)
    with pytest.raises(DecodeError):
        MsgpackCodec().decode(frame)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
@pytest.mark.parametrize("where", ["unknown field", "unknown type", "frame"])
def test_a_frame_nested_too_deeply_is_a_decode_error(codec: JsonCodec, where: str) -> None:
    """Nested deeper than the decoder reads (it recurses): refused, never a crash."""
    depth = 5000
    if codec.name == "json":
        deep = b"[" * depth + b"]" * depth
        frame = {"unknown field": b'{"type":"status","cid":"a","x":%s}',
                 "unknown type": b'{"type":"weather","x":%s}', "frame": b"%s"}[where] % deep
    else:
        deep = b"\x91" * depth + b"\x90"  # [[[...[]...]]]
        frame = {"unknown field": b"\x83\xa4type\xa6status\xa3cid\xa1a\xa1x%s",
                 "unknown type": b"\x82\xa4type\xa7weather\xa1x%s", "frame": b"%s"}[where] % deep
    with pytest.raises(DecodeError) as err:
        codec.decode(frame)
    assert err.value.offending == frame


def test_oversize_frames_refused_both_ways() -> None:
    codec = JsonCodec(max_frame_size=64)
    with pytest.raises(DecodeError, match="exceeds max_frame_size 64"):
        codec.decode(b'{"type":"heartbeat"}' + b" " * 64)
    with pytest.raises(LocalProtocolError, match="over max_frame_size 64"):
        codec.encode(Status(cid="x" * 80))
    with pytest.raises(ValueError, match="max_frame_size"):
        JsonCodec(max_frame_size=0)


def test_unencodable_text_is_a_clear_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="cannot encode status"):
        JsonCodec().encode(Status(cid="\ud800"))


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    msg = JsonCodec().decode(b'{"type":"status","cid":"a","mid":3,"venue":"X"}')
    assert msg == Status(cid="a", mid=3)


def test_tokens_are_not_in_reprs() -> None:
    from sessionkit import Login

    assert "s3cret" not in repr(Login(account="a", token="s3cret"))


def test_messages_are_frozen() -> None:
    order = LimitOrder(cid="c-1", contract_id=1, size=1, price_in_cents=5)
    with pytest.raises(AttributeError):
        order.cid = "other"  # type: ignore[misc]
    assert hash(order) == hash(LimitOrder(cid="c-1", contract_id=1, size=1, price_in_cents=5))


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_a_request_subclass_is_sent_as_its_wire_type(codec: JsonCodec) -> None:
    """A subclass keeps its base's wire type unless it names its own (TYPE); a subclass's
    own post-init step runs for the session's copy with its cid too."""
    seen: list[str] = []

    class Noted(LimitOrder, frozen=True, kw_only=True):
        note: str = ""

    class Ping(Request, frozen=True, kw_only=True):
        TYPE = "ping_test_request"

        def __post_init__(self) -> None:
            seen.append(self.cid or "")

    noted = Noted(cid="n-1", contract_id=1, size=1, price_in_cents=5, note="x")
    assert codec.decode(codec.encode(noted)) == LimitOrder(cid="n-1", contract_id=1, size=1,
                                                           price_in_cents=5)
    assert codec.decode(codec.encode(Ping(cid="p-1"))) == UnknownMessage(
        type="ping_test_request", fields={"cid": "p-1"})
    from sessionkit.testing import CoreLoop

    loop = CoreLoop()
    loop.login()
    before = len(seen)
    cid = loop.session.submit(Ping(), loop.now)
    assert seen[before:] == ["", cid]  # made without a cid, then the session's copy with it


# -- ids: 0..2^63-1 (docs/protocol.md "Ranges") ------------------------------------------------

_ID_FRAMES = [
    (b'{"type":"status","cid":"a","mid":%d}', "status.mid"),
    (b'{"type":"heartbeat","event_id":%d}', "heartbeat.event_id"),
    (b'{"type":"login_ack","last_event_id":%d}', "login_ack.last_event_id"),
    (b'{"type":"resend_complete","begin":1,"end":%d}', "resend_complete.end"),
    (b'{"type":"action_report","mid":%d,"contract_id":1,"size":0}', "action_report.mid"),
    (b'{"type":"book_top","contract_id":%d}', "book_top.contract_id"),
    (b'{"type":"batch_ack","cid":"b","messages":[{"type":"status","cid":"a","mid":%d}]}',
     "batch_ack.messages[0].mid"),
    (b'{"type":"book_state_snapshot","contract_id":1,"orders":[{"mid":%d,"side":"buy",'
     b'"size":1,"price_in_cents":1}]}', "book_state_snapshot.orders[0].mid"),
    (b'{"type":"contract_detail","contract":{"contract_id":%d,"label":"x"}}',
     "contract_detail.contract.contract_id"),
    (b'{"type":"cancel_order","cid":"c","order_mid":%d}', "cancel_order.order_mid"),
    (b'{"type":"message_replay","cid":"c","mids":[1,%d]}', "message_replay.mids[1]"),
    (b'{"type":"event_replay","from_event_id":1,"to_event_id":%d}', "event_replay.to_event_id"),
]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
@pytest.mark.parametrize("frame, field", _ID_FRAMES, ids=[f for _, f in _ID_FRAMES])
@pytest.mark.parametrize("bad", [2**63, 2**64 - 1, -1, -(2**63)])
def test_ids_out_of_range_are_refused_at_decode_naming_the_field(
        codec: JsonCodec, frame: bytes, field: str, bad: int) -> None:
    """An id the journal's SQLite INTEGER could not hold (or a negative one) is a
    DecodeError naming the field and carrying the frame, never a message."""
    with pytest.raises(DecodeError) as err:
        codec.decode(_frame(codec, frame % bad))
    assert err.value.field == field
    assert f"id out of range: {bad} is not in 0..2^63-1" in str(err.value)
    assert err.value.offending == _frame(codec, frame % bad)
    assert codec.decode(_frame(codec, frame % ID_MAX)) is not None  # the largest id is taken


def _frame(codec: JsonCodec, json_frame: bytes) -> bytes:
    return (json_frame if codec.name == "json"
            else msgspec.msgpack.encode(msgspec.json.decode(json_frame)))


@pytest.mark.parametrize("bad", [2**63 + 1, -1])
def test_a_resume_token_goes_one_past_the_largest_id(bad: int) -> None:
    """resume_event_id N replays from N on: 2^63 resumes after the largest id, 2^63+1 is
    refused."""
    frame = b'{"type":"login","account":"a","resume_event_id":%d}'
    assert JsonCodec().decode(frame % 2**63) == Login(account="a", resume_event_id=2**63)
    with pytest.raises(DecodeError) as err:
        JsonCodec().decode(frame % bad)
    assert err.value.field == "login.resume_event_id"
    assert "Login.resume_event_id must be a resume token: an integer in 0..2^63" in str(err.value)


def test_an_integer_beyond_64_bits_is_refused_as_not_an_integer() -> None:
    # an integer beyond 64 bits is refused as not an integer (what a 64-bit reader does)
    with pytest.raises(DecodeError) as err:
        JsonCodec().decode(b'{"type":"status","cid":"a","mid":18446744073709551616}')
    assert err.value.field == "status.mid" and "expected int | None" in str(err.value)


@pytest.mark.parametrize("frame, field, words", [
    (b'{"type":"limit_order","cid":"x","contract_id":1,"size":0,"price_in_cents":3}',
     "limit_order.size", "LimitOrder.size must be an integer in 1..2^63-1, got 0"),
    (b'{"type":"limit_order","cid":"x","contract_id":1,"side":"up","size":1,'
     b'"price_in_cents":3}', "limit_order.side", "must be 'buy' or 'sell'"),
    (b'{"type":"limit_order","cid":"","contract_id":1,"size":1,"price_in_cents":3}',
     "limit_order.cid", "a client id"),
    (b'{"type":"batch","cid":"b","messages":[]}', "batch.messages",
     f"a tuple of 1 to {BATCH_LIMIT} requests"),
    (b'{"type":"batch","cid":"b","messages":[{"type":"cancel_order","cid":"x","order_mid":1},'
     b'{"type":"limit_order","cid":"y","contract_id":1,"size":1,"price_in_cents":-3}]}',
     "batch.messages[1].price_in_cents", "LimitOrder.price_in_cents must be a price"),
])
def test_a_request_breaking_its_rules_is_refused_at_decode(frame: bytes, field: str,
                                                           words: str) -> None:
    """What the exchange side decodes obeys the same rules as what the client makes."""
    with pytest.raises(DecodeError) as err:
        JsonCodec().decode(frame)
    assert err.value.field == field
    assert words in str(err.value)


# -- the properties -------------------------------------------------------------------------

#: values a field might be given by mistake, next to valid ones
hostile = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),
    st.sampled_from([-1, 0, 1, ID_MAX, ID_MAX + 1, 2**64 - 1, 2**64, -(2**63) - 1]),
    st.sampled_from(["", "1", "buy", "sell", "x" * 129, "a\x00b", "\ud800", " "]), text,
    st.lists(st.integers(-2, 3), max_size=3), st.tuples(st.integers(-2, 3)),
)


def _fields_within_ranges(msg: object, path: str = "") -> None:
    """Every id of ``msg`` (nested ones too) is in 0..2^63-1 and no int field holds a bool;
    a client-sent message obeys its rules."""
    if type(msg) in CHECKED_TYPES:
        check_fields(msg)
    for a in msgspec.structs.fields(type(msg)):
        value = getattr(msg, a.name)
        kind = id_kind(a.type)
        values = value if kind == "tuple" else (value,) if kind else ()
        for v in values:
            if v is None and kind == "optional":
                continue
            assert type(v) is int and 0 <= v <= ID_MAX, f"{path}{a.name}={v!r}"
        if a.type is int or (typing.get_origin(a.type) is typing.Annotated
                             and typing.get_args(a.type)[0] is int):
            # an int (an IntEnum default, StatusCode.OK, is one), never a bool
            assert isinstance(value, int) and not isinstance(value, bool), \
                f"{path}{a.name}={value!r}"
        for v in (value if isinstance(value, tuple) else (value,)):
            if isinstance(v, msgspec.Struct):
                _fields_within_ranges(v, f"{path}{a.name}.")


@pytest.mark.parametrize("cls", sorted((c for c in CHECKED_TYPES if c is not Request),
                                        key=lambda c: c.__name__), ids=lambda c: c.__name__)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_request_a_constructor_accepts_encodes_and_decodes_back_to_itself(
        cls: type[Message], data: st.DataObject) -> None:
    """Fields drawn from valid and hostile values alike: what a constructor accepts is
    within the documented ranges and survives both codecs unchanged; what it refuses is
    an InvalidRequestError naming the class and a field of it."""
    names = [a.name for a in msgspec.structs.fields(cls)]
    spoilt = data.draw(st.sets(st.sampled_from(names), max_size=2), label="hostile fields")
    kwargs = {}
    for name in names:
        valid = (st.lists(message(LimitOrder), min_size=1, max_size=2) if name == "messages"
                 else VALID[name])
        kwargs[name] = data.draw(hostile if name in spoilt else valid, label=name)
    try:
        msg = cls(**kwargs)
    except InvalidRequestError as err:
        assert isinstance(err, ValueError) and isinstance(err, LocalProtocolError)
        assert err.type_name == cls.__name__
        assert err.field.split("[")[0] in kwargs
        assert str(err).startswith(f"{cls.__name__}.{err.field} must be ")
        event("refused")
        return
    event("accepted")
    _fields_within_ranges(msg)
    for codec in CODECS:
        assert codec.decode(codec.encode(msg)) == msg


@settings(max_examples=400, deadline=None)
@given(cls=st.sampled_from(ALL_TYPES), data=st.data())
def test_any_message_the_codec_accepts_is_within_the_ranges(cls: type[Message],
                                                          data: st.DataObject) -> None:
    """A frame of any type with fields drawn from valid and hostile values: decoded, it holds
    only ids in 0..2^63-1 (nested ones too), no bool for an int, and a request obeys its
    rules; else it is a DecodeError naming a field."""
    valid = data.draw(message(cls))
    raw = JsonCodec().encode(valid)
    fields = msgspec.json.decode(raw)
    names = sorted({*fields, "mid", "event_id", "last_event_id", "begin", "end"} - {"type"})
    for name in data.draw(st.sets(st.sampled_from(names), max_size=2), label="hostile fields"):
        fields[name] = data.draw(hostile, label=name)
    try:
        frame = msgspec.json.encode(fields)
    except (TypeError, ValueError):
        return  # not JSON (a lone surrogate)
    try:
        msg = JsonCodec().decode(frame)
    except DecodeError as err:
        assert err.field and err.offending == frame
        event("refused")
        return
    event("accepted")
    _fields_within_ranges(msg)
