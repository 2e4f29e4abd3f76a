"""``sessionkit sim mesolive``: the MesoLive hub simulator on one port.

Serves the three MesoLive hubs (``/hubs/control/v1``, ``/hubs/data/v1``, ``/hubs/event/v1``)
backed by a :class:`~.domain.MesoLiveDomain` (:func:`~.domain_hub.register_domain`), and the
session hub (``/hubs/session/v1``) with the sans-IO reference exchange behind it, so the
``mesolive`` adapter's connector can run sessions against it. When it is listening it prints
one JSON line (``{"port": N, "url": ..., "hubs": [...]}``); Ctrl-C stops it.

Fault knobs (``--fault``, repeatable), applied at start:

=================================  =========================================================
``duplicate-events=N``             the next N callbacks are delivered twice (same EventId)
``fail-next-job=KIND[:ERROR]``     the next Entry/Exit/Adjustment (or ``any``) job fails
``time-out-after-effect=METHOD``   the next METHOD call takes effect, its answer is lost
``stall=METHOD:SECONDS``           the next METHOD call stays Processing, its answer is lost
``reject-next-order=REASON``       the broker rejects the next live order
``response-delay=SECONDS``         every hub answer waits this long
``refuse-resume``                  stateful reconnects are refused (clients negotiate anew)
=================================  =========================================================
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import attrs
import click

from .._catalogue import METHODS, Hub
from .._session_hub import SessionHubEndpoint
from .domain import DomainConfig, MesoLiveDomain
from .domain_hub import DomainHubs, register_domain
from .hubserver import HubServer

__all__ = ["Simulator", "build_simulator", "run_simulator", "apply_fault", "sim_mesolive",
           "FAULTS"]

logger = logging.getLogger(__name__)


@attrs.define
class Simulator:
    """The pieces of a running simulator (for tests and examples that start one in process)."""

    server: HubServer
    hubs: DomainHubs
    session: SessionHubEndpoint
    port: int = 0
    host: str = "127.0.0.1"

    @property
    def domain(self) -> MesoLiveDomain:
        return self.hubs.domain

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def summary(self) -> dict[str, Any]:
        return {"port": self.port, "url": self.url,
                "hubs": [h.path for h in Hub] + [self.session.path]}


def _method(name: str) -> str:
    if name not in METHODS:
        raise ValueError(f"unknown hub method {name!r}")
    return name


def _fault_table() -> dict[str, Callable[[Simulator, str], None]]:
    def dup(sim: Simulator, v: str) -> None:
        sim.domain.faults.duplicate_next_events(int(v or 1))

    def fail_job(sim: Simulator, v: str) -> None:
        kind, _, error = v.partition(":")
        if kind.lower() not in ("entry", "exit", "adjustment", "any"):
            raise ValueError(f"KIND must be Entry, Exit, Adjustment or any, got {kind!r}")
        sim.domain.faults.fail_next_job(None if kind.lower() == "any" else kind.capitalize(),
                                        error or "simulated failure")

    def timeout(sim: Simulator, v: str) -> None:
        sim.domain.faults.time_out_after_effect(_method(v))

    def stall(sim: Simulator, v: str) -> None:
        method, _, seconds = v.partition(":")
        sim.domain.faults.stall_next(_method(method), float(seconds))

    def reject(sim: Simulator, v: str) -> None:
        sim.domain.faults.reject_next_order(v or "simulated broker rejection")

    def delay(sim: Simulator, v: str) -> None:
        sim.server.faults.response_delay = float(v)

    def refuse(sim: Simulator, v: str) -> None:
        sim.server.faults.refuse_resume = True
        if v:  # refuse-resume=close: as some third-party servers do
            sim.server.faults.resume_refusal = v

    def corrupt(sim: Simulator, v: str) -> None:
        sim.domain.faults.corrupt_next_events(int(v or 1))

    return {"duplicate-events": dup, "fail-next-job": fail_job,
            "time-out-after-effect": timeout, "stall": stall, "reject-next-order": reject,
            "response-delay": delay, "refuse-resume": refuse, "corrupt-events": corrupt}


FAULTS = _fault_table()


def apply_fault(sim: Simulator, spec: str) -> None:
    """Apply one ``KNOB[=VALUE]`` fault; ValueError names what was wrong."""
    knob, _, value = spec.partition("=")
    action = FAULTS.get(knob.strip())
    if action is None:
        raise ValueError(f"unknown fault {knob!r}; known: {', '.join(sorted(FAULTS))}")
    try:
        action(sim, value.strip())
    except ValueError as exc:
        raise ValueError(f"fault {spec!r}: {exc}") from None


def build_simulator(*, token: str | None = None, seed: int = 0, tick: float = 0.05,
                    config: DomainConfig | None = None,
                    domain: MesoLiveDomain | None = None) -> Simulator:
    """A hub server with the MesoLive hubs (over a default platform) and the session hub.

    ``token``: the only bearer token accepted (None: any).
    """
    validator = None if token is None else (lambda t: "user" if t == token else None)
    server = HubServer(token_validator=validator)
    hubs = register_domain(server, domain or MesoLiveDomain.with_defaults(
        seed=seed, config=config or DomainConfig()), tick=tick)
    session = SessionHubEndpoint(server, token=token)
    return Simulator(server, hubs, session)


async def run_simulator(sim: Simulator, host: str = "127.0.0.1", port: int = 0, *,
                        task_status: anyio.abc.TaskStatus[Simulator] = anyio.TASK_STATUS_IGNORED
                        ) -> None:
    """Serve ``sim`` until cancelled; ``await nursery.start(run_simulator, sim)`` returns it
    with its port set."""
    from sessionkit.runtime import serve_reference_exchange
    from sessionkit.testing import ReferenceExchange

    from .app import serve

    async with anyio.create_task_group() as nursery:
        nursery.start_soon(sim.hubs.run)
        sim.port = await nursery.start(serve, sim.server, host, port)
        sim.host = host
        sim.session.base_url = sim.url
        await nursery.start(serve_reference_exchange, sim.session, ReferenceExchange())
        task_status.started(sim)


@click.command("mesolive")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port; the JSON line tells which).")
@click.option("--token", default=None, help="The only bearer token accepted (default: any).")
@click.option("--fault", "faults", multiple=True, metavar="KNOB[=VALUE]",
              help="Arm a fault knob (repeatable): " + ", ".join(sorted(FAULTS)) + ".")
@click.option("--seed", default=0, show_default=True, help="Seed of the simulated platform.")
@click.option("--tick", default=0.05, show_default=True, type=click.FloatRange(min=0.001),
              help="Seconds between clock advances and callback deliveries.")
@click.option("--entry-signal-every", default=0.0, show_default=True,
              type=click.FloatRange(min=0.0),
              help="Raise an entry signal for strategy 1 on ML1234 this often (0: never).")
@click.option("--backend", type=click.Choice(["asyncio", "trio"]), default="trio",
              show_default=True, help="The event loop to serve on.")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def sim_mesolive(host: str, port: int, token: str | None, faults: tuple[str, ...], seed: int,
                 tick: float, entry_signal_every: float, backend: str, verbose: int) -> None:
    """Serve the MesoLive hub simulator (Control, Data, Event and session hubs) on one port."""
    if verbose:
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sim = build_simulator(token=token, seed=seed, tick=tick)
    for spec in faults:
        try:
            apply_fault(sim, spec)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--fault") from None

    async def main() -> None:
        async with anyio.create_task_group() as nursery:
            await nursery.start(run_simulator, sim, host, port)
            click.echo(json.dumps(sim.summary()))
            sys.stdout.flush()
            while entry_signal_every > 0:
                await anyio.sleep(entry_signal_every)
                sim.domain.raise_entry_signal(1, "ML1234")

    try:
        anyio.run(main, backend=backend)
    except KeyboardInterrupt:
        click.echo("simulator stopped", err=True)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
