"""Asynchronous preparation jobs (entry, exit, adjustment) and the execution that follows.

:class:`Preparations` starts a job with an idempotent ``StartPreparePosition*`` call, records
its ``JobId`` in the session store while it is in flight (``add_job``; ``finish_job`` once its
outcome was handled), and waits for whichever comes first: the status poll
(``GetPreparePosition*Status``, with backoff) or the Event Hub callback
``OnPosition*PreparationCompleted`` / ``...Failed``. Statuses are ``Pending``, ``Running``,
``Completed`` (the result, with its ``ExecPlanId``), ``Failed`` (:class:`PreparationFailedError`)
and ``Cancelled`` (:class:`PreparationCancelledError`). :meth:`Preparations.cancel` is best effort:
a job that already finished cannot be cancelled, and the cancel reports the status it had.

:class:`Executor` carries out a completed plan: ``ApplyPaperFills`` on a paper account, one
``SendOrder`` per leg group on a live one, each with its own idempotency key derived from the
caller's prefix and the plan (so a restarted process derives the same keys and never executes
a plan twice).

>>> KINDS["Exit"].status, KINDS["Exit"].completed
('GetPreparePositionExitStatus', 'OnPositionExitPreparationCompleted')
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import anyio
import attrs
import msgspec

from . import models as m
from ._errors import BadRequestError, MesoLiveError
from ._hubs import EventHub, OutcomeUnknownError
from ._idempotency import IdempotentCaller

__all__ = ["JobKind", "KINDS", "ENTRY", "EXIT", "ADJUSTMENT", "Preparations",
           "PreparationFailedError", "PreparationCancelledError", "PreparationTimedOutError",
           "Executor"]

logger = logging.getLogger(__name__)

ENTRY, EXIT, ADJUSTMENT = "Entry", "Exit", "Adjustment"


@attrs.frozen
class JobKind:
    """The method and callback names of one kind of preparation."""

    name: str

    @property
    def start(self) -> str:
        return f"StartPreparePosition{self.name}"

    @property
    def status(self) -> str:
        return f"GetPreparePosition{self.name}Status"

    @property
    def cancel(self) -> str:
        return f"CancelPreparePosition{self.name}"

    @property
    def completed(self) -> str:
        return f"OnPosition{self.name}PreparationCompleted"

    @property
    def failed(self) -> str:
        return f"OnPosition{self.name}PreparationFailed"


KINDS: dict[str, JobKind] = {k: JobKind(k) for k in (ENTRY, EXIT, ADJUSTMENT)}


class PreparationFailedError(MesoLiveError):
    """The preparation job failed; ``error`` is the server's text."""

    def __init__(self, kind: str, job_id: str, error: str | None) -> None:
        super().__init__(f"{kind} preparation job {job_id} failed: {error or 'no reason given'}")
        self.kind, self.job_id, self.error = kind, job_id, error


class PreparationCancelledError(MesoLiveError):
    """The preparation job was cancelled before it finished."""

    def __init__(self, kind: str, job_id: str) -> None:
        super().__init__(f"{kind} preparation job {job_id} was cancelled")
        self.kind, self.job_id = kind, job_id


class PreparationTimedOutError(MesoLiveError, TimeoutError):
    """:meth:`Preparations.wait` gave up after ``timeout`` seconds: the job's outcome is not
    known yet. It stays in the store (``in_flight()``); wait again, or cancel it."""

    def __init__(self, kind: str, job_id: str, timeout: float) -> None:
        super().__init__(f"{kind} preparation job {job_id}: no outcome within {timeout:g} s; "
                         "the job may still complete (wait again, or cancel it)")
        self.kind, self.job_id, self.timeout = kind, job_id, timeout


@attrs.frozen
class _Finished:
    status: m.PreparationStatus | str | None
    result: Any = None
    error: str | None = None
    via: str = "poll"
    exception: BaseException | None = None  # the status call failed for good


class _Waiter:
    def __init__(self) -> None:
        self.done = anyio.Event()
        self.outcome: _Finished | None = None

    def set(self, outcome: _Finished) -> None:
        if self.outcome is None:
            self.outcome = outcome
            self.done.set()


def _kind(kind: str | JobKind) -> JobKind:
    if isinstance(kind, JobKind):
        return kind
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"preparation kind must be one of {sorted(KINDS)}, got {kind!r}") from None


class Preparations:
    """Start, follow and cancel preparation jobs (see the module docstring).

    ``events``: the Event Hub client whose completion callbacks end a wait early (None: poll
    only). ``poll_interval`` doubles up to ``max_poll_interval`` between status polls.
    ``timeout``: seconds :meth:`wait` may take (None: no bound).
    """

    def __init__(self, caller: IdempotentCaller, events: EventHub | None = None, *,
                 poll_interval: float = 0.2, max_poll_interval: float = 2.0,
                 timeout: float | None = None) -> None:
        self.caller = caller
        self.control = caller.control
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        if timeout is not None and (isinstance(timeout, bool)
                                    or not isinstance(timeout, int | float) or not timeout > 0):
            raise ValueError(f"timeout must be a number of seconds > 0 or None, got {timeout!r}")
        self.timeout = timeout
        self._waiters: dict[str, _Waiter] = {}
        self._awaited: set[str] = set()
        if events is not None:
            for kind in KINDS.values():
                events.on(kind.completed, self._on_event)
                events.on(kind.failed, self._on_event)

    @property
    def store(self) -> Any:
        return self.caller.store

    def _waiter(self, job_id: str) -> _Waiter:
        waiter = self._waiters.get(job_id)
        if waiter is None:
            waiter = self._waiters[job_id] = _Waiter()
            if len(self._waiters) > 1024:  # callbacks for jobs nobody waits for (yet)
                idle = next((j for j in self._waiters if j not in self._awaited), None)
                if idle is not None:
                    self._waiters.pop(idle)
        return waiter

    def _on_event(self, event: Any) -> None:
        error = getattr(event, "error", None)
        result = getattr(event, "result", None)
        status = m.PreparationStatus.FAILED if result is None else m.PreparationStatus.COMPLETED
        self._waiter(event.job_id).set(_Finished(status, result, error, via="event"))

    # -- the calls --------------------------------------------------------------------------

    async def start(self, kind: str | JobKind, args: Any = None, /, **fields: Any) -> str:
        """Start a job (idempotent: a retry with the same key gives the same job id) and
        record its id in the store; returns the id."""
        k = _kind(kind)
        started: m.StartPreparationResult = await self.caller.call(k.start, args, **fields)
        store = self.store
        if store is not None and all(j.job_id != started.job_id for j in store.jobs()):
            store.add_job(started.job_id, k.name)
            store.commit()
        return started.job_id

    async def status(self, kind: str | JobKind, job_id: str) -> Any:
        """``GetPreparePosition*Status`` for ``job_id``."""
        return await self.control.call(_kind(kind).status, job_id=job_id)

    async def wait(self, kind: str | JobKind, job_id: str) -> Any:
        """The job's result once it completed (poll or callback, whichever first); raises
        :class:`PreparationFailedError` / :class:`PreparationCancelledError`, the API error of the
        status call itself (a :class:`MesoLiveApiException` such as ``NotFound``, or a
        :class:`MesoLiveSignalRError` that retrying cannot cure), or
        :class:`PreparationTimedOutError` after ``timeout``. The job leaves the store once its
        outcome is known."""
        k = _kind(kind)
        waiter = self._waiter(job_id)
        self._awaited.add(job_id)
        try:
            with anyio.move_on_after(self.timeout if self.timeout is not None
                                    else float("inf")) as scope:
                async with anyio.create_task_group() as nursery:
                    nursery.start_soon(self._poll, k, job_id, waiter)
                    await waiter.done.wait()
                    nursery.cancel_scope.cancel()
        finally:
            self._awaited.discard(job_id)
        if scope.cancelled_caught and waiter.outcome is None:
            assert self.timeout is not None
            raise PreparationTimedOutError(k.name, job_id, self.timeout)
        self._waiters.pop(job_id, None)
        outcome = waiter.outcome
        assert outcome is not None
        if outcome.exception is not None:
            raise outcome.exception
        logger.info("%s job %s: %s (via %s)", k.name, job_id, outcome.status, outcome.via)
        if self.store is not None and any(j.job_id == job_id for j in self.store.jobs()):
            self.store.finish_job(job_id)
            self.store.commit()
        if outcome.status == m.PreparationStatus.COMPLETED:
            return outcome.result
        if outcome.status == m.PreparationStatus.CANCELLED:
            raise PreparationCancelledError(k.name, job_id)
        raise PreparationFailedError(k.name, job_id, outcome.error)

    async def _poll(self, k: JobKind, job_id: str, waiter: _Waiter) -> None:
        """Poll until the job is final. Only an unknown outcome (the connection dropped) is
        retried; any other failure ends the wait with that error (never raised here, so the
        caller gets it as it is, not wrapped in an exception group)."""
        delay = self.poll_interval
        while True:
            try:
                st = await self.status(k, job_id)
            except OutcomeUnknownError as exc:  # the connection comes back; keep trying
                logger.info("status of %s job %s: %s", k.name, job_id, exc)
            except Exception as exc:
                waiter.set(_Finished(None, via="poll", exception=exc))
                return
            else:
                if st.status in (m.PreparationStatus.COMPLETED, m.PreparationStatus.FAILED,
                                 m.PreparationStatus.CANCELLED):
                    waiter.set(_Finished(st.status, st.result, st.error))
                    return
            await anyio.sleep(delay)
            delay = min(delay * 2, self.max_poll_interval)

    async def prepare(self, kind: str | JobKind, args: Any = None, /, **fields: Any) -> Any:
        """Start a job and wait for its result."""
        job_id = await self.start(kind, args, **fields)
        return await self.wait(kind, job_id)

    async def prepare_entry(self, args: m.PreparePositionEntryArgs | None = None, /,
                            **fields: Any) -> m.PreparePositionEntryResult:
        result: m.PreparePositionEntryResult = await self.prepare(ENTRY, args, **fields)
        return result

    async def prepare_exit(self, args: m.PreparePositionExitArgs | None = None, /,
                           **fields: Any) -> m.PreparePositionExitResult:
        result: m.PreparePositionExitResult = await self.prepare(EXIT, args, **fields)
        return result

    async def prepare_adjustment(self, args: m.PreparePositionAdjustmentArgs | None = None, /,
                                 **fields: Any) -> m.PreparePositionAdjustmentResult:
        result: m.PreparePositionAdjustmentResult = await self.prepare(ADJUSTMENT, args,
                                                                       **fields)
        return result

    async def cancel(self, kind: str | JobKind, job_id: str, *,
                     idempotency_key: str | None = None) -> m.PreparationStatus | str:
        """Ask to cancel a job (best effort); returns its status afterwards: ``Cancelled``,
        or ``Completed``/``Failed`` when it had already finished."""
        k = _kind(kind)
        key = idempotency_key or f"cancel_{k.name.lower()}_{job_id}"
        try:
            result: m.CancelPreparationResult = await self.caller.call(
                k.cancel, idempotency_key=key, job_id=job_id)
        except BadRequestError as exc:
            st = await self.status(k, job_id)
            logger.info("cancel of %s job %s refused (%s): it is %s", k.name, job_id,
                        exc.message, st.status)
            status: m.PreparationStatus | str = st.status
            return status
        if result.status == m.PreparationStatus.CANCELLED:
            self._waiter(job_id).set(_Finished(result.status, via="cancel"))
        return result.status

    def in_flight(self) -> list[tuple[str, str]]:
        """``(job_id, kind)`` of every job the store holds as started and not handled."""
        return [] if self.store is None else [(j.job_id, j.kind) for j in self.store.jobs()]


class Executor:
    """Executes a completed preparation result (see the module docstring)."""

    def __init__(self, caller: IdempotentCaller) -> None:
        self.caller = caller
        self.control = caller.control

    async def is_paper(self, broker_account_id: str) -> bool:
        account: m.LiveAccount = await self.control.get_account(
            broker_account_id=broker_account_id)
        return bool(account.is_paper_account)

    async def execute(self, plan: Any, *, key_prefix: str, paper: bool | None = None,
                      fill_prices: dict[str, Decimal] | None = None,
                      order: m.LegGroupOrder | None = None,
                      qty_multiplier: Decimal | None = None) -> list[Any]:
        """Execute ``plan`` (a ``PreparePosition*Result``): one ``ApplyPaperFills`` for the
        whole plan on a paper account, one ``SendOrder`` per leg group on a live one (a
        Market DAY order unless ``order`` says otherwise). Keys are
        ``<key_prefix>_paper_<plan>`` and ``<key_prefix>_order_<plan>_<group>``. Returns the
        results in order."""
        account = plan.broker_account_id
        plan_id = plan.exec_plan_id
        if paper is None:
            paper = await self.is_paper(account)
        if paper:
            result = await self.caller.call(
                "ApplyPaperFills", idempotency_key=f"{key_prefix}_paper_{plan_id}",
                broker_account_id=account, exec_plan_id=plan_id,
                fill_prices=dict(fill_prices or {}), qty_multiplier=qty_multiplier)
            return [result]
        results = []
        for group_id in sorted(plan.leg_groups):
            group_order = order or m.LegGroupOrder(order_type=m.OrderType.MARKET)
            group_order = msgspec.structs.replace(
                group_order, leg_names=tuple(plan.leg_groups[group_id]))
            results.append(await self.caller.call(
                "SendOrder", idempotency_key=f"{key_prefix}_order_{plan_id}_{group_id}",
                broker_account_id=account, exec_plan_id=plan_id, leg_group_id=group_id,
                leg_group_order=group_order, qty_multiplier=qty_multiplier))
        return results
