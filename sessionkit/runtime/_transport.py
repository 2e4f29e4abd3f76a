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

import importlib
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
    "TransportClosedError",
    "ConnectError",
    "CAPABILITIES",
    "load_adapter",
    "available_adapters",
    "TcpServerEndpoint",
]

#: capability names an adapter may claim; the conformance suite groups scenarios by them
CAPABILITIES = frozenset({
    "session", "ack_mid", "batch", "run_id", "event_replay", "backpressure", "heartbeat",
    "idempotency", "streaming", "reconnect", "tcp",
})
"""The capabilities an adapter may claim; the conformance suite runs the scenarios of those
it claims and skips the others."""


# deprecated aliases (until 0.2): the names before exceptions all ended in Error
TransportClosed = TransportClosedError
ConnectFailed = ConnectError


@runtime_checkable
class Transport(Protocol):
    """One connection, used by one owner task.

    ``receive_frames`` waits until at least one frame is there and returns
    every frame already readable (so the caller pays one checkpoint per batch,
    not per frame); it raises :class:`TransportClosedError` when the connection
    ends. ``send_frames`` writes frames in order. ``aclose`` is idempotent.

    The runtime relies on these rules (an adapter's tests should check them):

    * ``receive_frames`` is **cancel-safe**: the runtime wakes its owner task
      by cancelling a pending ``receive_frames``, so a cancelled call must not
      lose a frame (take frames off the buffer only after the last point
      where the call can be cancelled, as ``trio.MemoryReceiveChannel`` does).
    * Frames that arrived before the far side closed are delivered first;
      then every further ``receive_frames`` raises :class:`TransportClosedError`
      whose ``reason`` says who closed and why.
    * ``send_frames`` on a closed connection raises :class:`TransportClosedError`;
      it may wait while the far side's buffer is full (backpressure). A
      cancelled ``send_frames`` may have sent a prefix of its frames: the
      runtime then treats the connection as broken.
    * ``aclose`` closes at once even when cancelled (then raises the loop's
      cancellation), as AnyIO's and trio's ``aclose`` do.

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
    raises :class:`TransportClosedError` on a closed connection. It is called while another
    task is parked in ``receive_frames``, and must leave that task able to wake for
    frames that arrive (ZeroMQ: a send may consume the socket's read signal, so it reads
    ``EVENTS`` afterwards and wakes the parked task when the socket is readable).
    """

    def send_frames_nowait(self, frames: list[bytes]) -> int: ...


class Connector(Protocol):
    """Opens client connections; raises :class:`ConnectError` with the reason.

    A connector whose transport carries frames only up to a size says so with a
    ``max_frame_size`` attribute (an ``int``, bytes): ``open_session`` and
    ``Context`` then refuse a codec whose ``max_frame_size`` is larger
    (``ConfigError`` naming both), since the session could make frames the
    transport cannot carry.
    """

    async def connect(self) -> Transport: ...


class ServerEndpoint(Protocol):
    """A listening server: ``accept()`` returns the next client connection, and
    ``connector()`` (no arguments) makes a connector to it."""

    def connector(self) -> Connector: ...

    async def accept(self) -> Transport: ...


class TcpServerEndpoint(ServerEndpoint, Protocol):
    """The server endpoint of an adapter claiming the ``tcp`` capability: the conformance
    suite puts its fault proxy at ``tcp_address`` and connects through it with
    ``connector(via=proxy_address)``."""

    @property
    def tcp_address(self) -> tuple[str, int]:
        """``(host, port)`` the endpoint listens on."""
        ...

    def connector(self, *, via: tuple[str, int] | None = None) -> Connector:
        """A connector to this endpoint; ``via``: connect to that ``(host, port)`` instead
        (a proxy in front of it), otherwise the same."""
        ...


class Adapter(Protocol):
    """What the ``sessionkit.adapters`` entry point yields (``docs/adapters.md``).

    The conformance suite and the command line use exactly these members. An
    implementation may take more arguments than the Protocol names, as long as
    ``serve()`` works with none; plain class attributes satisfy the properties.
    Check an adapter with ``mypy --strict`` by writing ``_: Adapter = adapter``.
    """

    @property
    def name(self) -> str:
        """The adapter's name (the entry point's)."""
        ...

    @property
    def capabilities(self) -> frozenset[str]:
        """What its transport and far side can carry (names in :data:`CAPABILITIES`)."""
        ...

    @property
    def max_frame_size(self) -> int | None:
        """The largest frame (bytes) the transport carries whole, or None: no limit of its
        own. The conformance suite runs its codecs below it; see ``docs/adapters.md``."""
        ...

    @property
    def conformance_clock(self) -> str | None:
        """The clock the conformance suite runs it on: ``"virtual"`` (None means the same),
        ``"virtual:SECONDS"`` for transports doing real I/O, or ``"real"``."""
        ...

    def connector(self, *args: Any, **kwargs: Any) -> Connector:
        """A client connector; the arguments (where to connect, keys...) are the adapter's."""
        ...

    def serve(self) -> AbstractAsyncContextManager[ServerEndpoint]:
        """``async with adapter.serve() as endpoint``: a server listening on a free local
        address until the block ends (the suite, the demo and simulators use it)."""
        ...


def available_adapters() -> list[str]:
    """The names registered under the ``sessionkit.adapters`` entry point group."""
    return sorted(ep.name for ep in entry_points(group="sessionkit.adapters"))


def load_adapter(name: str) -> Adapter:
    """The adapter registered under ``name``, or the object a ``"module:attribute"`` path
    names (an adapter not installed as a distribution, e.g. while writing one); a clear
    error lists the installed ones or says what the path lacks."""
    if ":" in name:
        return _import_adapter(name)
    for ep in entry_points(group="sessionkit.adapters"):
        if ep.name == name:
            adapter: Adapter = ep.load()
            return adapter
    raise SessionkitError(f"no sessionkit adapter named {name!r}; installed adapters: "
                          f"{', '.join(available_adapters()) or 'none'} (or give "
                          f"'module:attribute' for one that is not installed)")


def _import_adapter(path: str) -> Adapter:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise SessionkitError(f"an adapter path is 'module:attribute', got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SessionkitError(f"cannot import the adapter module {module_name!r} "
                              f"(of {path!r}): {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SessionkitError(f"module {module_name!r} has no attribute {attr!r} "
                                  f"(adapter path {path!r})")
        obj = getattr(obj, part)
    missing = [m for m in ("name", "capabilities", "connector", "serve")
               if not hasattr(obj, m)]
    if missing:
        raise SessionkitError(f"{path} is not a sessionkit adapter: it has no "
                              f"{', '.join(missing)} (see sessionkit.runtime.Adapter)")
    adapter: Adapter = obj
    return adapter
