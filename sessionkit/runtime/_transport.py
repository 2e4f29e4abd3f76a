"""The small interface an adapter implements, and how adapters are found.

A transport moves whole frames (one encoded message each) in both
directions. It knows nothing of sessions: the runtime owns the session and
calls the transport from one task per connection.

An *adapter* is what a distribution registers under the ``sessionkit.adapters``
entry point: it names its capabilities, makes client connectors, and (for
the conformance suite and the simulators) makes a server endpoint whose
accepted connections are transports too.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from .._errors import SessionkitError
from ._errors import ConnectError as ConnectError
from ._errors import TransportClosedError as TransportClosedError

__all__ = [
    "Transport",
    "NonBlockingTransport",
    "Connector",
    "ServerEndpoint",
    "Adapter",
    "TransportClosed",
    "ConnectFailed",
    "CAPABILITIES",
    "load_adapter",
    "available_adapters",
]

#: capability names an adapter may claim; the conformance suite groups scenarios by them
CAPABILITIES = frozenset({
    "session", "ack_mid", "batch", "run_id", "event_replay", "backpressure", "heartbeat",
    "idempotency", "streaming", "reconnect", "tcp",
})


# deprecated aliases (until 0.2): the names before exceptions all ended in Error
TransportClosed = TransportClosedError
ConnectFailed = ConnectError


@runtime_checkable
class Transport(Protocol):
    """One connection, used by one owner task.

    ``receive_frames`` waits until at least one frame is there and returns
    every frame already readable (so the caller pays one checkpoint per batch,
    not per frame); it raises :class:`TransportClosed` when the connection
    ends. ``send_frames`` writes frames in order. ``aclose`` is idempotent.

    The runtime relies on these rules (an adapter's tests should check them):

    * ``receive_frames`` is **cancel-safe**: the runtime wakes its owner task
      by cancelling a pending ``receive_frames``, so a cancelled call must not
      lose a frame (take frames off the buffer only after the last point
      where the call can be cancelled, as ``trio.MemoryReceiveChannel`` does).
    * Frames that arrived before the far side closed are delivered first;
      then every further ``receive_frames`` raises :class:`TransportClosed`
      whose ``reason`` says who closed and why.
    * ``send_frames`` on a closed connection raises :class:`TransportClosed`;
      it may wait while the far side's buffer is full (backpressure). A
      cancelled ``send_frames`` may have sent a prefix of its frames: the
      runtime then treats the connection as broken.
    * ``aclose`` closes at once even when cancelled (then raises
      ``trio.Cancelled``), as trio's ``AsyncResource.aclose`` does.

    A transport that can also send without waiting implements
    :class:`NonBlockingTransport`.
    """

    async def send_frames(self, frames: list[bytes]) -> None: ...

    async def receive_frames(self) -> list[bytes]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class NonBlockingTransport(Transport, Protocol):
    """A :class:`Transport` that can also send synchronously, without waiting (optional).

    The runtime checks for it once, when a connection starts. With it, a submit made while
    the owner task is parked in ``receive_frames`` sends its frame itself, at once, instead
    of waking the owner task to send it (``docs/architecture.md``).

    ``send_frames_nowait(frames)`` sends, in order, as many of ``frames`` as fit now and
    returns how many (the runtime's owner task sends the rest with ``send_frames``); it
    raises :class:`TransportClosed` on a closed connection. It is called while another
    task is parked in ``receive_frames``, and must leave that task able to wake for
    frames that arrive (ZeroMQ: a send may consume the socket's read signal, so it reads
    ``EVENTS`` afterwards and wakes the parked task when the socket is readable).
    """

    def send_frames_nowait(self, frames: list[bytes]) -> int: ...


class Connector(Protocol):
    """Opens client connections; raises :class:`ConnectFailed` with the reason."""

    async def connect(self) -> Transport: ...


class ServerEndpoint(Protocol):
    """A listening server: ``accept()`` returns the next client connection."""

    def connector(self, **options: Any) -> Connector: ...

    async def accept(self) -> Transport: ...


class Adapter(Protocol):
    """What the ``sessionkit.adapters`` entry point yields."""

    name: str
    capabilities: frozenset[str]

    def connector(self, **options: Any) -> Connector: ...

    def serve(self, **options: Any) -> AbstractAsyncContextManager[ServerEndpoint]: ...


def available_adapters() -> list[str]:
    return sorted(ep.name for ep in entry_points(group="sessionkit.adapters"))


def load_adapter(name: str) -> Adapter:
    """The adapter registered under ``name``; a clear error lists the known ones."""
    for ep in entry_points(group="sessionkit.adapters"):
        if ep.name == name:
            adapter: Adapter = ep.load()
            return adapter
    raise SessionkitError(f"no sessionkit adapter named {name!r}; installed adapters: "
                          f"{', '.join(available_adapters()) or 'none'}")
