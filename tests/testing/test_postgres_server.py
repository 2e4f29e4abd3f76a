"""The throwaway PostgreSQL server the journal's tests run: real, on loopback, removed after."""

from __future__ import annotations

import os

import psycopg
import pytest

from sessionkit.testing import PostgresUnavailableError, start_postgres


def test_each_database_is_new_and_empty(postgres_server, postgres_url):
    other = postgres_server.create_database()
    assert other != postgres_url
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
    with psycopg.connect(other) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                              ).fetchone()
    assert tables == (0,)
    assert postgres_url.startswith("postgresql://postgres@127.0.0.1:")


def test_a_server_listens_on_loopback_and_leaves_nothing_behind():
    server = start_postgres()
    try:
        with psycopg.connect(server.url()) as conn:
            addr, = conn.execute("SELECT inet_server_addr()::text").fetchone()
            listen, = conn.execute("SHOW listen_addresses").fetchone()
        assert addr.startswith("127.0.0.1") and listen == "127.0.0.1"
        pid = server.process.pid
    finally:
        server.stop()
    assert not os.path.exists(server.directory)
    assert server.process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url(), connect_timeout=2)


def test_missing_binaries_are_named(monkeypatch, tmp_path):
    monkeypatch.setenv("SESSIONKIT_PG_BIN", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    import glob

    monkeypatch.setattr(glob, "glob", lambda pattern: [])
    with pytest.raises(PostgresUnavailableError, match="initdb, postgres.*tools/dev setup"):
        start_postgres(str(tmp_path / "pg"))
