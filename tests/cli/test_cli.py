"""The sessionkit command line: help everywhere, conformance output, the demo, plugins."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sessionkit.cli import _registry, main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_help_on_the_group_and_every_subcommand(runner: CliRunner) -> None:
    out = runner.invoke(main, ["--help"])
    assert out.exit_code == 0
    assert "conformance" in out.output and "demo" in out.output
    for name in main.list_commands(click.Context(main)):
        sub = runner.invoke(main, [name, "--help"])
        assert sub.exit_code == 0, (name, sub.output)
        assert f"Usage: main {name}" in sub.output or f"Usage: sessionkit {name}" in sub.output


def test_version(runner: CliRunner) -> None:
    out = runner.invoke(main, ["--version"])
    assert out.exit_code == 0 and "sessionkit, version" in out.output


# -- conformance -----------------------------------------------------------------------------


def test_conformance_table_and_json_last_line(runner: CliRunner) -> None:
    out = runner.invoke(main, ["conformance", "--adapter", "memory", "--json",
                               "--category", "login", "-k", "login_accepted"])
    assert out.exit_code == 0, out.output
    lines = out.output.strip().splitlines()
    assert "login     login_accepted                PASS" in out.output
    assert any(ln.startswith("total") for ln in lines)
    data = json.loads(lines[-1])
    assert data["passed"] == 2 and data["failed"] == 0 and data["skipped"] == 0
    assert data["scenarios"] == 2
    assert data["categories"] == {"login": {"passed": 2, "failed": 0, "skipped": 0}}


def test_conformance_fails_with_a_nonzero_exit(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "wrong.skt").write_text("""\
category: custom
description: expects an event id the exchange does not send
login
connect
expect-send login
send login_ack run_id=r1 last_event_id=0
expect callback on_login_accepted event_id=5
""")
    out = runner.invoke(main, ["conformance", "--scenarios", str(tmp_path), "--json"])
    assert out.exit_code == 1
    assert "custom    wrong     FAIL" in out.output
    assert "line 7: expect callback on_login_accepted event_id=5" in out.output
    data = json.loads(out.output.strip().splitlines()[-1])
    assert data["failed"] == 1 and data["failures"][0]["line"] == 7


def test_conformance_list(runner: CliRunner) -> None:
    out = runner.invoke(main, ["conformance", "--list", "--category", "batch"])
    assert out.exit_code == 0
    assert "batch/batch_of_1000  (ack_mid, batch, session)" in out.output
    assert all(ln.startswith("batch/") for ln in out.output.strip().splitlines())


@pytest.mark.parametrize("args, words", [
    (["--adapter", "pigeon"], "no sessionkit adapter named 'pigeon'"),
    (["--clock", "sundial"], "clock must be"),
    (["-k", "no-such-scenario"], "no scenario matches"),
    (["--time-limit", "0"], "0.1"),
])
def test_conformance_usage_errors(runner: CliRunner, args: list[str], words: str) -> None:
    out = runner.invoke(main, ["conformance", *args])
    assert out.exit_code == 2
    assert words in out.output


def test_conformance_reports_a_bad_script_by_file_and_line(runner: CliRunner,
                                                          tmp_path: Path) -> None:
    (tmp_path / "bad.skt").write_text("category: x\nlogin\nteleport\n")
    out = runner.invoke(main, ["conformance", "--scenarios", str(tmp_path)])
    assert out.exit_code == 1
    assert f"{tmp_path / 'bad.skt'}:3: unknown step 'teleport'" in out.output


# -- demo ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_tells_the_whole_story(runner: CliRunner, backend: str) -> None:
    out = runner.invoke(main, ["demo", "--adapter", "memory", "--quick", "--backend", backend])
    assert out.exit_code == 0, out.output
    text = out.output
    assert f"the runtime on {backend} over the in-memory transport" in text
    for words in ("login accepted", "contract 1:", "ACK of limit_order", "MID",
                  "batch ACK for", "run change: run-1 -> run-2",
                  "cancelled_by_run_change", "reconnecting", "replayed",
                  "resend complete", "session closed"):
        assert words in text, words


def test_the_cli_leaves_logging_as_it_found_it(runner: CliRunner) -> None:
    logger = logging.getLogger("sessionkit")
    before = (logger.level, logger.propagate, list(logger.handlers))
    runner.invoke(main, ["--log-level", "debug", "conformance", "--list"])
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


# -- pluggable commands ----------------------------------------------------------------------


@click.command()
@click.option("--port", default=0, help="Port to listen on.")
def fake_sim(port: int) -> None:
    """Serve a fake simulator."""
    click.echo(f"simulating on {port}")


@click.command()
def fake_keygen() -> None:
    """Make a key pair."""
    click.echo("keys made")


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    specs = {
        "sim.zmq": f"{__name__}:fake_sim",
        "keygen": f"{__name__}:fake_keygen",
        "broken": "no_such_module_anywhere:command",
        "notacommand": f"{__name__}:plugins",
        "demo": f"{__name__}:fake_keygen",  # may not replace a built-in
    }
    monkeypatch.setattr(_registry, "_entry_point_specs", lambda: specs)
    return specs


def test_plugin_commands_nest_by_dotted_name(runner: CliRunner,
                                             plugins: dict[str, str]) -> None:
    out = runner.invoke(main, ["--help"])
    for name in ("sim", "keygen", "broken", "conformance", "demo"):
        assert name in out.output
    assert runner.invoke(main, ["keygen"]).output == "keys made\n"
    sim_help = runner.invoke(main, ["sim", "--help"])
    assert sim_help.exit_code == 0 and "zmq" in sim_help.output
    assert "--port" in runner.invoke(main, ["sim", "zmq", "--help"]).output
    assert runner.invoke(main, ["sim", "zmq", "--port", "7"]).output == "simulating on 7\n"


def test_a_broken_plugin_is_reported_not_fatal(runner: CliRunner,
                                               plugins: dict[str, str]) -> None:
    out = runner.invoke(main, ["broken"])
    assert out.exit_code == 1
    assert "command 'broken' is unavailable" in out.output
    assert "No module named 'no_such_module_anywhere'" in out.output
    assert "not a click command" in runner.invoke(main, ["notacommand"]).output
    assert runner.invoke(main, ["--help"]).exit_code == 0


def test_a_plugin_cannot_replace_a_builtin(runner: CliRunner, plugins: dict[str, str]) -> None:
    out = runner.invoke(main, ["demo", "--help"])
    assert "narrated trading session" in out.output
