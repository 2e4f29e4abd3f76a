"""The ``sessionkit`` pytest plugin: the conformance suite as test items.

``pytest --sessionkit-adapter=NAME`` adds one test item per scenario, run
against the adapter registered as NAME (``sessionkit.adapters`` entry
points); scenarios needing a capability the adapter does not claim are
skipped. An adapter's own test suite can ask for the same from its
``conftest.py``::

    def pytest_sessionkit_adapters(config):
        return ["zmq"]          # names, or adapter objects

Options: ``--sessionkit-category`` (repeatable), ``--sessionkit-backend``
(``asyncio`` or ``trio``, repeatable: each scenario once per backend; asyncio when
none), ``--sessionkit-clock`` (``virtual``, ``virtual:SECONDS`` or ``real``) and
``--sessionkit-scenarios`` (a directory of ``.skt`` files instead of the bundled
ones). ``-k`` selects scenarios by name as usual.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._script import Scenario

# The suite (and through it the runtime) is imported only when an adapter is asked
# for: this plugin is loaded by every pytest run in an environment with sessionkit.

__all__ = ["ScenarioItem", "ScenarioFailed"]


class _Hooks:
    @pytest.hookspec
    def pytest_sessionkit_adapters(self, config: pytest.Config) -> Any:  # pragma: no cover
        """Adapters (names or objects) to run the conformance suite against."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(_Hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sessionkit", "sessionkit adapter conformance suite")
    group.addoption("--sessionkit-adapter", action="append", default=[], metavar="NAME",
                    help="run the conformance suite against this adapter (repeatable)")
    group.addoption("--sessionkit-category", action="append", default=[], metavar="CATEGORY",
                    help="only scenarios of this category (repeatable)")
    group.addoption("--sessionkit-backend", action="append", default=[],
                    choices=("asyncio", "trio"), metavar="BACKEND",
                    help="run the scenarios on this event loop: asyncio or trio (repeatable; "
                         "default trio)")
    group.addoption("--sessionkit-clock", default=None, metavar="CLOCK",
                    help="virtual (default), virtual:SECONDS or real")
    group.addoption("--sessionkit-scenarios", default=None, metavar="DIR",
                    help="a directory of .skt scenarios instead of the bundled ones")
    group.addoption("--sessionkit-time-limit", default=None, type=float, metavar="SECONDS",
                    help="real seconds one scenario may run before it is stopped (default 60)")
    group.addoption("--sessionkit-journal", default=None, metavar="STORE",
                    help="run each scenario's session on a new journal: memory, sqlite or a "
                         "postgresql:// URL")


class ScenarioFailed(Exception):
    """A scenario did not hold; the message is the runner's report."""


class ScenarioItem(pytest.Item):
    """One scenario run against one adapter."""

    def __init__(self, *, scenario: Scenario, adapter: Any, adapter_name: str,
                 clock: str | None, time_limit: float | None = None,
                 journal: str | None = None, backend: str = "asyncio",
                 label: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backend = backend
        self.label = label or adapter_name
        self.time_limit = time_limit
        self.journal = journal
        self.scenario = scenario
        self.adapter = adapter
        self.adapter_name = adapter_name
        self.clock = clock
        for cap in sorted(scenario.capabilities):
            self.add_marker(pytest.mark.sessionkit_capability(cap))
        self.user_properties.append(("category", scenario.category))

    def runtest(self) -> None:
        from ._runner import REAL_TIME_LIMIT, run_scenario

        result = run_scenario(self.scenario, self.adapter, clock=self.clock,
                              real_time_limit=self.time_limit or REAL_TIME_LIMIT,
                              journal=self.journal, backend=self.backend)
        if result.status == "skipped":
            pytest.skip(result.detail)
        if result.status == "failed":
            raise ScenarioFailed(result.detail)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return (f"{self.scenario.path}: scenario {self.scenario.name} failed against "
                    f"adapter {self.adapter_name} on {self.backend}\n{excinfo.value}")
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return (Path(self.scenario.path), 0,
                f"conformance[{self.label}] {self.scenario.category}/"
                f"{self.scenario.name}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sessionkit_capability(name): a capability the "
                                       "conformance scenario needs")


def _adapters(config: pytest.Config) -> list[Any]:
    wanted: list[Any] = list(config.getoption("sessionkit_adapter") or [])
    for answer in config.hook.pytest_sessionkit_adapters(config=config):
        if isinstance(answer, (str, bytes)) or not hasattr(answer, "__iter__"):
            answer = [answer]
        wanted.extend(a for a in answer if a is not None)
    out, seen = [], set()
    for a in wanted:
        key = a if isinstance(a, str) else id(a)
        if key not in seen:
            seen.add(key)
            out.append(a)
    return out


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    adapters = _adapters(config)
    if not adapters:
        return
    from ._suite import load_scenarios, resolve_adapter, select

    scenarios = select(load_scenarios(config.getoption("sessionkit_scenarios")),
                       categories=config.getoption("sessionkit_category") or None)
    clock = config.getoption("sessionkit_clock")
    limit = config.getoption("sessionkit_time_limit")
    journal = config.getoption("sessionkit_journal")
    named = config.getoption("sessionkit_backend")
    backends = list(dict.fromkeys(named or ["asyncio"]))
    for wanted in adapters:
        try:
            adapter = resolve_adapter(wanted)
        except Exception as exc:
            raise pytest.UsageError(f"--sessionkit-adapter: {exc}") from None
        name = str(getattr(adapter, "name", None) or wanted)
        for backend in backends:
            _add_items(session, config, items, scenarios, adapter, name, backend,
                       label=f"{name}-{backend}" if named else name,
                       clock=clock, limit=limit, journal=journal)


def _add_items(session: pytest.Session, config: pytest.Config, items: list[pytest.Item],
               scenarios: list[Scenario], adapter: Any, name: str, backend: str, *,
               label: str, clock: str | None, limit: float | None,
               journal: str | None) -> None:
    """One item per scenario, against ``adapter`` on ``backend``; node ids
    ``conformance[LABEL]/category/name`` (LABEL: the adapter's name, with ``-BACKEND``
    when the backend was chosen)."""
    from ._runner import missing_capabilities

    added: list[pytest.Item | pytest.Collector] = []
    for sc in scenarios:
        node = f"conformance[{label}]/{sc.category}/{sc.name}"
        item = ScenarioItem.from_parent(session, name=node, nodeid=node, scenario=sc,
                                        adapter=adapter, adapter_name=name, clock=clock,
                                        time_limit=limit, journal=journal,
                                        backend=backend, label=label)
        missing = missing_capabilities(sc, adapter)
        if missing:
            item.add_marker(pytest.mark.skip(
                reason=f"adapter {name} lacks capability {', '.join(sorted(missing))}"))
        added.append(item)
    items.extend(i for i in added if isinstance(i, pytest.Item))
    # report them as a collector would, so "collected N items" counts them
    config.hook.pytest_collectreport(report=pytest.CollectReport(
        f"conformance[{label}]", "passed", None, added))
