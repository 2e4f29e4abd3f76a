"""Running one scenario against an adapter.

The client side is the real runtime (``sessionkit.runtime.open_session``)
connected through the adapter's connector; the far side is a
:class:`~sessionkit.conformance._exchange.ScriptedExchange` on the adapter's
server endpoint. Steps run in order in one task; the session runs in
another. Both run on AnyIO, on asyncio or trio (``backend``), on a virtual clock that
jumps ahead whenever every task waits (trio's ``MockClock``, asyncio's
:class:`~sessionkit.conformance._virtual_time.VirtualTimeLoop`; see :mod:`._clocks`),
so ``wait 30`` takes no real time.
"""

from __future__ import annotations

import inspect
import math
import os
import threading
import time
from typing import Any

import anyio
import anyio.abc
import attrs

from .._codec import DEFAULT_MAX_FRAME_SIZE, JsonCodec
from .._config import SessionConfig
from .._errors import InvalidRequestError, SessionkitError
from .._messages import MESSAGE_TYPES, Message, Request
from ..runtime._transport import ConnectError, TransportClosedError
from . import _network
from ._clocks import ScenarioLoop, autojump_threshold, check_backend
from ._exchange import GuardedConnector, ScriptedExchange, StepFailed
from ._expect import ExpectSteps
from ._inflight import InFlight
from ._journal import check_journal_spec, open_journal
from ._match import describe, mismatches
from ._recorder import RecordingProcessor
from ._script import Scenario, Step, Var
from ._vocabulary import ERROR_ALIASES

__all__ = ["ScenarioResult", "run_scenario", "missing_capabilities", "FRAME_LIMIT", "check_clock",
           "frame_limit"]

#: max_frame_size of both codecs in a scenario: the codec's default, 1 MiB (lower for an
#: adapter whose transport carries less, see :func:`frame_limit`); ``inject oversize``
#: sends a frame one byte longer, which the transport must deliver to the codec
FRAME_LIMIT = DEFAULT_MAX_FRAME_SIZE
#: a scenario that runs longer than this in virtual time has hung
SCENARIO_LIMIT = 86400.0
#: a scenario that runs longer than this in real seconds is stopped (a livelock: tasks
#: that never wait leave virtual time standing still)
REAL_TIME_LIMIT = 60.0


@attrs.frozen
class ScenarioResult:
    name: str
    category: str
    #: "passed", "failed" or "skipped"
    status: str
    detail: str = ""
    line: int | None = None
    #: real seconds the scenario took
    duration: float = 0.0
    capabilities: tuple[str, ...] = ()
    #: a failure: the step that failed (``line 12: expect-send login``, "" when none)...
    step: str = ""
    #: ...what did not hold...
    message: str = ""
    #: ...and the exception behind it, with its chain and where each was raised ("" if none)
    cause: str = ""
    #: the event loop it ran on: "asyncio" or "trio"
    backend: str = "asyncio"

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def missing_capabilities(scenario: Scenario, adapter: Any) -> set[str]:
    return set(scenario.capabilities) - set(getattr(adapter, "capabilities", ()))


def frame_limit(adapter: Any) -> int:
    """The ``max_frame_size`` of a scenario's codecs: :data:`FRAME_LIMIT` (1 MiB), or one byte
    under the adapter's ``max_frame_size`` when that is not more, so that a frame one byte
    over the codecs' limit (``inject oversize``) is still one the transport carries."""
    carried = getattr(adapter, "max_frame_size", None)
    if carried is None:
        return FRAME_LIMIT
    if not isinstance(carried, int) or isinstance(carried, bool) or carried < 2:
        raise ValueError(f"the adapter's max_frame_size must be None or a number of bytes "
                         f">= 2, got {carried!r}")
    return min(FRAME_LIMIT, carried - 1)


def settle_cushion(spec: str | None) -> float:
    """How long every task must have waited before the system counts as settled."""
    spec = check_clock(spec)
    if spec == "virtual":
        return 0.0
    if spec.startswith("virtual:"):
        return float(spec.split(":", 1)[1])
    return 0.02


def check_clock(spec: str | None) -> str:
    """``spec`` (``virtual`` when None) if it names a clock, else ValueError naming it:
    ``virtual`` (jumps whenever all wait), ``virtual:SECONDS`` (jumps after all waited
    that long in real time, for transports doing real I/O) or ``real``."""
    autojump_threshold(spec)
    return spec or "virtual"


def run_scenario(scenario: Scenario, adapter: Any, *, clock: str | None = None,
                 real_time_limit: float = REAL_TIME_LIMIT,
                 journal: str | None = None, backend: str | None = None) -> ScenarioResult:
    """Run one scenario; skipped when the adapter lacks a capability it needs.

    ``journal``: the session runs on a new journal of this store (``memory``, ``sqlite``
    or a ``postgresql://`` URL; see :mod:`._journal`), None: without one.
    ``backend``: the event loop, ``"asyncio"`` or ``"trio"`` (None: asyncio).
    """
    check_journal_spec(journal)
    backend = check_backend(backend)
    caps = tuple(sorted(scenario.capabilities))
    missing = missing_capabilities(scenario, adapter)
    if missing:
        return ScenarioResult(scenario.name, scenario.category, "skipped",
                              f"adapter lacks capability {', '.join(sorted(missing))}",
                              capabilities=caps, backend=backend)
    spec = clock or getattr(adapter, "conformance_clock", None) or "virtual"
    start = time.perf_counter()
    loop = ScenarioLoop(backend, spec)
    run = _Run(scenario, adapter, settle_cushion(spec), InFlight(loop.autojump), journal,
               loop)
    watchdog = threading.Timer(real_time_limit, run.stop_from_thread, args=(real_time_limit,))
    watchdog.daemon = True
    watchdog.start()
    try:
        loop.run(run.main)
    except BaseException as exc:  # the harness or the adapter blew up outside a step
        if isinstance(exc, KeyboardInterrupt):
            raise
        if run.failure is None:
            run._fail(None, f"the scenario crashed: {_error_text(exc)}", exc)
    finally:
        watchdog.cancel()
    took = time.perf_counter() - start
    run.add_session_cause()
    if run.failure is None:
        return ScenarioResult(scenario.name, scenario.category, "passed", duration=took,
                              capabilities=caps, backend=backend)
    f = run.failure
    return ScenarioResult(scenario.name, scenario.category, "failed", f.detail, f.line, took,
                          caps, step=f.step, message=f.message, cause=f.cause,
                          backend=backend)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_error_text(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


def cause_text(exc: BaseException, limit: int = 6) -> str:
    """An exception, the exceptions behind it (``__cause__``, else ``__context__``) and where
    each was raised: ``SessionFailedError: the transport failed: ... (raised at
    sessionkit/runtime/_client.py:412 in _run) <- OSError: ... (raised at ...)``; the
    leaves of an exception group each on a line of their own."""
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join(cause_text(e, limit) for e in _leaves(exc))
    parts: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen and len(parts) < limit:
        seen.add(id(cur))
        parts.append(f"{_error_text(cur)}{_where(cur)}")
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    return " <- ".join(parts)


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    path = code.co_filename
    here = os.getcwd() + os.sep
    if path.startswith(here):
        path = path[len(here):]
    elif "/site-packages/" in path:
        path = path[path.index("/site-packages/") + 15:]
    return f" (raised at {path}:{tb.tb_lineno} in {code.co_name})"


@attrs.frozen
class _Failure:
    line: int | None
    step: str
    message: str
    cause: str
    detail: str


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


_EXPECTED_ERRORS = (SessionkitError, TransportClosedError, ConnectError)


class _Run(ExpectSteps):
    def __init__(self, scenario: Scenario, adapter: Any, cushion: float = 0.0,
                 inflight: InFlight | None = None, journal: str | None = None,
                 loop: ScenarioLoop | None = None) -> None:
        self.cushion = cushion
        self.loop = loop or ScenarioLoop(None, "virtual")
        self.inflight = inflight or InFlight(None)
        self.journal = journal
        self.sc = scenario
        self.adapter = adapter
        self.recorder = RecordingProcessor()
        self.frame_limit = frame_limit(adapter)
        self.codec = JsonCodec(max_frame_size=self.frame_limit)
        self.timeout = scenario.timeout
        self.failure: _Failure | None = None
        self.cids: dict[str, str] = {}
        #: batch alias -> its requests' aliases; batch frame alias -> that frame's requests
        self.groups: dict[str, list[str]] = {}
        self.frames: dict[str, list[str]] = {}
        self.client: Any = None
        self.session_started = False
        self.session_done = False
        self.session_error: BaseException | None = None
        self._session_changed = anyio.Event()
        self.pending: tuple[Step, BaseException] | None = None
        self.cursors: dict[str, int] = {}
        self.reply_cursors: dict[str, int] = {}
        self.background: list[str] = []
        self.scope: anyio.CancelScope | None = None
        self.nursery: anyio.abc.TaskGroup
        self.step: Step | None = None
        #: the fault proxy a ``tcp`` scenario runs through (None: connected directly)
        self.proxy: Any = None

    # -- the scenario ----------------------------------------------------------------

    def stop_from_thread(self, limit: float) -> None:
        """The watchdog thread: stop a scenario that runs too long in real time."""
        scope = self.scope
        if scope is None:
            return

        def stop() -> None:  # a callback of the loop, outside any task
            try:
                if self.failure is None:
                    step = self.step
                    self._fail(step, f"stopped after {limit:g} s of real time with virtual "
                                     f"time at {self.loop.time():.3f} s: something runs "
                                     f"without ever waiting (a livelock)")
            finally:
                scope.cancel()

        self.loop.call_from_thread(stop)

    async def main(self) -> None:
        self.loop.bind()
        step: Step | None = None
        with anyio.CancelScope() as self.scope, anyio.move_on_after(SCENARIO_LIMIT) as guard:
            async with self.adapter.serve() as endpoint, \
                    _network.route(endpoint, "tcp" in self.sc.capabilities) as self.proxy:
                async with anyio.create_task_group() as nursery:
                    self.nursery = nursery
                    self.exchange = ScriptedExchange(endpoint, nursery, self.codec,
                                                     self.inflight)
                    self.connector = GuardedConnector(_network.connector_for(endpoint,
                                                                             self.proxy),
                                                      self.inflight)
                    try:
                        for step in self.sc.steps:
                            self.step = step
                            await self.run_step(step)
                        step = None
                        self.final_checks()
                    except StepFailed as exc:
                        self._fail(exc.step or step, str(exc), exc.__cause__)
                    finally:
                        # the steps are over: the teardown (a socket's linger, a context
                        # term in a thread) takes real time, during which a real-I/O clock
                        # keeps jumping; the real-time watchdog bounds it, not this limit
                        guard.deadline = math.inf
                        nursery.cancel_scope.cancel()
        if guard.cancelled_caught and self.failure is None:
            self._fail(step, f"the scenario did not finish within {SCENARIO_LIMIT:g} s of "
                             f"virtual time")

    def _fail(self, step: Step | None, message: str, exc: BaseException | None = None) -> None:
        """Keep the first failure: the step, what did not hold, and why (the exception
        behind it, else the one that ended the session, if any)."""
        where = f"line {step.line}: {step.text}" if step is not None else ""
        cause = cause_text(exc) if exc is not None else ""
        calls = self.recorder.timeline()
        detail = "\n".join(x for x in (where, message, f"cause: {cause}" if cause else "") if x)
        self.failure = _Failure(step.line if step else None, where, message, cause,
                                f"{detail}\nlast processor calls:\n{calls}")

    def add_session_cause(self) -> None:
        """A failure without a cause of its own gets the session's end as its cause, once
        the run is over (a step may fail on what the session's end did, a closed
        connection, before the session task has finished)."""
        f = self.failure
        if f is None or f.cause or self.session_error is None:
            return
        cause = f"the session ended: {cause_text(self.session_error)}"
        head, sep, calls = f.detail.partition("\nlast processor calls:\n")
        self.failure = attrs.evolve(f, cause=cause,
                                    detail=f"{head}\ncause: {cause}{sep}{calls}")

    async def run_step(self, step: Step, at: str | None = None) -> None:
        if self.pending is not None and step.verb != "expect-error":
            raised, exc = self.pending
            self.pending = None
            raise StepFailed(f"{raised.verb} raised {_error_text(exc)} (no expect-error step "
                             f"follows)", step=raised)
        handler = getattr(self, "step_" + step.verb.replace("-", "_"))
        await handler(step, at)

    def final_checks(self) -> None:
        for cid, evs in self.recorder.finished().items():
            if len(evs) > 1:
                raise StepFailed(f"invariant broken: request {cid} finished {len(evs)} times "
                                 f"({', '.join(e.outcome.value for e in evs)})")
        last = None
        for c in self.recorder.calls:
            if c.method == "handle_run_change":  # a new run may start its event ids again
                last = None
                continue
            msg = c.args.get("msg")
            eid = msg.event_id if isinstance(msg, Message) else None
            if eid is None:
                continue
            if last is not None and eid <= last:
                raise StepFailed(f"invariant broken: the processor got event {eid} after "
                                 f"event {last} ({c})")
            last = eid
        if self.session_error is not None:
            expected = (*_EXPECTED_ERRORS, anyio.get_cancelled_exc_class())
            odd = [e for e in _leaves(self.session_error) if not isinstance(e, expected)]
            if odd:
                raise StepFailed(f"the runtime raised {_error_text(self.session_error)}"
                                 ) from self.session_error
        if self.background:
            raise StepFailed("; ".join(self.background))

    # -- values ------------------------------------------------------------------------

    def value(self, v: Any, at: str | None) -> Any:
        if isinstance(v, list):
            return [self.value(x, at) for x in v]
        if not isinstance(v, Var):
            return v
        alias = self.alias(v.alias, at)
        cid = self.cids.get(alias)
        if cid is None:
            raise StepFailed(f"{v}: {alias} has no cid (did its submit fail?)")
        if v.kind == "cid":
            return cid
        mid = self.exchange.mids.get(cid)
        if mid is None:
            raise StepFailed(f"{v}: the exchange has sent no ACK with a mid for {alias} "
                             f"({cid}) yet")
        return mid

    def alias(self, name: Any, at: str | None) -> str:
        if name == "@":
            if at is None:
                raise StepFailed("@ outside an each step")
            return at
        return str(name)

    def members(self, name: str) -> list[str]:
        """The aliases a name stands for: a batch group's requests, or the name itself."""
        return self.groups.get(name, [name])

    def resolver(self, at: str | None) -> Any:
        return lambda v: self.value(v, at)

    def fields(self, step: Step, at: str | None) -> dict[str, Any]:
        return {f.key: self.value(f.value, at) for f in step.fields}

    def request(self, type_name: str, step: Step, at: str | None) -> Request | None:
        """The step's request; None when its constructor refused it (InvalidRequestError,
        what an engine sees: kept for the next step, ``expect-error``)."""
        cls = MESSAGE_TYPES[type_name]
        try:
            req = cls(**self.fields(step, at))
        except InvalidRequestError as exc:
            self.pending = (step, exc)
            return None
        except (TypeError, ValueError) as exc:
            raise StepFailed(f"cannot build {type_name}: {exc}") from None
        assert isinstance(req, Request)
        return req

    def config(self) -> SessionConfig:
        values = dict(self.sc.config)
        values.setdefault("cid_prefix", "c")
        return SessionConfig(**values)

    # -- the client-side driver --------------------------------------------------------------

    async def step_login(self, step: Step, at: str | None) -> None:
        if self.session_started:
            raise StepFailed("a scenario opens one session; the runtime reconnects it")
        self.session_started = True
        kwargs = dict(account=step.opt("account", "acct"), token=step.opt("token", ""),
                      config=self.config(),
                      codec=JsonCodec(max_frame_size=self.frame_limit),
                      reconnect=reconnect_argument(self.sc.reconnect),
                      resume_event_id=step.opt("resume"),
                      on_handler_error=step.opt("handler_errors", "log"))
        self.nursery.start_soon(self._session, kwargs)

    async def _session(self, kwargs: dict[str, Any]) -> None:
        done = None
        try:
            from ..runtime import open_session

            if self.journal is not None:
                kwargs["store"], done = open_journal(self.journal, kwargs["account"],
                                                     self.sc.name)
            async with open_session(self.connector, self.recorder, **kwargs) as client:
                self.client = client
                self._session_changed.set()
                await anyio.sleep_forever()
        except Exception as exc:
            self.session_error = exc
        finally:
            self.session_done = True
            self._session_changed.set()
            if done is not None:
                done()

    async def get_client(self) -> Any:
        with anyio.move_on_after(self.timeout):
            while self.client is None and not self.session_done:
                await self._session_changed.wait()
        if self.client is not None:
            return self.client
        if not self.session_started:
            raise StepFailed("no session: the script needs a 'login' step first")
        if self.session_done:
            err = _error_text(self.session_error) if self.session_error else "no error"
            raise StepFailed(f"the session ended before open_session yielded a client ({err})")
        raise StepFailed(f"open_session did not yield a client within {self.timeout:g} s")

    async def _call(self, step: Step, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the runtime; an error is kept for the next step (expect-error)."""
        with anyio.move_on_after(self.timeout * 4):
            try:
                result = fn(*args, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:  # a TimeoutError of the runtime's own too
                self.pending = (step, exc)
                return None
            return result
        raise StepFailed(f"{step.verb} did not return within {self.timeout * 4:g} s")

    async def step_submit(self, step: Step, at: str | None, nowait: bool = False) -> None:
        req = self.request(step.args[0], step, at)
        if req is None:
            return
        client = await self.get_client()
        alias = step.opt("as") or f"line{step.line}"
        cb = self.recorder.reply_callback(alias)
        fn = client.submit_nowait if nowait else client.submit
        cid = await self._call(step, fn, req, callback=cb)
        if self.pending is None:
            if not isinstance(cid, str):
                raise StepFailed(f"{step.verb} returned {cid!r}, not a cid string")
            self.cids[alias] = cid

    async def step_submit_nowait(self, step: Step, at: str | None) -> None:
        await self.step_submit(step, at, nowait=True)

    async def step_submit_batch(self, step: Step, at: str | None, nowait: bool = False) -> None:
        count, type_name = step.args
        reqs = [self.request(type_name, step, at) for _ in range(count)]
        if self.pending is not None:
            return
        client = await self.get_client()
        fn = client.submit_batch_nowait if nowait else client.submit_batch
        tickets = await self._call(step, fn, reqs)
        if self.pending is not None:
            return
        alias = step.opt("as") or f"line{step.line}"
        limit = self.config().batch_limit
        want = -(-count // limit)
        if len(tickets) != want:
            raise StepFailed(f"submit_batch of {count} returned {len(tickets)} tickets; "
                             f"batch_limit {limit} makes {want}")
        members: list[str] = []
        for k, t in enumerate(tickets):
            frame = f"{alias}.batch{k}"
            self.cids[frame] = t.cid
            kids = []
            for cid in t.cids:
                child = f"{alias}.{len(members)}"
                self.cids[child] = cid
                members.append(child)
                kids.append(child)
            self.frames[frame] = kids
        if len(members) != count:
            raise StepFailed(f"submit_batch of {count} returned tickets naming {len(members)} "
                             f"requests")
        self.groups[alias] = members

    async def step_submit_batch_nowait(self, step: Step, at: str | None) -> None:
        await self.step_submit_batch(step, at, nowait=True)

    async def step_close(self, step: Step, at: str | None) -> None:
        client = await self.get_client()

        async def close() -> None:
            try:
                await client.aclose()
            except Exception as exc:
                if not isinstance(exc, (*_EXPECTED_ERRORS, anyio.get_cancelled_exc_class())):
                    self.background.append(f"client.aclose() raised {_error_text(exc)}")

        self.nursery.start_soon(close)

    async def step_expect_error(self, step: Step, at: str | None) -> None:
        name = ERROR_ALIASES.get(step.args[0], step.args[0])
        if self.pending is None:
            raise StepFailed(f"expected {name}, but the previous step raised nothing")
        _, exc = self.pending
        self.pending = None
        leaves = _leaves(exc)
        err = leaves[0] if len(leaves) == 1 else exc
        if name not in [c.__name__ for c in type(err).__mro__]:
            raise StepFailed(f"expected {name}, got {_error_text(exc)}")
        bad = mismatches(err, step.fields, self.resolver(at))
        if bad:
            raise StepFailed(f"{name} raised ({err}) but " + "; ".join(bad))

    # -- the scripted exchange ------------------------------------------------------------------

    def _opt_time(self, step: Step, name: str, default: float | None = None) -> float:
        v = step.opt(name)
        return float(v) if v is not None else (default if default is not None else self.timeout)

    async def step_connect(self, step: Step, at: str | None) -> None:
        if self.exchange._accepting is not None:
            await self.exchange.connection(self._opt_time(step, "within"))
        self.exchange.start_accept()

    async def step_expect_send(self, step: Step, at: str | None) -> None:
        want = step.args[0]
        msg = await self.exchange.next_message(self._opt_time(step, "within"), want)
        name = describe(msg)
        if msg.TYPE != want:
            raise StepFailed(f"expected the client to send {want}, it sent {name}")
        bad = mismatches(msg, step.fields, self.resolver(at))
        if bad:
            raise StepFailed(f"the client sent {name}: " + "; ".join(bad))
        alias = step.opt("as")
        if alias and isinstance(getattr(msg, "cid", None), str):
            self.cids[alias] = msg.cid  # type: ignore[attr-defined]

    async def step_expect_no_send(self, step: Step, at: str | None) -> None:
        await self.exchange.expect_silence(self._opt_time(step, "for", 1.0))

    async def step_expect_disconnect(self, step: Step, at: str | None) -> None:
        await self.exchange.expect_disconnect(self._opt_time(step, "within"))

    async def step_expect_no_connect(self, step: Step, at: str | None) -> None:
        await self.exchange.expect_no_connect(self._opt_time(step, "for", self.timeout))

    async def step_send(self, step: Step, at: str | None) -> None:
        msg: dict[str, Any] = {"type": step.args[0]}
        for key, v in self.fields(step, at).items():
            node = msg
            *parents, leaf = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = v
        if step.args[0] == "login_ack" and isinstance(msg.get("run_id"), str):
            self.exchange.run_id = msg["run_id"]
        await self.exchange.send_frame(self.exchange.encode(msg), self.timeout)

    async def step_send_raw(self, step: Step, at: str | None) -> None:
        await self.exchange.send_frame(step.args[0].encode(), self.timeout)

    async def step_send_batch_ack(self, step: Step, at: str | None) -> None:
        frame = self.alias(step.args[0], at)
        kids = self.frames.get(frame)
        if kids is None or frame not in self.cids:
            raise StepFailed(f"{frame} is not a batch frame of an earlier submit-batch")
        cid = self.cids[frame]
        first = self.value(step.opt("first_mid", 1000), at)
        reject = set(step.opt("reject", []))
        omit = set(step.opt("omit", []))
        code = step.opt("reject_status", 402)
        statuses = []
        for i, kid in enumerate(kids):
            if i in omit:
                continue
            bad = i in reject
            statuses.append({"type": "status", "cid": self.cids[kid], "mid": first + i,
                             "status": code if bad else 200,
                             "message": "rejected by the script" if bad else "accepted"})
        msg = {"type": "batch_ack", "cid": cid, "messages": statuses,
               "mid": self.value(step.opt("mid"), at) or self.exchange.mids.get(cid),
               "event_id": step.opt("event_id"), "run_id": step.opt("run_id")}
        if msg["run_id"] is None:
            del msg["run_id"]
        await self.exchange.send_frame(self.exchange.encode(msg), self.timeout)

    async def step_each(self, step: Step, at: str | None) -> None:
        assert step.inner is not None
        group = self.alias(step.args[0], at)
        for member in self.groups.get(group) or self.frames.get(group) or []:
            await self.run_step(step.inner, member)

    async def step_inject(self, step: Step, at: str | None) -> None:
        kind, *rest = step.args
        ex = self.exchange
        if kind == "drop":
            ex.drop += rest[0] if rest else 1
        elif kind == "duplicate":
            ex.duplicate += rest[0] if rest else 1
        elif kind == "delay":
            ex.delay = float(rest[0])
        elif kind == "refuse-connect":
            self.connector.refuse += rest[0] if rest else 1
        elif kind == "disconnect":
            await ex.disconnect(self.timeout)
        elif kind.startswith("net-"):
            await _network.inject(self.proxy, kind, tuple(rest))
            if kind in ("net-stall", "net-delay", "net-half-close", "net-heal"):
                self.inflight.hold(kind != "net-heal")
        elif kind in ("garbled", "oversize"):
            conn = await ex.connection(self.timeout)
            frame = ex.garbled_frame() if kind == "garbled" else ex.oversize_frame()
            await ex._write(conn, [frame])

    async def step_check_transport(self, step: Step, at: str | None) -> None:
        from ._transport_checks import TRANSPORT_CHECKS

        try:
            await TRANSPORT_CHECKS[step.args[0]](self.exchange.endpoint, self.connector.inner,
                                                 self.frame_limit)
        except BaseExceptionGroup as group:  # a check failed in a nursery of its own
            failed = [e for e in _leaves(group) if isinstance(e, StepFailed)]
            if failed:
                raise failed[0] from failed[0].__cause__
            raise

    async def step_restart(self, step: Step, at: str | None) -> None:
        self.exchange.run_id = step.opt("run_id")

    async def step_wait(self, step: Step, at: str | None) -> None:
        await anyio.sleep(float(step.args[0]))

    async def step_raise_in(self, step: Step, at: str | None) -> None:
        self.recorder.raise_in(step.args[0], step.opt("times", 1))


def reconnect_argument(on: bool) -> Any:
    """What ``open_session(reconnect=...)`` gets for a scenario's ``reconnect: on|off``.

    On: a deterministic policy (no jitter) that retries quickly and without bound.
    """
    if not on:
        return None
    from .._reconnect import ReconnectPolicy

    return ReconnectPolicy(initial=0.1, max=1.0, factor=2.0, jitter=0.0)

