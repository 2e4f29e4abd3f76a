"""The runtime: sessions over real transports, reconnects, and a thread facade.

The sans-IO core (:class:`sessionkit.Session`) knows nothing of I/O; this
package drives it, on asyncio or on trio (one code base, on AnyIO).
:func:`open_session` keeps a session up from an async program on either loop;
:class:`Context` runs the same in a thread of its own for code that is not
async (asyncio by default; ``backend="trio"``), and ``Context.in_memory``
trades there with a reference exchange over the in-memory adapter.
Transports come from adapters (``sessionkit.adapters`` entry points;
:mod:`sessionkit.runtime.memory` is the in-memory one), and
:func:`serve_reference_exchange` serves the reference exchange over any
adapter's server endpoint. See ``docs/architecture.md``.
"""

from .._reconnect import ReconnectPolicy
from ._client import ClientState, SessionClient
from ._context import Context
from ._errors import (
    ConnectError,
    ConnectionFailedError,
    HandlerError,
    LoginFailedError,
    SessionFailedError,
    TransportClosedError,
)
from ._open import open_session
from ._options import OnHandlerError, SessionOptions, SessionOptionsArgs
from ._server import ExchangeServer, serve_reference_exchange
from ._transport import (
    CAPABILITIES,
    Adapter,
    Connector,
    NonBlockingTransport,
    ServerEndpoint,
    TcpServerEndpoint,
    Transport,
    available_adapters,
    load_adapter,
)

__all__ = [
    "open_session",
    "SessionOptions",
    "SessionOptionsArgs",
    "OnHandlerError",
    "SessionClient",
    "ClientState",
    "Context",
    "ReconnectPolicy",
    "SessionFailedError",
    "LoginFailedError",
    "ConnectionFailedError",
    "HandlerError",
    "serve_reference_exchange",
    "ExchangeServer",
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

# deprecated aliases (until 0.2): the names before every exception's name ended in
# Error; importable, not in __all__
ConnectFailed = ConnectError
TransportClosed = TransportClosedError
