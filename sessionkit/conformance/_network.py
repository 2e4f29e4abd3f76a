"""Real network faults in a scenario: a fault proxy between the client and the exchange.

A scenario that needs the ``tcp`` capability runs with a
:class:`~sessionkit.testing.FaultProxy` between the runtime's connector and the adapter's
server endpoint: the endpoint says where it listens (``endpoint.tcp_address``, a
``(host, port)``), the proxy forwards to it, and the runtime connects through the proxy
(``endpoint.connector(via=proxy.address)``). Its ``inject net-*`` steps then break the
connection with real sockets, so the adapter's own handling of each fault is what runs.

=============================  =====================================================================
``inject net-refuse``          the proxy stops listening: a new connect is refused (ECONNREFUSED)
``inject net-reset``           every open connection is reset (RST both ways)
``inject net-half-close [D]``  one direction is shut (``to-client``, the default: the client reads
                               EOF; ``to-server``: the exchange does); the other keeps flowing
``inject net-stall``           nothing is forwarded, sockets stay open (also on new connections)
``inject net-delay S``         each chunk is held S seconds (also on new connections)
``inject net-split [N]``       each chunk goes on in pieces of N bytes (1), each its own write (also
                               on new connections)
``inject net-heal``            listen again; forward, no delay, no split
=============================  =====================================================================
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ._exchange import StepFailed

__all__ = ["route", "connector_for", "inject"]


@asynccontextmanager
async def route(endpoint: Any, through_proxy: bool) -> AsyncIterator[Any]:
    """A fault proxy in front of ``endpoint`` for the block (None when not wanted)."""
    if not through_proxy:
        yield None
        return
    address = getattr(endpoint, "tcp_address", None)
    if not (isinstance(address, tuple) and len(address) == 2):
        raise StepFailed(f"the adapter claims the tcp capability, but its server endpoint has "
                         f"no tcp_address (host, port); got {address!r}")
    from ..testing import open_fault_proxy

    async with open_fault_proxy(address) as proxy:
        yield proxy


def connector_for(endpoint: Any, proxy: Any) -> Any:
    """The endpoint's connector, through ``proxy`` when there is one."""
    if proxy is None:
        return endpoint.connector()
    return endpoint.connector(via=proxy.address)


async def inject(proxy: Any, kind: str, args: tuple[Any, ...]) -> None:
    """Apply one ``inject net-*`` step."""
    if proxy is None:
        raise StepFailed(f"inject {kind} needs the scenario to run through the fault proxy "
                         f"(capability: tcp)")
    if kind == "net-refuse":
        proxy.refuse()
    elif kind == "net-reset":
        proxy.reset()
    elif kind == "net-half-close":
        proxy.half_close((args[0] if args else "to-client").replace("-", "_"))
    elif kind == "net-stall":
        proxy.stall(new=True)
    elif kind == "net-delay":
        proxy.delay(float(args[0]), new=True)
    elif kind == "net-split":
        proxy.split(args[0] if args else 1, new=True)
    elif kind == "net-heal":
        await proxy.heal()
    else:  # pragma: no cover - the parser knows every kind
        raise StepFailed(f"unknown network fault {kind!r}")
