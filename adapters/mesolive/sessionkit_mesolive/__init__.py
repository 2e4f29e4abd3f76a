"""MesoLive adapter for sessionkit.

The generic ASP.NET Core SignalR stack lives in :mod:`sessionkit_mesolive.signalr` (client) and
:mod:`sessionkit_mesolive.sim` (hub server used as the simulator). The sessionkit adapter itself
is not written yet: :data:`adapter` is a placeholder registered under the
``sessionkit.adapters`` entry point that fails clearly when used.
"""

from __future__ import annotations

from typing import Any, NoReturn

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
from ._idempotency import IdempotentCaller, OutcomeUnresolved, new_key
from ._jobs import Executor, PreparationCancelled, PreparationFailed, Preparations

__all__ = [
    "adapter",
    "AdapterNotReadyError",
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
    "PreparationFailed",
    "PreparationCancelled",
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
    "OutcomeUnresolved",
    "DecodeError",
]


class AdapterNotReadyError(NotImplementedError):
    """Raised when the placeholder MesoLive adapter is used before it exists."""


class _PendingAdapter:
    """Stands in for the MesoLive sessionkit adapter until it is implemented.

    Loading the entry point works (so adapter discovery does not break); any use raises
    :class:`AdapterNotReadyError`.
    """

    name = "mesolive"

    def _fail(self, what: str) -> NoReturn:
        raise AdapterNotReadyError(
            f"the sessionkit MesoLive adapter is not implemented yet ({what!r} was used); "
            "only the SignalR layer (sessionkit_mesolive.signalr) and the simulator "
            "(sessionkit_mesolive.sim) are available"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._fail("adapter()")

    def __getattr__(self, attr: str) -> NoReturn:
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._fail(f"adapter.{attr}")

    def __repr__(self) -> str:
        return "<sessionkit_mesolive.adapter placeholder: not implemented yet>"


adapter: Any = _PendingAdapter()
