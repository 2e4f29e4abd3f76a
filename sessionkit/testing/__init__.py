"""Test doubles for sessionkit: an in-memory reference exchange and fault injection.

These are sans-IO like the core, so the same exchange serves unit tests,
property tests, the conformance suite and the demo.
"""

from ._exchange import DEFAULT_CONTRACTS, ExchangeConnection, ReferenceExchange
from ._loop import CoreLoop, FaultyLink

__all__ = ["ReferenceExchange", "ExchangeConnection", "DEFAULT_CONTRACTS", "CoreLoop",
           "FaultyLink"]
