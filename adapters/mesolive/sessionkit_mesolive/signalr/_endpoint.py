"""Sans-IO machinery shared by the client and server connection state machines.

An endpoint owns the record parser, the outbox of frames to write, keep-alive and peer-timeout
timers, and (once the handshake enabled it) the stateful-reconnect replay buffer and receive
sequencer. Time is always passed in (``now``: monotonic seconds); the I/O layer sleeps until
:meth:`Endpoint.next_deadline` and then calls :meth:`Endpoint.handle_timer`.
"""

from __future__ import annotations

import enum
import logging
import math
from typing import Any

from ._errors import ConnectionClosedError, ConnectionLostError, ProtocolError
from ._events import Acked, PeerTimedOut, Resumed
from ._messages import Ack, HubMessage, Ping, Sequence, is_sequenced
from ._protocol import DEFAULT_MAX_MESSAGE_SIZE, RecordParser, decode_record, encode_message
from ._stateful import DEFAULT_BUFFER_SIZE, ReceiveSequencer, ReplayBuffer

__all__ = ["EndpointState", "Endpoint", "DEFAULT_KEEPALIVE_INTERVAL", "DEFAULT_TIMEOUT"]

logger = logging.getLogger(__name__)

DEFAULT_KEEPALIVE_INTERVAL = 15.0
"""Send a Ping when nothing was sent for this many seconds (ASP.NET Core default)."""

DEFAULT_TIMEOUT = 30.0
"""Consider the peer gone when nothing arrived for this many seconds (ASP.NET Core default)."""


class EndpointState(enum.Enum):
    HANDSHAKING = "handshaking"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # transport lost, stateful reconnect may resume it
    CLOSED = "closed"


class Endpoint:
    """Common state of one side of a hub connection. Subclasses add the side's own logic."""

    def __init__(
        self,
        *,
        keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        if keepalive_interval <= 0 or timeout <= 0:
            raise ValueError(
                f"keepalive_interval and timeout must be positive, got {keepalive_interval} "
                f"and {timeout}"
            )
        self.keepalive_interval = keepalive_interval
        self.timeout = timeout
        self.buffer_size = buffer_size
        self.state = EndpointState.CLOSED
        self._parser = RecordParser(max_message_size)
        self._outbox: list[bytes] = []
        self._buffer: ReplayBuffer | None = None
        self._sequencer: ReceiveSequencer | None = None
        self._last_sent = 0.0
        self._last_received = 0.0
        self._reading_paused = False

    # --- inspection ----------------------------------------------------------------------

    @property
    def stateful(self) -> bool:
        """Whether stateful reconnect is on for this connection."""
        return self._buffer is not None

    @property
    def replay_buffer(self) -> ReplayBuffer | None:
        return self._buffer

    @property
    def sequencer(self) -> ReceiveSequencer | None:
        return self._sequencer

    # --- output --------------------------------------------------------------------------

    def data_to_send(self) -> list[bytes]:
        """Frames to write to the transport, in order (each ends with 0x1E). Empties the outbox."""
        out = self._outbox
        if out:
            self._outbox = []
        return out

    def can_send(self, size: int = 0) -> bool:
        """Whether a numbered message of ``size`` bytes fits in the replay buffer now."""
        return self._buffer is None or self._buffer.can_accept(size)

    def _queue(self, message: HubMessage, now: float) -> None:
        self._queue_frame(encode_message(message), is_sequenced(message), now)

    def _queue_frame(self, data: bytes, sequenced: bool, now: float) -> None:
        state = self.state
        if (
            sequenced
            and self._buffer is not None
            and state
            in (
                EndpointState.CONNECTED,
                EndpointState.DISCONNECTED,
            )
        ):
            self._buffer.push(data)  # raises BufferFullError when it does not fit
            if state is EndpointState.CONNECTED:
                self._outbox.append(data)
                self._last_sent = now
            return
        if state is EndpointState.CONNECTED:
            self._outbox.append(data)
            self._last_sent = now
        elif state is EndpointState.CLOSED:
            raise ConnectionClosedError("the connection is closed")
        elif sequenced:
            raise ConnectionLostError(f"the connection is {state.value}: cannot send now")
        # A Ping or Ack while disconnected is simply not needed.

    # --- input ---------------------------------------------------------------------------

    def _records(self, data: bytes | str, now: float) -> list[bytes]:
        self._last_received = now
        return self._parser.feed(data)

    def _filter(self, record: bytes, now: float, events: list[Any]) -> HubMessage | None:
        """Decode one record and apply the stateful/keep-alive rules.

        Returns the message when the subclass should handle it, else None (ping, ack, duplicate).
        """
        message = decode_record(record)
        if message is None:
            return None
        sequencer = self._sequencer
        if sequencer is not None and not sequencer.should_process(message, now):
            return None
        if isinstance(message, Ping):
            return None
        if isinstance(message, Ack):
            if self._buffer is None:
                logger.debug("ignoring Ack: stateful reconnect is off")
                return None
            freed = self._buffer.ack(message.sequence_id)
            events.append(Acked(message.sequence_id, freed))
            return None
        if isinstance(message, Sequence):
            if sequencer is None:
                raise ProtocolError("received a Sequence message but stateful reconnect is off")
            events.append(Resumed(message.sequence_id))
            return None
        return message

    # --- timers --------------------------------------------------------------------------

    @property
    def reading_paused(self) -> bool:
        return self._reading_paused

    def pause_reading(self) -> None:
        """The I/O layer stopped reading (its consumers are full: back-pressure). The peer
        timeout is suspended meanwhile: silence we do not listen to proves nothing."""
        self._reading_paused = True

    def resume_reading(self, now: float) -> None:
        """Reading goes on; the peer timeout counts again from ``now``."""
        if self._reading_paused:
            self._reading_paused = False
            self._last_received = max(self._last_received, now)

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must run next (None: no timer needed in this state)."""
        state = self.state
        if state is EndpointState.CONNECTED:
            silence = math.inf if self._reading_paused else self._last_received + self.timeout
            deadline = min(silence, self._last_sent + self.keepalive_interval)
            seq = self._sequencer
            if seq is not None and seq.ack_due_at is not None and seq.ack_due_at < deadline:
                deadline = seq.ack_due_at
            return deadline
        if state is EndpointState.HANDSHAKING:
            return self._last_received + self.timeout
        return None

    def handle_timer(self, now: float) -> list[Any]:
        """Run due timers: peer timeout (as :class:`PeerTimedOut`), Ack, keep-alive Ping."""
        state = self.state
        if state not in (EndpointState.CONNECTED, EndpointState.HANDSHAKING):
            return []
        # Compare against the very sums next_deadline() returns, so a timer that fires at its
        # deadline always finds its work due (no float round-off spin).
        if not self._reading_paused and now >= self._last_received + self.timeout:
            return [PeerTimedOut(now - self._last_received)]
        if state is EndpointState.CONNECTED:
            seq = self._sequencer
            if seq is not None and seq.ack_due_at is not None and now >= seq.ack_due_at:
                ack = seq.take_ack()
                if ack is not None:
                    self._queue(ack, now)
            if now >= self._last_sent + self.keepalive_interval:
                self._queue(Ping(), now)
        return []

    # --- transport changes ---------------------------------------------------------------

    def _enable_stateful(self) -> None:
        self._buffer = ReplayBuffer(self.buffer_size)
        self._sequencer = ReceiveSequencer()

    def _disable_stateful(self) -> None:
        self._buffer = None
        self._sequencer = None

    def transport_lost(self, now: float) -> bool:
        """The transport broke. Returns True when the connection can be resumed (stateful)."""
        self._parser.reset()
        self._outbox = []
        if self.state is EndpointState.CONNECTED and self._sequencer is not None:
            self.state = EndpointState.DISCONNECTED
            self._sequencer.disconnected()
            return True
        if self.state is EndpointState.DISCONNECTED:
            return True
        self.state = EndpointState.CLOSED
        return False

    def resume(self, now: float) -> None:
        """A new transport is attached to the same connection: queue Sequence + the replay."""
        if self.state is not EndpointState.DISCONNECTED or self._buffer is None:
            raise ConnectionClosedError(
                f"cannot resume a connection that is {self.state.value} "
                f"(stateful reconnect {'on' if self._buffer else 'off'})"
            )
        assert self._sequencer is not None
        self._parser.reset()
        sequence, frames = self._buffer.replay()
        self._outbox = [encode_message(sequence), *frames]
        self._sequencer.disconnected()  # wait for the peer's Sequence before processing
        self.state = EndpointState.CONNECTED
        self._last_sent = self._last_received = now
        logger.debug(
            "resuming: replaying %d buffered messages from id %d", len(frames), sequence.sequence_id
        )
