"""Checked by ``mypy --strict`` in test_adapter_contract.py (not a test module): every adapter
sessionkit ships, and the example one, satisfies the Adapter contract, and the server
endpoints of those claiming ``tcp`` satisfy TcpServerEndpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # read by mypy only: pytest imports this module for its doctests
    from ndjson_adapter import NdjsonEndpoint
    from ndjson_adapter import adapter as ndjson
    from sessionkit_mesolive import adapter as mesolive
    from sessionkit_mesolive._session_hub import SessionHubEndpoint
    from sessionkit_zmq import adapter as zmq
    from sessionkit_zmq._server import ZmqServerEndpoint

    from sessionkit.runtime import Adapter, Connector, ServerEndpoint, TcpServerEndpoint
    from sessionkit.runtime.memory import MemoryConnector, MemoryEndpoint
    from sessionkit.runtime.memory import adapter as memory

    ADAPTERS: list[Adapter] = [memory, zmq, mesolive, ndjson]

    def tcp_endpoints(z: ZmqServerEndpoint, m: SessionHubEndpoint,
                      n: NdjsonEndpoint) -> list[TcpServerEndpoint]:
        return [z, m, n]

    def memory_endpoint(e: MemoryEndpoint) -> ServerEndpoint:
        return e

    def memory_connector(c: MemoryConnector) -> Connector:
        return c
