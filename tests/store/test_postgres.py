"""The PostgreSQL journal's own behaviour: refusals that change nothing, migrations, failed
commits, durability modes and ``sessionkit journal`` on a database URL (a real server).

What the SQLite journal's file checks guard against (an empty, truncated or WAL-less file)
has no PostgreSQL counterpart: the server keeps its own files whole. What remains, and is
tested here: a schema too new, a missing table, a request that does not read back, a lease
another process holds, a connection that breaks in a commit.
"""

from __future__ import annotations

import io
import json

import psycopg
import pytest
from click.testing import CliRunner

from sessionkit import Batch, LimitOrder
from sessionkit.store import (
    JournalCorruptError,
    JournalError,
    JournalLockedError,
    JournalTooNewError,
    JournalWriteError,
    PostgresStore,
)
from sessionkit.store import _postgres as pgstore
from sessionkit.store._cli import (
    check_journal,
    export_journal,
    journal_group,
    reset_journal,
    show_journal,
)
from sessionkit.store._pgschema import (
    PG_MIGRATIONS,
    PG_REQUIRED_TABLES,
    PG_SCHEMA_VERSION,
    script,
)


def order(cid: str) -> LimitOrder:
    return LimitOrder(cid=cid, contract_id=1, size=1, price_in_cents=100)


def open_store(url: str, **kw: object) -> PostgresStore:
    return PostgresStore(url, account="acct", session_id="2026-05-04", **kw)  # type: ignore[arg-type]


def sql(url: str, statement: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, args or None)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


@pytest.fixture
def journal(postgres_url):
    """A closed journal holding c-1 (sent), a cursor at 4, incarnation 1."""
    with open_store(postgres_url) as store:
        store.run_changed("run-1")
        store.message_submitted(order("c-1"))
        store.message_sent("c-1")
        store.event_handled(4)
    return postgres_url


def incarnation(url: str) -> int:
    return int(sql(url, "SELECT incarnation FROM sessionkit.sessions")[0][0])  # type: ignore[call-overload]


def test_a_schema_from_a_newer_sessionkit_is_refused_changing_nothing(journal):
    sql(journal, "UPDATE sessionkit.meta SET version = 99")
    with pytest.raises(JournalTooNewError, match="version 99, newer than the version "
                                                 f"{PG_SCHEMA_VERSION}.*newer sessionkit"):
        open_store(journal)
    assert incarnation(journal) == 1
    with pytest.raises(JournalTooNewError):
        check_journal(journal)


def test_a_missing_table_is_refused_changing_nothing(journal):
    sql(journal, "DROP TABLE sessionkit.jobs")
    with pytest.raises(JournalCorruptError, match="schema sessionkit lacks table jobs"):
        open_store(journal)
    assert incarnation(journal) == 1


def test_a_request_that_does_not_read_back_is_refused_then_reset(journal):
    sql(journal, "UPDATE sessionkit.messages SET payload = '{\"type\": \"nonsense\"}'")
    with pytest.raises(JournalCorruptError, match="message 'c-1' holds a unknown with cid None"
                       ) as info:
        open_store(journal)
    assert "sessionkit journal reset" in str(info.value)
    assert incarnation(journal) == 1
    with pytest.raises(JournalCorruptError):
        check_journal(journal, account="acct", session_id="2026-05-04")
    moved = reset_journal(journal, account="acct", session_id="2026-05-04")
    assert moved.startswith("session acct/2026-05-04.damaged-")
    with open_store(journal) as store:
        assert store.fresh and store.messages() == []
    # the damaged journal is kept, under its new name, for a look at what it held
    names = [r[0] for r in sql(journal, "SELECT session_id FROM sessionkit.sessions "
                                        "ORDER BY sid")]
    assert names[0] == moved.split("/", 1)[1] and names[1] == "2026-05-04"


def test_start_fresh_moves_a_damaged_journal_aside_and_says_so(journal):
    sql(journal, "UPDATE sessionkit.messages SET payload = 'not json'")
    with open_store(journal, if_damaged="start_fresh") as store:
        report = store.recovery_report()
        assert report.fresh and report.last_event_id == 0
        assert report.damaged is not None
        assert "message 'c-1' cannot be read back" in report.damaged
        assert "moved to session acct/2026-05-04.damaged-" in report.damaged


def test_start_fresh_never_replaces_a_journal_that_is_not_damaged(journal):
    with open_store(journal, if_damaged="start_fresh") as store:
        assert store.last_event_id == 4 and store.recovery_report().damaged is None


def test_each_migration_step_runs_in_the_opening_transaction(postgres_url, monkeypatch):
    open_store(postgres_url).close()
    step = "ALTER TABLE {s}.jobs ADD COLUMN note text"
    monkeypatch.setattr(pgstore, "PG_MIGRATIONS", (*PG_MIGRATIONS, step))
    monkeypatch.setattr(pgstore, "PG_SCHEMA_VERSION", PG_SCHEMA_VERSION + 1)
    monkeypatch.setitem(PG_REQUIRED_TABLES, PG_SCHEMA_VERSION + 1,
                        PG_REQUIRED_TABLES[PG_SCHEMA_VERSION])
    with open_store(postgres_url) as store:
        store.add_job("j-1", "prepare")
        assert store.incarnation == 2
    assert sql(postgres_url, "SELECT version FROM sessionkit.meta") == [(PG_SCHEMA_VERSION + 1,)]
    assert sql(postgres_url, "SELECT job_id, note FROM sessionkit.jobs") == [("j-1", None)]


def test_a_version_1_schema_is_migrated_and_then_keeps_the_runs_left(postgres_url):
    """A schema as version 1 wrote it, with a session in progress, opens migrated to the
    current version keeping the session; the runs left are journalled from then on."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(script(PG_MIGRATIONS[0], "sessionkit"))
        conn.execute("INSERT INTO sessionkit.meta (id, version) VALUES (1, 1)")
        conn.execute("INSERT INTO sessionkit.sessions (account, session_id, journal_id, "
                     "run_id, last_event_id, incarnation) VALUES "
                     "('acct', '2026-05-04', 'abcd', 'run-1', 42, 3)")
    with open_store(postgres_url) as store:
        assert (store.run_id, store.last_event_id, store.incarnation) == ("run-1", 42, 4)
        assert store.old_runs == ()  # version 1 did not keep them: none known
        store.run_changed("run-2")
    assert sql(postgres_url, "SELECT version FROM sessionkit.meta") == [(PG_SCHEMA_VERSION,)]
    assert PG_SCHEMA_VERSION == 2
    with open_store(postgres_url) as store:
        assert store.run_id == "run-2"
        handoff = store.load_handoff("c")
        assert handoff is not None and handoff.old_runs == ("run-1",)
    assert sql(postgres_url, "SELECT old_runs FROM sessionkit.sessions") == [(["run-1"],)]


def test_a_failed_migration_leaves_the_schema_at_its_version(journal, monkeypatch):
    step = "ALTER TABLE {s}.no_such_table ADD COLUMN x int"
    monkeypatch.setattr(pgstore, "PG_MIGRATIONS", (*PG_MIGRATIONS, step))
    monkeypatch.setattr(pgstore, "PG_SCHEMA_VERSION", PG_SCHEMA_VERSION + 1)
    with pytest.raises(JournalError, match=f"migrating schema sessionkit from version "
                                           f"{PG_SCHEMA_VERSION} to {PG_SCHEMA_VERSION + 1} "
                                           f"failed.*left at version {PG_SCHEMA_VERSION}"):
        open_store(journal)
    assert sql(journal, "SELECT version FROM sessionkit.meta") == [(PG_SCHEMA_VERSION,)]
    assert incarnation(journal) == 1


@pytest.mark.parametrize("mode, setting", [("safe", "on"), ("fast", "off")])
def test_durability_modes_set_synchronous_commit(postgres_url, mode, setting):
    with open_store(postgres_url, durability=mode) as store:
        assert store._conn.execute("SHOW synchronous_commit").fetchone() == (setting,)


def test_a_commit_whose_connection_broke_is_made_again_on_a_new_one(journal):
    store = open_store(journal)
    sql(journal, "SELECT pg_terminate_backend(%s)", store._conn.info.backend_pid)
    store.message_submitted(order("c-2"))
    store.event_handled(5)
    store.commit()  # the same lease (nobody took it), a new connection, the changes whole
    assert not store.pending
    store.close()
    with open_store(journal) as again:
        assert again.last_event_id == 5 and [m.cid for m in again.messages()] == ["c-1", "c-2"]


def test_a_commit_the_database_cannot_take_writes_nothing_and_is_written_whole_later(journal):
    store = open_store(journal)
    db = journal.rsplit("/", 1)[1]
    admin = journal.rsplit("/", 1)[0] + "/postgres"
    store.message_submitted(order("c-2"))
    store.event_handled(5)
    sql(admin, f"ALTER DATABASE {db} ALLOW_CONNECTIONS false")
    sql(admin, "SELECT pg_terminate_backend(%s)", store._conn.info.backend_pid)
    try:
        with pytest.raises(JournalWriteError, match="cannot connect to the database"):
            store.commit()
        assert store.pending and store.not_durable() == ["c-2"]
    finally:
        sql(admin, f"ALTER DATABASE {db} ALLOW_CONNECTIONS true")
    assert sql(journal, "SELECT last_event_id FROM sessionkit.sessions") == [(4,)]
    store.commit()  # written whole once the database takes it
    store.close()
    with open_store(journal) as again:
        assert again.last_event_id == 5 and [m.cid for m in again.messages()] == ["c-1", "c-2"]


def test_an_unreachable_database_is_named_without_its_password(postgres_server):
    url = f"postgresql://postgres:secret@127.0.0.1:{postgres_server.port}/no_such_db"
    with pytest.raises(JournalWriteError) as info:
        open_store(url)
    text = str(info.value)
    assert "secret" not in text
    assert text.startswith(f"journal postgresql://postgres@127.0.0.1:{postgres_server.port}"
                           f"/no_such_db (account acct, session 2026-05-04): cannot connect")


def test_bad_options_are_named(postgres_url):
    with pytest.raises(ValueError, match="schema must be a lower-case identifier"):
        open_store(postgres_url, schema="x; DROP TABLE y")
    with pytest.raises(ValueError, match="durability must be one of"):
        open_store(postgres_url, durability="slow")
    with pytest.raises(ValueError, match="lease_ttl must be seconds"):
        open_store(postgres_url, lease_ttl=0)


def test_many_sessions_share_one_database_each_with_its_own_journal(postgres_url):
    stores = [PostgresStore(postgres_url, account=f"acct-{i}", session_id="2026-05-04")
              for i in range(3)]
    for i, store in enumerate(stores):
        store.event_handled(10 + i)
        store.message_submitted(order("c-1"))  # the same cid in each: journals are apart
        store.commit()
        store.close()
    for i in range(3):
        with PostgresStore(postgres_url, account=f"acct-{i}", session_id="2026-05-04") as s:
            assert s.last_event_id == 10 + i and [m.cid for m in s.messages()] == ["c-1"]


# -- sessionkit journal on a database URL ---------------------------------------------------------

@pytest.fixture
def live(postgres_url):
    store = open_store(postgres_url)
    store.run_changed("run-1")
    store.message_submitted(order("c-1"))
    store.message_sent("c-1")
    store.message_acked("c-1", 17, "run-1")
    store.message_submitted(Batch(cid="b-1", messages=(order("c-2"),)))
    store.record_intent("order-1", "limit_order", "h1", cid="c-1")
    store.event_handled(41)
    store.commit()
    yield postgres_url, store
    store.close()


def test_show_prints_a_live_sessions_cursor_lease_and_requests(live):
    url, store = live
    out = io.StringIO()
    show_journal(url, out)  # the only session: no need to name it
    text = out.getvalue()
    assert "(account acct, session 2026-05-04)" in text
    assert "cursor       last event id 41 (resumes with 42)" in text
    assert f"fencing token {store.token}" in text and "(running)" in text
    assert "in flight    3 requests" in text
    assert "intents      1 (1 open)" in text


def test_show_lists_the_sessions_of_a_database_and_export_names_one(live):
    url, _ = live
    PostgresStore(url, account="acct-2", session_id="2026-05-04").close()
    out = io.StringIO()
    show_journal(url, out)
    lines = out.getvalue().splitlines()
    assert "2 session journals" in lines[0]
    assert lines[2].split()[:5] == ["acct", "2026-05-04", "41", "3", "1"]
    assert lines[3].split()[:2] == ["acct-2", "2026-05-04"] and lines[3].split()[-1] == "-"
    with pytest.raises(JournalError, match="holds 2 session journals; name one"):
        export_journal(url, io.StringIO())
    out = io.StringIO()
    assert export_journal(url, out, account="acct", session_id="2026-05-04") == 5
    records = [json.loads(ln) for ln in out.getvalue().splitlines()]
    assert [r["record"] for r in records] == ["session", "message", "message", "message",
                                              "intent"]
    assert records[0]["last_event_id"] == 41 and records[0]["lease"]["live"] is True


def test_the_click_commands_take_a_url(live):
    url, store = live
    runner = CliRunner()
    result = runner.invoke(journal_group, ["check", url])
    assert result.exit_code == 0 and "ok (last event id 41" in result.output
    result = runner.invoke(journal_group, ["reset", url, "--account", "acct",
                                           "--session-id", "2026-05-04", "--force"])
    assert result.exit_code == 1 and "a live journal is never reset" in result.output
    store.close()
    result = runner.invoke(journal_group, ["reset", url, "--account", "acct",
                                           "--session-id", "2026-05-04"])
    assert result.exit_code == 1 and "is not damaged (last event id 41)" in result.output
    result = runner.invoke(journal_group, ["reset", url, "--account", "acct",
                                           "--session-id", "2026-05-04", "--force"])
    assert result.exit_code == 0 and "moved aside to session acct/2026-05-04.damaged-" in \
        result.output
    with open_store(url) as fresh:
        assert fresh.fresh


def test_a_database_without_a_journal_is_named(postgres_url):
    with pytest.raises(JournalError, match="holds no sessionkit journal"):
        show_journal(postgres_url, io.StringIO())
    open_store(postgres_url).close()
    with pytest.raises(JournalError, match="no such session journal"):
        check_journal(postgres_url, account="acct", session_id="other-day")
    with pytest.raises(JournalLockedError):
        with open_store(postgres_url) as s:
            reset_journal(postgres_url, account="acct", session_id="2026-05-04", force=True)
            assert s.last_event_id == 0
