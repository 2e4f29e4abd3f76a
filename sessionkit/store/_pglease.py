"""The lease of a PostgreSQL journal's session: its fencing token, how long it is good for
here, and the thread that renews it.

A store holds its session's lease from the moment it opens the journal. The lease is good
until ``lease_expires`` on the database's clock, which every write (``fence``) and every
renewal (``renew``) moves to ``now + ttl``. This side keeps a conservative copy on its own
monotonic clock (:attr:`Lease.valid_until`: the time a renewal was *sent* plus the TTL,
less a margin), so that a process that was paused longer than its lease knows, before it
sends anything, that it must ask the database first.

:class:`Renewer` renews every ``ttl / 3`` on a connection of its own, so an idle session
keeps its lease; it stops at the first refusal (the lease was taken over) and records it
(:attr:`Lease.lost`), which the store raises at its next commit. A lost connection is
retried at the next round: until the lease expires nobody may take it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ._errors import JournalError, LeaseLostError

__all__ = ["Lease", "Renewer"]

logger = logging.getLogger(__name__)


class Lease:
    """The lease a store holds (shared by the store and its renewing thread)."""

    def __init__(self, sid: int, token: int, owner: str, ttl: float) -> None:
        self.sid = sid
        self.token = token
        self.owner = owner
        self.ttl = ttl
        #: a renewal or write must reach the database this long before the lease expires
        self.margin = min(1.0, ttl / 10)
        #: this side's view of the expiry (monotonic clock): see the module docstring
        self.valid_until = 0.0
        #: set once the database refused this lease: every later write raises it
        self.lost: LeaseLostError | None = None

    def renewed(self, sent_at: float) -> None:
        """A renewal or write sent at ``sent_at`` (monotonic) was accepted."""
        until = sent_at + self.ttl - self.margin
        if until > self.valid_until:
            self.valid_until = until

    @property
    def fresh(self) -> bool:
        """True while the lease is good on this side's clock (no need to ask the database)."""
        return time.monotonic() < self.valid_until


class Renewer(threading.Thread):
    """Renews a :class:`Lease` every ``ttl / 3`` until stopped or refused."""

    def __init__(self, lease: Lease, renew: Callable[[Any], None],
                 connect: Callable[[], Any], name: str) -> None:
        super().__init__(name=f"sessionkit lease {name}", daemon=True)
        self.lease = lease
        self._renew = renew
        self._connect = connect
        self._stop_event = threading.Event()
        self._conn: Any = None

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)

    def run(self) -> None:
        lease = self.lease
        interval = lease.ttl / 3
        try:
            while not self._stop_event.wait(interval):
                sent = time.monotonic()
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = self._connect()
                    self._renew(self._conn)
                except LeaseLostError as err:
                    lease.lost = err
                    logger.error("%s", err)
                    return
                except JournalError as err:
                    logger.warning("the lease could not be renewed (tried again in %.1f s; it "
                                   "is lost if not renewed by then): %s", interval, err)
                    self._close()
                    continue
                lease.renewed(sent)
        finally:
            self._close()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection: nothing to do
                pass
