"""PostgreSQL connections and failures as journal errors (the PostgreSQL journal's I/O).

Every failure of the PostgreSQL journal comes out as a :class:`JournalError` naming the
database (its URL without the password), the session, what failed and what to do: a full
disk as :class:`JournalFullError`, a read-only server or a missing privilege as
:class:`JournalReadOnlyError`, the lease taken over as :class:`LeaseLostError`, a lost
connection or anything else as :class:`JournalWriteError`.
"""

from __future__ import annotations

from typing import Any

from ._errors import (
    JournalError,
    JournalFullError,
    JournalReadOnlyError,
    JournalWriteError,
    LeaseLostError,
)
from ._pgschema import FENCED

__all__ = ["display_url", "is_postgres_url", "import_psycopg", "connect", "pg_error",
           "lease_lost"]

_PREFIXES = ("postgresql://", "postgres://")


def is_postgres_url(target: object) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(target, str) and target.startswith(_PREFIXES)


def import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise JournalError(None, "the PostgreSQL journal needs psycopg 3: install "
                                 "sessionkit[postgres] (psycopg[binary])") from None
    return psycopg


def display_url(url: str) -> str:
    """``url`` as ``postgresql://user@host:port/dbname``, without its password."""
    psycopg = import_psycopg()
    try:
        d = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as err:
        raise ValueError(f"not a PostgreSQL connection URL: {err}") from None
    user = f"{d['user']}@" if d.get("user") else ""
    port = f":{d['port']}" if d.get("port") else ""
    return f"postgresql://{user}{d.get('host', '')}{port}/{d.get('dbname', '')}"


def connect(url: str, where: str, *, timeout: float, synchronous_commit: str | None = None,
            application_name: str = "sessionkit journal",
            idle_in_transaction_ms: int | None = None) -> Any:
    """An autocommit connection, or :class:`JournalWriteError` naming ``where``.

    ``idle_in_transaction_ms``: the server ends this connection when it sits that long in
    an open transaction (a writer paused with SIGSTOP in the middle of a commit would
    otherwise hold its session row, and so its lease, for ever).
    """
    psycopg = import_psycopg()
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(timeout)),
                               application_name=application_name)
    except psycopg.Error as err:
        raise pg_error(where, err, "cannot connect to the database") from None
    try:
        if synchronous_commit is not None:
            conn.execute(f"SET synchronous_commit = {synchronous_commit}")
        if idle_in_transaction_ms is not None:
            conn.execute(f"SET idle_in_transaction_session_timeout = {int(idle_in_transaction_ms)}")
    except psycopg.Error as err:
        conn.close()
        raise pg_error(where, err, "cannot set up its connection") from None
    return conn


def lease_lost(where: str, err: Any, account: str, session_id: str, token: int,
               doing: str = "") -> LeaseLostError:
    """The :class:`LeaseLostError` for the fencing function's error ``err``."""
    detail = (getattr(err.diag, "message_detail", None) or "").split(" ", 1)
    new_token = int(detail[0]) if detail and detail[0].isdigit() else None
    new_owner = detail[1] if len(detail) > 1 and detail[1] else None
    return LeaseLostError(where, account, session_id, token, new_token, new_owner, doing)


def pg_error(where: str, err: Any, doing: str) -> JournalError:
    """The journal error for a psycopg error met while ``doing``."""
    psycopg = import_psycopg()
    errors = psycopg.errors
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, errors.DiskFull | errors.OutOfMemory | errors.ProgramLimitExceeded):
        return JournalFullError(where, f"{doing}: {text}: the database server is out of space "
                                       f"(or a limit); free space and try again (nothing of the "
                                       f"failed write is in the journal)")
    if isinstance(err, errors.ReadOnlySqlTransaction | errors.InsufficientPrivilege):
        return JournalReadOnlyError(where, f"{doing}: {text}: the journal cannot be written; check "
                                           f"that the database role may create and write the "
                                           f"journal's tables and that the server is not a "
                                           f"read-only standby")
    if isinstance(err, psycopg.OperationalError):
        return JournalWriteError(where, f"{doing}: {text}: the database cannot be reached; "
                                        f"nothing of the failed write is in the journal "
                                        f"(a later commit writes it whole once it can)")
    if getattr(err, "sqlstate", None) == FENCED:
        return JournalWriteError(where, f"{doing}: {text}")
    return JournalWriteError(where, f"{doing}: {type(err).__name__}: {text}")
