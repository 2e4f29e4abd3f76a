"""The JSON hub protocol codec: framing, message round trips, and clear errors on bad input."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionkit_mesolive.signalr import (
    Ack,
    CancelInvocation,
    Close,
    Completion,
    HandshakeError,
    HandshakeRequest,
    HandshakeResponse,
    Invocation,
    Ping,
    ProtocolError,
    RecordParser,
    Sequence,
    StreamInvocation,
    StreamItem,
    decode_handshake_request,
    decode_handshake_response,
    decode_record,
    encode_handshake_request,
    encode_handshake_response,
    encode_message,
)

# --- strategies ---------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ids = st.text(min_size=1, max_size=12)
args = st.lists(json_values, max_size=4).map(tuple)
stream_ids = st.none() | st.lists(ids, max_size=3).map(tuple)

messages = st.one_of(
    st.builds(Invocation, ids, args, st.none() | ids, stream_ids),
    st.builds(StreamItem, ids, json_values),
    st.builds(Completion, ids),
    st.builds(Completion.with_result, ids, json_values),
    st.builds(Completion.with_error, ids, st.text(max_size=30)),
    st.builds(StreamInvocation, ids, ids, args, stream_ids),
    st.builds(CancelInvocation, ids),
    st.just(Ping()),
    st.builds(Close, st.none() | st.text(max_size=20), st.booleans()),
    st.builds(Ack, st.integers(min_value=0, max_value=2**53)),
    st.builds(Sequence, st.integers(min_value=0, max_value=2**53)),
)


def parse_all(chunks: list[bytes | str], parser: RecordParser | None = None) -> list[object]:
    parser = parser or RecordParser()
    out: list[object] = []
    for chunk in chunks:
        out.extend(decode_record(r) for r in parser.feed(chunk))
    return out


# --- round trips --------------------------------------------------------------------------


@settings(deadline=None)
@given(messages)
def test_any_message_round_trips(message: object) -> None:
    frame = encode_message(message)  # type: ignore[arg-type]
    assert frame.endswith(b"\x1e") and frame.count(b"\x1e") == 1
    [record] = RecordParser().feed(frame)
    assert decode_record(record) == message


@settings(deadline=None)
@given(st.lists(messages, min_size=1, max_size=8), st.data())
def test_any_split_of_the_stream_parses_identically(
    msgs: list[object], data: st.DataObject
) -> None:
    stream = b"".join(encode_message(m) for m in msgs)  # type: ignore[arg-type]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert parse_all([c for c in chunks if c]) == msgs


@settings(deadline=None)
@given(st.lists(messages, min_size=2, max_size=6))
def test_coalesced_frames_give_every_message_in_order(msgs: list[object]) -> None:
    # Several records in one WebSocket frame, delivered as text (str) this time.
    text = b"".join(encode_message(m) for m in msgs).decode("utf-8")  # type: ignore[arg-type]
    assert parse_all([text]) == msgs


def test_wire_shapes_match_the_aspnet_protocol() -> None:
    assert encode_message(Invocation("Send", ("a", 1))) == (
        b'{"type":1,"target":"Send","arguments":["a",1]}\x1e'
    )
    assert encode_message(Completion("7")) == b'{"type":3,"invocationId":"7"}\x1e'
    assert encode_message(Completion.with_result("7", None)) == (
        b'{"type":3,"invocationId":"7","result":null}\x1e'
    )
    assert encode_message(Close("bye", allow_reconnect=True)) == (
        b'{"type":7,"error":"bye","allowReconnect":true}\x1e'
    )
    assert encode_message(Ping()) == b'{"type":6}\x1e'
    assert (
        encode_handshake_request(HandshakeRequest("json", 2))
        == b'{"protocol":"json","version":2}\x1e'
    )
    assert encode_handshake_response(HandshakeResponse()) == b"{}\x1e"


def test_completion_without_result_differs_from_null_result() -> None:
    void = decode_record(b'{"type":3,"invocationId":"1"}')
    null = decode_record(b'{"type":3,"invocationId":"1","result":null}')
    assert isinstance(void, Completion) and isinstance(null, Completion)
    assert not void.has_result and null.has_result and null.result is None


def test_headers_are_ignored_and_unknown_types_skipped(caplog: pytest.LogCaptureFixture) -> None:
    msg = decode_record(b'{"type":1,"headers":{"a":"b"},"target":"T","arguments":[]}')
    assert msg == Invocation("T", ())
    with caplog.at_level(logging.INFO):
        assert decode_record(b'{"type":42,"whatever":true}') is None
    assert "unknown type 42" in caplog.text


def test_bytes_and_text_input_are_equivalent() -> None:
    frame = encode_message(StreamItem("3", {"ü": "€"}))
    assert parse_all([frame]) == parse_all([frame.decode("utf-8")])


def test_multibyte_utf8_split_inside_a_character() -> None:
    frame = encode_message(StreamItem("1", "€uro"))
    cut = frame.index("€".encode()) + 1
    assert parse_all([frame[:cut], frame[cut:]]) == [StreamItem("1", "€uro")]


def test_handshake_round_trip_and_errors() -> None:
    assert decode_handshake_request(b'{"protocol":"json","version":1}') == HandshakeRequest(
        "json", 1
    )
    assert decode_handshake_response(b'{"error":"nope"}') == HandshakeResponse("nope")
    assert decode_handshake_response(b'{"minorVersion":0}') == HandshakeResponse()
    with pytest.raises(HandshakeError, match="expected a handshake response"):
        decode_handshake_response(b'{"type":6}')
    with pytest.raises(HandshakeError, match="'version' must be an integer"):
        decode_handshake_request(b'{"protocol":"json","version":"1"}')
    with pytest.raises(HandshakeError, match="not valid JSON"):
        decode_handshake_response(b"{oops")


def test_made_in_python_the_optional_parts_have_defaults_the_wire_still_requires() -> None:
    # the constructors keep their defaults (no arguments, a null item); a record must still
    # carry the fields (see the bad-input cases below), and the defaults go on the wire
    assert Invocation("Ping") == Invocation("Ping", ())
    assert StreamItem("1").item is None
    assert StreamInvocation("1", "Prices").arguments == ()
    assert Invocation("T", ["a", 1]).arguments == ("a", 1)  # a list is kept as a tuple
    for message in (Invocation("Ping"), StreamItem("1"), StreamInvocation("1", "Prices")):
        assert decode_record(encode_message(message)[:-1]) == message


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (b"not json", "not valid JSON"),
        (b"[1,2]", "must be a JSON object, got list"),
        (b'{"target":"x"}', "no 'type' field"),
        (b'{"type":"1"}', "'type' must be an integer"),
        (b'{"type":true}', "'type' must be an integer"),
        (b'{"type":1,"arguments":[]}', "INVOCATION message is missing required field 'target'"),
        (b'{"type":1,"target":"","arguments":[]}', "'target' must be a non-empty string"),
        (b'{"type":1,"target":"T"}', "missing required field 'arguments'"),
        (b'{"type":1,"target":"T","arguments":{}}', "'arguments' must be an array, got dict"),
        (
            b'{"type":1,"target":"T","arguments":[],"streamIds":[1]}',
            "'streamIds' must be an array of strings",
        ),
        (b'{"type":2,"invocationId":"1"}', "STREAM_ITEM message is missing required field 'item'"),
        (b'{"type":3,"invocationId":"1","result":1,"error":"e"}', "both 'result' and 'error'"),
        (b'{"type":3,"invocationId":"1","error":5}', "'error' must be a string"),
        (b'{"type":3,"result":1}', "COMPLETION message is missing required field 'invocationId'"),
        (
            b'{"type":4,"invocationId":"1","arguments":[]}',
            "STREAM_INVOCATION message is missing required field 'target'",
        ),
        (
            b'{"type":4,"invocationId":"1","target":"T"}',
            "STREAM_INVOCATION message is missing required field 'arguments'",
        ),
        (b'{"type":5}', "CANCEL_INVOCATION message is missing required field 'invocationId'"),
        (b'{"type":7,"allowReconnect":"yes"}', "'allowReconnect' must be a boolean"),
        (b'{"type":8}', "ACK message field 'sequenceId' must be a non-negative integer"),
        (b'{"type":9,"sequenceId":-1}', "SEQUENCE message field 'sequenceId'"),
        (b'{"type":9,"sequenceId":1.5}', "SEQUENCE message field 'sequenceId'"),
    ],
)
def test_bad_messages_raise_a_clear_protocol_error(record: bytes, expected: str) -> None:
    with pytest.raises(ProtocolError, match=expected.replace("(", r"\(").replace("[", r"\[")):
        decode_record(record)


def test_oversized_record_is_refused_with_the_limit_named() -> None:
    parser = RecordParser(max_message_size=64)
    with pytest.raises(ProtocolError, match="exceeds the maximum message size of 64 bytes"):
        parser.feed(encode_message(StreamItem("1", "x" * 100)))


def test_unterminated_flood_is_refused_before_memory_grows() -> None:
    parser = RecordParser(max_message_size=100)
    parser.feed(b"a" * 60)
    with pytest.raises(ProtocolError, match="without a record separator"):
        parser.feed(b"a" * 60)
    assert parser.pending == 0


def test_empty_record_is_an_error() -> None:
    with pytest.raises(ProtocolError, match="empty record"):
        RecordParser().feed(b'{"type":6}\x1e\x1e')


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_only_ever_raises_protocol_error(garbage: bytes) -> None:
    parser = RecordParser(max_message_size=150)
    try:
        for record in parser.feed(garbage + b"\x1e"):
            decode_record(record)
    except ProtocolError:
        pass


@settings(deadline=None)
@given(json_values)
def test_any_json_value_as_a_message_is_decoded_or_refused_clearly(value: object) -> None:
    import msgspec

    try:
        decode_record(msgspec.json.encode({"type": 1, "target": value, "arguments": value}))
    except ProtocolError as exc:
        assert "INVOCATION message" in str(exc)


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_record_is_a_protocol_error(depth: int) -> None:
    # msgspec reads nested JSON recursively: past Python's limit that must still be a
    # ProtocolError naming the record, not a RecursionError out of the connection
    record = b'{"type":1,"target":"T","arguments":[' + b"[" * depth + b"]" * depth + b"]}"
    try:
        msg = decode_record(record)
    except ProtocolError as exc:
        assert "not valid JSON" in str(exc)
    else:
        assert isinstance(msg, Invocation) and msg.target == "T"
    with pytest.raises(ProtocolError, match="not valid JSON"):
        decode_record(b'{"type":1,"target":"T","arguments":[' + b"[" * 100_000)
