"""``sessionkit supervise run|status URL``: many sessions over worker processes.

``run`` starts ``--workers`` worker processes on this machine (:class:`Supervisor`), each
standing by for every session of the list and running its fair share with the application's
``--run module:function``; it runs until SIGINT or SIGTERM, then stops the workers cleanly
(each releases its sessions, committed). Run the same command on another machine, with the
same database and session list, and its workers join the pool. ``status`` prints the live
workers and who holds each session's lease.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from ._errors import JournalError
from ._pgio import connect, display_url, is_postgres_url
from ._records import SessionKey
from ._supervisor import Supervisor, lease_holders, live_workers, resolve_run, session_keys

__all__ = ["supervise_group", "read_sessions_file"]


def read_sessions_file(path: str) -> list[str]:
    """The sessions a file lists: one ``account/session_id`` a line (``#`` starts a
    comment, blank lines are skipped)."""
    with open(path) as f:
        return [ln.split("#", 1)[0].strip() for ln in f if ln.split("#", 1)[0].strip()]


def _url(url: str) -> str:
    if not is_postgres_url(url):
        raise click.BadParameter(f"the supervisor needs a PostgreSQL database URL "
                                 f"(postgresql://...), got {url!r}", param_hint="URL")
    return url


@click.group("supervise")
def supervise_group() -> None:
    """Run many sessions over worker processes against one PostgreSQL journal."""


@supervise_group.command("run")
@click.argument("url")
@click.option("--run", "run_spec", required=True, metavar="MODULE:FUNCTION",
              help="The session's code: run(store, stopping), importable by the workers.")
@click.option("--session", "sessions", multiple=True, metavar="ACCOUNT/SESSION_ID",
              help="A session of the pool (repeat it).")
@click.option("--sessions-file", type=click.Path(exists=True, dir_okay=False),
              help="A file of sessions, one ACCOUNT/SESSION_ID a line.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker processes on this machine.")
@click.option("--lease-ttl", type=click.FloatRange(0.1, 86400), default=10.0,
              show_default=True, help="Seconds a lease and a heartbeat last unrenewed.")
@click.option("--interval", type=float, default=None,
              help="Seconds between balancing rounds (default: lease TTL / 5).")
@click.option("--durability", type=click.Choice(["safe", "fast"]), default="safe",
              show_default=True)
@click.option("--schema", default="sessionkit", show_default=True)
def _run(url: str, run_spec: str, sessions: tuple[str, ...], sessions_file: str | None,
         workers: int, lease_ttl: float, interval: float | None, durability: str,
         schema: str) -> None:
    """Run worker processes for the sessions journalled in URL until SIGINT/SIGTERM."""
    _url(url)
    listed = list(sessions) + (read_sessions_file(sessions_file) if sessions_file else [])
    try:
        keys = session_keys(listed)
        resolve_run(run_spec)  # named wrongly: said here, not in every worker
    except (ValueError, ImportError, AttributeError) as err:
        raise click.UsageError(str(err)) from None
    if interval is not None and not 0 < interval < lease_ttl:
        raise click.BadParameter(f"must be > 0 and below --lease-ttl ({lease_ttl}), got "
                                 f"{interval}", param_hint="--interval")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sup = Supervisor(url, keys, run_spec, workers=workers, lease_ttl=lease_ttl,
                     interval=interval, schema=schema,
                     store_options={"durability": durability})
    sup.start()
    click.echo(f"{workers} workers for {len(keys)} sessions in {display_url(url)}; "
               f"SIGINT or SIGTERM stops them")
    try:
        while not stop.wait(1.0):
            for p in sup.processes:
                if not p.is_alive() and p.exitcode not in (0, None):
                    click.echo(f"worker {p.name} exited with status {p.exitcode}", err=True)
                    sup.processes.remove(p)
            if not sup.processes:
                raise click.ClickException("every worker exited")
    finally:
        sup.stop()


@supervise_group.command("status")
@click.argument("url")
@click.option("--schema", default="sessionkit", show_default=True)
def _status(url: str, schema: str) -> None:
    """Print the live workers and the holder of each session's lease."""
    _url(url)
    try:
        conn: Any = connect(url, display_url(url), timeout=10,
                            application_name="sessionkit supervise status")
    except JournalError as err:
        raise click.ClickException(str(err)) from None
    with conn:
        workers = live_workers(conn, schema)
        held = lease_holders(conn, schema)
    click.echo(f"{len(workers)} live workers")
    for name, owned in sorted(workers.items()):
        click.echo(f"  {name}: {owned} sessions")
    click.echo(f"{len(held)} sessions held")
    for key, owner in sorted(held.items(), key=lambda kv: (kv[0].account,
                                                           kv[0].session_id)):
        mark = "" if owner in workers else "  (not a live worker)"
        click.echo(f"  {_name(key)}: {owner}{mark}")


def _name(key: SessionKey) -> str:
    return f"{key.account}/{key.session_id}"
