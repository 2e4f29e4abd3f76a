"""Helpers for the SignalR tests: run a trio test body with a hard deadline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio


@pytest.fixture
def run() -> Callable[..., Any]:
    """``run(async_fn, *args)``: trio.run with a 30 s deadline, so no test can hang."""

    def runner(fn: Callable[..., Awaitable[Any]], *args: Any, limit: float = 30.0) -> Any:
        async def main() -> Any:
            with trio.fail_after(limit):
                return await fn(*args)

        return trio.run(main)

    return runner
