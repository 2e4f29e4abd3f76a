"""The ZeroMQ socket options the adapter sets, each on purpose (see ``docs/zmq.md``)."""

from __future__ import annotations

from typing import Any

import attrs
import zmq

from sessionkit import DEFAULT_MAX_FRAME_SIZE, ConfigError

__all__ = ["SocketOptions"]


def _non_negative(kind: type, *, positive: bool = False) -> Any:
    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        ok = isinstance(value, (int, float) if kind is float else int) \
            and not isinstance(value, bool)
        if not ok or value < 0 or (positive and value == 0):
            need = "a positive" if positive else "a non-negative"
            raise ConfigError(f"SocketOptions.{attribute.name} must be {need} "
                              f"{'number' if kind is float else 'integer'}, got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class SocketOptions:
    """Socket options of the client (DEALER) and server (ROUTER) sockets. Times in seconds.

    >>> SocketOptions().max_message_size
    2097152
    >>> SocketOptions(sndhwm=-1)
    Traceback (most recent call last):
    ...
    sessionkit._errors.ConfigError: SocketOptions.sndhwm must be a non-negative integer, got -1
    """

    #: frames larger than this are refused by the codec (a protocol error, the session goes on)
    max_frame_size: int = attrs.field(default=DEFAULT_MAX_FRAME_SIZE,
                                      validator=_non_negative(int, positive=True))
    #: outbound messages queued in ZeroMQ before a send waits (0: no limit). Sized above the
    #: session's window so that the session's own bound is what rejects a submit.
    sndhwm: int = attrs.field(default=16384, validator=_non_negative(int))
    #: inbound messages queued in ZeroMQ before TCP pushes back on the peer (0: no limit);
    #: lowered to fit ``max_inbound_bytes`` (see :attr:`effective_rcvhwm`)
    rcvhwm: int = attrs.field(default=16384, validator=_non_negative(int))
    #: the most bytes of received messages one connection holds unread: ZeroMQ's queue holds
    #: at most this (RCVHWM x MAXMSGSIZE), and so does one ``receive_frames`` batch. Past it
    #: the sender waits (TCP backpressure), nothing is dropped.
    max_inbound_bytes: int = attrs.field(default=64 << 20,
                                         validator=_non_negative(int, positive=True))
    #: how long close() keeps unsent messages (a logout, a close notice) to deliver them
    linger: float = attrs.field(default=0.5, validator=_non_negative(float))
    #: wait between TCP connection attempts while connect() waits (ZeroMQ retries, growing
    #: to ``reconnect_ivl_max``); once connected, a drop ends the transport instead
    reconnect_ivl: float = attrs.field(default=0.1, validator=_non_negative(float, positive=True))
    reconnect_ivl_max: float = attrs.field(default=1.0, validator=_non_negative(float))
    #: ZMTP heartbeat: ping every ``heartbeat_ivl`` (0: off); drop the connection after
    #: ``heartbeat_timeout`` without traffic (a dead peer or a half-open TCP connection)
    heartbeat_ivl: float = attrs.field(default=5.0, validator=_non_negative(float))
    heartbeat_timeout: float = attrs.field(default=15.0, validator=_non_negative(float))
    #: how long connect() waits for a connection and a finished handshake
    connect_timeout: float = attrs.field(default=5.0,
                                         validator=_non_negative(float, positive=True))

    @property
    def max_message_size(self) -> int:
        """ZMQ_MAXMSGSIZE: twice the frame limit. Past it libzmq drops the connection
        before it allocates the message; in between, the codec reports a protocol error."""
        return 2 * self.max_frame_size

    @property
    def effective_rcvhwm(self) -> int:
        """The RCVHWM set: ``rcvhwm`` messages, and no more than ``max_inbound_bytes`` of
        messages of the largest size ZeroMQ accepts (at least 1), so that what ZeroMQ holds
        unread is bounded in bytes as well as in messages.

        >>> SocketOptions().effective_rcvhwm  # 64 MiB / 2 MiB
        32
        >>> SocketOptions(max_frame_size=1024).effective_rcvhwm
        16384
        """
        fit = max(1, self.max_inbound_bytes // self.max_message_size)
        return fit if self.rcvhwm == 0 else min(self.rcvhwm, fit)

    def apply_common(self, sock: zmq.Socket[Any]) -> None:
        sock.setsockopt(zmq.LINGER, int(self.linger * 1000))
        sock.setsockopt(zmq.SNDHWM, self.sndhwm)
        sock.setsockopt(zmq.RCVHWM, self.effective_rcvhwm)
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_size)
        if self.heartbeat_ivl:
            sock.setsockopt(zmq.HEARTBEAT_IVL, int(self.heartbeat_ivl * 1000))
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(self.heartbeat_timeout * 1000))
            sock.setsockopt(zmq.HEARTBEAT_TTL, int(self.heartbeat_timeout * 1000))

    def apply_client(self, sock: zmq.Socket[Any]) -> None:
        self.apply_common(sock)
        # ZeroMQ retries the TCP connection while connect() waits for the handshake. Once
        # connected, a drop ends the transport (a session belongs to its connection and its
        # login); the runtime's ReconnectPolicy opens the next one, resuming by event id.
        # RECONNECT_IVL is not -1 and IMMEDIATE not 1 because both make libzmq discard the
        # messages received but not yet read when the connection drops, and those must be
        # delivered before the close is reported.
        sock.setsockopt(zmq.RECONNECT_IVL, int(self.reconnect_ivl * 1000))
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, int(self.reconnect_ivl_max * 1000))
        sock.setsockopt(zmq.IMMEDIATE, 0)

    def apply_server(self, sock: zmq.Socket[Any]) -> None:
        self.apply_common(sock)
        # A full or vanished peer is an error (EAGAIN / EHOSTUNREACH), never a silent drop.
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
