"""The submit side's fast path: a lone request goes out, and its answers come in, without
waiting for the owner task to be scheduled; and how the owner feeds frames to the session.

The owner task of a :class:`~sessionkit.runtime.SessionClient` does a connection's I/O.
Woken for every request, it would cost each lone order two passes through trio's
scheduler (one to send it, one to read its ACK) on top of the round trip. When the owner
is parked waiting for frames (it has sent everything it had), and the transport offers
``send_frames_nowait`` / ``receive_frames_nowait`` (non-blocking, synchronous), the
submitting task does the owner's work itself, in the same thread with no await in
between, so nothing can interleave:

* the first submit of a burst sends its frame at once, and only then starts the request's
  tracking (``Session._admit``, the send, ``Session._track``: the bookkeeping is not
  between the call and the frame's departure); later submits of the same burst
  leave theirs to the owner, which writes them together on its next pass (one wake-up of
  the transport's I/O, not one per frame). A long burst does not hold them all until it
  ends: each time ``_SLICE`` frames wait, the submitting task sends them (the owner, woken
  but not yet run, is still parked in its receive), so the exchange works on the first
  while the rest are made. A burst is what one task submits without passing a schedule
  point (trio counts those per task, for ``trio.testing.assert_checkpoints``; where that
  count is missing, a burst lasts until the owner parks again);
* ``await submit()`` (never ``submit_nowait``) then reads the answers already there and
  hands them to the processor before it returns, exactly as if the owner had run during
  that await. Handlers still run on the client's thread and in order; an error that stops
  the session is passed to the owner, which ends the session with it.

Anything out of the ordinary (a frame that does not fit, events to dispatch, output the
session produced, a closed transport) wakes the owner instead. The fast path is off when
the client journals to a store: there the owner writes a burst to the journal in one
commit before sending it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from .._codec import Codec
from .._errors import LocalProtocolError, SessionClosed
from .._events import Callback
from .._messages import Message, Request
from .._session import Session
from .._state import CLOSED_STATES
from ._dispatch import _Crash, _Stop
from ._transport import TransportClosed

__all__ = ["FastPath"]

#: up to this many frames read at once are dispatched one by one (see FastPath._feed)
_DISPATCH_EACH = 4
#: a burst's queued frames are sent once this many wait (see FastPath._send_slice): big
#: enough that a slice costs the transport's I/O one wake-up for many frames, small enough
#: that the first leave within a couple of milliseconds of pure-Python submits
_SLICE = 128


def _schedule_points(task: Any) -> int | None:
    """How many schedule points ``task`` passed (trio's count; None where it has none)."""
    return getattr(task, "_schedule_points", None)


class FastPath:
    """The fast-path half of :class:`~sessionkit.runtime.SessionClient` (a mixin)."""

    _session: Session
    _wait_scope: trio.CancelScope | None
    _first_wait: float
    _frames: Callable[[Session], list[bytes]]
    _dispatch: Callable[[list[Any]], None]
    _bump: Callable[[], None]
    _recorder: Any
    _clock: Callable[[], float]
    _codec: Codec
    _encode_each: Callable[[list[Message]], list[bytes]]

    def _init_fast_path(self) -> None:
        #: the transport's send_frames_nowait while the owner is parked (None otherwise)
        self._send_now: Callable[[list[bytes]], int] | None = None
        #: the transport's receive_frames_nowait while a connection runs
        self._receive_now: Callable[[], list[bytes]] | None = None
        #: frames a submit could not send at once: the owner sends them first
        self._unsent: list[bytes] = []
        #: a submit just sent at once: ``await submit()`` may read the answers
        self._sent_now = False
        #: what ends the session, met by a submitting task (a handler's stop during a
        #: submit's read, a transport or codec that failed there): the owner raises it
        self._stopped: _Stop | _Crash | None = None
        #: the ACK deadline of the request last sent at once
        self._ack_deadline = 0.0
        #: the burst that last sent at once: (task, its schedule points then)
        self._burst: tuple[Any, int | None] | None = None

    def _new_burst(self) -> bool:
        """True (and remember it) if this submit starts a new burst (see the module
        docstring)."""
        task = trio.lowlevel.current_task()
        points = _schedule_points(task)
        burst = self._burst
        if burst is not None and (points is None or (burst[0] is task and burst[1] == points)):
            return False
        self._burst = (task, points)
        return True

    def _send_at_once(self, session: Session, request: Request, callback: Callback | None,
                      now: float, reading: bool) -> str | None:
        """Submit ``request`` and send its frame at once, its tracking started after the
        send (``Session._admit`` / ``_track``): the first submit of a burst, with the owner
        parked and nothing waiting to go before it. Returns its cid, or None when it cannot
        go this way (the caller submits it the usual way). The caller has checked that the
        owner is parked with a nowait send and that no frame waits in ``_unsent``."""
        send_now, scope = self._send_now, self._wait_scope
        assert send_now is not None and scope is not None  # the caller checked
        burst = self._burst
        if not self._new_burst():
            return None
        try:
            admitted = session._admit(request)
        except BaseException:
            if session.has_events:  # a ConnectionBusy: the owner dispatches it
                self._cancel_wait()
            raise
        if admitted is None:
            self._burst = burst  # not sent: the usual path may still start the burst
            return None
        frame: bytes | None = None
        sent = 0
        try:
            try:
                frame = self._codec.encode(admitted)
            except LocalProtocolError:
                self._encode_each([admitted])  # logs why (the session resends it)
            except Exception as exc:
                self._stopped = _Crash("the codec", exc)
            else:
                sent = send_now([frame])
        except TransportClosed:
            pass  # the owner learns of it on its next send or receive
        except Exception as exc:
            self._stopped = _Crash("the transport", exc)
        finally:
            session._track(admitted, callback, now)
        if self._stopped is not None:
            self._cancel_wait()  # the owner ends the session with it
        elif frame is not None and not sent:
            self._unsent.append(frame)
            self._cancel_wait()
        else:
            self._sent_now = reading
            self._ack_deadline = now + self._first_wait
            if not reading:
                self._arm(scope)
        return admitted.cid

    def _flush(self, session: Session, now: float, *, reading: bool = False) -> None:
        """After a submit: send its frames at once (the first submit of a burst) or leave
        them to the owner and wake it. ``reading``: the caller goes on to
        :meth:`_read_now`, which sees to the owner's deadline after it has read."""
        scope = self._wait_scope
        if scope is None:
            # the owner is running, or about to: it sends on its next pass; but a long
            # burst sends its frames in slices while it goes on (see _send_slice)
            if (self._send_now is not None and not self._unsent
                    and session.pending_output >= _SLICE):
                self._send_slice(session)
            return
        send_now = self._send_now
        if send_now is not None and not self._unsent and self._new_burst():
            try:
                frames = self._frames(session)
            except _Crash as crash:  # the codec failed: the owner ends the session
                self._stopped = self._stopped or crash
                self._cancel_wait()
                return
            if frames:
                if not self._send_or_leave(send_now, frames):
                    self._cancel_wait()
                    return
                self._sent_now = reading
                # the request's ACK timer may fall before the deadline the owner waits
                # for (_read_now sees to it after reading, when the ACK may be in)
                self._ack_deadline = now + self._first_wait
                if not reading:
                    self._arm(scope)
            if not session.has_events:
                return
        self._cancel_wait()

    def _send_slice(self, session: Session) -> None:
        """Send what a burst queued so far, from the submitting task, while the owner
        (woken, not yet run) is still parked in its receive: the exchange starts on
        these frames while the rest of the burst is made. The owner sends what the
        transport could not take first, on its next pass."""
        send_now = self._send_now
        assert send_now is not None  # the caller checked
        try:
            frames = self._frames(session)
        except _Crash as crash:  # the codec failed: the owner (woken) ends the session
            self._stopped = self._stopped or crash
            return
        self._send_or_leave(send_now, frames)

    def _send_or_leave(self, send_now: Callable[[list[bytes]], int],
                       frames: list[bytes]) -> bool:
        """Send ``frames`` at once; what the transport cannot take now is left to the owner
        (``_unsent``, which it sends first). True when all went."""
        try:
            sent = send_now(frames)
        except TransportClosed:
            sent = 0  # the owner learns of it on its next send or receive
        except Exception as exc:
            self._stopped = _Crash("the transport", exc)
            return False  # the caller wakes the owner, which ends the session with it
        if sent < len(frames):
            self._unsent += frames[sent:]
            return False
        return True

    def _cancel_wait(self) -> None:
        """Wake the parked owner (cancel its wait). The scope is forgotten at once, so a
        cancelled wait is told from a live one without asking trio (whose
        ``cancel_called`` reads the clock)."""
        scope = self._wait_scope
        if scope is not None:
            self._wait_scope = None
            scope.cancel()

    def _arm(self, scope: trio.CancelScope) -> None:
        """Bring the owner's wait deadline forward to the ACK timer of the request sent
        at once, if earlier (the session's other deadlines are in it already)."""
        if self._ack_deadline < scope.deadline:
            scope.deadline = self._ack_deadline

    def _feed(self, session: Session, frames: list[bytes], now: float, each: bool) -> None:
        """Feed frames to the session; ``each``: dispatch the events of each frame before
        decoding the next (the first answer reaches its handler sooner; a big batch is
        cheaper dispatched at the end, by the caller). A handler's stop raises
        :class:`_Stop` once every frame is fed, with what the session reported since."""
        if not each:
            try:
                session.receive_frames(frames, now)
            except SessionClosed:
                pass  # a frame failed the session; the rest are moot
            return
        receive = session.receive_data
        i = 0
        try:
            for i, frame in enumerate(frames):  # noqa: B007 - i is read on a stop
                receive(frame, now)
                if session.has_events:
                    self._dispatch(session.events())
        except SessionClosed:
            pass  # a frame failed the session; the rest are moot
        except _Stop as stop:
            try:
                for frame in frames[i + 1:]:
                    receive(frame, now)
            except SessionClosed:
                pass
            stop.rest = stop.rest + session.events()
            raise

    def _woke(self, session: Session, frames: list[bytes],
              read_more: Callable[[], list[bytes]] | None) -> float:
        """The owner's wait ended: feed what came (and what came meanwhile, read with
        ``read_more``: a transport may hand over the first frame after a wake-up alone, so
        that it reaches its handler sooner). Returns the time it was fed at."""
        self._wait_scope = None
        self._send_now = None
        if self._stopped is not None:  # a submit met what ends the session
            stop, self._stopped = self._stopped, None
            raise stop
        now = self._clock()
        if frames:
            # a few frames: each one's handlers before the next is decoded
            each = self._recorder is None
            self._feed(session, frames, now, each and len(frames) <= _DISPATCH_EACH)
            if read_more is not None:
                try:
                    more = read_more()
                except TransportClosed:
                    raise
                except Exception as exc:
                    raise _Crash("the transport", exc) from exc
                if more:
                    self._feed(session, more, now, each and len(more) <= _DISPATCH_EACH)
        return now

    def _read_now(self) -> None:
        """After a submit sent at once: hand the answers already there to the processor."""
        self._sent_now = False
        receive_now = self._receive_now
        scope = self._wait_scope
        if receive_now is None or scope is None:
            return
        session = self._session
        try:
            frames = receive_now()
        except TransportClosed:
            frames = []  # the transport keeps it: the owner's receive reports it
        except Exception as exc:
            self._stopped = _Crash("the transport", exc)
            self._cancel_wait()
            return
        if not frames:
            self._arm(scope)  # the request's ACK timer
            return
        try:
            self._feed(session, frames, trio.current_time(), True)
        except _Stop as stop:
            self._stopped = stop
        self._bump()
        # what the session now wants to send or report is the owner's to do
        try:
            out = self._frames(session)
        except _Crash as crash:
            self._stopped, out = self._stopped or crash, []
        if (out or self._stopped is not None or session.has_events
                or session.state in CLOSED_STATES):
            self._unsent += out
            self._cancel_wait()
        else:  # the session's next deadline, now that the ACK may be in
            deadline = session.next_deadline()
            if deadline is not None and deadline < scope.deadline:
                scope.deadline = deadline
