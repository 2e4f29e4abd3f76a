"""Event-id sequencing: resume, replay, gaps, duplicates and reused ids (the Lime model).

Event ids rise monotonically through a run of the exchange, with gaps (session-level
messages consume ids without reaching the client). The sequencer decides, for each inbound
event, whether to deliver it now, hold it, drop it as a repeat of an event already
delivered, or refuse it as a violation, so that the processor sees events in strictly
increasing id order, never twice, and never loses one in silence.

An event at or below the cursor is a repeat only if it is one: the sequencer remembers the
last ``window`` events delivered, and a live event whose id it delivered with other
content, or whose id it never delivered, is a violation (ids going backwards, ids
restarting within a run, one absurd id followed by normal ones). A replayed event at or
below the cursor that it no longer remembers is taken as a repeat: the exchange replays
what it was asked for.

Resume tokens: ``0`` goes on from the exchange's current position without
replay; ``1`` replays the whole session; ``N`` replays from ``N`` on
(resumes after ``N-1``). While a replay runs, live events are held (bounded)
and handed back, in id order, when the exchange reports the replay complete.

A new run of the exchange starts a new event stream: its first event sets the cursor
(:meth:`Sequencer.new_run`), whether its ids go on from the old run's or start again.
"""

from __future__ import annotations

import enum
import heapq
from collections import deque
from collections.abc import Callable

from ._config import GapPolicy

__all__ = ["Sequencer", "Verdict"]


class Verdict(enum.Enum):
    DELIVER = "deliver"
    DUPLICATE = "duplicate"
    HELD = "held"
    #: not deliverable and not a repeat: :attr:`Sequencer.problem` says why
    VIOLATION = "violation"


class Sequencer:
    def __init__(self, gap_policy: GapPolicy, max_held: int, last_delivered: int = 0, *,
                 window: int = 1024,
                 same: Callable[[object, object], bool] | None = None) -> None:
        self.gap_policy = gap_policy
        self.max_held = max_held
        #: highest event id handed to the processor
        self.last = last_delivered
        #: a replay (resume or gap fill) is running
        self.replaying = False
        #: a new run began and none of its events came yet: the next one sets the cursor
        self.fresh = False
        #: why the last VIOLATION verdict was given
        self.problem = ""
        self._held: list[tuple[int, int, object]] = []
        self._seq = 0
        self._window = window
        self._same = same or _equal
        #: the last ``window`` events delivered, by id (to tell a repeat from a reused id)
        self._recent: dict[int, object] = {}
        self._recent_ids: deque[int] = deque()
        # statistics
        self.duplicates = 0
        self.gaps = 0
        self.delivered = 0

    def start(self, resume_token: int, exchange_last: int) -> str | None:
        """Set the position after login: ``resume_token`` as sent, ``exchange_last`` as
        answered. Returns what is wrong when the exchange is behind what was delivered
        in this run (its ids went backwards), else None."""
        problem = None
        if self.fresh:  # a new run and none of its events seen: the exchange's position
            self.new_run(min(self.last, exchange_last), replaying=resume_token != 0)
            return None
        if exchange_last < self.last:
            problem = (f"the exchange's newest event id {exchange_last} is below the last "
                       f"event delivered ({self.last}): its event ids went backwards")
        if resume_token == 0:
            self.last = max(self.last, exchange_last)
            self.replaying = False
        else:
            # never below what this session (or the one it took over from) delivered:
            # replayed events up to there are repeats and are dropped
            self.last = max(self.last, min(resume_token - 1, exchange_last))
            self.replaying = True
        return problem

    def new_run(self, exchange_last: int | None = None, *, replaying: bool = False) -> None:
        """The exchange began a new run: a new event stream. Its first event sets the
        cursor; at a login, ``exchange_last`` (its newest id) sets it at once, and
        ``replaying`` says a replay was asked for."""
        self._recent.clear()
        self._recent_ids.clear()
        if exchange_last is None:
            self.fresh = True
        else:
            self.last = exchange_last
            self.fresh = False
            self.replaying = replaying

    def take_next(self, event_id: int, item: object) -> bool:
        """The common case, cheaply: deliver ``event_id`` if it is the next id and no
        replay runs (True). Anything else (False) must go through :meth:`offer`."""
        if event_id == self.last + 1 and not self.replaying and not self.fresh:
            self.last = event_id
            self.delivered += 1
            self._remember(event_id, item)
            return True
        return False

    def _remember(self, event_id: int, item: object) -> None:
        self._recent[event_id] = item
        ids = self._recent_ids
        ids.append(event_id)
        if len(ids) > self._window:
            del self._recent[ids.popleft()]

    def offer(self, event_id: int, is_replay: bool, item: object) -> Verdict:
        """Judge one inbound event; ``item`` is what to hand back later if it is held."""
        last = self.last
        if self.fresh and not is_replay:
            self.fresh = False
            last = self.last = event_id - 1
        if event_id <= last:
            return self._repeat(event_id, is_replay, item)
        if self.replaying:
            if is_replay:
                if event_id > last + 1:
                    self.gaps += 1
                return self._deliver(event_id, item)
            return self._hold(event_id, item)
        if event_id != last + 1:
            self.gaps += 1
            if self.gap_policy is GapPolicy.REQUEST and not is_replay:
                self.replaying = True
                return self._hold(event_id, item)
        return self._deliver(event_id, item)

    def _deliver(self, event_id: int, item: object) -> Verdict:
        self.last = event_id
        self.delivered += 1
        self._remember(event_id, item)
        return Verdict.DELIVER

    def _repeat(self, event_id: int, is_replay: bool, item: object) -> Verdict:
        """An event at or below the cursor: a repeat (dropped) or a violation."""
        seen = self._recent.get(event_id)
        if seen is not None:
            if self._same(seen, item):
                self.duplicates += 1
                return Verdict.DUPLICATE
            self.problem = (f"event id {event_id} was delivered before with other content "
                            f"(the last event delivered is {self.last})")
            return Verdict.VIOLATION
        if is_replay:
            self.duplicates += 1
            return Verdict.DUPLICATE
        self.problem = (f"event id {event_id} is not above the last event delivered "
                        f"({self.last}) and repeats no event delivered: event ids went "
                        f"backwards")
        return Verdict.VIOLATION

    def _hold(self, event_id: int, item: object) -> Verdict:
        if len(self._held) >= self.max_held:
            raise OverflowError(
                f"more than {self.max_held} live events held while a replay runs "
                f"(max_replay_buffer)")
        self._seq += 1
        heapq.heappush(self._held, (event_id, self._seq, item))
        return Verdict.HELD

    @property
    def held(self) -> int:
        return len(self._held)

    def complete(self) -> list[object]:
        """The replay is over (or abandoned): hand back the held events in id order, to be
        offered again (repeats of replayed events are then dropped, gaps counted)."""
        self.replaying = False
        out = [item for _, _, item in sorted(self._held)]
        self._held.clear()
        return out


def _equal(a: object, b: object) -> bool:
    return a == b
