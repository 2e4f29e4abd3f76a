"""Run a :class:`~.hubserver.HubServer` on hypercorn, under asyncio or trio.

:func:`serve` uses hypercorn's worker for the loop it runs on (its trio worker under trio,
its asyncio worker under asyncio, uvloop included): the simulator runs in the same loop and
task group as the code under test, whichever loop that is. In tests::

    async with anyio.create_task_group() as tg:
        port = await tg.start(serve, server)             # 127.0.0.1, a free port
        ...
        tg.cancel_scope.cancel()

From a shell (the echo test hub, used by the JavaScript interop test and the benchmark)::

    python -m sessionkit_mesolive.sim.app --port 0      # prints {"port": N} when ready
    python -m sessionkit_mesolive.sim.app --backend asyncio
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc

try:
    from hypercorn.config import Config
except ImportError as exc:  # the web server is the [sim] extra's, not the client's
    raise ImportError(
        f"the MesoLive hub simulator needs hypercorn ({exc}): "
        "install sessionkit-mesolive[sim]") from exc

from .._detached import current_backend
from .hubserver import HubServer
from .hubserver_asgi import HubServerApp

__all__ = ["serve", "running", "main"]

logger = logging.getLogger(__name__)


async def serve(
    server: HubServer | Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``server`` (a HubServer, or any ASGI app) until cancelled; reports the bound port.

    ``port = await nursery.start(serve, server)``.
    """
    app = HubServerApp(server) if isinstance(server, HubServer) else server
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("sessionkit_mesolive.sim.hypercorn")
    config.graceful_timeout = 0.5
    config.keep_alive_timeout = 30
    config.websocket_ping_interval = None
    if current_backend() == "trio":
        from hypercorn.trio import serve as trio_serve

        from ._close_race import install as install_close_race_guard

        install_close_race_guard()
        async with anyio.create_task_group() as tg:
            binds: list[str] = await tg.start(
                functools.partial(trio_serve, app, config, mode="asgi")  # type: ignore[arg-type]
            )
            task_status.started(int(binds[0].rsplit(":", 1)[1]))
        return
    await _serve_asyncio(app, config, host, port, task_status)


async def _serve_asyncio(app: Any, config: Config, host: str, port: int,
                         task_status: anyio.abc.TaskStatus[int]) -> None:
    """hypercorn's asyncio worker: it reports no port, so it gets a socket bound here, and
    it stops on its shutdown trigger (a cancellation would cut its graceful close short)."""
    from hypercorn.asyncio import serve as asyncio_serve

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it
    bound = sock.getsockname()[1]
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) it from here
    stop = anyio.Event()
    stopped = anyio.Event()

    async def run() -> None:
        try:
            with anyio.CancelScope(shield=True):  # ends when ``stop`` is set, not before
                await asyncio_serve(app, config, shutdown_trigger=stop.wait,
                                    mode="asgi")
        finally:
            stopped.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        task_status.started(bound)
        try:
            await anyio.sleep_forever()
        finally:
            stop.set()
            with anyio.CancelScope(shield=True), anyio.move_on_after(
                config.graceful_timeout + 2.0
            ) as scope:
                await stopped.wait()
            if scope.cancel_called:
                logger.warning("hypercorn did not stop within %.1f s", config.graceful_timeout + 2)


@asynccontextmanager
async def running(server: HubServer | Any, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """``async with running(server) as base_url:`` -- serve on a free port for the block.

    ``base_url`` is ``http://127.0.0.1:<port>``; append a hub path to get a hub URL.
    """
    async with anyio.create_task_group() as nursery:
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
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="trio",
                        help="the event loop to serve on")
    args = parser.parse_args(argv)
    server = build_echo_server(token=args.token)

    async def run() -> None:
        async with anyio.create_task_group() as nursery:
            port = await nursery.start(serve, server, args.host, args.port)
            print(json.dumps({"port": port}), flush=True)

    try:
        anyio.run(run, backend=args.backend)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
