"""Idempotency of the simulated Control Hub (reference §4.1) and unknown-outcome recovery."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest
from sessionkit_mesolive import models as m
from sessionkit_mesolive._converters import default_converter, dumps
from sessionkit_mesolive._errors import BadRequestError, ConflictError, DuplicateRequestError
from sessionkit_mesolive.sim.domain import CallTimedOutError

PAPER, LIVE = "ML1234", "U1234567"


def record(d: Any, key: str, operation: str | None = None) -> m.IdempotencyRecord:
    rec: m.IdempotencyRecord = d.get_idempotency_record(
        m.GetIdempotencyRecordArgs(idempotency_key=key, operation=operation))
    return rec


def paper_plan(driver: Any, key: str = "prep_entry_1") -> int:
    status = driver.prepare_entry(key)
    assert status.result is not None
    plan_id: int = status.result.exec_plan_id
    return plan_id


def test_retry_after_completion_is_a_duplicate_carrying_the_first_outcome(driver: Any) -> None:
    d = driver.d
    args = m.ApplyPaperFillsArgs(idempotency_key="paper_entry_1", broker_account_id=PAPER,
                                 exec_plan_id=paper_plan(driver))
    first = d.apply_paper_fills(args)
    events_before = d.events.last_seq
    with pytest.raises(DuplicateRequestError) as exc:
        d.apply_paper_fills(args)
    assert exc.value.data == msgspec.json.decode(dumps(first))
    assert default_converter.structure(exc.value.data, m.ApplyPaperFillsResult) == first
    assert d.events.last_seq == events_before  # nothing happened the second time
    assert len(d.list_orders(m.ListOrdersArgs())) == 1
    assert d.idempotency.executions == {("ApplyPaperFills", "paper_entry_1"): 1} | {
        k: v for k, v in d.idempotency.executions.items() if k[0] != "ApplyPaperFills"}
    rec = record(d, "paper_entry_1")
    assert rec.status is m.IdempotencyRecordStatus.COMPLETED
    assert rec.operation is m.IdempotencyOperation.APPLY_PAPER_FILLS
    assert rec.live_order_ids == first.live_order_ids
    assert rec.live_exec_plan_id == first.exec_plan_id
    assert rec.response_status is m.StatusCode.SUCCESS
    assert rec.response_data is not None
    assert msgspec.json.decode(rec.response_data) == exc.value.data


def test_same_key_with_different_parameters_is_a_conflict(driver: Any) -> None:
    d = driver.d
    plan = paper_plan(driver)
    d.apply_paper_fills(m.ApplyPaperFillsArgs(idempotency_key="paper_entry_1",
                                              broker_account_id=PAPER, exec_plan_id=plan))
    with pytest.raises(ConflictError, match="already used for a different"):
        d.apply_paper_fills(m.ApplyPaperFillsArgs(
            idempotency_key="paper_entry_1", broker_account_id=PAPER, exec_plan_id=plan,
            fill_prices={"short_put": Decimal("1")}))
    # the key is scoped per operation: another operation may use the same text
    job = d.start_prepare_position_entry(driver.entry_args("paper_entry_1"))
    assert record(d, "paper_entry_1", "StartPreparePositionEntry").job_id == job.job_id
    assert record(d, "paper_entry_1", "ApplyPaperFills").live_order_ids is not None
    newest = record(d, "paper_entry_1")
    assert newest.operation is m.IdempotencyOperation.START_PREPARE_POSITION_ENTRY


def test_in_flight_retry_is_a_conflict_then_a_duplicate(driver: Any) -> None:
    """Unknown outcome: the call stalls and its answer is lost; the record tells the truth."""
    d = driver.d
    status = driver.prepare_entry("prep_entry_live", LIVE)
    args = m.SendOrderArgs(idempotency_key="send_order_1", broker_account_id=LIVE,
                           exec_plan_id=status.result.exec_plan_id, leg_group_id=1,
                           leg_group_order=m.LegGroupOrder(order_type=m.OrderType.MARKET))
    d.faults.stall_next("SendOrder", 3.0)
    with pytest.raises(CallTimedOutError):
        d.send_order(args)
    assert record(d, "send_order_1").status is m.IdempotencyRecordStatus.PROCESSING
    with pytest.raises(ConflictError, match="still being processed"):
        d.send_order(args)
    assert d.list_orders(m.ListOrdersArgs()) == ()
    driver.tick(3.0)
    rec = record(d, "send_order_1")
    assert rec.status is m.IdempotencyRecordStatus.COMPLETED
    assert rec.live_order_ids is not None and len(rec.live_order_ids) == 1
    with pytest.raises(DuplicateRequestError) as exc:
        d.send_order(args)
    assert exc.value.data == {"LiveOrderIds": list(rec.live_order_ids)}
    assert [o.order_id for o in d.list_orders(m.ListOrdersArgs())] == list(rec.live_order_ids)


def test_timeout_after_effect_is_recovered_from_the_record(driver: Any) -> None:
    d = driver.d
    args = m.ApplyPaperFillsArgs(idempotency_key="paper_entry_t", broker_account_id=PAPER,
                                 exec_plan_id=paper_plan(driver))
    cursor = d.events.last_seq
    d.faults.time_out_after_effect("ApplyPaperFills")
    with pytest.raises(CallTimedOutError):
        d.apply_paper_fills(args)
    rec = record(d, "paper_entry_t")
    assert rec.status is m.IdempotencyRecordStatus.COMPLETED and rec.live_order_ids
    result = default_converter.loads(rec.response_data or "", m.ApplyPaperFillsResult)
    assert d.get_position(m.GetPositionArgs(position_id=result.position_id)).position.state \
        is m.LivePositionState.OPEN
    replay = d.get_events_since(m.GetEventsSinceArgs(event_seq_id=cursor))
    assert "OnPositionUpdate" in [e.event_type for e in replay.events]
    with pytest.raises(DuplicateRequestError):
        d.apply_paper_fills(args)
    assert d.idempotency.executions[("ApplyPaperFills", "paper_entry_t")] == 1


def test_a_failed_operation_is_recorded_and_not_rerun(driver: Any) -> None:
    d = driver.d
    args = m.ApplyPaperFillsArgs(idempotency_key="paper_wrong", broker_account_id=LIVE,
                                 exec_plan_id=paper_plan(driver))
    with pytest.raises(BadRequestError) as first:
        d.apply_paper_fills(args)
    rec = record(d, "paper_wrong")
    assert rec.status is m.IdempotencyRecordStatus.FAILED
    assert rec.response_status is m.StatusCode.BAD_REQUEST
    assert rec.error_message == first.value.message and rec.response_error == first.value.error
    with pytest.raises(DuplicateRequestError) as again:
        d.apply_paper_fills(args)
    assert again.value.error == first.value.error
    # the documented way out: a new key for the corrected request
    d.apply_paper_fills(m.ApplyPaperFillsArgs(idempotency_key="paper_right",
                                              broker_account_id=PAPER,
                                              exec_plan_id=args.exec_plan_id))


def test_start_retry_is_matched_to_its_job(driver: Any) -> None:
    d = driver.d
    args = driver.entry_args("prep_entry_r")
    job = d.start_prepare_position_entry(args)
    with pytest.raises(DuplicateRequestError) as exc:
        d.start_prepare_position_entry(args)
    assert exc.value.data == {"JobId": job.job_id}
    assert len(d.state.jobs) == 1
    assert record(d, "prep_entry_r").job_status is m.PreparationStatus.PENDING
    driver.settle()
    rec = record(d, "prep_entry_r")
    assert rec.job_status is m.PreparationStatus.COMPLETED
    assert rec.live_exec_plan_id is not None
    assert isinstance(rec.job_result, dict)
    assert rec.job_result["ExecPlanId"] == rec.live_exec_plan_id


@pytest.mark.parametrize(("key", "problem"), [
    ("", "must not be empty"),
    ("x" * 129, "129 characters long; the limit is 128"),
    ("with space", "contains ' ' at index 4"),
])
def test_bad_keys_are_refused_without_a_record(driver: Any, key: str, problem: str) -> None:
    with pytest.raises(BadRequestError, match=problem) as exc:
        driver.d.start_prepare_position_entry(driver.entry_args(key))
    assert exc.value.error is not None and exc.value.error.validation_errors is not None
    assert "IdempotencyKey" in exc.value.error.validation_errors
    assert driver.d.idempotency.records() == []
    driver.d.start_prepare_position_entry(driver.entry_args("x" * 128))


def test_unknown_key_has_no_record(domain: Any) -> None:
    from sessionkit_mesolive._errors import NotFoundError

    with pytest.raises(NotFoundError, match="no idempotency record"):
        record(domain, "never_sent")
