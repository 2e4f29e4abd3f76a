"""asyncio's virtual time for the conformance suite (``VirtualTimeLoop``), on its own:
timers fire in virtual order and at once, real I/O is never skipped, the threshold holds
while frames are in flight, and ``wait_all_tasks_blocked`` wakes before the clock jumps."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from sessionkit.conformance._clocks import ScenarioLoop
from sessionkit.conformance._inflight import BUSY_THRESHOLD, InFlight
from sessionkit.conformance._virtual_time import VirtualTimeLoop, wait_all_tasks_blocked


def run(loop: VirtualTimeLoop, fn: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return loop.run_until_complete(fn())
    finally:
        loop.close()


def send_later(sock: socket.socket, seconds: float, data: bytes = b"x") -> threading.Thread:
    """A thread that writes ``data`` to ``sock`` after ``seconds`` of real time."""
    def go() -> None:
        time.sleep(seconds)
        sock.send(data)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def test_timers_fire_in_virtual_order_without_real_waiting() -> None:
    loop = VirtualTimeLoop()
    seen: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        seen.append((name, asyncio.get_running_loop().time()))

    async def main() -> None:
        await asyncio.gather(sleeper("c", 3600), sleeper("a", 5), sleeper("b", 60),
                             sleeper("a2", 5))

    start = time.perf_counter()
    run(loop, main)
    assert seen == [("a", 5.0), ("a2", 5.0), ("b", 60.0), ("c", 3600.0)]
    assert time.perf_counter() - start < 5  # an hour of timers, in (far) less real time


def test_anyio_runs_on_it_with_virtual_deadlines() -> None:
    """What the runner does: anyio.run on asyncio with this loop; anyio's clock, sleeps and
    cancel scopes are all on virtual time."""
    loop = VirtualTimeLoop()
    got: dict[str, Any] = {}

    async def main() -> None:
        with anyio.move_on_after(30) as scope:
            await anyio.sleep(86400)
        got["cancelled"] = scope.cancelled_caught
        got["now"] = anyio.current_time()
        with pytest.raises(TimeoutError):
            with anyio.fail_after(2):
                await anyio.Event().wait()
        got["later"] = anyio.current_time()

    anyio.run(main, backend="asyncio", backend_options={"loop_factory": lambda: loop})
    assert got == {"cancelled": True, "now": 30.0, "later": 32.0}


def test_real_io_is_not_skipped_when_no_timer_is_pending() -> None:
    """No timer: the loop waits for the socket as any loop does (threshold 0 or not)."""
    loop = VirtualTimeLoop(0.0)
    a, b = socket.socketpair()
    a.setblocking(False)

    async def main() -> bytes:
        send_later(b, 0.2, b"hello")
        return await asyncio.get_running_loop().sock_recv(a, 10)

    try:
        assert run(loop, main) == b"hello"
    finally:
        a.close()
        b.close()


def test_real_io_arriving_within_the_threshold_beats_a_timer() -> None:
    """A timeout pending: I/O that comes within the threshold arrives before virtual time
    jumps to the timeout; with no I/O the jump comes after the threshold, once."""
    loop = VirtualTimeLoop(1.5)
    a, b = socket.socketpair()
    a.setblocking(False)

    async def main() -> tuple[bytes, float, float]:
        aio = asyncio.get_running_loop()
        send_later(b, 0.1, b"data")
        data = await asyncio.wait_for(aio.sock_recv(a, 10), 5)
        at = aio.time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(aio.sock_recv(a, 10), 7)
        return data, at, aio.time()

    try:
        data, at, later = run(loop, main)
    finally:
        a.close()
        b.close()
    assert data == b"data" and at == 0.0  # no jump while the data was on its way
    assert later == 7.0


def test_the_threshold_is_raised_while_frames_are_in_flight() -> None:
    """InFlight raises the loop's threshold while a frame travels: a frame that takes longer
    than the idle threshold to arrive still beats a timer; once read it falls back."""
    loop = VirtualTimeLoop(0.05)
    inflight = InFlight(loop)
    assert inflight.clock is loop
    a, b = socket.socketpair()
    a.setblocking(False)

    async def main() -> tuple[bytes, float]:
        aio = asyncio.get_running_loop()
        inflight.client_sent(1)
        assert loop.autojump_threshold == BUSY_THRESHOLD
        send_later(b, 0.4, b"frame")  # eight times the idle threshold
        data = await asyncio.wait_for(aio.sock_recv(a, 10), 1)
        inflight.exchange_read(1)
        return data, aio.time()

    try:
        data, at = run(loop, main)
    finally:
        a.close()
        b.close()
    assert data == b"frame" and at == 0.0
    assert loop.autojump_threshold == 0.05
    inflight.hold(True)  # a network fault holds frames on purpose: time must jump
    inflight.client_sent(1)
    assert loop.autojump_threshold == 0.05


def test_wait_all_tasks_blocked_wakes_when_all_wait_and_before_the_clock_jumps() -> None:
    loop = VirtualTimeLoop()
    steps: list[int] = []

    async def busy() -> None:
        for i in range(20):
            steps.append(i)
            await asyncio.sleep(0)
        await asyncio.sleep(10)
        steps.append(99)

    async def main() -> tuple[list[int], float, list[int]]:
        task = asyncio.ensure_future(busy())
        await wait_all_tasks_blocked()
        settled = (list(steps), asyncio.get_running_loop().time())
        await task
        return settled[0], settled[1], steps

    before, at, after = run(loop, main)
    assert before == list(range(20)) and at == 0.0
    assert after[-1] == 99 and loop.time() == 10.0


def test_wait_all_tasks_blocked_with_a_cushion_waits_for_real_io() -> None:
    """A cushion: every task must have waited that long with no I/O arriving; I/O that
    comes sooner is handled first."""
    loop = VirtualTimeLoop(10.0)
    a, b = socket.socketpair()
    a.setblocking(False)
    got: list[bytes] = []

    async def reader() -> None:
        got.append(await asyncio.get_running_loop().sock_recv(a, 10))

    async def main() -> list[bytes]:
        task = asyncio.ensure_future(reader())
        send_later(b, 0.1, b"late")
        await wait_all_tasks_blocked(0.5)
        task.cancel()
        return list(got)

    try:
        assert run(loop, main) == [b"late"]
    finally:
        a.close()
        b.close()


def test_wait_all_tasks_blocked_needs_the_virtual_loop() -> None:
    async def main() -> None:
        await wait_all_tasks_blocked()

    with pytest.raises(RuntimeError, match="needs a VirtualTimeLoop"):
        asyncio.run(main())


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="autojump_threshold must be >= 0"):
        VirtualTimeLoop(-1)
    loop = VirtualTimeLoop()
    try:
        with pytest.raises(ValueError, match="time cannot go back"):
            loop.jump(-1)
    finally:
        loop.close()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_scenario_loop_settles_and_is_reached_from_a_thread(backend: str) -> None:
    """The runner's view of either backend: virtual sleeps, settle, call_from_thread."""
    sl = ScenarioLoop(backend, "virtual:0.01")
    assert sl.autojump is not None and sl.autojump.autojump_threshold == 0.01
    got: dict[str, Any] = {}

    async def main() -> None:
        sl.bind()
        done = anyio.Event()
        threading.Timer(0.05, sl.call_from_thread, args=(done.set,)).start()
        await done.wait()
        await anyio.sleep(100)
        got["now"] = anyio.current_time()
        await sl.settle(0.0)

    sl.run(main)
    assert got["now"] >= 100.0
    assert sl.call_from_thread(lambda: None) is False  # the run is over


def test_a_real_time_scenario_loop_does_not_jump() -> None:
    sl = ScenarioLoop("asyncio", "real")
    assert sl.autojump is None

    async def main() -> float:
        start = anyio.current_time()
        await anyio.sleep(0.05)
        await sl.settle(0.01)
        return anyio.current_time() - start

    took: list[float] = []

    async def record() -> None:
        took.append(await main())

    sl.run(record)
    assert took[0] >= 0.05
