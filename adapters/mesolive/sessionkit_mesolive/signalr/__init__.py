"""A generic ASP.NET Core SignalR stack: sans-IO JSON hub protocol, an asyncio-or-trio client,
server side.

* Codec: :func:`encode_message`, :func:`decode_record`, :class:`RecordParser` and the message
  models (:class:`Invocation`, :class:`Completion`, ...).
* Sans-IO state machines: :class:`ClientProtocol`, :class:`ServerProtocol`, and the stateful
  reconnect pieces :class:`ReplayBuffer` / :class:`ReceiveSequencer`.
* client (AnyIO: asyncio or trio): :class:`HubConnection`.

Nothing here knows about MesoLive; the simulator's hub server is
:mod:`sessionkit_mesolive.sim.hubserver`.
"""

from ._client import HubConnection
from ._client_protocol import ClientProtocol
from ._endpoint import DEFAULT_KEEPALIVE_INTERVAL, DEFAULT_TIMEOUT, EndpointState
from ._errors import (
    AuthenticationError,
    BufferFullError,
    ConnectionClosedError,
    ConnectionLostError,
    HandlerBlockedError,
    HandshakeError,
    HubError,
    NegotiateError,
    ProtocolError,
    ResumeRefusedError,
    ServerTimeoutError,
    SignalRError,
    TokenRefusedError,
    TransportError,
)
from ._events import (
    Acked,
    ClientHandshaked,
    CloseReceived,
    HandshakeCompleted,
    InvocationCompleted,
    PeerTimedOut,
    Resumed,
    ServerInvoked,
    StreamCompleted,
    StreamItemReceived,
)
from ._messages import (
    Ack,
    CancelInvocation,
    Close,
    Completion,
    HandshakeRequest,
    HandshakeResponse,
    HubMessage,
    Invocation,
    MessageType,
    Ping,
    Sequence,
    StreamInvocation,
    StreamItem,
    is_sequenced,
)
from ._negotiate import (
    NegotiateRedirect,
    NegotiateResponse,
    build_negotiate_response,
    negotiate_url,
    parse_negotiate_response,
    websocket_url,
)
from ._protocol import (
    DEFAULT_MAX_MESSAGE_SIZE,
    RECORD_SEPARATOR,
    RecordParser,
    decode_handshake_request,
    decode_handshake_response,
    decode_record,
    encode_handshake_request,
    encode_handshake_response,
    encode_message,
)
from ._reconnect import SIGNALR_RECONNECT, ReconnectPolicy
from ._server_protocol import ServerProtocol
from ._stateful import DEFAULT_BUFFER_SIZE, ReceiveSequencer, ReplayBuffer
from ._stream import OVERFLOW_POLICIES, HubStream, ItemsDropped
from ._supervisor import ConnectionState, Reconnected
from ._transport import WEBSOCKET_LIBRARIES, default_websocket_library

__all__ = [
    "Ack",
    "Acked",
    "AuthenticationError",
    "BufferFullError",
    "CancelInvocation",
    "ClientHandshaked",
    "ClientProtocol",
    "Close",
    "CloseReceived",
    "Completion",
    "ConnectionClosedError",
    "ConnectionLostError",
    "ConnectionState",
    "DEFAULT_BUFFER_SIZE",
    "DEFAULT_KEEPALIVE_INTERVAL",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_TIMEOUT",
    "EndpointState",
    "HandlerBlockedError",
    "HandshakeCompleted",
    "HandshakeError",
    "HandshakeRequest",
    "HandshakeResponse",
    "HubConnection",
    "HubError",
    "HubMessage",
    "HubStream",
    "Invocation",
    "InvocationCompleted",
    "ItemsDropped",
    "MessageType",
    "NegotiateError",
    "NegotiateRedirect",
    "NegotiateResponse",
    "OVERFLOW_POLICIES",
    "PeerTimedOut",
    "Ping",
    "ProtocolError",
    "RECORD_SEPARATOR",
    "ReceiveSequencer",
    "ReconnectPolicy",
    "SIGNALR_RECONNECT",
    "Reconnected",
    "RecordParser",
    "ReplayBuffer",
    "ResumeRefusedError",
    "Resumed",
    "Sequence",
    "ServerInvoked",
    "ServerProtocol",
    "ServerTimeoutError",
    "SignalRError",
    "StreamCompleted",
    "StreamInvocation",
    "StreamItem",
    "StreamItemReceived",
    "TokenRefusedError",
    "TransportError",
    "WEBSOCKET_LIBRARIES",
    "build_negotiate_response",
    "decode_handshake_request",
    "decode_handshake_response",
    "decode_record",
    "default_websocket_library",
    "encode_handshake_request",
    "encode_handshake_response",
    "encode_message",
    "is_sequenced",
    "negotiate_url",
    "parse_negotiate_response",
    "websocket_url",
]
