"""One naming scheme across the public API (issue 16): every exception a package exports
ends in ``Error`` (events do not), async resources close with ``aclose()``, counters are
read with ``statistics()``; the names before that stay importable for one release."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = ["sessionkit", "sessionkit.runtime", "sessionkit.store", "sessionkit.streaming",
            "sessionkit.conformance", "sessionkit.testing", "sessionkit_zmq",
            "sessionkit_mesolive", "sessionkit_mesolive.signalr"]

#: exported exceptions whose name keeps another scheme, and why
KEEP = {
    # the MesoLive SDK's name for its API failure (MesoLiveApiError is the SDK's error model)
    "sessionkit_mesolive.MesoLiveApiException",
}

#: old name -> new name, per package: deprecated aliases until 0.2
ALIASES = {
    "sessionkit": {"SessionBusy": "SessionBusyError", "SessionClosed": "SessionClosedError"},
    "sessionkit.runtime": {"TransportClosed": "TransportClosedError",
                           "ConnectFailed": "ConnectError"},
    "sessionkit.store": {n: n + "Error" for n in (
        "JournalCorrupt", "JournalFull", "JournalLocked", "JournalMismatch", "JournalReadOnly",
        "JournalTooNew", "IdempotencyConflict")},
    "sessionkit.testing": {"PostgresUnavailable": "PostgresUnavailableError"},
    "sessionkit_mesolive": {n: n + "Error" for n in (
        "OutcomeUnresolved", "PreparationFailed", "PreparationCancelled",
        "PreparationTimedOut")},
}


def _exported(package: str) -> list[tuple[str, object]]:
    module = importlib.import_module(package)
    return [(name, getattr(module, name)) for name in module.__all__]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_exception_ends_in_error(package: str) -> None:
    bad = [f"{package}.{name}" for name, obj in _exported(package)
           if inspect.isclass(obj) and issubclass(obj, BaseException)
           and not name.endswith("Error") and f"{package}.{name}" not in KEEP]
    assert bad == []


@pytest.mark.parametrize("package", sorted(ALIASES))
def test_the_old_exception_names_are_aliases_of_the_new(package: str) -> None:
    module = importlib.import_module(package)
    for old, new in ALIASES[package].items():
        assert getattr(module, old) is getattr(module, new), old
        assert old not in module.__all__ and new in module.__all__


def test_events_keep_their_names() -> None:
    import sessionkit

    assert not issubclass(sessionkit.ConnectionFailed, BaseException)  # an event
    from sessionkit.runtime import ConnectError, ConnectionFailedError

    # one connect attempt failed (the runtime may retry) / no connection for good
    assert ConnectError is not ConnectionFailedError


def test_one_name_for_closing_and_for_statistics() -> None:
    from sessionkit_mesolive import EventFeed

    from sessionkit.runtime import Context, SessionClient
    from sessionkit.streaming import StreamingEngine

    assert inspect.iscoroutinefunction(SessionClient.aclose)
    for cls in (SessionClient, Context, StreamingEngine, EventFeed):
        assert callable(cls.statistics), cls
        assert not hasattr(cls, "stats"), cls
