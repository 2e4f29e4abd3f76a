"""``sessionkit journal show|export``: read a journal, live or not, without taking it over."""

from __future__ import annotations

import io
import json
import sqlite3

import click
import pytest
from click.testing import CliRunner

from sessionkit import Batch, LimitOrder
from sessionkit.store import JournalCorruptError, JournalError, JournalTooNewError, SqliteStore
from sessionkit.store._cli import (
    export_journal,
    journal_group,
    read_journal,
    register,
    show_journal,
)


@pytest.fixture
def journal(tmp_path):
    path = tmp_path / "acct.journal"
    store = SqliteStore(path, account="acct", session_id="2026-05-04")
    store.run_changed("run-1")
    store.message_submitted(LimitOrder(contract_id=1, size=1, price_in_cents=100), cid="c-1")
    store.message_sent("c-1")
    store.message_acked("c-1", 17, "run-1")
    store.message_submitted(Batch(cid="b-1", messages=(
        LimitOrder(cid="c-2", contract_id=2, side="sell", size=3, price_in_cents=101),)))
    store.record_intent("order-1", "limit_order", "h1", cid="c-1")
    store.add_job("job-1", "prepare")
    store.event_handled(41)
    store.commit()
    yield path, store
    store.close()


def test_show_prints_cursor_run_and_requests_in_flight_of_a_live_journal(journal):
    path, _ = journal
    out = io.StringIO()
    show_journal(path, out)
    text = out.getvalue()
    assert "cursor       last event id 41 (resumes with 42)" in text
    assert "run id       run-1" in text
    assert "(running)" in text  # the store above still holds it
    assert "in flight    3 requests" in text
    lines = text.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["CID", "STATE"])
    assert lines[header + 1].split()[:7] == ["c-1", "open", "17", "1", "-", "run-1",
                                             "limit_order"]
    assert lines[header + 2].split()[:2] == ["b-1", "queued"]
    assert lines[header + 3].split()[:5] == ["c-2", "queued", "-", "0", "b-1"]
    assert "intents      1 (1 open)" in text and "jobs         1 in flight: job-1" in text


def test_show_tells_a_writer_that_died_from_one_that_runs(journal):
    path, store = journal
    store.event_handled(50)
    store.close(commit=False)  # as a killed process leaves it: owner row set, lock free
    out = io.StringIO()
    show_journal(path, out)
    assert "gone: it ended without closing" in out.getvalue()


def test_export_writes_json_lines(journal):
    path, _ = journal
    out = io.StringIO()
    assert export_journal(path, out) == 6
    lines = [json.loads(ln) for ln in out.getvalue().splitlines()]
    assert [ln["record"] for ln in lines] == ["session", "message", "message", "message",
                                             "intent", "job"]
    assert lines[0]["last_event_id"] == 41 and lines[0]["account"] == "acct"
    # the request as its frame holds it (a field at its default, side "buy", left out)
    assert lines[1]["request"] == {"type": "limit_order", "cid": "c-1", "contract_id": 1,
                                   "size": 1, "price_in_cents": 100}
    assert lines[3]["parent"] == "b-1"
    assert lines[5] == {"record": "job", "job_id": "job-1", "kind": "prepare"}


def test_the_click_commands(journal, tmp_path):
    path, _ = journal
    runner = CliRunner()
    result = runner.invoke(journal_group, ["show", str(path)])
    assert result.exit_code == 0 and "resumes with 42" in result.output
    target = tmp_path / "out.jsonl"
    result = runner.invoke(journal_group, ["export", str(path), "-o", str(target)])
    assert result.exit_code == 0
    assert len(target.read_text().splitlines()) == 6
    result = runner.invoke(journal_group, ["show", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no such journal file" in result.output


def test_reading_refuses_what_is_not_a_journal(tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("hello")
    with pytest.raises(JournalCorruptError, match="not a SQLite database"):
        read_journal(bad)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalCorruptError, match="no schema version"):
        read_journal(other)
    with pytest.raises(JournalError, match="no such journal file"):
        read_journal(tmp_path / "missing")


def test_reading_names_the_message_whose_payload_is_not_json(journal):
    path, store = journal
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE messages SET payload = ? WHERE cid = 'c-2'", (b"{not json",))
    conn.commit()
    conn.close()
    with pytest.raises(JournalCorruptError, match="message 'c-2' has a payload that is not JSON"):
        read_journal(path)


def test_reading_refuses_a_newer_schema(journal):
    path, store = journal
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    with pytest.raises(JournalTooNewError, match="schema version 7"):
        read_journal(path)


def test_register_mounts_the_group_on_the_sessionkit_command(journal):
    path, _ = journal

    @click.group()
    def cli() -> None:
        pass

    register(cli)
    result = CliRunner().invoke(cli, ["journal", "show", str(path)])
    assert result.exit_code == 0 and "last event id 41" in result.output
