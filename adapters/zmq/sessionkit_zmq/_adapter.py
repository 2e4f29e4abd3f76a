"""The object registered under the ``zmq`` entry point of ``sessionkit.adapters``."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from sessionkit import ConfigError

from ._address import check_endpoint
from ._client import ZmqConnector
from ._keys import CurveClient, CurveServer
from ._options import SocketOptions
from ._server import ZmqServerEndpoint, serve_endpoint

__all__ = ["ZmqAdapter", "adapter"]


class ZmqAdapter:
    """ZeroMQ: DEALER clients, a ROUTER server, CURVE security.

    >>> adapter.name, sorted(adapter.capabilities)[:3]
    ('zmq', ['ack_mid', 'backpressure', 'batch'])
    """

    name = "zmq"
    #: everything the reference protocol has (streaming is a separate protocol), over TCP
    #: (``tcp``: the suite may put its fault proxy between client and server)
    capabilities = frozenset({"session", "ack_mid", "batch", "run_id", "event_replay",
                              "backpressure", "heartbeat", "idempotency", "reconnect", "tcp"})
    #: the conformance suite runs on trio's MockClock; real sockets need it to jump ahead only
    #: once every task has been idle this long in real time (frames are in flight meanwhile)
    conformance_clock = "virtual:0.1"
    #: ZMQ_MAXMSGSIZE with the default options (``SocketOptions.max_message_size``, twice the
    #: codec's limit): a frame up to it arrives and one over the codec's limit is reported
    #: by the codec; past it libzmq drops the connection (reported, never silent)
    max_frame_size = SocketOptions().max_message_size

    def connector(self, endpoint: str | None = None, *, curve: CurveClient | None = None,
                  options: SocketOptions | None = None, **extra: Any) -> ZmqConnector:
        """A connector to ``endpoint`` (``tcp://HOST:PORT``), with CURVE if ``curve`` is given.
        An endpoint that cannot work (no port, port 0 or over 65535...) is a ConfigError
        naming it, here rather than after a connect timeout."""
        if extra:
            raise ConfigError(f"the zmq adapter's connector takes endpoint=, curve= and "
                              f"options=, got {sorted(extra)}")
        if endpoint is None:
            raise ConfigError("the zmq adapter's connector needs endpoint='tcp://HOST:PORT'")
        return ZmqConnector(endpoint, curve=curve, options=options)

    def serve(self, bind: str = "tcp://127.0.0.1:*", *, curve: CurveServer | bool | None = True,
              options: SocketOptions | None = None,
              **extra: Any) -> AbstractAsyncContextManager[ZmqServerEndpoint]:
        """Listen on ``bind`` (CURVE on by default, with fresh keys; see ``serve_endpoint``)."""
        if extra:
            raise ConfigError(f"the zmq adapter's serve() takes bind=, curve= and options=, "
                              f"got {sorted(extra)}")
        check_endpoint(bind, what="bind", bind=True)
        return serve_endpoint(bind, curve=curve, options=options)

    def __repr__(self) -> str:
        return "<sessionkit zmq adapter>"


adapter = ZmqAdapter()
"""The object the ``zmq`` entry point of ``sessionkit.adapters`` names."""
