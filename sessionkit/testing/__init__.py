"""Test doubles for sessionkit: an in-memory reference exchange, fault injection, and a
loopback TCP fault proxy.

The reference exchange and the fault links are sans-IO like the core, so the same exchange
serves unit tests, property tests, the conformance suite and the demo. The fault proxy
(:class:`FaultProxy`, :func:`open_fault_proxy`) is the one part that does I/O (trio
sockets): it is imported on first use, so importing ``sessionkit.testing`` loads no I/O
library. So is the throwaway PostgreSQL server (:func:`start_postgres`,
:class:`PostgresServer`) that the PostgreSQL journal's tests and tools run.
"""

from typing import TYPE_CHECKING, Any

from ._exchange import DEFAULT_CONTRACTS, ExchangeConnection, ReferenceExchange
from ._loop import CoreLoop, FaultyLink

if TYPE_CHECKING:
    from ._postgres import PostgresServer, PostgresUnavailableError, start_postgres
    from ._proxy import FaultProxy, ProxyConnection, open_fault_proxy

__all__ = ["ReferenceExchange", "ExchangeConnection", "DEFAULT_CONTRACTS", "CoreLoop",
           "FaultyLink", "FaultProxy", "ProxyConnection", "open_fault_proxy", "PostgresServer",
           "PostgresUnavailableError", "start_postgres"]

_PROXY_NAMES = ("FaultProxy", "ProxyConnection", "open_fault_proxy")
_POSTGRES_NAMES = ("PostgresServer", "PostgresUnavailableError", "start_postgres",
                   "PostgresUnavailable")  # the last: a deprecated alias (until 0.2)


def __getattr__(name: str) -> Any:
    if name in _PROXY_NAMES:
        from . import _proxy

        return getattr(_proxy, name)
    if name in _POSTGRES_NAMES:
        from . import _postgres

        return getattr(_postgres, name)
    raise AttributeError(f"module 'sessionkit.testing' has no attribute {name!r}")
