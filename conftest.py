"""Shared pytest set-up: the --run-slow option and the doctest namespace."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the long soak/fuzz tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _sessionkit_doctest_namespace(doctest_namespace: dict) -> None:
    import sessionkit

    doctest_namespace.update({n: getattr(sessionkit, n) for n in sessionkit.__all__})
