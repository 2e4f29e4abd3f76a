"""sessionkit: a transport-agnostic, sans-IO session layer for trading connectivity.

The public API is re-exported here from private modules; import from
``sessionkit``, never from ``sessionkit._something``.
"""

import logging as _logging

from ._codec import DEFAULT_MAX_FRAME_SIZE, Codec, JsonCodec, MsgpackCodec
from ._config import EventIdScope, GapPolicy, SessionConfig, ViolationPolicy
from ._errors import (
    ConfigError,
    ConfigTypeError,
    DecodeError,
    InvalidRequestError,
    LocalProtocolError,
    RemoteProtocolError,
    SessionBusyError,
    SessionClosedError,
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
from ._reconnect import ReconnectPolicy
from ._sequencing import Sequencer, Verdict
from ._session import BatchTicket, Handoff, Session
from ._state import SessionState
from ._stats import SessionStatistics
from ._tracking import MessageState, TrackedSnapshot

__version__ = "0.1.0"

# A library adds no handler of its own: records of sessionkit's loggers go where the
# application's logging configuration sends them, and nowhere (not to stderr through
# logging.lastResort) when it has none.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

__all__ = [
    "ActionReport",
    "Batch",
    "BatchAck",
    "BatchTicket",
    "BookOrder",
    "BookStateSnapshot",
    "BookTop",
    "CancelOrder",
    "Closed",
    "Codec",
    "ConfigError",
    "ConfigTypeError",
    "InvalidRequestError",
    "Congestion",
    "ConnectionAvailable",
    "ConnectionBusy",
    "ConnectionFailed",
    "Contract",
    "ContractDetail",
    "DEFAULT_MAX_FRAME_SIZE",
    "DecodeError",
    "Event",
    "EventReplay",
    "ExchangeOffline",
    "ExchangeOnline",
    "EventIdScope",
    "GapPolicy",
    "ViolationPolicy",
    "GetBookState",
    "GetContracts",
    "Handoff",
    "Heartbeat",
    "JsonCodec",
    "LimitOrder",
    "LocalProtocolError",
    "Login",
    "LoginAccepted",
    "LoginAck",
    "LoginFailed",
    "LoginReject",
    "Logout",
    "Message",
    "MessageFinished",
    "ReconnectPolicy",
    "MessageProcessor",
    "MessageReceived",
    "MessageReplay",
    "MessageState",
    "MsgpackCodec",
    "Outcome",
    "ProtocolError",
    "RemoteProtocolError",
    "Request",
    "RequestKind",
    "ResendComplete",
    "ResendCompleted",
    "RunChanged",
    "Sequencer",
    "Session",
    "SessionBusyError",
    "SessionClosedError",
    "SessionConfig",
    "SessionState",
    "SessionStatistics",
    "SessionkitError",
    "Side",
    "Status",
    "StatusCode",
    "TrackedSnapshot",
    "UnknownMessage",
    "Verdict",
    "dispatch",
]

# deprecated aliases (until 0.2): the names before every exception's name ended in
# Error; importable, not in __all__
SessionBusy = SessionBusyError
SessionClosed = SessionClosedError
