"""The three distributions built as wheels once per test session, from a copy of the sources."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: distribution name -> (source directory, import package)
DISTRIBUTIONS = {
    "sessionkit": (ROOT, "sessionkit"),
    "sessionkit-zmq": (ROOT / "adapters" / "zmq", "sessionkit_zmq"),
    "sessionkit-mesolive": (ROOT / "adapters" / "mesolive", "sessionkit_mesolive"),
}

_IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", "node_modules",
                                 "tests", ".venv", "*.pyc")


def _copy_sources(source: Path, package: str, dest: Path) -> Path:
    """What a build reads: the manifest, the README and the package (a build writes
    ``build/`` and ``*.egg-info`` beside its sources; the work tree stays as it is)."""
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(source / name, dest / name)
    shutil.copytree(source / package, dest / package, ignore=_IGNORE)
    return dest


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """distribution name -> its wheel, built without build isolation (setuptools from the
    dev environment, so no download)."""
    base = tmp_path_factory.mktemp("wheels")
    out = base / "dist"
    built: dict[str, Path] = {}
    for dist, (source, package) in DISTRIBUTIONS.items():
        tree = _copy_sources(source, package, base / "src" / dist)
        before = set(out.glob("*.whl")) if out.exists() else set()
        proc = subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
             str(tree)],
            capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"building {dist} failed:\n{proc.stdout}\n{proc.stderr}"
        (wheel,) = set(out.glob("*.whl")) - before
        built[dist] = wheel
    return built
