"""Each ``pip install`` line of the README, run in a fresh virtualenv from the built wheels.

The lines are read from the README's install block, with ``.`` and ``./adapters/NAME`` put
back as the wheels built from them; pip takes the other requirements from the package index
through its ordinary client (its cache makes repeated runs quick). Then what the line
promises is used from the installed files only: the command line, the demo and the
conformance suite where the line brings them, and a clear "install ...[extra]" error where
it does not.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from .conftest import ROOT

README = ROOT / "README.md"

#: the install block's source directories -> distribution names
_SOURCES = {".": "sessionkit", "./adapters/zmq": "sessionkit-zmq",
            "./adapters/mesolive": "sessionkit-mesolive"}


def readme_install_lines() -> list[str]:
    text = README.read_text()
    marker = text.index("<!-- install-lines:")
    block = re.search(r"```sh\n(.*?)```", text[marker:], re.S)
    assert block is not None, "the README's install block is missing"
    lines = [ln.split("#", 1)[0].strip() for ln in block.group(1).splitlines()]
    return [ln for ln in lines if ln]


def _parse(line: str) -> dict[str, set[str]]:
    """``pip install ".[cli]" ./adapters/zmq`` -> ``{"sessionkit": {"cli"},
    "sessionkit-zmq": set()}``"""
    words = shlex.split(line)
    assert words[:2] == ["pip", "install"], line
    wanted: dict[str, set[str]] = {}
    for word in words[2:]:
        source, _, extras = word.partition("[")
        assert source in _SOURCES, f"{line!r}: {word!r} is not one of {sorted(_SOURCES)}"
        wanted[_SOURCES[source]] = set(Requirement(f"x[{extras}" if extras else "x").extras)
    return wanted


LINES = readme_install_lines()


def test_the_readme_documents_the_usual_combinations() -> None:
    combos = [_parse(line) for line in LINES]
    assert {"sessionkit": set()} in combos                      # the core alone
    assert {"sessionkit": {"cli"}} in combos
    for adapter in ("sessionkit-zmq", "sessionkit-mesolive"):
        assert any(c.get(adapter) == set() for c in combos)     # the client alone
        assert any(c.get(adapter) == {"sim"} for c in combos)   # with its simulator


class Venv:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.bin = path / "bin"
        self.python = str(self.bin / "python")

    def run(self, *args: str, check: bool = True, timeout: float = 300,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=cwd)
        if check:
            assert proc.returncode == 0, (f"{' '.join(args)} exited {proc.returncode}:\n"
                                          f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def py(self, code: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(self.python, "-c", code, check=check)

    def has(self, module: str) -> bool:
        code = f"import importlib.util as u; print(u.find_spec({module!r}) is not None)"
        return self.py(code).stdout.strip() == "True"


def _install(line: str, wheels: dict[str, Path], where: Path) -> tuple[Venv, dict[str, set[str]]]:
    wanted = _parse(line)
    venv.EnvBuilder(with_pip=False, clear=True).create(where)
    env = Venv(where)
    targets = [f"{wheels[dist]}[{','.join(sorted(extras))}]" if extras else str(wheels[dist])
               for dist, extras in wanted.items()]
    # this environment's pip installs into the new one (--python): no pip copied per venv
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", env.python, "install",
         "--disable-pip-version-check", "--no-input", *targets],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{line}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    check = subprocess.run([sys.executable, "-m", "pip", "--python", env.python, "check"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, f"{line}: pip check:\n{check.stdout}{check.stderr}"
    return env, wanted


def _cli_in(wanted: dict[str, set[str]]) -> bool:
    return "cli" in wanted.get("sessionkit", set()) or any(
        "sim" in extras for dist, extras in wanted.items() if dist != "sessionkit")


def _runtime_in(wanted: dict[str, set[str]]) -> bool:
    core = wanted.get("sessionkit", set())
    return _cli_in(wanted) or bool(core & {"runtime", "trio", "uvloop"}) or len(wanted) > 1


@pytest.mark.parametrize("line", LINES)
def test_each_documented_combination_installs_and_runs(
        line: str, wheels: dict[str, Path], tmp_path: Path) -> None:
    env, wanted = _install(line, wheels, tmp_path / "venv")
    run_dir = tmp_path / "run"   # not the checkout: only the installed files are importable
    run_dir.mkdir()

    # the sans-IO core always imports, and pulls in no I/O library
    env.py("import sys, sessionkit, sessionkit.store, sessionkit.streaming, sessionkit.testing;"
           "assert 'trio' not in sys.modules and 'click' not in sys.modules, sorted(sys.modules)")
    assert env.has("anyio") == _runtime_in(wanted)
    assert env.has("trio") == ("trio" in wanted.get("sessionkit", set()))  # only when asked
    assert env.has("click") == _cli_in(wanted)

    if _cli_in(wanted):
        out = env.run("sessionkit", "--help", cwd=run_dir).stdout
        assert "conformance" in out and "demo" in out
        demo = env.run("sessionkit", "demo", "--adapter", "memory", cwd=run_dir)
        assert demo.stdout.strip(), demo
        conf = env.run("sessionkit", "conformance", "--adapter", "memory", "--json", cwd=run_dir)
        report = json.loads(conf.stdout.splitlines()[-1])
        assert report["failed"] == 0 and report["passed"] > 100, conf.stdout
    else:
        # the script is there (a distribution cannot leave it out) and says what is missing
        proc = env.run("sessionkit", "--help", check=False, cwd=run_dir)
        assert proc.returncode != 0 and "install sessionkit[cli]" in proc.stderr, proc.stderr
        if _runtime_in(wanted):
            # the conformance suite from Python, with the runtime and no command line
            env.py("from sessionkit.conformance import run_suite;"
                   "r = run_suite('memory'); assert r.ok and r.passed > 100, r")

    for dist, package in (("sessionkit-zmq", "sessionkit_zmq"),
                          ("sessionkit-mesolive", "sessionkit_mesolive")):
        if dist not in wanted:
            continue
        name = package.removeprefix("sessionkit_")
        env.py(f"import {package}; assert {package}.adapter.name == {name!r}")
        if "sim" in wanted[dist]:
            # its simulator's command is registered with the sessionkit command
            sim = env.run("sessionkit", "sim", name, "--help", cwd=run_dir).stdout
            assert sim.startswith(f"Usage: sessionkit sim {name}"), sim
            # and its server side runs the conformance suite (the login scenarios)
            conf = env.run("sessionkit", "conformance", "--adapter", name, "--category", "login",
                           "--json", cwd=run_dir)
            report = json.loads(conf.stdout.splitlines()[-1])
            assert report["failed"] == 0 and report["passed"] >= 5, conf.stdout
        elif dist == "sessionkit-mesolive":
            assert not env.has("hypercorn")
            proc = env.py("import sessionkit_mesolive.sim.app", check=False)
            assert "install sessionkit-mesolive[sim]" in proc.stderr, proc.stderr
        else:
            proc = env.run(env.python, "-m", "sessionkit_zmq", "--help", check=False,
                           cwd=run_dir)
            assert "install sessionkit-zmq[sim]" in proc.stderr, proc.stderr
