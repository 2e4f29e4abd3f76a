"""Preparation jobs: poll or callback, whichever first; failed, cancelled and cancel-too-late
jobs; job ids journalled while in flight; paper and live execution with a key each.

Each test runs on asyncio and on trio (the ``backend`` fixture).
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest
from sessionkit_mesolive import (
    Executor,
    IdempotentCaller,
    MesoLiveApiException,
    PreparationCancelledError,
    PreparationFailedError,
    Preparations,
    PreparationTimedOutError,
)
from sessionkit_mesolive import models as m

from sessionkit.store import MemoryStore

from .conftest import LIVE, entry_fields, platform, run


def preparations(client: Any, store: Any = None, events: bool = True) -> Preparations:
    return Preparations(IdempotentCaller(client.control, store), client.events if events
                        else None, poll_interval=0.05, max_poll_interval=0.2)


@pytest.mark.parametrize("events", [True, False], ids=["callback", "poll-only"])
def test_a_job_completes_and_its_id_is_journalled_while_in_flight(
        events: bool, caplog: pytest.LogCaptureFixture, backend: str) -> None:
    caplog.set_level(logging.INFO, logger="sessionkit_mesolive")
    async def main() -> None:
        async with platform() as p:
            client = p.client()
            store = MemoryStore("acct", "day")
            prep = preparations(client, store, events)
            async with client:
                await client.events.subscribe_to_strategies(strategies=None)
                job_id = await prep.start("Entry", **entry_fields("prep_1"))
                assert prep.in_flight() == [(job_id, "Entry")]
                assert not store.pending  # committed
                result = await prep.wait("Entry", job_id)
            assert isinstance(result, m.PreparePositionEntryResult)
            assert result.exec_plan_id > 0 and prep.in_flight() == []

    run(main, backend=backend)
    assert ("(via event)" in caplog.text) is events


def test_a_failed_job_raises_and_leaves_the_journal(backend: str) -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            store = MemoryStore("acct", "day")
            p.domain.faults.fail_next_job("Entry", "no market data")
            with pytest.raises(PreparationFailedError, match="no market data"):
                await preparations(client, store).prepare_entry(**entry_fields("prep_f"))
            assert store.jobs() == []

    run(main, backend=backend)


def test_cancel_while_pending_and_cancel_after_complete(backend: str) -> None:
    async def main() -> None:
        async with platform(prepare_pending_s=5.0) as p, p.client() as client:
            prep = preparations(client)
            job_id = await prep.start("Entry", **entry_fields("prep_c"))
            async with anyio.create_task_group() as nursery:
                async def waiting() -> None:
                    with pytest.raises(PreparationCancelledError):
                        await prep.wait("Entry", job_id)

                nursery.start_soon(waiting)
                assert await prep.cancel("Entry", job_id) == m.PreparationStatus.CANCELLED
            assert await prep.cancel("Entry", job_id) == m.PreparationStatus.CANCELLED  # no-op

        async with platform() as p, p.client() as client:
            prep = preparations(client)
            job_id = await prep.start("Entry", **entry_fields("prep_done"))
            await prep.wait("Entry", job_id)
            assert await prep.cancel("Entry", job_id) == m.PreparationStatus.COMPLETED

    run(main, backend=backend)


def test_paper_plans_fill_at_once_and_live_plans_send_one_order_per_group(backend: str) -> None:
    async def main() -> None:
        async with platform(max_legs_per_group=1) as p, p.client() as client:
            caller = IdempotentCaller(client.control)
            prep = Preparations(caller, client.events)
            paper = await prep.prepare_entry(**entry_fields("prep_p"))
            [filled] = await Executor(caller).execute(paper, key_prefix="entry1")
            assert isinstance(filled, m.ApplyPaperFillsResult) and filled.position_id > 0
            live = await prep.prepare_entry(**entry_fields("prep_l", account=LIVE))
            assert len(live.leg_groups) == 2
            orders = await Executor(caller).execute(live, key_prefix="entry2")
            assert [type(o) for o in orders] == [m.SendOrderResult] * 2
            keys = {k for (_, k) in p.domain.idempotency.executions}
            assert {f"entry2_order_{live.exec_plan_id}_{g}" for g in (1, 2)} <= keys

    run(main, backend=backend)


def test_waiting_for_an_unknown_job_raises_the_api_error_itself(backend: str) -> None:
    """The status call's own error (``NotFound``) comes out as it is: not wrapped in an
    exception group, not retried for ever."""

    async def main() -> None:
        async with platform() as p, p.client() as client:
            prep = preparations(client)
            with pytest.raises(MesoLiveApiException) as info:
                await prep.wait("Entry", "no-such-job")
            assert info.value.status == m.StatusCode.NOT_FOUND

    run(main, backend=backend)


def test_a_wait_that_times_out_names_the_job_and_keeps_it_in_flight(backend: str) -> None:
    async def main() -> None:
        async with platform(prepare_pending_s=60.0) as p, p.client() as client:
            store = MemoryStore("acct", "day")
            prep = Preparations(IdempotentCaller(client.control, store), None,
                                poll_interval=0.05, timeout=0.3)
            job_id = await prep.start("Entry", **entry_fields("prep_slow"))
            with pytest.raises(PreparationTimedOutError, match=f"job {job_id}: no outcome within"):
                await prep.wait("Entry", job_id)
            assert prep.in_flight() == [(job_id, "Entry")]
            with pytest.raises(ValueError, match="timeout must be a number of seconds"):
                Preparations(IdempotentCaller(client.control), None, timeout=float("nan"))

    run(main, backend=backend)
