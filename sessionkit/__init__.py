"""sessionkit: a transport-agnostic, sans-IO session layer for trading connectivity.

The public API is re-exported here from private modules; import from
``sessionkit``, never from ``sessionkit._something``.
"""

from ._codec import DEFAULT_MAX_FRAME_SIZE, Codec, JsonCodec, MsgpackCodec
from ._config import GapPolicy, SessionConfig
from ._errors import (
    ConfigError,
    DecodeError,
    LocalProtocolError,
    RemoteProtocolError,
    SessionBusy,
    SessionClosed,
    SessionkitError,
)
from ._events import (
    Closed,
    ConnectionAvailable,
    ConnectionBusy,
    ConnectionFailed,
    Event,
    ExchangeOffline,
    ExchangeOnline,
    LoginAccepted,
    LoginFailed,
    MessageFinished,
    MessageReceived,
    Outcome,
    ProtocolError,
    ResendCompleted,
    RunChanged,
)
from ._messages import (
    ActionReport,
    Batch,
    BatchAck,
    BookOrder,
    BookStateSnapshot,
    BookTop,
    CancelOrder,
    Congestion,
    Contract,
    ContractDetail,
    EventReplay,
    GetBookState,
    GetContracts,
    Heartbeat,
    LimitOrder,
    Login,
    LoginAck,
    LoginReject,
    Logout,
    Message,
    MessageReplay,
    Request,
    RequestKind,
    ResendComplete,
    Side,
    Status,
    StatusCode,
    UnknownMessage,
)
from ._processor import MessageProcessor, dispatch
from ._session import BatchTicket, Handoff, Session
from ._state import SessionState
from ._stats import SessionStatistics
from ._tracking import MessageState, TrackedSnapshot

__version__ = "0.1.0"

__all__ = [name for name in dir() if not name.startswith("_")]
