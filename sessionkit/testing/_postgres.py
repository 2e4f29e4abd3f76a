"""A throwaway PostgreSQL server for tests and tools: ``initdb`` and ``postgres`` in a
temporary directory, listening on 127.0.0.1 on a free port, removed when stopped.

>>> server = start_postgres()                          # doctest: +SKIP
>>> url = server.create_database()                     # doctest: +SKIP
>>> server.stop()                                      # doctest: +SKIP

The binaries are the PostgreSQL server's own (``initdb``, ``postgres``): found on
``$SESSIONKIT_PG_BIN``, then on ``PATH``, then in Debian's ``/usr/lib/postgresql/<N>/bin``
(the ``postgresql`` package ``tools/dev setup`` installs). PostgreSQL refuses to run as
root: run as root, the server runs as the ``postgres`` system user (which the Debian package
creates), and its directory is made that user's. Nothing outside the machine is used: the
server listens on loopback only and on a Unix socket in its own directory, with ``trust``
authentication for the ``postgres`` role.

The server does I/O (processes, a socket to find a free port): ``sessionkit.testing``
imports this module only when :func:`start_postgres` or :class:`PostgresServer` is used.
"""

from __future__ import annotations

import glob
import itertools
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any

import attrs

__all__ = ["PostgresServer", "PostgresUnavailableError", "start_postgres", "find_postgres_bin"]

logger = logging.getLogger(__name__)

_INSTALL = ("install the PostgreSQL server: `tools/dev setup` does it as root (Debian package "
            "`postgresql`), or set SESSIONKIT_PG_BIN to the directory holding initdb and "
            "postgres")


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server can be started here (no binaries, no user to run them as)."""


def find_postgres_bin() -> str:
    """The directory holding ``initdb`` and ``postgres`` (see the module docstring)."""
    env = os.environ.get("SESSIONKIT_PG_BIN")
    candidates = [env] if env else []
    found = shutil.which("initdb")
    if found:
        candidates.append(os.path.dirname(os.path.realpath(found)))

    def version(path: str) -> float:
        try:
            return float(path.split("/")[-2])
        except ValueError:
            return 0.0

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for d in candidates:
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "postgres")):
            return d
    raise PostgresUnavailableError(f"no PostgreSQL server binaries (initdb, postgres) found; "
                                   f"{_INSTALL}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> pwd.struct_passwd | None:
    """The user the server runs as: None (this one), or ``postgres`` when this is root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailableError("PostgreSQL does not run as root and there is no "
                                       "`postgres` user to run it as; " + _INSTALL) from None


@attrs.define
class PostgresServer:
    """A running throwaway server (see :func:`start_postgres`)."""

    directory: str
    port: int
    bin_dir: str
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"
    user: str = "postgres"
    _made: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL of database ``dbname`` on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """Create a database (default: ``db<n>``, a new one at each call); return its URL."""
        import psycopg

        if name is None:
            name = f"db{next(self._made)}"
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name must be letters, digits and _, got {name!r}")
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    @property
    def log_path(self) -> str:
        return os.path.join(self.directory, "postgres.log")

    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (a fast shutdown) and remove its directory."""
        proc = self.process
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # fast shutdown: disconnect clients, checkpoint
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise PostgresUnavailableError(f"postgres exited with status {proc.returncode}")
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError as err:
            if time.monotonic() > deadline:
                raise PostgresUnavailableError(f"postgres did not accept connections within "
                                               f"{timeout:.0f} s: {err}") from None
            time.sleep(0.05)


def start_postgres(directory: str | None = None, *, fsync: bool = True,
                   settings: dict[str, Any] | None = None,
                   timeout: float = 60.0) -> PostgresServer:
    """Start a throwaway server; :meth:`PostgresServer.stop` stops it and removes its files.

    ``directory``: where its files go (default: a new temporary directory; it must be
    empty or absent, and, as root, reachable by the ``postgres`` user). ``fsync=False``
    trades the server's crash safety for speed (tests that do not crash the server).
    ``settings``: more ``postgres -c`` settings.
    """
    bin_dir = find_postgres_bin()
    user = _run_as()
    if directory is None:
        directory = tempfile.mkdtemp(prefix="sessionkit-pg-")
    else:
        os.makedirs(directory, exist_ok=True)
    data = os.path.join(directory, "data")
    run: dict[str, Any] = {}
    if user is not None:
        os.chown(directory, user.pw_uid, user.pw_gid)
        run = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    try:
        subprocess.run([os.path.join(bin_dir, "initdb"), "-D", data, "-U", "postgres",
                        "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                       check=True, capture_output=True, env=env, cwd=directory, **run)
    except subprocess.CalledProcessError as err:
        shutil.rmtree(directory, ignore_errors=True)
        hint = (f" (the server runs as the `postgres` user: {directory} and every directory "
                f"above it must be reachable by it)" if user is not None else "")
        raise PostgresUnavailableError(f"initdb failed{hint}: "
                                       f"{err.stderr.decode(errors='replace')}") from None
    conf = {"listen_addresses": "127.0.0.1", "unix_socket_directories": directory,
            "fsync": "on" if fsync else "off", "max_connections": "200",
            "shared_buffers": "64MB", **(settings or {})}
    last = ""
    for _ in range(5):  # a free port can be taken between its choice and the server's bind
        port = _free_port()
        cmd = [os.path.join(bin_dir, "postgres"), "-D", data, "-p", str(port)]
        for k, v in conf.items():
            cmd += ["-c", f"{k}={v}"]
        log = open(os.path.join(directory, "postgres.log"), "ab")
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    cwd=directory, start_new_session=True, **run)
        finally:
            log.close()
        server = PostgresServer(directory, port, bin_dir, proc)
        try:
            _wait_ready(server.url(), proc, timeout)
        except PostgresUnavailableError as err:
            last = f"{err}\n{server.log_tail()}"
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if "could not bind" in last or "Address already in use" in last:
                continue
            break
        logger.info("PostgreSQL test server on 127.0.0.1:%d in %s", port, directory)
        return server
    shutil.rmtree(directory, ignore_errors=True)
    raise PostgresUnavailableError(f"the PostgreSQL server did not start: {last}")


# deprecated aliases (until 0.2): the names before every exception's name ended in Error
PostgresUnavailable = PostgresUnavailableError
