"""Event-id sequencing: resume, replay, gaps and duplicates (the Lime model).

Event ids rise monotonically through a session's day, with gaps (session-level
messages consume ids without reaching the client). The sequencer decides, for
each inbound event, whether to deliver it now, hold it, or drop it, so that
the processor sees events in strictly increasing id order and never twice.

Resume tokens: ``0`` goes on from the exchange's current position without
replay; ``1`` replays the whole session; ``N`` replays from ``N`` on
(resumes after ``N-1``). While a replay runs, live events are held (bounded)
and merged in order when the exchange reports the replay complete.
"""

from __future__ import annotations

import enum
import heapq

from ._config import GapPolicy

__all__ = ["Sequencer", "Verdict"]


class Verdict(enum.Enum):
    DELIVER = "deliver"
    DUPLICATE = "duplicate"
    HELD = "held"


class Sequencer:
    def __init__(self, gap_policy: GapPolicy, max_held: int, last_delivered: int = 0) -> None:
        self.gap_policy = gap_policy
        self.max_held = max_held
        #: highest event id handed to the processor
        self.last = last_delivered
        #: a replay (resume or gap fill) is running
        self.replaying = False
        self._held: list[tuple[int, int, object]] = []
        self._seq = 0
        # statistics
        self.duplicates = 0
        self.gaps = 0
        self.delivered = 0

    def start(self, resume_token: int, exchange_last: int) -> None:
        """Set the position after login: ``resume_token`` as sent, ``exchange_last`` as answered."""
        if resume_token == 0:
            self.last = max(self.last, exchange_last)
            self.replaying = False
        else:
            # never below what this session (or the one it took over from) delivered:
            # replayed events up to there are duplicates and are dropped
            self.last = max(self.last, resume_token - 1)
            self.replaying = True

    def take_next(self, event_id: int) -> bool:
        """The common case, cheaply: deliver ``event_id`` if it is the next id and no
        replay runs (True). Anything else (False) must go through :meth:`offer`."""
        if event_id == self.last + 1 and not self.replaying:
            self.last = event_id
            self.delivered += 1
            return True
        return False

    def offer(self, event_id: int, is_replay: bool, item: object) -> Verdict:
        """Judge one inbound event; ``item`` is what to hand back later if it is held."""
        last = self.last
        if event_id <= last:
            self.duplicates += 1
            return Verdict.DUPLICATE
        if self.replaying:
            if is_replay:
                if event_id > last + 1:
                    self.gaps += 1
                self.last = event_id
                self.delivered += 1
                return Verdict.DELIVER
            return self._hold(event_id, item)
        if event_id != last + 1:
            self.gaps += 1
            if self.gap_policy is GapPolicy.REQUEST and not is_replay:
                self.replaying = True
                return self._hold(event_id, item)
        self.last = event_id
        self.delivered += 1
        return Verdict.DELIVER

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
        """The replay is over: release held events in id order, dropping duplicates."""
        self.replaying = False
        out = []
        while self._held:
            event_id, _, item = heapq.heappop(self._held)
            if event_id <= self.last:
                self.duplicates += 1
                continue
            self.last = event_id
            self.delivered += 1
            out.append(item)
        return out
