"""Serve a :class:`~.domain.MesoLiveDomain` through the generic :class:`~.hubserver.HubServer`.

:func:`register_domain` adds the three MesoLive hubs at their documented paths and registers
every catalogue method: arguments are decoded with the wire converter, the domain runs the
call, and the answer goes back as a ``MesoLiveApiResponse`` envelope (streams yield bare
items). Event Hub callbacks queued by the domain are sent to the connections they name.

This is the only domain module that knows about the event loop (it sleeps and reads AnyIO's
clock); the domain itself stays sans-IO. The domain is single-user: every authenticated token
sees the same platform.

Run :meth:`DomainHubs.run` next to the server: it advances the domain's clock and delivers
callbacks every ``tick`` seconds::

    server = HubServer(token_validator=lambda t: "user" if t == "secret" else None)
    hubs = register_domain(server, MesoLiveDomain.with_defaults())
    async with anyio.create_task_group() as nursery:
        nursery.start_soon(hubs.run)
        port = await nursery.start(serve, server)

Fault knobs: the domain's own (:attr:`MesoLiveDomain.faults`); a call that raises
:class:`~.domain_state.CallTimedOutError` makes the server forget the caller's connection, so the
answer is lost and the client must recover (``GetIdempotencyRecord``, event replay).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio

from .. import models as m
from .._catalogue import METHODS, Hub, HubMethod
from .._converters import MesoLiveConverter, default_converter
from .._errors import DecodeError, MesoLiveApiException
from .domain import MesoLiveDomain
from .domain_events import corrupt_payload
from .domain_state import CallTimedOutError
from .hubserver import Hub as ServerHub
from .hubserver import HubCallContext, HubMethodError, HubServer, ServerConnection

__all__ = ["DomainHubs", "register_domain"]

logger = logging.getLogger(__name__)


class DomainHubs:
    """The MesoLive hubs of one :class:`HubServer`, backed by one domain."""

    def __init__(self, server: HubServer, domain: MesoLiveDomain, *,
                 clock: Callable[[], float] = anyio.current_time, tick: float = 0.05,
                 converter: MesoLiveConverter = default_converter) -> None:
        self.server = server
        self.domain = domain
        self.tick = tick
        self._clock = clock
        self._offset: float | None = None
        self._conv = converter
        self.hubs: dict[Hub, ServerHub] = {
            h: server.hubs.get(h.path) or server.add_hub(h.path) for h in Hub}
        for spec in METHODS.values():
            hub = self.hubs[spec.hub]
            if spec.stream:
                hub.stream(spec.name)(self._stream_handler(spec))
            else:
                hub.method(spec.name)(self._method_handler(spec))
        event_hub = self.hubs[Hub.EVENT]
        event_hub.on_connected(self._connected)
        event_hub.on_disconnected(self._disconnected)

    # -- time and deliveries --------------------------------------------------------------

    def sync(self) -> None:
        """Advance the domain to the current time."""
        now = self._clock()
        if self._offset is None:
            self._offset = self.domain.now - now
        self.domain.advance(max(self.domain.now, now + self._offset))

    async def flush(self) -> None:
        """Send the callbacks the domain has queued."""
        connections = self.hubs[Hub.EVENT].connections
        for delivery in self.domain.take_deliveries():
            conn = connections.get(delivery.connection_id)
            if conn is None:
                continue
            raw = self._conv.unstructure(delivery.payload)
            if delivery.corrupt:
                raw = corrupt_payload(raw)
            try:
                await conn.offer(delivery.target, raw)
            except Exception as exc:  # the connection went away meanwhile
                logger.debug("could not deliver %s to %s: %s", delivery.target, conn, exc)

    async def run(self) -> None:
        """Advance the clock and deliver callbacks every ``tick`` seconds, until cancelled."""
        while True:
            self.sync()
            await self.flush()
            await anyio.sleep(self.tick)

    async def _connected(self, conn: ServerConnection) -> None:
        self.domain.connect(conn.connection_id)
        await self.flush()

    def _disconnected(self, conn: ServerConnection, error: BaseException | None) -> None:
        self.domain.disconnect(conn.connection_id)

    # -- handlers -------------------------------------------------------------------------

    def _envelope(self, spec: HubMethod, result: Any = None,
                  exc: MesoLiveApiException | None = None) -> Any:
        if exc is None:
            response = m.MesoLiveApiResponse(status=m.StatusCode.SUCCESS, data=result)
            envelope_type: Any = m.MesoLiveApiResponse[spec.result_type]  # type: ignore[name-defined]
            return self._conv.unstructure(response, envelope_type)
        return self._conv.unstructure(
            m.MesoLiveApiResponse(status=exc.status, message=exc.message, error=exc.error,
                                  data=exc.data), m.MesoLiveApiResponse[Any])

    def _decode(self, spec: HubMethod, raw: Any) -> Any:
        return self._conv.structure({} if raw is None else raw, spec.args_type)

    def _method_handler(self, spec: HubMethod) -> Callable[..., Any]:
        async def handler(ctx: HubCallContext, raw: Any = None) -> Any:
            self.sync()
            try:
                args = self._decode(spec, raw)
            except DecodeError as exc:
                error = m.MesoLiveApiError(code="InvalidArguments", detail=str(exc),
                                           validation_errors={p: (msg,) for p, msg in exc.problems})
                return self._envelope(spec, exc=MesoLiveApiException(
                    m.StatusCode.BAD_REQUEST, str(exc), error))
            try:
                result = self.domain.call(spec.name, args,
                                          connection_id=ctx.connection.connection_id)
            except MesoLiveApiException as exc:
                await self.flush()
                return self._envelope(spec, exc=exc)
            except CallTimedOutError:
                # the effect happened (or will); the caller must never see the answer: drop
                # the connection, forget its token (no resume), and answer nothing
                logger.info("%s: dropping the connection so the answer is lost", spec.name)
                await self.flush()
                self.server.forget(ctx.connection)
                await anyio.sleep_forever()  # cancelled when the connection is torn down
            await self.flush()
            envelope = self._envelope(spec, result)
            faults = self.domain.faults
            if spec.name == "GetEventsSince" and faults.corrupt_in_history:
                for record in envelope["Data"]["Events"]:
                    if record["EventSeqId"] in faults.corrupted:
                        record["Payload"] = corrupt_payload(record["Payload"])
            return envelope

        handler.__name__ = spec.python_name
        return handler

    def _stream_handler(self, spec: HubMethod) -> Callable[..., AsyncIterator[Any]]:
        async def stream(ctx: HubCallContext, raw: Any = None) -> AsyncIterator[Any]:
            self.sync()
            try:
                stream_id = self.domain.call(spec.name, self._decode(spec, raw))
            except (DecodeError, MesoLiveApiException) as exc:
                raise HubMethodError(str(exc)) from None
            try:
                while True:
                    batch = self.domain.poll_stream(stream_id)
                    for item in batch.items:
                        yield self._conv.unstructure(item, spec.result_type)
                    if batch.error is not None:
                        raise HubMethodError(batch.error)
                    await anyio.sleep(self.tick)
                    self.sync()
            finally:
                self.domain.close_stream(stream_id)

        stream.__name__ = spec.python_name
        return stream


def register_domain(server: HubServer, domain: MesoLiveDomain, **options: Any) -> DomainHubs:
    """Add the Control, Data and Event hubs backed by ``domain`` to ``server``.

    Start :meth:`DomainHubs.run` in the nursery that serves ``server``. ``options``: ``clock``
    (default :func:`anyio.current_time`), ``tick`` (seconds), ``converter``.
    """
    return DomainHubs(server, domain, **options)
