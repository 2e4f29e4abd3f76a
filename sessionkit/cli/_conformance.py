"""``sessionkit conformance``: run the adapter conformance suite and print the results."""

from __future__ import annotations

import click

__all__ = ["conformance"]


@click.command("conformance")
@click.option("--adapter", "adapter_name", default="memory", show_default=True,
              metavar="NAME|MODULE:ATTR",
              help="The adapter to test: a name registered under sessionkit.adapters, or "
                   "module:attribute for one that is not installed (imported from the "
                   "current directory or the Python path).")
@click.option("--category", "categories", multiple=True, metavar="CATEGORY",
              help="Only scenarios of this category (repeatable).")
@click.option("-k", "pattern", default=None, metavar="PATTERN",
              help="Only scenarios whose name (or category/name) holds PATTERN; "
                   "a glob when it has * ? or [.")
@click.option("--json", "as_json", is_flag=True,
              help="End with one line of JSON: passed, failed, skipped, scenarios, "
                   "categories.")
@click.option("--backend", type=click.Choice(["asyncio", "trio"]), default="asyncio",
              show_default=True, help="The event loop the scenarios (the runtime, the "
              "adapter, the scripted exchange) run on.")
@click.option("--clock", default=None, metavar="CLOCK",
              help="virtual (the default), virtual:SECONDS (for transports doing real I/O) "
                   "or real.")
@click.option("--scenarios", "directory", default=None,
              type=click.Path(exists=True, file_okay=False), help="Run the .skt scenarios "
              "in this directory instead of the bundled ones.")
@click.option("--time-limit", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Real seconds one scenario may run before it is stopped.")
@click.option("--journal", default=None, metavar="STORE",
              help="Run each scenario's session on a new journal: memory, sqlite or a "
                   "postgresql:// URL.")
@click.option("--list", "list_only", is_flag=True,
              help="List the chosen scenarios with their capabilities; run nothing.")
@click.option("-v", "--verbose", is_flag=True,
              help="Print each scenario as it finishes and the full failure reports.")
def conformance(adapter_name: str, categories: tuple[str, ...], pattern: str | None,
                as_json: bool, backend: str, clock: str | None, directory: str | None,
                time_limit: float, journal: str | None, list_only: bool, verbose: bool) -> None:
    """Run the conformance suite against an adapter.

    Every scenario whose capabilities the adapter claims must pass; the
    others are skipped. The scenarios run on asyncio or trio (--backend).
    Prints a pass/fail table per scenario and per category; the exit status is
    1 when a scenario failed.
    """
    from ..conformance import ScriptError, format_table, load_scenarios, select
    from ..conformance._journal import check_journal_spec
    from ..conformance._runner import check_clock, missing_capabilities, run_scenario
    from ..conformance._suite import SuiteReport
    from ._adapters import load_cli_adapter

    try:
        check_journal_spec(journal)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--journal") from None
    try:
        check_clock(clock)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--clock") from None
    try:
        adapter = load_cli_adapter(adapter_name)
    except Exception as exc:
        raise click.BadParameter(str(exc), param_hint="--adapter") from None
    try:
        scenarios = load_scenarios(directory)
    except ScriptError as exc:
        raise click.ClickException(str(exc)) from None
    chosen = select(scenarios, categories=categories or None, pattern=pattern)
    if not chosen:
        known = sorted({s.category for s in scenarios})
        raise click.UsageError(f"no scenario matches (categories: {', '.join(known)})")
    if list_only:
        for sc in chosen:
            missing = missing_capabilities(sc, adapter)
            note = f"  [skipped: lacks {', '.join(sorted(missing))}]" if missing else ""
            click.echo(f"{sc.category}/{sc.name}  ({', '.join(sorted(sc.capabilities))})"
                       f"{note}  {sc.description}")
        return
    results = []
    for sc in chosen:
        res = run_scenario(sc, adapter, clock=clock, real_time_limit=time_limit,
                           journal=journal, backend=backend)
        results.append(res)
        if verbose:
            click.echo(f"{res.status.upper():7} {res.category}/{res.name} "
                       f"({res.duration:.2f} s)", err=True)
    name = str(getattr(adapter, "name", adapter_name))
    report = SuiteReport(name, tuple(sorted(getattr(adapter, "capabilities", ()))),
                         tuple(results), backend)
    click.echo(format_table(report, verbose=verbose))
    if as_json:
        click.echo(report.to_json())
    if not report.ok:
        raise SystemExit(1)
