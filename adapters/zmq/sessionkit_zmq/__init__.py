"""ZeroMQ adapter for sessionkit (see ``docs/zmq.md``).

* :data:`adapter` - the ``zmq`` entry of ``sessionkit.adapters``: ``connector(endpoint=...,
  curve=...)`` and ``serve(...)``;
* :class:`KeyPair`, :class:`CurveClient`, :class:`CurveServer` - CURVE keys and settings;
* :class:`SocketOptions` - the ZeroMQ socket options, each set on purpose;
* :func:`serve_simulator` - the reference exchange served over ZeroMQ.
"""

import logging as _logging

from ._adapter import ZmqAdapter, adapter
from ._client import ZmqConnector, ZmqTransport
from ._keys import CurveClient, CurveServer, KeyPair, load_public_key
from ._options import SocketOptions
from ._server import ServerTransport, ZmqServerEndpoint, serve_endpoint
from ._simulator import ZmqSimulator, serve_simulator

__version__ = "0.1.0"

# no handler of the library's own: the application's logging configuration decides
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

__all__ = [
    "adapter",
    "ZmqAdapter",
    "ZmqConnector",
    "ZmqTransport",
    "ZmqServerEndpoint",
    "ServerTransport",
    "serve_endpoint",
    "KeyPair",
    "CurveClient",
    "CurveServer",
    "load_public_key",
    "SocketOptions",
    "serve_simulator",
    "ZmqSimulator",
]
