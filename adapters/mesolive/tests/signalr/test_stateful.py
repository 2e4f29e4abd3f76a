"""Stateful reconnect: replay buffer, acks, sequence resets and duplicate suppression.

The hypothesis state machine wires a sans-IO client and server together over a network that
may lose every frame in flight at any moment; then both sides resume on a new transport.
Whatever happens, each side receives every message the other sent exactly once, in order, and
no replay buffer grows past its byte bound.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sessionkit_mesolive.signalr import (
    Ack,
    BufferFullError,
    ClientProtocol,
    EndpointState,
    Invocation,
    ProtocolError,
    ReceiveSequencer,
    ReplayBuffer,
    Sequence,
    ServerInvoked,
    ServerProtocol,
    StreamItem,
)

LIMIT = 300


def test_replay_buffer_numbers_acks_and_replays() -> None:
    buf = ReplayBuffer(limit=100)
    assert [buf.push(b"a" * 10) for _ in range(3)] == [1, 2, 3]
    assert buf.ack(2) == 20 and buf.buffered_count == 1
    seq, frames = buf.replay()
    assert seq == Sequence(3) and frames == [b"a" * 10]
    buf.ack(3)
    assert buf.replay() == (Sequence(4), [])


def test_replay_buffer_refuses_past_its_bound_but_never_deadlocks() -> None:
    buf = ReplayBuffer(limit=25)
    buf.push(b"x" * 20)
    with pytest.raises(BufferFullError, match="20 of 25 bytes held in 1 unacknowledged"):
        buf.push(b"y" * 10)
    buf.ack(1)
    buf.push(b"z" * 500)  # alone in an empty buffer: accepted
    assert buf.buffered_bytes == 500


def test_sequencer_drops_replayed_duplicates_and_rejects_gaps() -> None:
    seq = ReceiveSequencer()
    item = StreamItem("1", 0)
    assert [seq.should_process(item, 0.0) for _ in range(3)] == [True, True, True]
    seq.disconnected()
    assert not seq.should_process(item, 1.0)  # nothing counts before the Sequence message
    assert seq.should_process(Sequence(2), 1.0)
    assert [seq.should_process(item, 1.0) for _ in range(3)] == [False, False, True]
    assert seq.take_ack() == Ack(4)
    seq.disconnected()
    with pytest.raises(
        ProtocolError, match="Sequence message id 9 is greater than the next expected id 5"
    ):
        seq.should_process(Sequence(9), 2.0)


class LossyLink(RuleBasedStateMachine):
    """A stateful client and server over a link that can drop everything in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.client = ClientProtocol(timeout=1e9, buffer_size=LIMIT)
        self.server = ServerProtocol(stateful_allowed=True, timeout=1e9, buffer_size=LIMIT)
        self.client.start(self.now, stateful=True)
        self.server.start(self.now)
        self.server.receive_data(b"".join(self.client.data_to_send()), self.now)
        self.client.receive_data(b"".join(self.server.data_to_send()), self.now)
        assert self.client.stateful and self.server.stateful
        self.c2s: list[bytes] = []
        self.s2c: list[bytes] = []
        self.sent_by_client = 0
        self.sent_by_server = 0
        self.got_by_server: list[int] = []
        self.got_by_client: list[int] = []

    # --- plumbing ------------------------------------------------------------------------

    @property
    def linked(self) -> bool:
        return (
            self.client.state is EndpointState.CONNECTED
            and self.server.state is EndpointState.CONNECTED
        )

    def pump_outboxes(self) -> None:
        if self.client.state is EndpointState.CONNECTED:
            self.c2s.extend(self.client.data_to_send())
        if self.server.state is EndpointState.CONNECTED:
            self.s2c.extend(self.server.data_to_send())

    def deliver(self, to_server: int, to_client: int) -> None:
        for _ in range(min(to_server, len(self.c2s))):
            for event in self.server.receive_data(self.c2s.pop(0), self.now):
                if isinstance(event, Invocation):
                    self.got_by_server.append(event.arguments[0])
        for _ in range(min(to_client, len(self.s2c))):
            for event in self.client.receive_data(self.s2c.pop(0), self.now):
                if isinstance(event, ServerInvoked):
                    self.got_by_client.append(event.invocation.arguments[0])
        self.pump_outboxes()

    # --- rules ---------------------------------------------------------------------------

    @rule(count=st.integers(1, 5))
    def client_sends(self, count: int) -> None:
        for _ in range(count):
            try:
                self.client.send("Msg", [self.sent_by_client], self.now)
            except BufferFullError:
                buf = self.client.replay_buffer
                assert buf is not None and buf.buffered_count > 0
                break
            self.sent_by_client += 1
        self.pump_outboxes()

    @rule(count=st.integers(1, 5))
    def server_sends(self, count: int) -> None:
        for _ in range(count):
            try:
                self.server.invoke_client("Msg", (self.sent_by_server,), self.now)
            except BufferFullError:
                break
            self.sent_by_server += 1
        self.pump_outboxes()

    @precondition(lambda self: self.linked)
    @rule(to_server=st.integers(0, 4), to_client=st.integers(0, 4))
    def deliver_some(self, to_server: int, to_client: int) -> None:
        self.deliver(to_server, to_client)

    @rule(dt=st.floats(0.1, 3.0))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        assert self.client.handle_timer(self.now) == []
        assert self.server.handle_timer(self.now) == []
        self.pump_outboxes()

    @precondition(lambda self: self.linked)
    @rule(deliver_first=st.integers(0, 3))
    def network_drops(self, deliver_first: int) -> None:
        self.deliver(deliver_first, deliver_first)
        self.c2s.clear()
        self.s2c.clear()
        assert self.client.transport_lost(self.now)
        assert self.server.transport_lost(self.now)

    @precondition(lambda self: not self.linked)
    @rule()
    def reconnect(self) -> None:
        self.server.resume(self.now)
        self.client.resume(self.now)
        self.pump_outboxes()

    # --- properties ----------------------------------------------------------------------

    @invariant()
    def delivered_in_order_without_duplicates(self) -> None:
        assert self.got_by_server == list(range(len(self.got_by_server)))
        assert self.got_by_client == list(range(len(self.got_by_client)))
        assert len(self.got_by_server) <= self.sent_by_client
        assert len(self.got_by_client) <= self.sent_by_server

    @invariant()
    def buffers_stay_within_their_byte_bound(self) -> None:
        for side in (self.client, self.server):
            buf = side.replay_buffer
            assert buf is not None
            assert buf.buffered_bytes <= LIMIT or buf.buffered_count == 1

    def teardown(self) -> None:
        if not self.linked:
            self.reconnect()
        for _ in range(200):  # settle: deliver everything, let acks flow
            self.deliver(10**6, 10**6)
            self.time_passes(1.5)
            if (
                not self.c2s
                and not self.s2c
                and (
                    self.client.replay_buffer.buffered_count == 0  # type: ignore[union-attr]
                    and self.server.replay_buffer.buffered_count == 0  # type: ignore[union-attr]
                )
            ):
                break
        # Nothing lost.
        assert self.got_by_server == list(range(self.sent_by_client))
        assert self.got_by_client == list(range(self.sent_by_server))


TestLossyLink = LossyLink.TestCase
TestLossyLink.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
