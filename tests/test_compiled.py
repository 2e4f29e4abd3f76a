"""The compiled core (setup.py): what is built is what setup.py lists, the pure-Python
switch really imports the sources, and the core's tests pass on both."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import sessionkit
from sessionkit._compiled import pure_requested, stale_builds

ROOT = Path(__file__).resolve().parents[1]

needs_compiled = pytest.mark.skipif(
    not sessionkit.compiled_modules(),
    reason="the core runs as pure Python here: nothing compiled to switch from")


def _listed_in_setup_py() -> set[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILED":
            paths = ast.literal_eval(node.value)
            return {p.removesuffix(".py").replace("/", ".") for p in paths}
    raise AssertionError("setup.py has no COMPILED list")


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **env}, timeout=300, check=False)


def _c_compiler() -> str | None:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc)


def test_every_module_setup_py_lists_is_compiled_and_no_other() -> None:
    # the build is optional: a failed build leaves the core pure without a word
    compiled = set(sessionkit.compiled_modules())
    if not compiled and (pure_requested() or _c_compiler() is None):
        pytest.skip("pure Python asked for (SESSIONKIT_PURE), or no C compiler here")
    assert compiled == _listed_in_setup_py(), (
        "the core is not compiled as setup.py says though a C compiler is here: "
        "run tools/dev setup (tools/build_core.py --force rebuilds it)")


@needs_compiled
def test_sessionkit_pure_imports_every_module_from_its_source() -> None:
    code = ("import json, sessionkit, sessionkit.runtime\n"
            "print(json.dumps([sessionkit.compiled_modules(), sessionkit._session.__file__]))")
    proc = _python(code, SESSIONKIT_PURE="1")
    assert proc.returncode == 0, proc.stderr
    compiled, session_file = json.loads(proc.stdout)
    assert compiled == [] and session_file.endswith(os.path.join("sessionkit", "_session.py"))
    proc = _python(code, SESSIONKIT_PURE="0")
    assert json.loads(proc.stdout)[0] == list(sessionkit.compiled_modules())


@needs_compiled
def test_the_core_tests_pass_on_the_pure_python_core_too() -> None:
    core_tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")
                        if p.name != Path(__file__).name)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-x", *core_tests],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "SESSIONKIT_PURE": "1"}, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "sessionkit core: pure Python" in proc.stdout  # the header: the switch took
    assert " passed" in proc.stdout.splitlines()[-1]


@pytest.mark.parametrize(("value", "pure"), [("1", True), ("true", True), ("YES", True),
                                             ("0", False), ("", False), ("no", False)])
def test_sessionkit_pure_takes_the_usual_true_words(monkeypatch: pytest.MonkeyPatch,
                                                     value: str, pure: bool) -> None:
    monkeypatch.setenv("SESSIONKIT_PURE", value)
    assert pure_requested() is pure


def test_a_source_edited_after_its_build_is_found_stale(tmp_path: Path) -> None:
    suffix = ".cpython-311-x86_64-linux-gnu.so"
    for stem, source_newer in (("_edited", True), ("_kept", False)):
        so, src = tmp_path / (stem + suffix), tmp_path / (stem + ".py")
        so.write_bytes(b"")
        src.write_text("")
        so_time = 1_000_000.0
        os.utime(so, (so_time, so_time))
        os.utime(src, (so_time + (10 if source_newer else -10),) * 2)
    (tmp_path / "_alone.py").write_text("")  # no build: nothing to be stale
    assert stale_builds(tmp_path) == ["_edited.py"]
