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
below the cursor whose id lies within what is remembered but was never delivered fills a
gap skipped earlier: it is delivered late (its ``replay`` flag set). One older than what
is remembered is taken as a repeat: the exchange replays what it was asked for.

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
from collections.abc import Callable, Iterable

from ._config import GapPolicy

__all__ = ["Sequencer", "Verdict"]

#: the floor of a run seen whose delivered events are not remembered: above any event id
_UNKNOWN = 1 << 63


class Verdict(enum.Enum):
    """What :meth:`Sequencer.offer` decided about one inbound event: deliver it now, drop
    it as a repeat of one delivered, hold it until the events before it came, or refuse
    it."""

    DELIVER = "deliver"
    DUPLICATE = "duplicate"
    HELD = "held"
    #: not deliverable and not a repeat: :attr:`Sequencer.problem` says why
    VIOLATION = "violation"


class Sequencer:
    """Judges inbound event ids. ``run`` names the current run's stream; events are
    remembered by (run, id), so a new run may start its ids again."""

    def __init__(self, gap_policy: GapPolicy, max_held: int, last_delivered: int = 0, *,
                 run: str | None = None, window: int = 1024,
                 same: Callable[[object, object], bool] | None = None,
                 recent: Iterable[tuple[str | None, int, object]] = (),
                 old_runs: Iterable[str] = (),
                 floors: Iterable[tuple[str | None, int]] = ()) -> None:
        self.gap_policy = gap_policy
        self.max_held = max_held
        #: highest event id handed to the processor
        self.last = last_delivered
        #: the run whose event stream the cursor is in
        self.run = run
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
        #: the last ``window`` events delivered, by (run, id): tells a repeat from a reused
        #: id, and a gap's late event from a repeat
        self._recent: dict[tuple[str | None, int], object] = {}
        self._recent_keys: deque[tuple[str | None, int]] = deque()
        #: per run: every event of it delivered above this id is remembered (one that is
        #: not was never delivered); below it nothing is known. A run not here was never
        #: seen: nothing of it was delivered
        self._floor: dict[str | None, int] = dict.fromkeys(old_runs, _UNKNOWN)
        self._floor[run] = last_delivered
        self._floor.update(floors)
        for item_run, event_id, item in recent:
            self._remember(item_run, event_id, item)
        # statistics
        self.duplicates = 0
        self.gaps = 0
        self.delivered = 0

    def floors(self) -> tuple[tuple[str | None, int], ...]:
        """Per run, the id above which every event delivered is remembered (see
        ``Handoff.recent_floors``)."""
        return tuple(self._floor.items())

    def start(self, resume_token: int, exchange_last: int) -> str | None:
        """Set the position after login: ``resume_token`` as sent, ``exchange_last`` as
        answered. Returns what is wrong when the exchange is behind what was delivered
        in this run (its ids went backwards), else None."""
        problem = None
        if self.fresh:  # a new run and none of its events seen: the exchange's position
            self.new_run(self.run, min(self.last, exchange_last),
                         replaying=resume_token != 0)
            return None
        if exchange_last < self.last:
            problem = (f"the exchange's newest event id {exchange_last} is below the last "
                       f"event delivered ({self.last}): its event ids went backwards")
        before = self.last
        if resume_token == 0:
            self.last = max(self.last, exchange_last)
            self.replaying = False
        else:
            # never below what this session (or the one it took over from) delivered:
            # replayed events up to there are repeats and are dropped
            self.last = max(self.last, min(resume_token - 1, exchange_last))
            self.replaying = True
        if self.last > before:  # not delivered, and not wanted: a replay of them repeats
            self._floor[self.run] = self.last
        return problem

    def new_run(self, run: str | None, exchange_last: int | None = None, *,
                replaying: bool = False) -> None:
        """The exchange began a new run: a new event stream. Its first event sets the
        cursor; at a login, ``exchange_last`` (its newest id) sets it at once, and
        ``replaying`` says a replay was asked for."""
        self.run = run
        if exchange_last is None:
            self.fresh = True
        else:
            self.last = exchange_last
            self._floor[run] = 0  # nothing of the new run was delivered
            self.fresh = False
            self.replaying = replaying

    def expect_run(self, run: str) -> None:
        """A new run was announced (at a login) and its change waits for a replay: none of
        its events was delivered, so any the replay brings is new to the processor."""
        self._floor.setdefault(run, 0)

    def switch_run(self, run: str | None) -> None:
        """The current run is now ``run``, its ids going on from the cursor's (a run id
        learnt at the first login, or a run change that waited for a replay)."""
        if run != self.run:
            self._floor.setdefault(run, self._floor.pop(self.run, self.last)
                                   if self.run is None else self.last)
            self.run = run

    def take_next(self, event_id: int, item: object) -> bool:
        """The common case, cheaply: deliver ``event_id`` of the current run if it is the
        next id and no replay runs (True). Anything else (False) must go through
        :meth:`offer`."""
        if event_id == self.last + 1 and not self.replaying and not self.fresh:
            self._deliver(self.run, event_id, item)
            return True
        return False

    def _remember(self, run: str | None, event_id: int, item: object) -> None:
        key = (run, event_id)
        self._recent[key] = item
        keys = self._recent_keys
        keys.append(key)
        if len(keys) > self._window:
            gone = keys.popleft()
            del self._recent[gone]
            if gone[1] > self._floor.get(gone[0], 0):
                self._floor[gone[0]] = gone[1]

    def offer(self, event_id: int, is_replay: bool, item: object,
              run: str | None = None) -> Verdict:
        """Judge one inbound event of ``run`` (None: the current one); ``item`` is what to
        hand back later if it is held."""
        if run is None:
            run = self.run
        if is_replay and (run, event_id) in self._recent:  # replayed, and remembered: a
            return self._repeat(run, event_id, is_replay, item)  # repeat, whatever the cursor
        last = self.last
        if self.fresh and not is_replay:  # a new run's first event sets the cursor; none
            self.fresh = False            # of the run was delivered below it
            last = self.last = event_id - 1
            self._floor.setdefault(run, 0)
        if event_id <= last:
            return self._repeat(run, event_id, is_replay, item)
        if self.replaying:
            if is_replay:
                if event_id > last + 1:
                    self.gaps += 1
                return self._deliver(run, event_id, item)
            return self._hold(event_id, item)
        if event_id != last + 1:
            self.gaps += 1
            if self.gap_policy is GapPolicy.REQUEST and not is_replay:
                self.replaying = True
                return self._hold(event_id, item)
        return self._deliver(run, event_id, item)

    def _deliver(self, run: str | None, event_id: int, item: object) -> Verdict:
        self.last = event_id
        self.delivered += 1
        self._remember(run, event_id, item)
        return Verdict.DELIVER

    def _repeat(self, run: str | None, event_id: int, is_replay: bool,
                item: object) -> Verdict:
        """An event at or below the cursor: a repeat (dropped), a replayed event that fills
        a gap skipped earlier (delivered late), or a violation."""
        seen = self._recent.get((run, event_id))
        if seen is not None:
            if self._same(seen, item):
                self.duplicates += 1
                return Verdict.DUPLICATE
            self.problem = (f"event id {event_id} was delivered before with other content "
                            f"(the last event delivered is {self.last})")
            return Verdict.VIOLATION
        if is_replay:
            if event_id > self._floor.get(run, 0):  # remembered range, never delivered
                self.delivered += 1
                self._remember(run, event_id, item)
                return Verdict.DELIVER
            self.duplicates += 1  # older than what is remembered: taken as a repeat
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

    def recent(self) -> list[tuple[int, object]]:
        """The events remembered, oldest first (for the next session: see ``Handoff``)."""
        return [(key[1], self._recent[key]) for key in self._recent_keys]

    @property
    def held(self) -> int:
        return len(self._held)

    def complete(self) -> list[object]:
        """The replay is over: the held events judged again in id order, as asked for (a
        repeat of a replayed one is dropped; a gap the replay left is not asked for
        again); returns those to deliver."""
        held = sorted(self._held)
        self.release_held()
        return [item for event_id, _, item in held
                if self.offer(event_id, True, item) is Verdict.DELIVER]

    def release_held(self) -> list[object]:
        """The replay is over (or abandoned): the held events in id order, not judged (for
        a caller that judges them itself, with :meth:`offer`, ``is_replay`` True)."""
        self.replaying = False
        out = [item for _, _, item in sorted(self._held)]
        self._held.clear()
        return out


def _equal(a: object, b: object) -> bool:
    return a == b
