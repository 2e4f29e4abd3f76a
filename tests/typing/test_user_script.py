"""The public API under ``mypy --strict``: a user's script type-checks, and each of the
mistakes a new user makes fails type-checking with an error on its own line.

``user_script.py`` is the script; a variant replaces the line marked
``# variant: NAME`` with a mistake. All files are checked in one mypy run (its cache is
the repository's), then the script runs against the in-memory reference exchange.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from sessionkit.testing import ReferenceExchange

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SCRIPT = HERE / "user_script.py"

#: variant name -> (the marked line's replacement (indent kept), what mypy's error says)
VARIANTS: dict[str, tuple[str, str]] = {
    # an object that is not a processor
    "not_a_processor": ("object(),  # variant: processor", r'"object"'),
    # the class instead of an instance
    "processor_class": ("Processor,  # variant: processor", r'"type\[Processor\]"'),
    # a misspelled option
    "misspelled_option": ('acount="acct",  # variant: option', r'"acount"'),
    # a closed choice given a value it does not have
    "wrong_option_value": ('on_handler_error="stpo",  # variant: value',
                           r"'stpo'.*Literal\['log', 'stop'\]"),
    # a field of the options object misspelled
    "misspelled_field": ('options = SessionOptions(account="acct", submit_timout=2.0)'
                         '  # variant: fields', r'"submit_timout"'),
    # an option of Context given a value of the wrong type
    "context_option_type": ('name="engine-session", login_timeout="5")  # variant: context',
                            r'"login_timeout".*"str"|login_timeout'),
    # a closed choice of an adapter's client given a value it does not have
    "adapter_choice": ('token_transport="headr")  # variant: signalr', r"'headr'"),
    # a callback taking one argument where the runtime passes two
    "callback_signature": ("def on_answer(msg: Message) -> None:  # variant: callback",
                           r"Callable\[\[Message\], None\]"),
}


def variant(text: str, name: str) -> tuple[str, list[int]]:
    """The script with the line marked for ``name``'s kind replaced, and the numbers of the
    lines mypy must report it on."""
    replacement, _ = VARIANTS[name]
    kind = replacement.rsplit("# variant: ", 1)[1]
    lines = text.splitlines()
    (number,) = [i for i, line in enumerate(lines, 1) if line.endswith(f"# variant: {kind}")]
    old = lines[number - 1]
    lines[number - 1] = old[: len(old) - len(old.lstrip())] + replacement
    expect = [i for i, line in enumerate(lines, 1) if line.endswith(f"# expect: {kind}")]
    return "\n".join(lines) + "\n", expect or [number]


@pytest.fixture(scope="module")
def mypy_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, list[int]]]:
    """Each file's (mypy exit code, output, lines the error must be on): one ``mypy
    --strict`` process per file (a variant's error must not hide another's), all sharing
    the repository's cache."""
    out_dir = tmp_path_factory.mktemp("typing")
    text = SCRIPT.read_text()
    files: dict[str, tuple[Path, list[int]]] = {"ok": (SCRIPT, [])}
    for name in VARIANTS:
        body, line = variant(text, name)
        path = out_dir / f"user_script_{name}.py"
        path.write_text(body)
        files[name] = (path, line)
    results = {}
    # the adapters as the project's mypy run finds them (their editable installs are import
    # hooks mypy does not follow); an installed wheel needs none of this
    env = dict(os.environ, MYPYPATH=os.pathsep.join(str(ROOT / "adapters" / a)
                                                   for a in ("zmq", "mesolive")))
    for name, (path, line) in files.items():
        proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
                               "--show-error-codes", str(path)],
                              cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        results[name] = (proc.returncode, proc.stdout + proc.stderr, line)
    return results


def test_the_user_script_type_checks(mypy_run: dict[str, tuple[int, str, list[int]]]) -> None:
    code, output, _ = mypy_run["ok"]
    assert code == 0, output


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_mistake_fails_type_checking_on_its_line(
        mypy_run: dict[str, tuple[int, str, list[int]]], name: str) -> None:
    code, output, lines = mypy_run[name]
    assert code == 1, f"mypy passed the {name} variant:\n{output}"
    _, says = VARIANTS[name]
    for line in lines:
        on_line = [e for e in output.splitlines() if re.search(rf"\.py:{line}: error:", e)]
        assert any(re.search(says, e) for e in on_line), \
            f"no error matching {says!r} on line {line} of the {name} variant:\n{output}"


def test_the_user_script_runs() -> None:
    sys.path.insert(0, str(HERE))
    try:
        import user_script
    finally:
        sys.path.remove(str(HERE))
    cids = trio.run(user_script.trade, ReferenceExchange(run_id="run-1"))
    assert len(cids) == 2 and all(c.startswith("user") for c in cids)
