"""The conformance suite with a journal under the session: the same results on every store.

``run_suite(..., journal=)`` (``sessionkit conformance --journal``, pytest
``--sessionkit-journal``) opens each scenario's session on a new journal, so every
scenario runs the runtime's write-ahead path. The stores must not differ: the in-memory,
the SQLite and the PostgreSQL journal give the same result for every scenario, on asyncio
as on trio.
"""

from __future__ import annotations

import pytest

from sessionkit.conformance import run_suite

#: scenarios a journalled session does not pass, the same on every store, and why; strict:
#: they must fail until fixed (found running the suite with a journal, not yet fixed)
JOURNAL_GAPS = {
    # with on_handler_error="stop" and a journal, the request whose event was withheld stays
    # in the journal for the next process (docs/journal.md), so it is not reported unknown
    "hostile_handlers_stop_callback_sees_ack": "withheld requests stay journalled",
    "hostile_handlers_stop_withheld_fill_unknown": "withheld requests stay journalled",
}


STORES = ("memory", "sqlite", "postgres")
BACKENDS = ("asyncio", "trio")


@pytest.fixture(scope="module")
def results(request):
    """Per (backend, store), each scenario's status with a journal of that store."""
    out = {}
    for backend in BACKENDS:
        for store in STORES:
            spec = (request.getfixturevalue("postgres_server").create_database()
                    if store == "postgres" else store)
            report = run_suite("memory", journal=spec, backend=backend)
            out[backend, store] = {r.name: (r.status, r.detail.splitlines()[:2])
                                   for r in report.results}
    return out


def test_every_store_gives_every_scenario_the_same_result_on_either_backend(results):
    memory = {name: status for name, (status, _) in results["trio", "memory"].items()}
    for key, got in results.items():
        assert {name: status for name, (status, _) in got.items()} == memory, key
    assert sum(1 for s in memory.values() if s == "passed") >= 120


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("store", STORES)
def test_a_journalled_session_passes_the_suite_but_its_known_gaps(results, store, backend):
    failed = {name: detail for name, (status, detail) in results[backend, store].items()
              if status == "failed"}
    assert set(failed) == set(JOURNAL_GAPS), failed


def test_the_journal_option_is_checked():
    with pytest.raises(ValueError, match="journal must be memory, sqlite or a postgresql://"):
        run_suite("memory", journal="oracle")
