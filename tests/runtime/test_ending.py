"""How a client ends: one report per failure, and one clear exception when it fails.

Each failure reaches ``on_connection_failed`` exactly once, with its reason (a refused
connect was reported a second time when the session was deactivated; the give-up of a
reconnect policy too). Anything that fails inside the owner task (the journal, the
transport, the connector) ends ``open_session`` and ``Context`` with one
:class:`SessionFailedError` naming it, never a raw exception or an ``ExceptionGroup``,
and never as "session cancelled". Every test runs through ``open_session`` and through
``Context`` (the ``driver`` fixture) on the memory adapter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sessionkit import (
    GetBookState,
    Heartbeat,
    JsonCodec,
    LimitOrder,
    SessionClosedError,
    SessionConfig,
)
from sessionkit.runtime import (
    ClientState,
    ConnectionFailedError,
    ReconnectPolicy,
    SessionFailedError,
)
from sessionkit.store import JournalWriteError, MemoryStore

BIG = SessionConfig(ack_timeout=1000.0, ack_timeout_max=1000.0, cid_prefix="c")
NO_JITTER = dict(initial=0.1, factor=2.0, max=5.0, jitter=0.0)


def resting() -> LimitOrder:
    return LimitOrder(contract_id=1, side="buy", size=1, price_in_cents=10)


# -- one report per failure --------------------------------------------------------------


def test_a_refused_connect_is_reported_once(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        h.emb.refusals = 1
        with pytest.raises(ConnectionFailedError) as info:
            await h.open()
        assert h.log.of("connection_failed") == [("connection_failed", info.value.reason)]
        assert "connection refused (test)" in info.value.reason

    driver.run(scenario)


def test_each_refused_attempt_is_reported_once_and_the_last_says_it_gave_up(
        driver: Any) -> None:
    async def scenario(h: Any) -> None:
        h.emb.refusals = 10
        with pytest.raises(ConnectionFailedError) as info:
            await h.open(reconnect=ReconnectPolicy(max_attempts=2, **NO_JITTER))
        reports = [r for _, r in h.log.of("connection_failed")]
        assert len(reports) == h.emb.attempts == 3  # the first attempt and two retries
        assert reports[-1] == info.value.reason
        assert reports[-1].endswith("gave up after 2 reconnect attempts")
        assert not any("gave up" in r for r in reports[:-1])
        assert len(h.log.of("reconnecting")) == 2

    driver.run(scenario)


def test_a_lost_connection_and_a_give_up_are_reported_once_each(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=BIG, reconnect=ReconnectPolicy(max_attempts=2, **NO_JITTER))
        order = await h.submit(resting())
        await h.wait_for(lambda log: len(log.of("report")) == 1)

        def outage() -> None:
            h.emb.refusals = 10
            h.emb.drop("cable cut")

        await h.in_loop(outage)
        err = await h.finish()
        assert isinstance(err, ConnectionFailedError)
        reports = [r for _, r in h.log.of("connection_failed")]
        # the cut, then each of the two refused reconnects (the last one gives up)
        assert reports[0] == "cable cut" and len(reports) == 3
        assert reports[-1] == err.reason
        assert h.log.finished()[order][0] == "unknown"  # reported once too

    driver.run(scenario)


def test_ending_while_waiting_to_reconnect_reports_the_failure_once(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=BIG, reconnect=ReconnectPolicy(initial=100, max=100,
                                                           jitter=0.0))
        await h.in_loop(lambda: h.emb.drop("cable cut"))
        await h.wait_for(lambda log: bool(log.of("reconnecting")))
        await h.cancel()
        reports = [r for _, r in h.log.of("connection_failed")]
        # one report per connection (attempt): the cut one, and any attempt the cancel
        # cut short (none in virtual time; Context's clock may have let the backoff pass)
        assert reports[0] == "cable cut" and len(reports) == h.emb.attempts
        if h.kind == "async":
            assert reports == ["cable cut"]

    driver.run(scenario)


def test_a_login_timeout_reports_each_refused_attempt_once(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        h.emb.refusals = 1000
        with pytest.raises(ConnectionFailedError, match="not logged in within 3"):
            await h.open(login_timeout=3, reconnect=ReconnectPolicy(**NO_JITTER))
        assert len(h.log.of("connection_failed")) == h.emb.attempts

    driver.run(scenario)


# -- one exception when the owner task fails -------------------------------------------------


class FullDisk(MemoryStore):
    """A journal whose commits fail once ``full`` is set, as a full disk makes them."""

    full = False

    def commit(self) -> None:
        if self.full and self.pending:
            raise JournalWriteError(None, "commit failed and was rolled back: database or "
                                          "disk is full")
        super().commit()


def test_a_journal_that_fails_ends_the_session_with_one_error_naming_it(driver: Any) -> None:
    store = FullDisk("acct", "2026-05-04")

    async def scenario(h: Any) -> None:
        await h.open(config=BIG, store=store)
        await h.submit(resting())
        await h.wait_for(lambda log: len(log.of("report")) == 1)
        store.full = True
        await h.submit(GetBookState(contract_id=1))
        err = await h.finish()
        assert type(err) is SessionFailedError  # one error, not a group
        assert err.reason.startswith("the journal failed: JournalWriteError")
        assert "disk is full" in err.reason
        assert isinstance(err.__cause__, JournalWriteError)
        assert await h.state() is ClientState.FAILED
        with pytest.raises(SessionClosedError, match="the journal failed"):
            await h.submit(GetBookState(contract_id=1))

    driver.run(scenario)


class BrokenTransport:
    """A transport whose receive fails with a bug of its own once ``broken`` is set."""

    def __init__(self, inner: Any, owner: Any) -> None:
        self.inner, self.owner = inner, owner

    async def send_frames(self, frames: list[bytes]) -> None:
        await self.inner.send_frames(frames)

    async def receive_frames(self) -> list[bytes]:
        frames = await self.inner.receive_frames()
        if self.owner.broken:
            raise RuntimeError("transport bug: bad buffer offset")
        return frames  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_transport_that_raises_ends_the_session_with_one_error_naming_it(
        driver: Any) -> None:
    async def scenario(h: Any) -> None:
        connect = h.emb.connect
        h.emb.broken = False

        async def broken_connect() -> Any:
            return BrokenTransport(await connect(), h.emb)

        h.emb.connect = broken_connect
        await h.open(config=BIG)
        order = await h.submit(resting())
        await h.wait_for(lambda log: len(log.of("report")) == 1)
        h.emb.broken = True
        try:  # the next send fails: this one's, or (on a thread) one the owner made first
            await h.submit(GetBookState(contract_id=1))
        except SessionClosedError as closed:
            assert "the transport failed" in closed.reason
        err = await h.finish()
        assert type(err) is SessionFailedError
        assert err.reason == "the transport failed: RuntimeError: transport bug: bad buffer offset"
        assert isinstance(err.__cause__, RuntimeError)
        # not "session cancelled": the requests not final say why
        outcome, reason = h.log.finished()[order]
        assert outcome == "unknown" and reason == f"session failed: {err.reason}"
        assert h.log.of("connection_failed") == [("connection_failed",
                                                  f"session failed: {err.reason}")]

    driver.run(scenario)


def test_a_connector_that_raises_ends_the_session_with_one_error_naming_it(
        driver: Any) -> None:
    async def scenario(h: Any) -> None:
        async def connect() -> Any:
            raise OSError(22, "Invalid argument")

        h.emb.connect = connect
        with pytest.raises(SessionFailedError) as info:
            await h.open()
        assert type(info.value) is SessionFailedError
        assert info.value.reason == "the connector failed: OSError: [Errno 22] Invalid argument"

    driver.run(scenario)


DISK_FULL = textwrap.dedent("""
    import json, resource, signal, sys
    import trio
    from sessionkit import GetBookState, MessageProcessor, SessionConfig
    from sessionkit.runtime import SessionFailedError, open_session, serve_reference_exchange
    from sessionkit.runtime.memory import adapter
    from sessionkit.store import SqliteStore
    from sessionkit.testing import ReferenceExchange

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)

    async def main():
        store = SqliteStore(sys.argv[1], account="acct", session_id="day")
        cfg = SessionConfig(cid_prefix="c", ack_timeout=1000.0, ack_timeout_max=1000.0)
        async with adapter.serve() as ep, trio.open_nursery() as nursery:
            await nursery.start(serve_reference_exchange, ep, ReferenceExchange(),
                                __import__("sessionkit").JsonCodec())
            try:
                async with open_session(ep.connector(), MessageProcessor(), account="acct",
                                        config=cfg, store=store) as client:
                    # no file may grow from now on: the next commit meets a full disk
                    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
                    resource.setrlimit(resource.RLIMIT_FSIZE, (0, limit))
                    for _ in range(10_000):
                        await client.submit(GetBookState(contract_id=1))
                        await trio.sleep(0.001)
                    out = {"raised": None}
            except BaseException as exc:
                out = {"raised": type(exc).__name__, "reason": getattr(exc, "reason", ""),
                       "cause": type(exc.__cause__).__name__}
            nursery.cancel_scope.cancel()
        print(json.dumps(out))

    trio.run(main)
""")


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE as a full disk: Linux")
def test_a_real_full_disk_under_open_session_is_one_error_naming_the_journal(
        tmp_path: Path) -> None:
    """A real SQLite journal on a disk that fills up (the process may not grow a file:
    RLIMIT_FSIZE, so SQLite's writes fail as on a full disk): one SessionFailedError."""
    proc = subprocess.run([sys.executable, "-c", DISK_FULL, str(tmp_path / "j.db")],
                          capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["raised"] == "SessionFailedError", out
    assert out["reason"].startswith("the journal failed: JournalWriteError: journal "), out
    assert str(tmp_path / "j.db") in out["reason"]
    assert out["cause"] == "JournalWriteError"


class BadCodec(JsonCodec):
    """A codec with a bug: encoding a heartbeat raises once ``broken`` is set."""

    broken = False

    def encode(self, msg: Any) -> bytes:
        if self.broken and isinstance(msg, Heartbeat):
            raise RuntimeError("codec bug: no encoder for heartbeat")
        return super().encode(msg)


def test_a_codec_that_raises_ends_the_session_with_one_error_naming_it(driver: Any) -> None:
    codec = BadCodec()

    async def scenario(h: Any) -> None:
        await h.open(config=SessionConfig(heartbeat_interval=1.0, cid_prefix="c"), codec=codec)
        codec.broken = True  # the client's next idle heartbeat cannot be encoded
        err = await h.finish()
        assert type(err) is SessionFailedError
        assert err.reason == ("the codec failed: RuntimeError: codec bug: no encoder for "
                              "heartbeat")
        assert await h.state() is ClientState.FAILED

    driver.run(scenario)


class BrokenNowait(BrokenTransport):
    """A :class:`~sessionkit.runtime.NonBlockingTransport` whose synchronous send fails with
    a bug of its own once ``send_broken`` is set (on the submitting task's side)."""

    def send_frames_nowait(self, frames: list[bytes]) -> int:
        if self.owner.send_broken:
            raise RuntimeError("transport bug: send buffer gone")
        return self.inner.send_frames_nowait(frames)  # type: ignore[no-any-return]


def test_a_transport_that_raises_in_a_submit_ends_the_session_not_the_submit(
        driver: Any) -> None:
    async def scenario(h: Any) -> None:
        connect = h.emb.connect
        h.emb.broken = h.emb.send_broken = False

        async def broken_connect() -> Any:
            return BrokenNowait(await connect(), h.emb)

        h.emb.connect = broken_connect
        await h.open(config=BIG)
        await h.submit(GetBookState(contract_id=1))
        await h.wait_for(lambda log: len(log.of("finished")) == 1)
        await h.sleep(1.0)  # the owner parks: the next submit sends its frame itself
        h.emb.send_broken = True
        cid = await h.submit(GetBookState(contract_id=2))  # returns its cid
        err = await h.finish()
        assert type(err) is SessionFailedError
        assert err.reason == "the transport failed: RuntimeError: transport bug: send buffer gone"
        outcome, reason = h.log.finished()[cid]  # reported once, not known to be sent
        assert outcome == "unknown" and reason == f"session failed: {err.reason}"

    driver.run(scenario)
