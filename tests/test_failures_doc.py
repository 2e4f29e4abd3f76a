"""docs/failures.md names, in every row, the tests that hold it: each must exist.

A row whose test was renamed or removed would promise what nothing checks any more.
"""

from __future__ import annotations

import re
from pathlib import Path

from sessionkit.conformance import load_scenarios

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "failures.md"
#: `path.py::test_name` (a class-based test is named by its class)
_TEST = re.compile(r"`((?:tests|adapters)/[\w/.-]+\.py)(?:::(\w+))?`")
#: `category/scenario_name`
_SCENARIO = re.compile(r"`([a-z_]+)/([a-z0-9_]+)`")


def _rows() -> list[str]:
    return [line for line in DOC.read_text().splitlines()
            if line.startswith("|") and not line.startswith("|---")]


def test_every_row_of_a_failure_table_names_a_test() -> None:
    tables = [r for r in _rows() if r.count("|") >= 6]  # the failure tables' rows
    body = [r for r in tables if not r.startswith("| failure ") and not r.startswith("| queue ")]
    assert body
    missing = [r[:80] for r in body if not (_TEST.search(r) or _SCENARIO.search(r))]
    assert not missing, missing


def test_every_test_a_row_names_exists() -> None:
    absent = []
    for path, name in {m for row in _rows() for m in _TEST.findall(row)}:
        file = ROOT / path
        if not file.is_file():
            absent.append(path)
        elif name and not re.search(rf"^\s*(async )?(def|class) {name}\b", file.read_text(),
                                    re.M):
            absent.append(f"{path}::{name}")
    assert not absent, absent


def test_every_scenario_a_row_names_exists() -> None:
    known = {(s.category, s.name) for s in load_scenarios()}
    named = {m for row in _rows() for m in _SCENARIO.findall(row)}
    absent = sorted(f"{c}/{n}" for c, n in named - known)
    assert not absent, absent
