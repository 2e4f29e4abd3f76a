"""Idempotent Control Hub calls that survive retries, lost answers and restarts.

The reference's pattern (core concepts, "Idempotency"; hubs §4.1), made into one call:

1. **One key per intent.** :func:`new_key` makes a fresh key (``prefix_<32 hex>``); a key
   derived from something durable (a signal's ``EventId``, an exec plan id) makes a restarted
   process find the same key again. Keys are checked (1..128 printable ASCII characters).
2. **Persisted before sending.** The key, the operation and a hash of the request are
   written to the session store (:meth:`~sessionkit.store.SessionStore.record_intent`) and
   committed before the call goes out. A key recorded again for another request is refused
   locally (:class:`~sessionkit.store.IdempotencyConflictError`) before anything is sent.
3. **A retry reuses it.** A key whose outcome the store already holds is answered from the
   store, without a call. An open key (a previous process died before the answer) is sent
   again with the same key: the server runs it at most once.
4. **Duplicate and Conflict** are control flow: ``DuplicateRequest`` carries the original
   outcome (``Data`` on success, ``Error`` on failure, per the simulator's reading of the
   reference), which is returned or raised as if the call had just run. ``Conflict`` means
   the key is still being processed, or was used for another request: the record is read
   with ``GetIdempotencyRecord``; while it is ``Processing`` the call waits (backoff) and is
   sent again, which ends in ``DuplicateRequest`` with the outcome; otherwise the key was
   misused and :class:`~._errors.ConflictError` is raised.
5. **Unknown outcome** (:class:`~._hubs.OutcomeUnknownError`: connection lost, the server
   dropped the answer, ``call_timeout``) is resolved with ``GetIdempotencyRecord``:
   ``NotFound`` means the call never arrived (sent again, same key), ``Processing`` is polled,
   ``Completed``/``Failed`` give the original outcome.
6. **The outcome is recorded** in the store (:meth:`resolve_intent`) as one line of JSON:
   ``{"status": "Completed", "data": ...}`` or ``{"status": "Failed", "response_status":
   ..., "message": ..., "error": ...}``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

import anyio
import msgspec

from . import models as m
from ._catalogue import METHODS, HubMethod, validate_idempotency_key
from ._errors import (
    ConflictError,
    DuplicateRequestError,
    MesoLiveApiException,
    MesoLiveSignalRError,
    NotFoundError,
    api_exception,
)
from ._hubs import ControlHub, OutcomeUnknownError

__all__ = ["IdempotentCaller", "new_key", "request_hash", "OutcomeUnresolvedError"]

logger = logging.getLogger(__name__)


class OutcomeUnresolvedError(MesoLiveSignalRError):
    """The outcome of an idempotent call stayed unknown within ``resolve_timeout``; the key
    stays open in the store and a later retry with the same key is safe."""

    def __init__(self, message: str, *, key: str, operation: str) -> None:
        super().__init__(message)
        self.key = key
        self.operation = operation


def new_key(prefix: str = "intent") -> str:
    """A fresh idempotency key ``<prefix>_<32 hex digits>`` (validated).

    >>> len(new_key("send_order")) == len("send_order_") + 32
    True
    """
    return validate_idempotency_key(f"{prefix}_{secrets.token_hex(16)}")


#: JSON with every object's keys sorted (a Decimal as a number with its exact digits)
_SORTED_KEYS = msgspec.json.Encoder(order="deterministic", decimal_format="number")
_JSON = msgspec.json.Encoder(decimal_format="number")


def request_hash(converter: Any, spec: HubMethod, args: Any) -> str:
    """SHA-256 of the request's wire JSON without its ``IdempotencyKey`` (keys sorted)."""
    wire = dict(converter.unstructure(args, spec.args_type))
    wire.pop("IdempotencyKey", None)
    return hashlib.sha256(_SORTED_KEYS.encode(wire)).hexdigest()


def _failure_outcome(exc: MesoLiveApiException, converter: Any) -> str:
    error = None if exc.error is None else converter.unstructure(exc.error)
    return _JSON.encode({"status": "Failed", "response_status": str(exc.status),
                         "message": exc.message, "error": error}).decode()


class IdempotentCaller:
    """Runs idempotent Control Hub methods under the rules in the module docstring.

    ``store``: a :class:`~sessionkit.store.SessionStore` (None: nothing is persisted, the
    other rules still hold). ``poll_interval`` .. ``max_poll_interval``: the backoff while a
    record is ``Processing`` or the connection is down; ``resolve_timeout``: how long an
    unknown outcome may take to resolve before :class:`OutcomeUnresolvedError`.
    """

    def __init__(self, control: ControlHub, store: Any = None, *, poll_interval: float = 0.1,
                 max_poll_interval: float = 2.0, resolve_timeout: float = 60.0,
                 max_resends: int = 5) -> None:
        self.control = control
        self.store = store
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.resolve_timeout = resolve_timeout
        self.max_resends = max_resends

    @property
    def converter(self) -> Any:
        return self.control.converter

    async def call(self, method: str, args: Any = None, /, **fields: Any) -> Any:
        """Run idempotent ``method`` (wire name) once for its ``IdempotencyKey``; returns
        the typed result or raises the (original) :class:`MesoLiveApiException`."""
        spec = METHODS.get(method)
        if spec is None or not spec.idempotent:
            raise ValueError(f"{method!r} is not an idempotent MesoLive method")
        args = self.control.arguments(spec, args, fields)
        key = validate_idempotency_key(args.idempotency_key)
        operation = str(spec.operation)
        if self.store is not None:
            seen = self.store.record_intent(key, operation,
                                            request_hash(self.converter, spec, args))
            self.store.commit()  # the key is durable before anything is sent
            if seen is not None and seen.outcome is not None:
                logger.info("%s %s: outcome already in the journal", method, key)
                return self._replay(spec, seen.outcome)
        try:
            result = await self._run(spec, args, key, operation)
        except MesoLiveApiException as exc:
            self._resolve(key, _failure_outcome(exc, self.converter))
            raise
        data = self.converter.unstructure(result, spec.result_type)
        self._resolve(key, _JSON.encode({"status": "Completed", "data": data}).decode())
        return result

    # -- the steps ------------------------------------------------------------------------

    async def _run(self, spec: HubMethod, args: Any, key: str, operation: str) -> Any:
        resends = 0
        deadline = anyio.current_time() + self.resolve_timeout
        while True:
            try:
                return await self.control.call(spec, args)
            except DuplicateRequestError as exc:
                logger.info("%s %s: DuplicateRequest, using the original outcome", spec.name, key)
                if exc.data is not None:
                    return self.converter.structure(exc.data, spec.result_type)
                record = await self._record(key, operation, deadline)  # the original error
                if record is None or record.status == m.IdempotencyRecordStatus.PROCESSING:
                    raise
                return self._from_record(spec, record)
            except ConflictError as exc:
                record = await self._record(key, operation, deadline)
                if record is None or record.status != m.IdempotencyRecordStatus.PROCESSING:
                    raise  # the key was used for another request
                logger.info("%s %s: still processing; waiting", spec.name, key)
                outcome = await self._wait_processing(key, operation, deadline)
                if outcome is None:
                    raise OutcomeUnresolvedError(
                        f"{spec.name} {key}: still processing after {self.resolve_timeout:g} s",
                        key=key, operation=operation) from exc
                return self._from_record(spec, outcome)
            except OutcomeUnknownError as exc:
                logger.warning("%s %s: outcome unknown (%s); asking GetIdempotencyRecord",
                               spec.name, key, exc)
                record = await self._record(key, operation, deadline)
                if record is not None:
                    outcome = (record if record.status != m.IdempotencyRecordStatus.PROCESSING
                               else await self._wait_processing(key, operation, deadline))
                    if outcome is None:
                        raise OutcomeUnresolvedError(
                            f"{spec.name} {key}: still processing after "
                            f"{self.resolve_timeout:g} s", key=key, operation=operation) from exc
                    return self._from_record(spec, outcome)
                resends += 1
                if resends > self.max_resends:
                    raise OutcomeUnresolvedError(
                        f"{spec.name} {key}: the call did not reach the server in "
                        f"{self.max_resends} attempts", key=key, operation=operation) from exc
                logger.info("%s %s: never reached the server; sending it again", spec.name, key)

    async def _record(self, key: str, operation: str,
                      deadline: float) -> m.IdempotencyRecord | None:
        """``GetIdempotencyRecord`` (None: NotFound), retried while the connection is down."""
        delay = self.poll_interval
        while True:
            try:
                record: m.IdempotencyRecord = await self.control.get_idempotency_record(
                    idempotency_key=key, operation=operation)
                return record
            except NotFoundError:
                return None
            except MesoLiveSignalRError as exc:
                if anyio.current_time() + delay > deadline:
                    raise OutcomeUnresolvedError(
                        f"{operation} {key}: could not read the idempotency record within "
                        f"{self.resolve_timeout:g} s: {exc}", key=key, operation=operation
                    ) from exc
                logger.info("GetIdempotencyRecord %s failed (%s); retrying", key, exc)
                await anyio.sleep(delay)
                delay = min(delay * 2, self.max_poll_interval)

    async def _wait_processing(self, key: str, operation: str,
                               deadline: float) -> m.IdempotencyRecord | None:
        delay = self.poll_interval
        while anyio.current_time() + delay <= deadline:
            await anyio.sleep(delay)
            delay = min(delay * 2, self.max_poll_interval)
            record = await self._record(key, operation, deadline)
            if record is not None and record.status != m.IdempotencyRecordStatus.PROCESSING:
                return record
        return None

    # -- outcomes -------------------------------------------------------------------------

    def _from_record(self, spec: HubMethod, record: m.IdempotencyRecord) -> Any:
        if record.status == m.IdempotencyRecordStatus.COMPLETED:
            if record.response_data is None:
                raise MesoLiveSignalRError(
                    f"{spec.name} {record.idempotency_key}: the record is Completed but holds "
                    "no response data")
            return self.converter.loads(record.response_data, spec.result_type)
        raise api_exception(record.response_status or "Failed",
                            record.response_message or record.error_message, record.response_error)

    def _replay(self, spec: HubMethod, outcome: str) -> Any:
        recorded = msgspec.json.decode(outcome)
        if recorded.get("status") == "Completed":
            return self.converter.structure(recorded.get("data"), spec.result_type)
        error = recorded.get("error")
        raise api_exception(recorded.get("response_status") or "Failed", recorded.get("message"),
                            None if error is None else self.converter.structure(
                                error, m.MesoLiveApiError))

    def _resolve(self, key: str, outcome: str) -> None:
        if self.store is not None:
            self.store.resolve_intent(key, outcome)
            self.store.commit()
