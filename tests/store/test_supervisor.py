"""The supervisor: N sessions over M worker processes on one PostgreSQL journal (a real
server), re-balanced when a worker dies or joins, nothing lost or done twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sessionkit.store import JournalLockedError, PostgresStore, SessionKey, Supervisor, Worker

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "supervisor_run.py"

#: the sessions' code for the tests below, in a module the worker processes import: each
#: start notes what it found in the journal; a running session records an intent that is
#: committed only when the worker closes its store after stopping it (a release)
_RUN_MODULE = '''
import json, os, time

def run(store, stopping):
    found = sorted(i.key for i in store.intents())
    with open(os.environ["SUPERVISOR_TEST_LOG"], "a") as f:
        f.write(json.dumps([store.key.account, store.incarnation, found]) + "\\n")
    store.record_intent(f"held-by-{store.incarnation}", "limit_order", "h")
    stopping.wait()

def done_at_once(store, stopping):
    return
'''


def _run_tool(*args: str, timeout: float = 240) -> dict:
    proc = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, (result, proc.stderr[-3000:])
    return result


def test_a_killed_worker_s_sessions_move_to_the_live_ones(postgres_url, tmp_path):
    """10 sessions over 3 workers, the one holding the most killed (SIGKILL) mid-run: its
    sessions are taken over and resumed from the journal; every session ends owned by a
    live worker, no order lost, none executed or handled twice."""
    r = _run_tool("--sessions", "10", "--workers", "3", "--orders", "30", "--pg-url",
                  postgres_url, "--lease-ttl", "1.0", "--workdir", str(tmp_path))
    assert r["killed"] == 1 and r["orphaned"] >= 1
    assert r["takeovers"] == r["orphaned"]
    assert r["lost"] == 0 and r["doubled"] == 0 and r["owners_interleaved"] == 0
    assert r["final_states"] == r["orders"] == 300
    assert r["owned_by_live"] == 10
    assert len(r["owners_at_end"]) == 2 and sum(r["owners_at_end"].values()) == 10


def test_a_paused_worker_s_sessions_move_and_its_writes_are_refused(postgres_url, tmp_path):
    """The worker holding the most sessions is paused (SIGSTOP): its leases expire, the
    others take its sessions over; woken (SIGCONT), its writes and renewals are refused
    (no two owners' writes interleave), it drops those sessions and, live again, gets a
    fair share back. Nothing lost or doubled."""
    r = _run_tool("--sessions", "10", "--workers", "3", "--orders", "60", "--pg-url",
                  postgres_url, "--lease-ttl", "1.0", "--signal", "stop",
                  "--workdir", str(tmp_path))
    assert r["killed"] == 1 and r["takeovers"] == r["orphaned"] >= 1
    assert r["lost"] == 0 and r["doubled"] == 0 and r["owners_interleaved"] == 0
    assert r["final_states"] == r["orders"] == 600
    assert r["owned_by_live"] == 10
    counts = r["owners_at_end"]
    assert len(counts) == 3 and max(counts.values()) <= 4  # the woken one is back


def test_a_joining_worker_takes_a_fair_share(postgres_url, tmp_path):
    """The same run, then a new worker starts: the others release sessions to it (each
    after its handling is committed), nothing lost or doubled, none above its share."""
    r = _run_tool("--sessions", "10", "--workers", "3", "--orders", "30", "--pg-url",
                  postgres_url, "--lease-ttl", "1.0", "--rejoin", "--workdir", str(tmp_path))
    assert r["lost"] == 0 and r["doubled"] == 0 and r["owners_interleaved"] == 0
    assert r["owned_by_live"] == 10
    counts = r["owners_at_end"]
    assert len(counts) == 3 and sum(counts.values()) == 10 and max(counts.values()) <= 4
    assert min(counts.values()) >= 1  # the new worker took some


@pytest.fixture
def run_module(tmp_path, monkeypatch):
    (tmp_path / "supervised_app.py").write_text(textwrap.dedent(_RUN_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))  # the spawned workers get this sys.path
    log = tmp_path / "starts.log"
    monkeypatch.setenv("SUPERVISOR_TEST_LOG", str(log))
    return log


def _wait(cond, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _starts(log: Path) -> list[list]:
    return [json.loads(ln) for ln in log.read_text().splitlines()] if log.exists() else []


def test_released_sessions_carry_their_uncommitted_work(postgres_url, run_module):
    """One worker owns all 4 sessions; a second joins: 2 are released to it, and what the
    first had recorded but not committed was committed before the release (the new owner
    finds it). At the stop every session is released with its work committed."""
    keys = [f"acct{i}/day" for i in range(4)]
    sup = Supervisor(postgres_url, keys, "supervised_app:run", workers=1, lease_ttl=1.0)
    try:
        sup.start()
        first = sup.processes[0].name
        _wait(lambda: list(sup.owners().values()) == [first] * 4, "worker 1 to own all 4")
        second = sup.add_worker().name
        _wait(lambda: sorted(sup.owners().values()) == sorted([first] * 2 + [second] * 2),
              "the sessions to be shared 2 and 2")
        moved = [s for s in _starts(run_module) if s[1] == 2]
        assert len(moved) == 2
        for account, _, found in moved:
            assert found == ["held-by-1"], (account, found)  # committed at the release
    finally:
        sup.stop()
    assert sup.owners() == {}
    for p in sup.processes:
        assert p.exitcode == 0
    # every session's last intent was committed at the stop: a new owner finds it
    for key in keys:
        account, session_id = key.split("/")
        store = PostgresStore(postgres_url, account=account, session_id=session_id)
        try:
            held = {i.key for i in store.intents()}
            assert f"held-by-{store.incarnation - 1}" in held
        finally:
            store.close()


def test_a_session_held_elsewhere_is_not_taken(postgres_url, run_module):
    """A worker below its share takes only free leases: a session whose lease another
    process holds stays with it; released, the worker takes it."""
    holder = PostgresStore(postgres_url, account="acct0", session_id="day", lease_ttl=5.0)
    worker = Worker(postgres_url, ["acct0/day", "acct1/day"], "supervised_app:done_at_once",
                    lease_ttl=1.0, name="w-test")
    try:
        worker.balance()
        assert set(worker.running) == {SessionKey("acct1", "day")}
        holder.close()
        worker.balance()
        assert set(worker.running) == {SessionKey("acct0", "day"), SessionKey("acct1", "day")}
        with pytest.raises(JournalLockedError):  # the worker holds it now, by its lease
            PostgresStore(postgres_url, account="acct0", session_id="day")
    finally:
        worker.close()
        holder.close()


def test_bad_session_lists_and_run_names_are_refused():
    with pytest.raises(ValueError, match="account/session_id"):
        Worker("postgresql://127.0.0.1:1/x", ["no-slash"], "supervised_app:run")
    with pytest.raises(ValueError, match="twice"):
        Worker("postgresql://127.0.0.1:1/x", ["a/b", "a/b"], "os:getpid")
    with pytest.raises(ValueError, match="module:function"):
        Worker("postgresql://127.0.0.1:1/x", ["a/b"], "no_function")
    with pytest.raises(ValueError, match="workers must be at least 1"):
        Supervisor("postgresql://127.0.0.1:1/x", ["a/b"], "os:getpid", workers=0)


def test_cli_status_and_run(postgres_url, run_module, tmp_path):
    """``sessionkit supervise run`` runs the workers until SIGTERM (then releases every
    session); ``status`` shows the live workers and the holders."""
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    exe = [str(Path(sys.executable).parent / "sessionkit")]
    proc = subprocess.Popen([*exe, "supervise", "run", postgres_url, "--run",
                             "supervised_app:run", "--session", "a/1", "--session", "b/1",
                             "--session", "c/1", "--workers", "2", "--lease-ttl", "1.0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def status() -> str:
        out = subprocess.run([*exe, "supervise", "status", postgres_url], env=env,
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout

    try:
        text = _wait(lambda: (lambda t: t if "3 sessions held" in t else "")(status()),
                     "3 sessions held")
        assert "2 live workers" in text and "not a live worker" not in text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "0 live workers" in status() and "0 sessions held" in status()
    bad = subprocess.run([*exe, "supervise", "run", postgres_url, "--run", "nope:run",
                          "--session", "a/1"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "nope" in bad.stderr
