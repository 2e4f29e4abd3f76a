"""The wheels' metadata: what a user's pip reads to decide what gets installed.

The core installs without a runtime or a command-line library; each extra brings its part;
the adapters name the core versions they work with; every wheel is pure Python for 3.11+.
"""

from __future__ import annotations

import ast
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from .conftest import DISTRIBUTIONS

PYTHONS = ("3.11", "3.12", "3.13")


def _metadata(wheel: Path, name: str) -> Message:
    with zipfile.ZipFile(wheel) as zf:
        (path,) = [n for n in zf.namelist() if n.endswith(".dist-info/" + name)]
        return Parser().parsestr(zf.read(path).decode())


def _requirements(meta: Message) -> list[Requirement]:
    return [Requirement(r) for r in meta.get_all("Requires-Dist") or []]


def _base(meta: Message) -> dict[str, Requirement]:
    """The requirements every install gets (no extra in the marker)."""
    return {canonicalize_name(r.name): r for r in _requirements(meta)
            if r.marker is None or "extra" not in str(r.marker)}


def _extra(meta: Message, extra: str) -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in _requirements(meta)
            if r.marker is not None and r.marker.evaluate({"extra": extra})
            and "extra" in str(r.marker)}


def _source_version(dist: str) -> str:
    """``__version__`` of the package, read from its source as setuptools reads it."""
    source, package = DISTRIBUTIONS[dist]
    tree = ast.parse((source / package / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets):
            assert isinstance(node.value, ast.Constant)
            return str(node.value.value)
    raise AssertionError(f"{package}/__init__.py sets no __version__")


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_every_wheel_is_pure_python_for_any_platform(wheels: dict[str, Path], dist: str) -> None:
    name, version, _build, tags = parse_wheel_filename(wheels[dist].name)
    assert name == canonicalize_name(dist)
    assert {str(t) for t in tags} == {"py3-none-any"}
    wheel = _metadata(wheels[dist], "WHEEL")
    assert wheel["Root-Is-Purelib"] == "true"
    assert wheel.get_all("Tag") == ["py3-none-any"]


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_one_version_source_and_the_supported_pythons(wheels: dict[str, Path],
                                                      dist: str) -> None:
    meta = _metadata(wheels[dist], "METADATA")
    # the version in the metadata is the package's __version__: no second copy to forget
    assert meta["Version"] == _source_version(dist)
    assert meta["Requires-Python"] == ">=3.11"
    classifiers = set(meta.get_all("Classifier") or [])
    for python in PYTHONS:
        assert f"Programming Language :: Python :: {python}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert meta["License-Expression"] == "MIT"


def test_the_bare_core_needs_no_runtime_and_no_command_line(wheels: dict[str, Path]) -> None:
    meta = _metadata(wheels["sessionkit"], "METADATA")
    assert set(_base(meta)) == {"attrs", "msgspec"}
    assert set(meta.get_all("Provides-Extra") or []) >= {"runtime", "cli", "msgpack", "dev"}
    assert set(_extra(meta, "runtime")) == {"anyio"}  # asyncio, from the standard library
    trio = _extra(meta, "trio")  # trio as the loop: the runtime and trio
    assert set(trio) == {"sessionkit", "trio"} and trio["sessionkit"].extras == {"runtime"}
    cli = _extra(meta, "cli")
    assert set(cli) == {"click", "sessionkit"}
    assert cli["sessionkit"].extras == {"runtime"}  # the commands run sessions
    # msgpack frames come with msgspec (MsgpackCodec): the extra adds nothing
    assert _extra(meta, "msgpack") == {}


@pytest.mark.parametrize("dist", ["sessionkit-zmq", "sessionkit-mesolive"])
def test_adapters_bound_the_core_version_they_need(wheels: dict[str, Path], dist: str) -> None:
    meta = _metadata(wheels[dist], "METADATA")
    core = _base(meta)["sessionkit"]
    assert core.extras == {"runtime"}
    # a lower bound and an upper one below the next 0.x minor (which may break the API)
    core_version = Version(_source_version("sessionkit"))
    assert core.specifier.contains(core_version)
    assert not core.specifier.contains(Version(f"0.{core_version.minor + 1}.0"))
    assert not core.specifier.contains(Version("0.0.9"))
    # the [sim] extra brings the command line, bounded the same way
    sim = _extra(meta, "sim")["sessionkit"]
    assert sim.extras == {"cli"} and sim.specifier == core.specifier


def test_the_zmq_client_needs_no_command_line_library(wheels: dict[str, Path]) -> None:
    meta = _metadata(wheels["sessionkit-zmq"], "METADATA")
    assert set(_base(meta)) == {"sessionkit", "attrs", "anyio", "pyzmq"}


def test_the_mesolive_client_needs_no_web_server_and_one_websocket_library(
        wheels: dict[str, Path]) -> None:
    meta = _metadata(wheels["sessionkit-mesolive"], "METADATA")
    base = set(_base(meta))
    assert base == {"sessionkit", "attrs", "msgspec", "anyio", "httpx", "websockets"}
    assert not base & {"hypercorn", "click", "trio-websocket"}
    assert "hypercorn" in _extra(meta, "sim")
    assert set(_extra(meta, "trio-websocket")) == {"trio-websocket"}


def test_the_core_wheel_ships_its_scenarios_and_type_marker(wheels: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheels["sessionkit"]) as zf:
        names = set(zf.namelist())
    assert "sessionkit/py.typed" in names
    bundled = {n for n in names if n.startswith("sessionkit/conformance/scenarios/")}
    on_disk = {f"sessionkit/conformance/scenarios/{p.name}" for p in
               (DISTRIBUTIONS["sessionkit"][0] / "sessionkit/conformance/scenarios").glob("*.skt")}
    assert on_disk and bundled == on_disk
    for dist in ("sessionkit-zmq", "sessionkit-mesolive"):
        package = DISTRIBUTIONS[dist][1]
        with zipfile.ZipFile(wheels[dist]) as zf:
            assert f"{package}/py.typed" in zf.namelist()
