"""MesoLive adapter for sessionkit (see ``docs/mesolive.md``).

* :class:`MesoLiveClient` - the Control, Data and Event hub clients of one user, with typed
  methods generated from the catalogue (:class:`ControlHub`, :class:`DataHub`,
  :class:`EventHub`);
* :class:`IdempotentCaller` - idempotent calls journalled in a session store, with
  ``DuplicateRequest``/``Conflict`` handling and unknown-outcome recovery;
* :class:`Preparations` / :class:`Executor` - asynchronous preparation jobs and their
  execution (paper fills or one order per leg group);
* :class:`EventFeed` / :class:`DataFeed` - the Event Hub replay + live feed (each event
  once) and the Data Hub streams as latest state;
* :data:`adapter` - the ``mesolive`` entry of ``sessionkit.adapters``: reference-protocol
  sessions over a SignalR hub.

The generic SignalR stack is :mod:`sessionkit_mesolive.signalr`; the simulator is
:mod:`sessionkit_mesolive.sim`.
"""

from __future__ import annotations

import logging as _logging

from ._adapter import MesoLiveAdapter, adapter
from ._client import MesoLiveClient
from ._data_feed import DataFeed
from ._errors import (
    ConflictError,
    DecodeError,
    DuplicateRequestError,
    MesoLiveApiException,
    MesoLiveError,
    MesoLiveSignalRError,
)
from ._events_feed import EventFeed, EventProcessor
from ._hubs import (
    ControlHub,
    DataHub,
    EventHub,
    HubClient,
    MesoLiveAuthenticationError,
    OutcomeUnknownError,
    TypedStream,
)
from ._idempotency import IdempotentCaller, OutcomeUnresolvedError, new_key
from ._jobs import (
    Executor,
    PreparationCancelledError,
    PreparationFailedError,
    Preparations,
    PreparationTimedOutError,
)
from ._session_hub import SESSION_HUB_PATH, SessionHubConnector, SessionHubEndpoint

__version__ = "0.1.0"

# no handler of the library's own: the application's logging configuration decides
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

__all__ = [
    "adapter",
    "MesoLiveAdapter",
    "SESSION_HUB_PATH",
    "SessionHubConnector",
    "SessionHubEndpoint",
    "MesoLiveClient",
    "HubClient",
    "ControlHub",
    "DataHub",
    "EventHub",
    "TypedStream",
    "IdempotentCaller",
    "new_key",
    "Preparations",
    "Executor",
    "PreparationFailedError",
    "PreparationCancelledError",
    "PreparationTimedOutError",
    "EventFeed",
    "EventProcessor",
    "DataFeed",
    "MesoLiveError",
    "MesoLiveApiException",
    "DuplicateRequestError",
    "ConflictError",
    "MesoLiveSignalRError",
    "MesoLiveAuthenticationError",
    "OutcomeUnknownError",
    "OutcomeUnresolvedError",
    "DecodeError",
]

# deprecated aliases (until 0.2): the names before every exception's name ended in
# Error; importable, not in __all__
OutcomeUnresolved = OutcomeUnresolvedError
PreparationCancelled = PreparationCancelledError
PreparationFailed = PreparationFailedError
PreparationTimedOut = PreparationTimedOutError
