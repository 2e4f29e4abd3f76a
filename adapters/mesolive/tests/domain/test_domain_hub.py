"""The domain served by the generic hub server, driven by the SignalR client over WebSockets
on 127.0.0.1 (port 0): envelopes, callbacks, streams and a lost answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
import trio
from sessionkit_mesolive import models as m
from sessionkit_mesolive._converters import default_converter as conv
from sessionkit_mesolive._errors import DuplicateRequestError, NotFoundError, unwrap
from sessionkit_mesolive.signalr import (
    ConnectionClosedError,
    ConnectionLostError,
    HubConnection,
    HubError,
)
from sessionkit_mesolive.sim.app import running
from sessionkit_mesolive.sim.domain import DomainConfig, MesoLiveDomain
from sessionkit_mesolive.sim.domain_hub import DomainHubs, register_domain
from sessionkit_mesolive.sim.hubserver import HubServer

TOKEN = "test-token"
PAPER = "ML1234"


def run(fn: Callable[..., Any]) -> Any:
    async def main() -> Any:
        with trio.fail_after(30):
            return await fn()

    return trio.run(main)


@asynccontextmanager
async def platform(**config: Any) -> AsyncIterator[tuple[str, DomainHubs]]:
    server = HubServer(token_validator=lambda t: "user" if t == TOKEN else None)
    domain = MesoLiveDomain.with_defaults(config=DomainConfig(
        prepare_pending_s=0.05, prepare_running_s=0.1, **config))
    hubs = register_domain(server, domain, tick=0.02)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(hubs.run)
        async with running(server) as base:
            yield base, hubs
        nursery.cancel_scope.cancel()


def hub(base: str, path: str) -> HubConnection:
    return HubConnection(base + path, token_factory=lambda: TOKEN, reconnect=None)


async def eventually(check: Callable[[], bool]) -> None:
    with trio.fail_after(10):
        while not check():
            await trio.sleep(0.01)


def entry_args(key: str) -> dict[str, Any]:
    return conv.unstructure(m.PreparePositionEntryArgs(
        idempotency_key=key, position_name="API", strategy_id=1, broker_account_id=PAPER,
        leg_selection_constraint=m.LiveLegSelectionConstraint.FULLY_UNIQUE,
        underlying=m.LiveUnderlying(symbol="SPX")))


def test_prepare_and_fill_over_signalr() -> None:
    async def main() -> None:
        async with platform() as (base, _hubs), \
                hub(base, "/hubs/event/v1") as events, hub(base, "/hubs/control/v1") as control:
            received: list[tuple[str, Any]] = []
            for name in ("OnPositionEntryPreparationCompleted", "OnPositionUpdate"):
                events.on(name, lambda payload, name=name: received.append((name, payload)))
            sub = unwrap(await events.invoke("SubscribeToStrategies", {"Strategies": None}),
                         m.SubscribeToStrategiesResult)
            assert sub.successful_strategies == (1,)

            job = unwrap(await control.invoke("StartPreparePositionEntry",
                                              entry_args("prep_entry_api")),
                         m.StartPreparationResult)
            await eventually(lambda: any(n == "OnPositionEntryPreparationCompleted"
                                         for n, _ in received))
            done = conv.structure(received[0][1], m.PositionEntryPreparationCompletedEvent)
            assert done.job_id == job.job_id
            fill_args = {"IdempotencyKey": "paper_api", "BrokerAccountId": PAPER,
                         "ExecPlanId": str(done.result.exec_plan_id)}  # an id sent as a string
            fills = unwrap(await control.invoke("ApplyPaperFills", fill_args),
                           m.ApplyPaperFillsResult)
            with pytest.raises(DuplicateRequestError) as dup:
                unwrap(await control.invoke("ApplyPaperFills", fill_args),
                       m.ApplyPaperFillsResult)
            assert conv.structure(dup.value.data, m.ApplyPaperFillsResult) == fills
            await eventually(lambda: any(n == "OnPositionUpdate" for n, _ in received))
            with pytest.raises(NotFoundError):
                unwrap(await control.invoke("GetPosition", {"PositionId": 999}),
                       m.LivePositionDetails)
            bad = await control.invoke("GetPosition", {"PositionId": "x"})
            assert bad["Status"] == "BadRequest"
            assert bad["Error"]["ValidationErrors"] == {
                "GetPositionArgs.position_id": ["expected an integer, got 'x'"]}

    run(main)


def test_streams_and_provider_rule_over_signalr() -> None:
    async def main() -> None:
        async with platform() as (base, hubs), hub(base, "/hubs/data/v1") as data:
            with pytest.raises(HubError, match="requires an explicit Provider"):
                async for _ in data.stream("StreamUnderlyingData",
                                           {"Underlying": {"Symbol": "SPX"}}):
                    pass
            items = []
            async for raw in data.stream("StreamUnderlyingData", {
                    "Underlying": {"Symbol": "SPX"}, "Provider": "Ibkr", "Include": "Prices"}):
                items.append(conv.structure(raw, m.UnderlyingDataEntry))
                if len(items) == 1:
                    hubs.domain.set_underlying_price("SPX", Decimal("5100"))
                if len(items) == 2:
                    break
            assert [str(i.prices.mark) for i in items] == ["5000", "5100"]

    run(main)


def test_a_lost_answer_is_recovered_from_the_idempotency_record() -> None:
    async def main() -> None:
        async with platform() as (base, hubs):
            hubs.domain.faults.time_out_after_effect("StartPreparePositionEntry")
            async with hub(base, "/hubs/control/v1") as control:
                with pytest.raises((ConnectionLostError, ConnectionClosedError)):
                    await control.invoke("StartPreparePositionEntry", entry_args("prep_lost"))
            async with hub(base, "/hubs/control/v1") as control:
                record = unwrap(await control.invoke("GetIdempotencyRecord",
                                                     {"IdempotencyKey": "prep_lost"}),
                                m.IdempotencyRecord)
                assert record.status is m.IdempotencyRecordStatus.COMPLETED
                assert record.job_id is not None
                status = unwrap(await control.invoke("GetPreparePositionEntryStatus",
                                                     {"JobId": record.job_id}),
                                m.GetPreparePositionEntryStatusResult)
                assert status.job_id == record.job_id

    run(main)
