"""Fixtures for the MesoLive adapter tests: the simulated platform served on 127.0.0.1 (port 0)
with short timers, and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs
import pytest
from sessionkit_mesolive import MesoLiveClient
from sessionkit_mesolive import models as m
from sessionkit_mesolive.signalr import ReconnectPolicy
from sessionkit_mesolive.sim.app import running
from sessionkit_mesolive.sim.domain import DomainConfig, MesoLiveDomain
from sessionkit_mesolive.sim.domain_hub import DomainHubs, register_domain
from sessionkit_mesolive.sim.hubserver import HubServer

TOKEN = "test-token"
PAPER, LIVE = "ML1234", "U1234567"
FAST = dict(prepare_pending_s=0.05, prepare_running_s=0.1, fill_delay_s=0.05,
            stream_coalesce_s=0.02)
QUICK_RECONNECT = ReconnectPolicy(initial=0.02, max=0.2, jitter=0.0, first_immediate=True)


@attrs.define
class Platform:
    base: str
    hubs: DomainHubs
    server: HubServer

    @property
    def domain(self) -> MesoLiveDomain:
        return self.hubs.domain

    def client(self, token: str = TOKEN, **options: Any) -> MesoLiveClient:
        options.setdefault("reconnect", QUICK_RECONNECT)
        return MesoLiveClient(self.base, token_factory=lambda: token, **options)


def run(fn: Callable[..., Any], *args: Any, limit: float = 30, backend: str = "trio") -> Any:
    """``fn(*args)`` on ``backend`` (asyncio or trio) with a hard deadline."""

    async def main() -> Any:
        with anyio.fail_after(limit):
            return await fn(*args)

    return anyio.run(main, backend=backend)


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    """The event loop a both-loops test runs on (each such test runs once per loop)."""
    return str(request.param)


@asynccontextmanager
async def platform(**config: Any) -> AsyncIterator[Platform]:
    server = HubServer(token_validator=lambda t: "user" if t == TOKEN else None)
    domain = MesoLiveDomain.with_defaults(config=DomainConfig(**{**FAST, **config}))
    hubs = register_domain(server, domain, tick=0.02)
    async with anyio.create_task_group() as nursery:
        nursery.start_soon(hubs.run)
        async with running(server) as base:
            yield Platform(base, hubs, server)
        nursery.cancel_scope.cancel()


async def eventually(check: Callable[[], Any], limit: float = 10) -> None:
    with anyio.fail_after(limit):
        while not check():
            await anyio.sleep(0.01)


def entry_fields(key: str, account: str = PAPER) -> dict[str, Any]:
    return dict(idempotency_key=key, position_name="P " + key, strategy_id=1,
                broker_account_id=account,
                leg_selection_constraint=m.LiveLegSelectionConstraint.FULLY_UNIQUE,
                underlying=m.LiveUnderlying(symbol="SPX"))
