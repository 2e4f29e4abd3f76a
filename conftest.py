"""Shared pytest set-up: the --run-slow option, and a throwaway PostgreSQL server.

``postgres_server`` (one per test run) is a real PostgreSQL server started on 127.0.0.1 in a
temporary directory and stopped after the tests (``sessionkit.testing.start_postgres``);
``postgres_url`` is a new database on it for each test. Without the server's binaries the
tests that need it fail, naming what to install (``tools/dev setup`` installs it);
``SESSIONKIT_SKIP_POSTGRES=1`` skips them instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A PostgreSQL server for this test run (fsync off: the tests never crash the server)."""
    if os.environ.get("SESSIONKIT_SKIP_POSTGRES") == "1":
        pytest.skip("SESSIONKIT_SKIP_POSTGRES=1: the PostgreSQL tests are skipped")
    from sessionkit.testing import start_postgres

    server = start_postgres(fsync=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """A new, empty database on the test run's PostgreSQL server: its URL."""
    return str(postgres_server.create_database())
