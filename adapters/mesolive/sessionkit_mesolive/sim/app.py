"""Run a :class:`~.hubserver.HubServer` on hypercorn's trio worker.

In tests::

    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve, server)        # 127.0.0.1, a free port
        ...
        nursery.cancel_scope.cancel()

From a shell (the echo test hub, used by the JavaScript interop test and the benchmark)::

    python -m sessionkit_mesolive.sim.app --port 0      # prints {"port": N} when ready
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

try:
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve
except ImportError as exc:  # the web server is the [sim] extra's, not the client's
    raise ImportError(
        f"the MesoLive hub simulator needs hypercorn ({exc}): "
        "install sessionkit-mesolive[sim]") from exc

from ._close_race import install as install_close_race_guard
from .hubserver import HubServer
from .hubserver_asgi import HubServerApp

__all__ = ["serve", "running", "main"]

logger = logging.getLogger(__name__)


async def serve(
    server: HubServer | Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``server`` (a HubServer, or any ASGI app) until cancelled; reports the bound port.

    ``port = await nursery.start(serve, server)``.
    """
    app = HubServerApp(server) if isinstance(server, HubServer) else server
    install_close_race_guard()
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("sessionkit_mesolive.sim.hypercorn")
    config.graceful_timeout = 0.5
    config.keep_alive_timeout = 30
    config.websocket_ping_interval = None
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(
            functools.partial(hypercorn_serve, app, config, mode="asgi")  # type: ignore[arg-type]
        )
        task_status.started(int(binds[0].rsplit(":", 1)[1]))


@asynccontextmanager
async def running(server: HubServer | Any, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """``async with running(server) as base_url:`` -- serve on a free port for the block.

    ``base_url`` is ``http://127.0.0.1:<port>``; append a hub path to get a hub URL.
    """
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve, server, host, 0)
        try:
            yield f"http://{host}:{port}"
        finally:
            nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> None:
    """Serve the echo test hub at /hubs/echo and print the bound port as JSON."""
    from .hubserver_echo import build_echo_server

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="test-token", help="the only bearer token accepted")
    args = parser.parse_args(argv)
    server = build_echo_server(token=args.token)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve, server, args.host, args.port)
            print(json.dumps({"port": port}), flush=True)

    try:
        trio.run(run)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
