"""Idempotent calls: the key is journalled before the call, retries reuse it, DuplicateRequest
and Conflict are handled, unknown outcomes are resolved with GetIdempotencyRecord, and no
fault makes an operation run twice (the simulator counts executions).

Each test runs on asyncio and on trio (the ``backend`` fixture).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import anyio
import pytest
from sessionkit_mesolive import (
    ConflictError,
    IdempotentCaller,
    Preparations,
    new_key,
)
from sessionkit_mesolive import models as m
from sessionkit_mesolive._errors import BadRequestError, InvalidIdempotencyKeyError

from sessionkit.store import IdempotencyConflictError, MemoryStore

from .conftest import LIVE, PAPER, Platform, entry_fields, platform, run


def executions(p: Platform, operation: str, key: str) -> int:
    return p.domain.idempotency.executions.get((operation, key), 0)


async def paper_plan(p: Platform, client: Any, key: str = "prep_entry_1") -> Any:
    caller = IdempotentCaller(client.control)
    return await Preparations(caller, client.events).prepare_entry(**entry_fields(key))


def fills(key: str, plan: Any, account: str = PAPER) -> dict[str, Any]:
    return dict(idempotency_key=key, broker_account_id=account, exec_plan_id=plan.exec_plan_id)


def test_keys_are_validated_and_new_keys_are_unique() -> None:
    assert new_key("paper_entry") != new_key("paper_entry")
    with pytest.raises(InvalidIdempotencyKeyError, match="128"):
        new_key("x" * 128)


def test_the_key_is_journalled_before_the_call_and_a_retry_is_answered_from_the_journal(
    backend: str,
) -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            plan = await paper_plan(p, client)
            store = MemoryStore("acct", "day")
            caller = IdempotentCaller(client.control, store)
            seen: list[Any] = []
            real_call = client.control.call

            async def spy(method: Any, *args: Any, **kw: Any) -> Any:
                seen.append((store.intent("paper_1"), store.pending))
                return await real_call(method, *args, **kw)

            client.control.call = spy  # type: ignore[method-assign]
            first = await caller.call("ApplyPaperFills", **fills("paper_1", plan))
            assert seen[0][0] is not None and seen[0][0].outcome is None  # recorded, open
            assert seen[0][1] is False  # and committed
            assert '"status":"Completed"' in (store.intent("paper_1").outcome or "")
            again = await caller.call("ApplyPaperFills", **fills("paper_1", plan))
            assert again == first and len(seen) == 1  # no second call at all
            assert executions(p, "ApplyPaperFills", "paper_1") == 1
            # same key, another request: refused locally
            with pytest.raises(IdempotencyConflictError):
                await caller.call("ApplyPaperFills", **fills("paper_1", plan),
                                  fill_prices={"short_put": Decimal("1")})

    run(main, backend=backend)


def test_duplicate_request_returns_the_original_outcome(backend: str) -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            plan = await paper_plan(p, client)
            first = await IdempotentCaller(client.control).call(
                "ApplyPaperFills", **fills("paper_dup", plan))
            # a restarted process whose journal never got the answer sends it again
            store = MemoryStore("acct", "day")
            again = await IdempotentCaller(client.control, store).call(
                "ApplyPaperFills", **fills("paper_dup", plan))
            assert again == first
            assert executions(p, "ApplyPaperFills", "paper_dup") == 1
            assert '"status":"Completed"' in (store.intent("paper_dup").outcome or "")

    run(main, backend=backend)


def test_a_duplicate_of_a_failed_call_raises_the_original_error(backend: str) -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            plan = await paper_plan(p, client)
            bad = fills("paper_live", plan, account=LIVE)  # paper fills on a live account
            with pytest.raises(BadRequestError) as first:
                await IdempotentCaller(client.control).call("ApplyPaperFills", **bad)
            store = MemoryStore("acct", "day")
            with pytest.raises(BadRequestError) as again:
                await IdempotentCaller(client.control, store).call("ApplyPaperFills", **bad)
            assert again.value.message == first.value.message
            assert '"status":"Failed"' in (store.intent("paper_live").outcome or "")

    run(main, backend=backend)


def test_conflict_for_a_key_reused_with_another_request(backend: str) -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            plan = await paper_plan(p, client)
            await IdempotentCaller(client.control).call("ApplyPaperFills",
                                                        **fills("paper_c", plan))
            store = MemoryStore("acct", "day")
            with pytest.raises(ConflictError, match="different"):
                await IdempotentCaller(client.control, store).call(
                    "ApplyPaperFills", **fills("paper_c", plan), leg_group_id=1)
            assert '"response_status":"Conflict"' in (store.intent("paper_c").outcome or "")

    run(main, backend=backend)


def test_a_lost_answer_is_recovered_with_get_idempotency_record(backend: str) -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            plan = await paper_plan(p, client)
            p.domain.faults.time_out_after_effect("ApplyPaperFills")
            store = MemoryStore("acct", "day")
            result = await IdempotentCaller(client.control, store).call(
                "ApplyPaperFills", **fills("paper_lost", plan))
            assert isinstance(result, m.ApplyPaperFillsResult)
            assert result.exec_plan_id == plan.exec_plan_id
            assert executions(p, "ApplyPaperFills", "paper_lost") == 1
            assert '"status":"Completed"' in (store.intent("paper_lost").outcome or "")

    run(main, backend=backend)


def test_a_stalled_call_is_polled_while_processing_and_a_concurrent_retry_waits(
    backend: str,
) -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client, p.client() as other:
            caller = IdempotentCaller(client.control)
            plan = await Preparations(caller, client.events).prepare_entry(
                **entry_fields("prep_live", account=LIVE))
            p.domain.faults.stall_next("SendOrder", 0.3)
            args = dict(idempotency_key="order_stall", broker_account_id=LIVE,
                        exec_plan_id=plan.exec_plan_id, leg_group_id=1,
                        leg_group_order=m.LegGroupOrder(order_type=m.OrderType.MARKET))
            results: list[Any] = []
            async with anyio.create_task_group() as nursery:
                async def one(c: Any) -> None:
                    results.append(await IdempotentCaller(c.control, poll_interval=0.05).call(
                        "SendOrder", **args))

                nursery.start_soon(one, client)
                await anyio.sleep(0.05)
                nursery.start_soon(one, other)  # gets Conflict (Processing), waits
            assert len(results) == 2 and results[0] == results[1]
            assert executions(p, "SendOrder", "order_stall") == 1

    run(main, backend=backend)


@pytest.mark.parametrize("resume", [True, False], ids=["resumed", "new-connection"])
def test_reconnect_mid_invocation_completes_once(resume: bool,
                                                caplog: pytest.LogCaptureFixture,
        backend: str) -> None:
    caplog.set_level(logging.INFO, logger="sessionkit_mesolive")

    async def main() -> None:
        async with platform() as p, p.client() as client:
            plan = await paper_plan(p, client)
            p.server.faults.response_delay = 0.2
            p.server.faults.refuse_resume = not resume
            store = MemoryStore("acct", "day")
            caller = IdempotentCaller(client.control, store, poll_interval=0.05)
            async with anyio.create_task_group() as nursery:
                nursery.start_soon(lambda: caller.call("ApplyPaperFills",
                                                       **fills("paper_drop", plan)))
                await anyio.sleep(0.1)  # the call is in, its answer delayed
                client.control.connection.drop_transport()
            p.server.faults.response_delay = 0.0
            assert executions(p, "ApplyPaperFills", "paper_drop") == 1
            assert '"status":"Completed"' in (store.intent("paper_drop").outcome or "")

    run(main, backend=backend)
    asked = "asking GetIdempotencyRecord" in caplog.text
    assert asked is not resume  # a resumed connection just delivers the answer
