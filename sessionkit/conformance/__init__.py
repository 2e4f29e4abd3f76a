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
"""

from ._runner import FRAME_LIMIT, ScenarioResult, missing_capabilities, run_scenario
from ._script import Field, Scenario, ScriptError, Step, Var, load_scenario, parse_scenario
from ._suite import (
    SCENARIO_DIR,
    SuiteReport,
    format_table,
    load_scenarios,
    resolve_adapter,
    run_suite,
    select,
)

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
