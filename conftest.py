"""Shared pytest set-up: the --run-slow option, and a guard against a stale compiled core."""

from __future__ import annotations

from pathlib import Path

import pytest

import sessionkit
from sessionkit._compiled import stale_builds

_ROOT = Path(__file__).parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the long soak/fuzz tests marked slow")


def pytest_configure(config: pytest.Config) -> None:
    if sessionkit.compiled_modules() == ():  # the sources run (SESSIONKIT_PURE=1, no build)
        return
    stale = stale_builds(_ROOT / "sessionkit")
    if stale:
        pytest.exit(f"the compiled core is older than {', '.join(stale)}: the tests would run "
                    f"the old build. Run 'tools/dev setup' to rebuild it (or delete "
                    f"sessionkit/*.so to test the pure-Python core)", returncode=4)


def pytest_report_header(config: pytest.Config) -> str:
    compiled = sessionkit.compiled_modules()
    return (f"sessionkit core: compiled ({len(compiled)} modules)" if compiled
            else "sessionkit core: pure Python")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
