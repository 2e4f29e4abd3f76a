"""``open_session``: the async API's entry point."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from .._codec import Codec
from .._config import SessionConfig
from .._processor import MessageProcessor
from ._client import SessionClient
from ._options import HandlerErrors
from ._reconnect import ReconnectPolicy
from ._transport import Connector

if TYPE_CHECKING:
    from ..store import SessionStore

__all__ = ["open_session"]


@asynccontextmanager
async def open_session(connector: Connector, processor: MessageProcessor, *,
                       account: str, token: str = "",
                       config: SessionConfig | None = None, codec: Codec | None = None,
                       reconnect: ReconnectPolicy | None = None,
                       handler_errors: HandlerErrors = "log",
                       resume_event_id: int | None = None, login_timeout: float | None = None,
                       store: SessionStore | None = None, submit_timeout: float = 5.0,
                       close_timeout: float = 5.0) -> AsyncIterator[SessionClient]:
    """Open a session and keep it up while the block runs; enter returns once logged in.

    Raises :class:`LoginFailedError` or :class:`ConnectionFailedError` when
    the first login cannot be made (after the reconnect attempts the
    ``reconnect`` policy allows), :class:`HandlerError` when a processor
    method raised under ``handler_errors="stop"``, and
    :class:`SessionFailedError` naming what failed when something the session
    relies on fails (``the journal failed: ...``, ``the transport failed: ...``;
    its ``__cause__`` is the exception): one exception, never a group.
    Leaving the block logs out (bounded by ``close_timeout``); leaving it by
    an exception or a cancellation ends the session at once. Either way
    every request still tracked is reported to ``on_message_finished`` with
    outcome UNKNOWN and the reason, unless a ``store`` journals the session:
    then those requests stay in the journal, and the next session opened on
    it carries them on.
    """
    client = SessionClient(connector, processor, account=account, token=token, config=config,
                           codec=codec, reconnect=reconnect, handler_errors=handler_errors,
                           resume_event_id=resume_event_id, login_timeout=login_timeout,
                           store=store, submit_timeout=submit_timeout,
                           close_timeout=close_timeout)
    async with client._running(wait_login=True):
        yield client
