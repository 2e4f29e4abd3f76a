"""A ZAP handler (ZeroMQ RFC 27) on an AnyIO task: the CURVE allow-list of a server.

libzmq asks the handler bound at ``inproc://zeromq.zap.01`` of the server's context about
every handshake; the handler answers 200 (with the client's public key as the User-Id the
server then sees on each message) or 400. It runs on the server's own context, so two
servers in one process each have their own allow-list. It is bound before the server
socket binds: a CURVE server with no ZAP handler would let every client in.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import zmq
import zmq.utils.z85

from ._keys import CurveServer, fingerprint
from ._zmq_fd import NOBLOCK, POLLIN, FdWaiter, events

__all__ = ["ZapHandler", "ZAP_ENDPOINT"]

logger = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"


class ZapHandler:
    """Answers ZAP requests for one context from ``curve``'s allow-list."""

    def __init__(self, ctx: zmq.Context[Any], curve: CurveServer) -> None:
        self.curve = curve
        self.accepted = 0
        self.rejected = 0
        self._sock = ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(ZAP_ENDPOINT)
        self._waiter = FdWaiter([self._sock])

    def _answer(self, request: list[bytes]) -> list[bytes] | None:
        # [routing id, b"", version, request id, domain, address, identity, mechanism, *creds]
        if len(request) < 8 or request[1] != b"":
            logger.warning("ZAP: ignored a malformed request of %d parts", len(request))
            return None
        rid, _, version, request_id, _domain, address, _identity, mechanism, *creds = request
        if version != b"1.0":
            return [rid, b"", b"1.0", request_id, b"500", b"unsupported ZAP version", b"", b""]
        peer = address.decode("utf-8", "replace")
        if mechanism != b"CURVE" or not creds or len(creds[0]) != 32:
            self.rejected += 1
            logger.info("ZAP: refused a %s handshake from %s: CURVE is required",
                        mechanism.decode("ascii", "replace"), peer)
            return [rid, b"", b"1.0", request_id, b"400", b"CURVE required", b"", b""]
        key = zmq.utils.z85.encode(creds[0])
        if self.curve.allows(key):
            self.accepted += 1
            logger.info("ZAP: accepted client key %s from %s", fingerprint(key), peer)
            return [rid, b"", b"1.0", request_id, b"200", b"OK", key, b""]
        self.rejected += 1
        logger.info("ZAP: refused client key %s from %s: not on the allow-list",
                    fingerprint(key), peer)
        return [rid, b"", b"1.0", request_id, b"400", b"client key not allowed", b"", b""]

    async def run(self) -> None:
        """Serve requests until cancelled (then the socket is closed)."""
        sock = self._sock
        try:
            while True:
                while True:
                    try:
                        request = sock.recv_multipart(NOBLOCK)
                    except zmq.Again:
                        break
                    reply = self._answer(request)
                    if reply is not None:
                        try:
                            sock.send_multipart(reply, NOBLOCK)
                        except zmq.ZMQError as exc:  # pragma: no cover - inproc peer gone
                            logger.warning("ZAP: could not answer: %s", exc)
                if events(sock) & POLLIN:
                    continue
                await self._waiter.wait()
        except anyio.ClosedResourceError:
            return
        finally:
            self.close()

    def close(self) -> None:
        if not self._waiter.closed:
            self._waiter.close()
            self._sock.close(linger=0)
