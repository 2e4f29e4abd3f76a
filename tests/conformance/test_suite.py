"""Choosing scenarios, running them and reporting (the table and the JSON summary)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sessionkit import SessionkitError
from sessionkit.conformance import (
    ScenarioResult,
    SuiteReport,
    format_table,
    load_scenarios,
    parse_scenario,
    run_scenario,
    run_suite,
    select,
)
from sessionkit.runtime.memory import adapter as memory


def test_select_by_category_substring_and_glob() -> None:
    all_ = load_scenarios()
    assert {s.category for s in select(all_, categories=["batch"])} == {"batch"}
    assert all("s1" in s.name for s in select(all_, pattern="s1_"))
    assert [s.name for s in select(all_, pattern="batch_of_2*")] == ["batch_of_200",
                                                                      "batch_of_201"]
    assert select(all_, pattern="login/login_acc*")  # category/name globs too
    assert select(all_, categories=["login"], pattern="batch") == []


def test_run_suite_takes_an_adapter_name_and_reports_per_category() -> None:
    chosen = select(load_scenarios(), pattern="login_accepted")
    report = run_suite("memory", chosen)
    assert report.adapter == "memory"
    assert report.ok and report.passed == len(chosen) == 2
    data = json.loads(report.to_json())
    assert data == {"adapter": "memory", "backend": "asyncio", "passed": 2, "failed": 0,
                    "skipped": 0,
                    "scenarios": 2, "categories": {"login": {"passed": 2, "failed": 0,
                                                             "skipped": 0}},
                    "failures": []}


def test_an_unknown_adapter_name_lists_the_installed_ones() -> None:
    with pytest.raises(SessionkitError, match="no sessionkit adapter named 'nope'.*memory"):
        run_suite("nope", [])


def _report() -> SuiteReport:
    return SuiteReport("fake", ("batch", "session"), (
        ScenarioResult("a_ok", "login", "passed"),
        ScenarioResult("b_bad", "login", "failed", "line 7: expect-send login\nwhy\nmore", 7),
        ScenarioResult("c_skip", "batch", "skipped", "adapter lacks capability batch"),
    ))


def test_json_summary_shape() -> None:
    data = _report().to_dict()
    assert data["passed"] == 1 and data["failed"] == 1 and data["skipped"] == 1
    assert data["scenarios"] == 3
    assert data["categories"] == {"batch": {"passed": 0, "failed": 0, "skipped": 1},
                                  "login": {"passed": 1, "failed": 1, "skipped": 0}}
    assert data["failures"] == [{"scenario": "b_bad", "category": "login", "line": 7,
                                 "step": "", "detail": "line 7: expect-send login\nwhy\nmore",
                                 "cause": ""}]
    line = _report().to_json()
    assert isinstance(line, str) and "\n" not in line and json.loads(line) == data


def test_table_lists_scenarios_categories_and_failures() -> None:
    text = format_table(_report())
    assert "login     a_ok      PASS" in text
    assert "login     b_bad     FAIL" in text
    assert "c_skip    skip  (adapter lacks capability batch)" in text
    assert "total          1       1        1" in text
    assert "- login/b_bad:" in text and "    why" in text
    assert "more" not in text and "more" in format_table(_report(), verbose=True)


def test_a_scenario_from_a_custom_directory(tmp_path: Path) -> None:
    (tmp_path / "mine.skt").write_text("""\
category: custom
capability: session
login account=trader
connect
expect-send login account=trader
send login_ack run_id=x last_event_id=3
expect callback on_login_accepted event_id=3
""")
    report = run_suite(memory, load_scenarios(tmp_path))
    assert report.ok and report.categories() == {"custom": {"passed": 1, "failed": 0,
                                                            "skipped": 0}}


def test_failure_reports_name_the_line_and_what_happened() -> None:
    sc = parse_scenario("""\
category: login
login
connect
expect-send login
send login_ack run_id=r1 last_event_id=0
expect callback on_login_accepted event_id=99
""", path="wrong.skt")
    res = run_scenario(sc, memory)
    assert res.status == "failed" and res.line == 6
    assert res.detail.startswith("line 6: expect callback on_login_accepted event_id=99\n")
    assert "event_id: wanted =99, got 0" in res.detail
    assert "last processor calls:" in res.detail


def test_a_step_error_not_expected_fails_at_that_step() -> None:
    sc = parse_scenario("""\
category: backpressure
config: max_in_flight=1
login
connect
expect-send login
send login_ack run_id=r1 last_event_id=0
expect callback on_login_accepted
submit-nowait get_contracts
submit-nowait get_contracts
expect callback on_connection_busy
""", path="busy.skt")
    res = run_scenario(sc, memory)
    assert res.status == "failed" and res.line == 9
    assert "submit-nowait raised SessionBusyError" in res.detail
    assert "no expect-error step follows" in res.detail


@pytest.mark.parametrize("name", ["SessionBusyError", "SessionBusy"])
def test_expect_error_takes_the_error_and_its_name_before_0_2(name: str) -> None:
    sc = parse_scenario(f"""\
category: backpressure
config: max_in_flight=1
login
connect
expect-send login
send login_ack run_id=r1 last_event_id=0
expect callback on_login_accepted
submit-nowait get_contracts
submit-nowait get_contracts
expect-error {name} reason=window
""", path="busy.skt")
    res = run_scenario(sc, memory)
    assert res.passed, res.detail


def test_expect_error_when_nothing_was_raised() -> None:
    sc = parse_scenario("""\
category: login
login
connect
expect-send login
send login_ack run_id=r1 last_event_id=0
submit get_contracts
expect-error SessionBusyError
""", path="none.skt")
    res = run_scenario(sc, memory)
    assert res.line == 7 and "the previous step raised nothing" in res.detail


def test_waits_are_virtual() -> None:
    sc = parse_scenario("category: heartbeat\nlogin\nconnect\nexpect-send login\n"
                        "send login_ack run_id=r1 last_event_id=0\nwait 3600\n"
                        "expect no-callback on_exchange_offline for=600\n", path="long.skt")
    res = run_scenario(sc, memory)
    assert res.passed and res.duration < 30


def test_connect_may_come_before_login() -> None:
    sc = parse_scenario("""\
category: login
connect
login account=acct resume=0
expect-send login resume_event_id=0
send login_ack run_id=r1 last_event_id=0
submit limit_order contract_id=1 size=1 price_in_cents=100 as=o1
expect-send limit_order cid=$cid(o1)
send status cid=$cid(o1) mid=7
send action_report mid=$mid(o1) contract_id=1 size=0 status_type=filled filled_size=1
expect callback on_login_accepted event_id=0
expect finished o1 outcome=done mid=7
""", path="order.skt")
    res = run_scenario(sc, memory)
    assert res.passed, res.detail


def test_table_names_the_cause_of_a_failure() -> None:
    report = SuiteReport("fake", ("session",), (
        ScenarioResult("bad", "login", "failed", "full text", 3, step="line 3: connect",
                       message="the client did not connect within 5 s\nmore",
                       cause="ConnectError: refused (raised at x.py:1 in connect)"),))
    text = format_table(report)
    assert "    line 3: connect\n    the client did not connect within 5 s\n" in text
    assert "    cause: ConnectError: refused (raised at x.py:1 in connect)" in text
    assert "more" not in text and "full text" in format_table(report, verbose=True)


def test_the_suite_on_asyncio_needs_no_trio() -> None:
    """An asyncio program runs the suite without importing trio (it is imported lazily, for
    backend="trio" only): what a user without trio installed relies on."""
    code = """
import sys
from sessionkit.conformance import load_scenarios, run_suite
chosen = [s for s in load_scenarios() if s.category in ("login", "transport")]
report = run_suite("memory", chosen, backend="asyncio")
assert report.ok and report.backend == "asyncio", report.to_json()
print(sorted(m for m in sys.modules if m == "trio" or m.startswith("trio.")))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend must be asyncio or trio, got 'curio'"):
        run_suite("memory", [], backend="curio")
