"""Helpers for the SignalR tests: run a test body (trio, or each loop) with a hard deadline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
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


BACKENDS = ("asyncio", "trio")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The event loop a both-loops test runs on (each such test runs once per loop)."""
    return str(request.param)


@pytest.fixture
def run_on(backend: str) -> Callable[..., Any]:
    """``run_on(async_fn, *args)``: anyio.run on ``backend`` with a 30 s deadline."""

    def runner(fn: Callable[..., Awaitable[Any]], *args: Any, limit: float = 30.0) -> Any:
        async def main() -> Any:
            with anyio.fail_after(limit):
                return await fn(*args)

        return anyio.run(main, backend=backend)

    return runner
