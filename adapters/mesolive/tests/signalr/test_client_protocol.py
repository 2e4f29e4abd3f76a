"""The sans-IO client and server connection state machines, driven without any I/O."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sessionkit_mesolive.signalr import (
    ClientProtocol,
    CloseReceived,
    Completion,
    ConnectionClosedError,
    ConnectionLostError,
    EndpointState,
    HandshakeError,
    InvocationCompleted,
    PeerTimedOut,
    Ping,
    ProtocolError,
    Resumed,
    ServerInvoked,
    ServerProtocol,
    StreamCompleted,
    StreamItem,
    StreamItemReceived,
    decode_record,
    encode_message,
)
from sessionkit_mesolive.signalr._messages import CancelInvocation, Invocation, StreamInvocation


def connected(stateful: bool = False, **kwargs: float) -> ClientProtocol:
    proto = ClientProtocol(**kwargs)  # type: ignore[arg-type]
    proto.start(0.0, stateful=stateful)
    proto.data_to_send()
    proto.receive_data(b"{}\x1e", 0.0)
    return proto


def sent(proto: ClientProtocol) -> list[object]:
    return [decode_record(frame[:-1]) for frame in proto.data_to_send()]


def test_handshake_asks_version_2_only_for_stateful() -> None:
    for stateful, version in ((False, 1), (True, 2)):
        proto = ClientProtocol()
        proto.start(0.0, stateful=stateful)
        assert proto.data_to_send() == [f'{{"protocol":"json","version":{version}}}\x1e'.encode()]


def test_handshake_refusal_raises_with_the_server_text() -> None:
    proto = ClientProtocol()
    proto.start(0.0)
    with pytest.raises(HandshakeError, match="server refused the handshake: nope"):
        proto.receive_data(b'{"error":"nope"}\x1e', 0.1)
    assert proto.state is EndpointState.CLOSED


def test_messages_in_the_same_frame_as_the_handshake_are_processed() -> None:
    proto = ClientProtocol()
    proto.start(0.0)
    events = proto.receive_data(b'{}\x1e{"type":1,"target":"Hi","arguments":[1]}\x1e', 0.1)
    assert events[1] == ServerInvoked(Invocation("Hi", (1,)))


def test_invocation_ids_are_unique_and_completions_matched() -> None:
    proto = connected()
    a = proto.invoke("A", [], 1.0)
    b = proto.invoke("B", [], 1.0)
    assert a != b and proto.pending_count == 2
    events = proto.receive_data(encode_message(Completion.with_error(b, "bad")), 1.1)
    assert events == [InvocationCompleted(b, "B", Completion.with_error(b, "bad"))]
    # A completion for an unknown id is ignored, not an error.
    assert proto.receive_data(encode_message(Completion("999")), 1.2) == []
    assert proto.pending_count == 1 and proto.pending_target(a) == "A"


def test_stream_items_completion_and_cancel() -> None:
    proto = connected()
    sid = proto.start_stream("Prices", ["SPX"], 1.0)
    assert sent(proto) == [StreamInvocation(sid, "Prices", ("SPX",))]
    events = proto.receive_data(
        encode_message(StreamItem(sid, 1)) + encode_message(StreamItem(sid, 2)), 1.1
    )
    assert events == [StreamItemReceived(sid, 1), StreamItemReceived(sid, 2)]
    assert proto.cancel_stream(sid, 1.2)
    assert sent(proto) == [CancelInvocation(sid)]
    # Late items and the completion after a cancel are dropped silently.
    assert (
        proto.receive_data(
            encode_message(StreamItem(sid, 3)) + encode_message(Completion(sid)), 1.3
        )
        == []
    )
    assert not proto.cancel_stream(sid, 1.4)
    other = proto.start_stream("Other", [], 2.0)
    assert proto.receive_data(encode_message(Completion.with_error(other, "no provider")), 2.1) == [
        StreamCompleted(other, "Other", "no provider")
    ]


def test_keepalive_ping_only_when_nothing_was_sent() -> None:
    proto = connected(keepalive_interval=15.0, timeout=30.0)
    assert proto.next_deadline() == 15.0
    proto.invoke("A", [], 10.0)
    proto.data_to_send()
    assert proto.next_deadline() == 25.0
    proto.receive_data(encode_message(Ping()), 20.0)
    assert proto.handle_timer(24.9) == [] and proto.data_to_send() == []
    assert proto.handle_timer(25.0) == []
    assert sent(proto) == [Ping()]


def test_server_timeout_is_reported() -> None:
    proto = connected(keepalive_interval=15.0, timeout=30.0)
    proto.receive_data(encode_message(Ping()), 5.0)
    assert proto.next_deadline() == 15.0
    proto.handle_timer(15.0)
    assert proto.next_deadline() == 30.0
    assert proto.handle_timer(35.0) == [PeerTimedOut(30.0)]


def test_close_from_server_and_sending_after_close() -> None:
    proto = connected()
    events = proto.receive_data(b'{"type":7,"error":"bye","allowReconnect":true}\x1e', 1.0)
    assert events == [CloseReceived("bye", True)]
    with pytest.raises(ConnectionClosedError):
        proto.invoke("A", [], 2.0)


def test_transport_loss_without_stateful_loses_pending_calls() -> None:
    proto = connected()
    call = proto.invoke("A", [], 1.0)
    assert not proto.transport_lost(2.0)
    assert proto.restart(3.0) == [call]
    with pytest.raises(ConnectionLostError, match="handshaking"):
        proto.invoke("B", [], 3.0)


def test_stateful_loss_buffers_calls_and_resume_replays_them() -> None:
    proto = connected(stateful=True)
    first = proto.invoke("A", [1], 1.0)
    proto.data_to_send()
    assert proto.transport_lost(2.0)
    second = proto.invoke("B", [2], 2.5)  # buffered while away
    assert proto.data_to_send() == []
    proto.resume(3.0)
    assert [m for m in sent(proto)] == [
        decode_record(b'{"type":9,"sequenceId":1}'),
        Invocation("A", (1,), first),
        Invocation("B", (2,), second),
    ]
    # Server resumes too: its Sequence first (the acknowledgement of the resume), then
    # (re)sent messages.
    events = proto.receive_data(
        b'{"type":9,"sequenceId":1}\x1e' + encode_message(Completion.with_result(first, "a")), 3.1
    )
    assert events == [
        Resumed(1),
        InvocationCompleted(first, "A", Completion.with_result(first, "a")),
    ]


def test_a_close_before_the_resume_is_acknowledged_is_heard() -> None:
    """While waiting for the peer's Sequence everything numbered is ignored, but a Close is
    not: it is how a server may refuse a resume."""
    proto = connected(stateful=True)
    proto.invoke("A", [1], 1.0)
    assert proto.transport_lost(2.0)
    proto.resume(3.0)
    proto.data_to_send()
    events = proto.receive_data(
        encode_message(Completion.with_result("0", "late"))
        + b'{"type":7,"error":"No Connection with that ID","allowReconnect":true}\x1e',
        3.1,
    )
    assert events == [CloseReceived("No Connection with that ID", True)]


def test_server_may_not_send_client_only_messages() -> None:
    proto = connected()
    with pytest.raises(ProtocolError, match="only clients may send"):
        proto.receive_data(encode_message(CancelInvocation("1")), 1.0)


def test_server_handshake_refusals_are_answered() -> None:
    for request, reason in (
        (b'{"protocol":"messagepack","version":1}', "The protocol 'messagepack' is not supported."),
        (b'{"protocol":"json","version":3}', "does not support version 3"),
        (b'{"protocol":"json"}', "'version' must be an integer"),
    ):
        proto = ServerProtocol()
        proto.start(0.0)
        with pytest.raises(HandshakeError, match=reason.replace("(", r"\(")):
            proto.receive_data(request + b"\x1e", 0.1)
        [answer] = proto.data_to_send()
        assert answer.startswith(b'{"error":') and proto.state is EndpointState.CLOSED


def test_server_enables_stateful_only_when_negotiated_and_asked() -> None:
    for allowed, version, expected in ((True, 2, True), (True, 1, False), (False, 2, False)):
        proto = ServerProtocol(stateful_allowed=allowed)
        proto.start(0.0)
        [event] = proto.receive_data(f'{{"protocol":"json","version":{version}}}\x1e'.encode(), 0.1)
        assert event.stateful is expected and proto.stateful is expected


class ClientMachine(RuleBasedStateMachine):
    """Random calls, answers, stream traffic, timers and drops on a client protocol."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.proto = connected(stateful=False, keepalive_interval=15.0, timeout=30.0)
        self.invokes: dict[str, str] = {}
        self.streams: set[str] = set()
        self.seen_ids: set[str] = set()
        self.last_heard = 0.0

    def _new(self, invocation_id: str) -> None:
        assert invocation_id not in self.seen_ids
        self.seen_ids.add(invocation_id)

    @rule(method=st.sampled_from(["A", "B"]))
    def invoke(self, method: str) -> None:
        if self.proto.state is EndpointState.CONNECTED:
            call = self.proto.invoke(method, [], self.now)
            self._new(call)
            self.invokes[call] = method

    @rule()
    def start_stream(self) -> None:
        if self.proto.state is EndpointState.CONNECTED:
            sid = self.proto.start_stream("S", [], self.now)
            self._new(sid)
            self.streams.add(sid)

    @rule(data=st.data())
    def server_answers(self, data: st.DataObject) -> None:
        if not self.invokes:
            return
        call = data.draw(st.sampled_from(sorted(self.invokes)))
        [event] = self.proto.receive_data(encode_message(Completion.with_result(call, 1)), self.now)
        assert event == InvocationCompleted(
            call, self.invokes.pop(call), Completion.with_result(call, 1)
        )
        self.last_heard = self.now

    @rule(data=st.data(), finish=st.booleans())
    def stream_traffic(self, data: st.DataObject, finish: bool) -> None:
        if not self.streams:
            return
        sid = data.draw(st.sampled_from(sorted(self.streams)))
        msg = Completion(sid) if finish else StreamItem(sid, 0)
        [event] = self.proto.receive_data(encode_message(msg), self.now)
        assert isinstance(event, StreamCompleted if finish else StreamItemReceived)
        if finish:
            self.streams.discard(sid)
        self.last_heard = self.now

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        if self.streams:
            sid = data.draw(st.sampled_from(sorted(self.streams)))
            assert self.proto.cancel_stream(sid, self.now)
            self.streams.discard(sid)

    @rule(dt=st.floats(0.0, 20.0))
    def time_passes(self, dt: float) -> None:
        deadline = self.proto.next_deadline()
        self.now += dt
        events = self.proto.handle_timer(self.now)
        if self.proto.state is EndpointState.CONNECTED:
            assert deadline is not None
            timed_out = self.now >= self.last_heard + 30.0
            assert events == ([PeerTimedOut(self.now - self.last_heard)] if timed_out else [])
            if timed_out:
                self.drop_and_restart()
            else:  # timers are never left in the past: a Ping went out if one was due
                assert self.proto.next_deadline() > self.now  # type: ignore[operator]

    @rule()
    def drop_and_restart(self) -> None:
        self.proto.transport_lost(self.now)
        lost = set(self.proto.restart(self.now))
        assert lost == set(self.invokes) | self.streams
        self.invokes.clear()
        self.streams.clear()
        self.proto.data_to_send()
        self.proto.receive_data(b"{}\x1e", self.now)
        self.last_heard = self.now

    @invariant()
    def pending_matches_the_model(self) -> None:
        assert self.proto.pending_count == len(self.invokes) + len(self.streams)


TestClientMachine = ClientMachine.TestCase
TestClientMachine.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
