"""Shared fixtures for the streaming engine tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sessionkit.streaming import StreamingConfig, StreamingEngine

CTX = "ctx1"


def _snapshot(
    ref: str, data: Any, timeout: float | None = 30, context_id: str = CTX, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"ContextId": context_id, "ReferenceId": ref, "Snapshot": data}
    if timeout is not None:
        body["InactivityTimeout"] = timeout
    body.update(extra)
    return body


@pytest.fixture
def snap() -> Callable[..., dict[str, Any]]:
    """``snap(ref, data, timeout=30, **extra)``: a subscribe response body."""
    return _snapshot


@pytest.fixture
def engine() -> StreamingEngine:
    return StreamingEngine(CTX)


@pytest.fixture
def make_engine() -> Callable[..., StreamingEngine]:
    """``make_engine(**config)``: an engine with a non-default config."""

    def make(**config: Any) -> StreamingEngine:
        return StreamingEngine(CTX, StreamingConfig(**config))

    return make


@pytest.fixture
def live(snap: Callable[..., dict[str, Any]]) -> Callable[..., str]:
    """``live(engine, ref, data, keys=None, timeout=30, now=0.0, **subscribe_kw)``:
    subscribe and apply the snapshot; requests and events are drained."""

    def make(
        engine: StreamingEngine,
        ref: str,
        data: Any,
        keys: Any = None,
        timeout: float | None = 30,
        now: float = 0.0,
        resource: str = "trade/v1/infoprices",
        **kw: Any,
    ) -> str:
        name = engine.subscribe(resource, ref, keys=keys, **kw)
        engine.drain_requests()
        engine.receive_snapshot(snap(ref, data, timeout), now)
        engine.drain_events()
        return name

    return make
