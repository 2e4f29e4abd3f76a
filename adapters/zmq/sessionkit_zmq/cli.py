"""Command-line commands of the ZeroMQ adapter (click).

* ``keygen NAME`` - a CURVE key pair: ``NAME`` (public, shareable) and ``NAME_secret``
  (mode 0600);
* ``sim zmq`` - the ZMQ exchange simulator (the reference exchange on a ROUTER);
* ``demo --adapter zmq`` - the short trading session of :mod:`sessionkit_zmq.demo`.

``keygen`` and ``sim zmq`` are registered with the ``sessionkit`` command through the
``sessionkit.cli`` entry point group; all three also run as ``python -m sessionkit_zmq ...``.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import anyio

try:
    import click
except ImportError as exc:  # the commands are the [sim] extra's; the transport needs no click
    raise ImportError(f"the ZeroMQ adapter's commands need click ({exc}): "
                      "install sessionkit-zmq[sim]") from exc

from sessionkit import ConfigError

from ._keys import CurveServer, KeyPair, fingerprint
from ._options import SocketOptions

__all__ = ["keygen", "simulator", "demo", "main"]

#: the event loop to run on (AnyIO's backends); asyncio by default: it is always there,
#: trio comes with the trio extra
BACKEND_OPTION = click.option(
    "--backend", type=click.Choice(["asyncio", "trio"]), default="asyncio", show_default=True,
    help="The event loop to run on (trio needs the trio package).")


@click.command("keygen")
@click.argument("name", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace existing certificate files.")
def keygen(name: Path, force: bool) -> None:
    """Make a CURVE key pair: NAME (public key) and NAME_secret (both keys, mode 0600).

    Give NAME to the other side (a server's to its clients, a client's to the server's
    allow-list); keep NAME_secret to yourself.
    """
    try:
        public, secret = KeyPair.generate().save_certificate(name, overwrite=force)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {name}: {exc.strerror}") from None
    click.echo(f"public certificate: {public}")
    click.echo(f"secret certificate: {secret} (mode 0600: keep it private)")


def _server_curve(curve: bool, key: Path | None, allow: tuple[Path, ...],
                  allow_any: bool) -> tuple[CurveServer | None, bool]:
    """(CURVE settings, whether the server key pair was made up for this run)."""
    if not curve:
        if key or allow or allow_any:
            raise click.UsageError("--key, --allow and --allow-any need --curve")
        return None, False
    try:
        if key is not None:
            return CurveServer.from_files(key, allow, allow_any=allow_any), False
        if not allow and not allow_any:
            CurveServer(keypair=KeyPair.generate())  # raises the allow-list error
        return CurveServer(keypair=KeyPair.generate(),
                           allow=[KeyPair.load_certificate(a).public for a in allow],
                           allow_any=allow_any), True
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


@click.command("zmq")
@click.option("--bind", default="tcp://127.0.0.1:5555", show_default=True,
              help="Address to listen on (port * or 0: any free port).")
@click.option("--curve", is_flag=True, help="Require CURVE (encryption and client keys).")
@click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The server's secret certificate (from keygen; default: a fresh key pair).")
@click.option("--allow", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A client's public certificate to let in (repeatable).")
@click.option("--allow-any", is_flag=True,
              help="With --curve: let any client key in (encrypted, but anyone may connect).")
@click.option("--run-id", default="run-1", show_default=True, help="The exchange run id.")
@click.option("--heartbeat-ms", default=1000, show_default=True, type=click.IntRange(1),
              help="Exchange heartbeat interval.")
@click.option("--gap-every", default=0, show_default=True, type=click.IntRange(0),
              help="Skip an event id every that many (0: never).")
@click.option("--max-frame-size", default=SocketOptions().max_frame_size, show_default=True,
              type=click.IntRange(1), help="Largest frame accepted (bytes).")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
@BACKEND_OPTION
def simulator(bind: str, curve: bool, key: Path | None, allow: tuple[Path, ...],
                    allow_any: bool, run_id: str, heartbeat_ms: int, gap_every: int,
                    max_frame_size: int, verbose: int, backend: str) -> None:
    """Serve the reference exchange over ZeroMQ (a ROUTER socket) until interrupted."""
    server_curve, made_up = _server_curve(curve, key, allow, allow_any)
    if verbose:
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def serve() -> None:
        from ._simulator import serve_simulator

        try:
            async with serve_simulator(bind, curve=server_curve or False, run_id=run_id,
                                       heartbeat_interval_ms=heartbeat_ms, gap_every=gap_every,
                                       options=SocketOptions(max_frame_size=max_frame_size)
                                       ) as sim:
                if server_curve is not None:
                    who = ("any client key" if server_curve.allow_any else
                           f"{len(server_curve.allow)} allowed client key(s)")
                    mech = f"CURVE, {who}, server key {fingerprint(server_curve.keypair.public)}"
                else:
                    mech = "no CURVE"
                click.echo(f"ZMQ simulator listening on {sim.endpoint} ({mech}); run id "
                           f"{run_id}. Ctrl-C to stop.")
                if made_up and server_curve is not None:
                    click.echo("server public key (made up for this run; give it to clients): "
                               + server_curve.keypair.public.decode())
                sys.stdout.flush()
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for signum in signals:
                        click.echo(f"simulator stopped ({signal.Signals(signum).name})")
                        break
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None

    anyio.run(serve, backend=backend)


@click.command("demo")
@click.option("--adapter", "adapter_name", default="zmq", show_default=True,
              help="Transport of the demo (this command serves zmq).")
@BACKEND_OPTION
def demo(adapter_name: str, backend: str) -> None:
    """A short trading session against the ZMQ simulator, with CURVE, on loopback."""
    if adapter_name != "zmq":
        raise click.UsageError(f"this demo runs the zmq adapter, not {adapter_name!r}")
    from . import demo as demo_module

    anyio.run(demo_module.run, backend=backend)


@click.group()
def main() -> None:
    """The ZeroMQ adapter's commands (also under the ``sessionkit`` command)."""


@click.group("sim")
def _sim() -> None:
    """Exchange simulators."""


_sim.add_command(simulator)
main.add_command(keygen)
main.add_command(_sim)
main.add_command(demo)
