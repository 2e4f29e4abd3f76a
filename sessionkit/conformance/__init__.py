"""The adapter conformance suite: the executable definition of correct session behaviour.

Scenarios are data (``scenarios/*.skt``, the format is in ``docs/adapters.md``).
Each runs the real runtime (:func:`sessionkit.runtime.open_session`) over an
adapter's transport against a scripted exchange on that adapter's server
endpoint. An adapter must pass every scenario whose capabilities it claims;
the others are reported skipped.

Three ways to run it: ``sessionkit conformance --adapter NAME``, ``pytest
--sessionkit-adapter=NAME`` (the ``sessionkit`` pytest plugin), or
:func:`run_suite` from Python::

    report = run_suite("memory")
    assert report.ok, format_table(report)

Each runs on asyncio or on trio (``--backend``, ``--sessionkit-backend``,
``run_suite(..., backend="asyncio")``; trio by default), on virtual time either way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._runner import FRAME_LIMIT, ScenarioResult, missing_capabilities, run_scenario
    from ._script import (
        Field,
        Scenario,
        ScriptError,
        Step,
        Var,
        load_scenario,
        parse_scenario,
    )
    from ._suite import (
        SCENARIO_DIR,
        SuiteReport,
        format_table,
        load_scenarios,
        resolve_adapter,
        run_suite,
        select,
    )

# Names are imported on first use, so that loading the pytest plugin (a submodule)
# stays cheap and never imports the runtime.
_WHERE = {
    "FRAME_LIMIT": "_runner", "ScenarioResult": "_runner", "missing_capabilities": "_runner",
    "run_scenario": "_runner", "Field": "_script", "Scenario": "_script",
    "ScriptError": "_script", "Step": "_script", "Var": "_script", "load_scenario": "_script",
    "parse_scenario": "_script", "SCENARIO_DIR": "_suite", "SuiteReport": "_suite",
    "format_table": "_suite", "load_scenarios": "_suite", "resolve_adapter": "_suite",
    "run_suite": "_suite", "select": "_suite",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'sessionkit.conformance' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Scenario",
    "Step",
    "Field",
    "Var",
    "ScriptError",
    "parse_scenario",
    "load_scenario",
    "load_scenarios",
    "select",
    "run_scenario",
    "run_suite",
    "ScenarioResult",
    "SuiteReport",
    "format_table",
    "resolve_adapter",
    "missing_capabilities",
    "SCENARIO_DIR",
    "FRAME_LIMIT",
]
