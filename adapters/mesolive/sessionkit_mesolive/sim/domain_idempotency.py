"""Idempotency records for the simulated Control Hub, following the reference's §4.1.

A record is kept per ``(operation, key)`` with the hash of the request (every argument but
the key) and the outcome. For a call with a key already on record:

* different request hash -> ``Conflict`` (the key was reused for another request);
* record still ``Processing`` -> ``Conflict`` (still in flight);
* record ``Completed`` or ``Failed`` -> ``DuplicateRequest`` (already done: not run again).
  The envelope carries the original outcome: ``Data`` is the original result and ``Error``
  the original error (**inferred**: the reference says "probably with the original data").

So a retry never executes twice; the client reads the first outcome from the
``DuplicateRequest`` error or from ``GetIdempotencyRecord``. The key itself is validated first
(1..128 printable ASCII characters); a bad key is a ``BadRequest`` and leaves no record.

Preparation starts are ``Completed`` as soon as the job id is handed out; the record then
follows the job (``JobStatus``, ``JobResult``, ``LiveExecPlanId``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import attrs
import msgspec

from .. import models as m
from .._catalogue import METHODS, validate_idempotency_key
from .._converters import default_converter
from .._errors import InvalidIdempotencyKeyError, MesoLiveApiException, api_exception
from .domain_state import CallTimedOutError, DomainState, fail

__all__ = ["Outcome", "IdempotencyTable", "request_hash"]

logger = logging.getLogger(__name__)


@attrs.frozen(kw_only=True)
class Outcome:
    """What an idempotent effect returns: its result and what the record should remember."""

    result: Any
    live_exec_plan_id: int | None = None
    live_order_ids: tuple[int, ...] | None = None
    job_id: str | None = None


#: JSON with every object's keys sorted (a Decimal as a number with its exact digits)
_SORTED_KEYS = msgspec.json.Encoder(order="deterministic", decimal_format="number")


def request_hash(args: Any) -> str:
    """SHA-256 over the canonical JSON of ``args`` without its ``IdempotencyKey``."""
    wire = default_converter.unstructure(args)
    wire.pop("IdempotencyKey", None)
    return hashlib.sha256(_SORTED_KEYS.encode(wire)).hexdigest()


@attrs.frozen
class _Stalled:
    method: str
    key: tuple[str, str]
    effect: Callable[[], Outcome]
    due: float


class IdempotencyTable:
    """Runs idempotent operations once per ``(operation, key)`` and remembers the outcome."""

    def __init__(self, state: DomainState) -> None:
        self._state = state
        self._records: dict[tuple[str, str], m.IdempotencyRecord] = {}
        self._by_job: dict[str, tuple[str, str]] = {}
        self._stalled: list[_Stalled] = []
        self.executions: dict[tuple[str, str], int] = {}
        """How many times each (operation, key) actually ran its effect (test oracle)."""

    def run(self, method: str, args: Any, effect: Callable[[], Outcome]) -> Any:
        """Run ``effect`` for ``args`` unless its key is on record (see module docstring)."""
        spec = METHODS[method]
        operation = str(spec.operation)
        try:
            key_text = validate_idempotency_key(getattr(args, "idempotency_key", None))
        except InvalidIdempotencyKeyError as exc:
            fail(m.StatusCode.BAD_REQUEST, str(exc), code="ValidationFailed",
                 field="IdempotencyKey")
        key = (operation, key_text)
        digest = request_hash(args)
        record = self._records.get(key)
        if record is not None:
            self._refuse_repeat(record, digest)
        now = self._state.utc
        self._records[key] = m.IdempotencyRecord(
            idempotency_key=key_text, operation=spec.operation or operation,
            status=m.IdempotencyRecordStatus.PROCESSING, created_at=now, updated_at=now,
            request_hash=digest)
        stall = self._state.faults.stalls.pop(method, None)
        if stall is not None:
            self._stalled.append(_Stalled(method, key, effect, self._state.clock.now + stall))
            logger.info("%s %s: stalled for %.3fs", method, key_text, stall)
            raise CallTimedOutError(method)
        result = self._execute(key, effect)
        if self._state.faults.take_timeout(method):
            logger.info("%s %s: took effect, answer dropped", method, key_text)
            raise CallTimedOutError(method)
        return result

    def _refuse_repeat(self, record: m.IdempotencyRecord, digest: str) -> None:
        if record.request_hash != digest:
            fail(m.StatusCode.CONFLICT,
                 f"IdempotencyKey {record.idempotency_key!r} was already used for a different "
                 f"{record.operation} request", code="IdempotencyKeyReused")
        if record.status == m.IdempotencyRecordStatus.PROCESSING:
            fail(m.StatusCode.CONFLICT,
                 f"{record.operation} with IdempotencyKey {record.idempotency_key!r} is still "
                 "being processed", code="RequestInProgress")
        data = None if record.response_data is None else msgspec.json.decode(record.response_data)
        raise api_exception(
            m.StatusCode.DUPLICATE_REQUEST,
            f"{record.operation} with IdempotencyKey {record.idempotency_key!r} already "
            f"completed ({record.status})",
            record.response_error, data)

    def _execute(self, key: tuple[str, str], effect: Callable[[], Outcome]) -> Any:
        self.executions[key] = self.executions.get(key, 0) + 1
        record = self._records[key]
        try:
            outcome = effect()
        except MesoLiveApiException as exc:
            self._records[key] = msgspec.structs.replace(
                record, status=m.IdempotencyRecordStatus.FAILED, updated_at=self._state.utc,
                error_message=exc.message, response_status=exc.status,
                response_message=exc.message, response_error=exc.error)
            raise
        self._records[key] = msgspec.structs.replace(
            record, status=m.IdempotencyRecordStatus.COMPLETED, updated_at=self._state.utc,
            live_exec_plan_id=outcome.live_exec_plan_id, live_order_ids=outcome.live_order_ids,
            job_id=outcome.job_id, response_status=m.StatusCode.SUCCESS,
            response_data=default_converter.dumps(outcome.result).decode())
        if outcome.job_id is not None:
            self._by_job[outcome.job_id] = key
            self.job_changed(self._state.jobs[outcome.job_id])
        return outcome.result

    def advance(self) -> None:
        """Finish stalled calls whose time has come."""
        now = self._state.clock.now
        due = [s for s in self._stalled if s.due <= now]
        self._stalled = [s for s in self._stalled if s.due > now]
        for s in due:
            try:
                self._execute(s.key, s.effect)
            except MesoLiveApiException as exc:
                logger.info("stalled %s %s failed: %s", s.method, s.key[1], exc)

    def job_changed(self, job: Any) -> None:
        """Mirror a preparation job's state into the record that started it."""
        key = self._by_job.get(job.job_id)
        if key is None:
            return
        result_json = None if job.result is None else msgspec.json.decode(
            default_converter.dumps(job.result))
        plan_id = getattr(job.result, "exec_plan_id", None)
        self._records[key] = msgspec.structs.replace(
            self._records[key], job_status=job.status, job_result=result_json,
            job_error_message=job.error, live_exec_plan_id=plan_id,
            updated_at=self._state.utc)

    def get(self, args: m.GetIdempotencyRecordArgs) -> m.IdempotencyRecord:
        found = [r for (op, key), r in self._records.items()
                 if key == args.idempotency_key
                 and (args.operation is None or op == str(args.operation))]
        if not found:
            fail(m.StatusCode.NOT_FOUND,
                 f"no idempotency record for key {args.idempotency_key!r}",
                 code="IdempotencyRecordNotFound")
        return found[-1]  # insertion order: the newest record for the key

    def records(self) -> list[m.IdempotencyRecord]:
        return list(self._records.values())
