"""``open_session``: the async API's entry point."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Unpack

from .._processor import MessageProcessor
from ._client import SessionClient
from ._options import SessionOptions, SessionOptionsArgs, make_options
from ._transport import Connector

__all__ = ["open_session"]


@asynccontextmanager
async def open_session(connector: Connector, processor: MessageProcessor,
                       options: SessionOptions | None = None,
                       **kwargs: Unpack[SessionOptionsArgs]) -> AsyncIterator[SessionClient]:
    """Open a session and keep it up while the block runs; enter returns once logged in.

    The options are a :class:`SessionOptions`, or its fields as keyword arguments
    (``open_session(connector, processor, account="acct", reconnect=...)``), or both: the
    keywords then change the fields of ``options``. A bad option raises
    :class:`~sessionkit.ConfigError` naming it, before anything is connected.

    Raises :class:`LoginFailedError` or :class:`ConnectionFailedError` when
    the first login cannot be made (after the reconnect attempts the
    ``reconnect`` policy allows), :class:`HandlerError` when a processor
    method raised under ``on_handler_error="stop"``, and
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
    client = SessionClient(connector, processor, make_options(options, kwargs))
    async with client.running(wait_login=True):
        yield client
