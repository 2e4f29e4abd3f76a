"""Wire formats: every message type round-trips; bad frames are refused with the field named."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionkit import (
    Batch,
    DecodeError,
    JsonCodec,
    LimitOrder,
    LocalProtocolError,
    Message,
    MsgpackCodec,
    Request,
    Status,
    UnknownMessage,
)
from sessionkit._messages import MESSAGE_TYPES

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
ints = st.integers(-(2**53), 2**53)

st.register_type_strategy(str, text)
st.register_type_strategy(int, ints)
_simple_requests = [c for c in MESSAGE_TYPES.values()
                    if issubclass(c, Request) and c is not Batch]
st.register_type_strategy(Request, st.one_of([st.builds(c) for c in _simple_requests]))

ALL_TYPES = sorted(MESSAGE_TYPES.values(), key=lambda c: c.TYPE)
CODECS = [JsonCodec(), MsgpackCodec()]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.TYPE)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_message_type_round_trips(cls: type[Message], codec: JsonCodec,
                                        data: st.DataObject) -> None:
    msg = data.draw(st.builds(cls))
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


def test_oversize_frames_refused_both_ways() -> None:
    codec = JsonCodec(max_frame_size=64)
    with pytest.raises(DecodeError, match="exceeds max_frame_size 64"):
        codec.decode(b'{"type":"heartbeat"}' + b" " * 64)
    with pytest.raises(LocalProtocolError, match="over max_frame_size 64"):
        codec.encode(Status(cid="x" * 80))
    with pytest.raises(ValueError, match="max_frame_size"):
        JsonCodec(max_frame_size=0)


def test_unencodable_text_is_a_clear_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="cannot encode limit_order"):
        JsonCodec().encode(LimitOrder(cid="\ud800", contract_id=1, size=1, price_in_cents=1))


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    msg = JsonCodec().decode(b'{"type":"status","cid":"a","mid":3,"venue":"X"}')
    assert msg == Status(cid="a", mid=3)


def test_tokens_are_not_in_reprs() -> None:
    from sessionkit import Login

    assert "s3cret" not in repr(Login(account="a", token="s3cret"))


_REQUEST_TYPES = [c for c in ALL_TYPES if issubclass(c, Request)]


@pytest.mark.parametrize("cls", _REQUEST_TYPES, ids=lambda c: c.TYPE)
@settings(max_examples=40, deadline=None)
@given(data=st.data(), cid=text.filter(bool))
def test_with_cid_is_evolve_with_the_cid(cls: type[Request], data: st.DataObject,
                                         cid: str) -> None:
    """The submit path's compiled copier gives what attrs.evolve gives: same type, same
    fields, the new cid, still frozen."""
    import attrs

    from sessionkit._messages import with_cid

    request = data.draw(st.from_type(cls))
    copy = with_cid(request, cid)
    assert type(copy) is cls and copy == attrs.evolve(request, cid=cid)
    assert copy.cid == cid and hash(copy) == hash(attrs.evolve(request, cid=cid))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        copy.cid = "other"  # type: ignore[misc]


def test_with_cid_of_a_class_with_more_than_its_fields_uses_its_init() -> None:
    """A Request subclass with a post-init step (a third party's) is copied through its own
    __init__, so the step runs for the copy too."""
    import attrs

    from sessionkit._messages import with_cid

    @attrs.frozen(kw_only=True)
    class Tagged(Request):
        TYPE = "tagged_test_request"
        note: str = ""
        seen: list[str] = attrs.field(factory=list, eq=False)

        def __attrs_post_init__(self) -> None:
            self.seen.append(self.cid or "")

    copy = with_cid(Tagged(note="n"), "t-1")  # the list is shared, as evolve shares it
    assert copy.note == "n" and copy.cid == "t-1" and copy.seen == ["", "t-1"]
