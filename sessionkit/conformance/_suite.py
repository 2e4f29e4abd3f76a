"""The suite: loading the bundled scenarios, choosing some, running them, reporting.

>>> scenarios = load_scenarios()
>>> len(scenarios) >= 60
True
>>> sorted({s.category for s in scenarios})[:3]
['ack_mid', 'backpressure', 'batch']
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

from ._clocks import check_backend
from ._runner import ScenarioResult, run_scenario
from ._script import Scenario, load_scenario

__all__ = ["SCENARIO_DIR", "load_scenarios", "select", "SuiteReport", "run_suite",
           "resolve_adapter", "format_table"]

#: where the bundled ``.skt`` scenarios live (package data)
SCENARIO_DIR = Path(__file__).parent / "scenarios"


def load_scenarios(directory: str | Path | None = None) -> list[Scenario]:
    """Every ``*.skt`` scenario in ``directory`` (the bundled ones by default), by category.

    A malformed file raises :class:`~sessionkit.conformance.ScriptError` naming
    ``path:line``; scenario names must be unique.
    """
    base = Path(directory) if directory is not None else SCENARIO_DIR
    out = [load_scenario(p) for p in sorted(base.glob("*.skt"))]
    seen: dict[str, str] = {}
    for sc in out:
        if sc.name in seen:
            from ._script import ScriptError

            raise ScriptError(sc.path, 1, f"scenario name {sc.name!r} is also used by "
                                          f"{seen[sc.name]}")
        seen[sc.name] = sc.path
    return sorted(out, key=lambda s: (s.category, s.name))


def select(scenarios: Iterable[Scenario], *, categories: Iterable[str] | None = None,
           pattern: str | None = None) -> list[Scenario]:
    """Scenarios of ``categories`` whose name (or ``category/name``) matches ``pattern``.

    ``pattern`` is a substring, or a glob when it holds ``*``, ``?`` or ``[``.
    """
    cats = set(categories) if categories else None
    out = []
    for sc in scenarios:
        if cats is not None and sc.category not in cats:
            continue
        if pattern:
            full = f"{sc.category}/{sc.name}"
            if any(ch in pattern for ch in "*?["):
                if not (fnmatch.fnmatchcase(sc.name, pattern)
                        or fnmatch.fnmatchcase(full, pattern)):
                    continue
            elif pattern not in full:
                continue
        out.append(sc)
    return out


def resolve_adapter(adapter: Any) -> Any:
    """An adapter object, or the one registered under that name (``sessionkit.adapters``)
    or named by a ``"module:attribute"`` path (see :func:`sessionkit.runtime.load_adapter`)."""
    if isinstance(adapter, str):
        from ..runtime._transport import load_adapter

        return load_adapter(adapter)
    return adapter


@attrs.frozen
class SuiteReport:
    """What one run of the suite found."""

    adapter: str
    capabilities: tuple[str, ...]
    results: tuple[ScenarioResult, ...]
    #: the event loop the scenarios ran on: "asyncio" or "trio"
    backend: str = "asyncio"

    def count(self, status: str, category: str | None = None) -> int:
        return sum(1 for r in self.results
                   if r.status == status and (category is None or r.category == category))

    @property
    def passed(self) -> int:
        return self.count("passed")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def categories(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            c = out.setdefault(r.category, {"passed": 0, "failed": 0, "skipped": 0})
            c[r.status] += 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable summary, as a dict. Each failure names the scenario, its
        category, the ``line`` and ``step`` that failed, the ``detail`` (what did not hold)
        and the ``cause`` (the exception behind it, with its chain and where each was
        raised; "" when there is none)."""
        return {
            "adapter": self.adapter,
            "backend": self.backend,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "scenarios": len(self.results),
            "categories": self.categories(),
            "failures": [{"scenario": r.name, "category": r.category, "line": r.line,
                          "step": r.step, "detail": r.message or r.detail, "cause": r.cause}
                         for r in self.results if r.status == "failed"],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as one line of JSON (what ``sessionkit conformance --json``
        prints last)."""
        return json.dumps(self.to_dict(), separators=(",", ":"))


def run_suite(adapter: Any, scenarios: Iterable[Scenario] | None = None, *,
              clock: str | None = None,
              progress: Callable[[ScenarioResult], None] | None = None,
              journal: str | None = None, backend: str | None = None) -> SuiteReport:
    """Run ``scenarios`` (all bundled ones by default) against ``adapter`` (object or name).

    ``journal``: each scenario's session runs on a new journal of this store (``memory``,
    ``sqlite`` or a ``postgresql://`` URL), None: without one. ``backend``: the event
    loop every scenario runs on, ``"asyncio"`` or ``"trio"`` (None: asyncio).
    """
    backend = check_backend(backend)
    ad = resolve_adapter(adapter)
    chosen = list(scenarios) if scenarios is not None else load_scenarios()
    results = []
    for sc in chosen:
        res = run_scenario(sc, ad, clock=clock, journal=journal, backend=backend)
        results.append(res)
        if progress is not None:
            progress(res)
    name = getattr(ad, "name", None) or (adapter if isinstance(adapter, str) else repr(ad))
    return SuiteReport(str(name), tuple(sorted(getattr(ad, "capabilities", ()))),
                       tuple(results), backend)


def format_table(report: SuiteReport, *, verbose: bool = False) -> str:
    """The per-scenario and per-category pass/fail tables, as plain text."""
    lines = [f"sessionkit conformance: adapter {report.adapter} on {report.backend} "
             f"(capabilities: {', '.join(report.capabilities) or 'none'})", ""]
    width = max([len(r.name) for r in report.results] + [8])
    cat_w = max([len(r.category) for r in report.results] + [8])
    lines.append(f"{'category':<{cat_w}}  {'scenario':<{width}}  result")
    lines.append(f"{'-' * cat_w}  {'-' * width}  ------")
    for r in report.results:
        mark = {"passed": "PASS", "failed": "FAIL", "skipped": "skip"}[r.status]
        extra = f"  ({r.detail})" if r.status == "skipped" else ""
        lines.append(f"{r.category:<{cat_w}}  {r.name:<{width}}  {mark}{extra}")
    lines += ["", f"{'category':<{cat_w}}  passed  failed  skipped",
              f"{'-' * cat_w}  ------  ------  -------"]
    for cat, c in report.categories().items():
        lines.append(f"{cat:<{cat_w}}  {c['passed']:>6}  {c['failed']:>6}  {c['skipped']:>7}")
    lines.append(f"{'total':<{cat_w}}  {report.passed:>6}  {report.failed:>6}  "
                 f"{report.skipped:>7}")
    failures = [r for r in report.results if r.status == "failed"]
    if failures:
        lines += ["", "failures:"]
        for r in failures:
            if verbose or not r.message:
                detail = r.detail if verbose else "\n".join(r.detail.splitlines()[:2])
            else:  # the step, what did not hold, and why
                detail = "\n".join(x for x in (r.step, r.message.splitlines()[0],
                                               f"cause: {r.cause}" if r.cause else "") if x)
            lines.append(f"- {r.category}/{r.name}:")
            lines += ["    " + d for d in detail.splitlines()]
    return "\n".join(lines)
