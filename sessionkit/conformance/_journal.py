"""The journal a conformance scenario's session runs on (``--journal``), one per scenario.

``journal`` names the store: ``memory`` (:class:`~sessionkit.store.MemoryStore`),
``sqlite`` (a :class:`~sessionkit.store.SqliteStore` file in a temporary directory) or a
``postgresql://`` URL (a :class:`~sessionkit.store.PostgresStore` session of its own in that
database: the scenario's name and a random suffix as its session id). With a journal every
scenario runs through the write-ahead path of the runtime (each request committed before its
frame is sent, each drained batch of events committed after its handlers), so the suite
shows that a journalled session behaves as the scenarios say, on each store.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

__all__ = ["check_journal_spec", "open_journal"]

_KINDS = ("memory", "sqlite")


def check_journal_spec(spec: str | None) -> str | None:
    """``spec`` if it names a journal the runner can open, else ValueError naming it."""
    if spec is None or spec in _KINDS or spec.startswith(("postgresql://", "postgres://")):
        return spec
    raise ValueError(f"journal must be memory, sqlite or a postgresql:// URL, got {spec!r}")


def open_journal(spec: str, account: str, scenario: str) -> tuple[Any, Callable[[], None]]:
    """A new journal for one scenario's session and what to call when it ended."""
    from ..store import MemoryStore, PostgresStore, SqliteStore

    session_id = f"{scenario}-{secrets.token_hex(3)}"
    if spec == "memory":
        store: Any = MemoryStore(account, session_id)
        return store, lambda: store.close()
    if spec == "sqlite":
        d = tempfile.mkdtemp(prefix="sessionkit-conformance-")
        store = SqliteStore(f"{d}/session.journal", account=account, session_id=session_id,
                            durability="fast")

        def done() -> None:
            try:
                store.close()
            finally:
                shutil.rmtree(d, ignore_errors=True)

        return store, done
    check_journal_spec(spec)
    store = PostgresStore(spec, account=account, session_id=session_id, durability="fast")
    return store, lambda: store.close()
