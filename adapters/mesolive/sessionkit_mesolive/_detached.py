"""A task that outlives the call that starts it, on asyncio and on trio.

A session-hub transport is opened by ``connector.connect()`` and closed by
``transport.aclose()``, maybe from different tasks, with no ``async with`` around both: the
SignalR connection's tasks cannot live in a task group of the caller. AnyIO has no
"system task", so this picks the loop's own: trio's ``spawn_system_task`` (imported here,
lazily: trio is optional) or an asyncio task the module keeps a reference to until it ends.
Either is cancelled when the event loop's run ends; the function must not raise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio.lowlevel

__all__ = ["current_backend", "start_detached"]

logger = logging.getLogger(__name__)

_running: set[Any] = set()  # asyncio keeps only weak references to tasks


def current_backend() -> Literal["asyncio", "trio"]:
    """The event loop running the caller: ``"asyncio"`` (uvloop too) or ``"trio"``."""
    native = anyio.lowlevel.current_token().native_token
    return "asyncio" if isinstance(native, asyncio.AbstractEventLoop) else "trio"


def start_detached(fn: Callable[[], Awaitable[None]], name: str) -> None:
    """Run ``fn()`` in a task of its own, not tied to the caller's task or task group."""
    if current_backend() == "trio":
        import trio

        trio.lowlevel.spawn_system_task(fn, name=name)
        return

    async def run() -> None:
        await fn()

    task = asyncio.get_running_loop().create_task(run(), name=name)
    _running.add(task)
    task.add_done_callback(_running.discard)
