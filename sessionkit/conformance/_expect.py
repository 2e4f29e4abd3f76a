"""The ``expect`` steps of a scenario: what the client saw, checked against the script.

``expect callback|no-callback|reply|finished|open|stat`` wait (in virtual time, up to
``within``) for the :class:`~sessionkit.conformance._recorder.RecordingProcessor` to have
seen what the step describes, then compare field by field.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import anyio

from ._clocks import ScenarioLoop
from ._exchange import StepFailed
from ._match import mismatches
from ._recorder import Call, RecordingProcessor
from ._script import Step

__all__ = ["ExpectSteps"]


class ExpectSteps:
    """The ``expect`` steps of the scenario runner (a mixin of its ``_Run``)."""

    cushion: float
    loop: ScenarioLoop
    recorder: RecordingProcessor
    cids: dict[str, str]
    cursors: dict[str, int]
    reply_cursors: dict[str, int]

    if TYPE_CHECKING:  # provided by the runner
        def resolver(self, at: str | None) -> Any: ...
        def alias(self, name: Any, at: str | None) -> str: ...
        def members(self, name: str) -> list[str]: ...
        def _opt_time(self, step: Step, name: str, default: float | None = None) -> float: ...
        async def get_client(self) -> Any: ...

    async def settle(self) -> None:
        """Let every task run until all wait (frames in flight get processed; no time passes
        on the virtual clock)."""
        await self.loop.settle(self.cushion)

    async def _wait_for(self, ready: Any, timeout: float) -> bool:
        with anyio.move_on_after(timeout):
            while not ready():
                await self.recorder.changed()
            return True
        return bool(ready())

    async def step_expect(self, step: Step, at: str | None) -> None:
        kind = step.args[0]
        values = self.resolver(at)
        within = self._opt_time(step, "within")
        if kind == "callback":
            await self._expect_calls(step, step.args[1], self.recorder.by_method, self.cursors,
                                     values, within)
        elif kind == "no-callback":
            method = step.args[1]
            await anyio.sleep(self._opt_time(step, "for", 1.0))
            calls = self.recorder.by_method.get(method, [])[self.cursors.get(method, 0):]
            hits = [c for c in calls if not mismatches(c.subject, step.fields, values)]
            if hits:
                raise StepFailed(f"{method} was called: {hits[0]}")
        elif kind == "reply":
            alias = self.alias(step.args[1], at)
            await self._expect_calls(step, alias, self.recorder.replies, self.reply_cursors,
                                     values, within, what=f"the callback of {alias}")
        elif kind in ("finished", "open"):
            await self._expect_finished(step, kind, values, within, at)
        elif kind == "stat":
            await self._expect_stat(step, values, step.opt("within"))

    async def _expect_calls(self, step: Step, key: str, source: dict[str, list[Call]],
                            cursors: dict[str, int], values: Any, within: float,
                            what: str | None = None) -> None:
        what = what or key
        for n in range(step.opt("times", 1)):
            idx = cursors.get(key, 0)
            if not await self._wait_for(
                    lambda i=idx: len(source.get(key, [])) > i, within):
                got = f" (call {n + 1} of {step.opt('times')})" if step.opt("times") else ""
                raise StepFailed(f"{what} was not called{got} within {within:g} s")
            call = source[key][idx]
            cursors[key] = idx + 1
            bad = mismatches(call.subject, step.fields, values)
            if bad:
                raise StepFailed(f"{what} got {call}: " + "; ".join(bad))

    async def _expect_finished(self, step: Step, kind: str, values: Any,
                               within: float, at: str | None) -> None:
        aliases = self.members(self.alias(step.args[1], at))
        cids = {}
        for a in aliases:
            if a not in self.cids:
                raise StepFailed(f"{a} has no cid (did its submit fail?)")
            cids[a] = self.cids[a]
        if kind == "open":
            await self.settle()
            done = self.recorder.finished()
            for a, cid in cids.items():
                if cid in done:
                    ev = done[cid][0]
                    raise StepFailed(f"{a} ({cid}) is finished ({ev.outcome.value}"
                                     f"{': ' + ev.reason if ev.reason else ''}), not open")
            return
        if not await self._wait_for(lambda: all(c in self.recorder.finished_cids
                                                for c in cids.values()), within):
            left = [a for a, c in cids.items() if c not in self.recorder.finished_cids]
            raise StepFailed(f"{len(left)} of {len(cids)} requests did not finish within "
                             f"{within:g} s (first: {left[0]}, {cids[left[0]]})")
        done = self.recorder.finished()
        for a, cid in cids.items():
            evs = done[cid]
            if len(evs) > 1:
                raise StepFailed(f"{a} ({cid}) finished {len(evs)} times: "
                                 f"{', '.join(e.outcome.value for e in evs)}")
            bad = mismatches(evs[0], step.fields, values)
            if bad:
                raise StepFailed(f"{a} ({cid}) finished {evs[0].outcome.value}"
                                 f"{' (' + evs[0].reason + ')' if evs[0].reason else ''}: "
                                 + "; ".join(bad))

    async def _expect_stat(self, step: Step, values: Any, within: Any) -> None:
        client = await self.get_client()
        await self.settle()

        async def bad() -> list[str]:
            stats = client.statistics()
            if inspect.isawaitable(stats):
                stats = await stats
            return mismatches(stats, step.fields, values)

        problems = await bad()
        if problems and within is not None:
            with anyio.move_on_after(float(within)):
                while problems:
                    await anyio.sleep(0.01)
                    problems = await bad()
        if problems:
            raise StepFailed("statistics: " + "; ".join(problems))
