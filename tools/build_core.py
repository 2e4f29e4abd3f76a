"""Build the compiled core (setup.py) in place, beside its sources, when it needs it.

A build lies beside its source and Python imports it first, so an edit would be shadowed
by the old build. ``tools/dev`` runs this after every set-up: it builds when a build is
missing, older than its source (``sessionkit/_compiled.py``'s rule, which pytest's guard
applies too) or older than ``setup.py`` / ``pyproject.toml``, and does nothing under
``SESSIONKIT_PURE=1``. ``--force`` builds anyway.
"""

from __future__ import annotations

import glob
import os
import runpy
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def needs_build(compiled: dict) -> bool:
    builds = glob.glob(os.path.join(ROOT, "sessionkit", "*.cpython-*.so"))
    if not builds or compiled["stale_builds"](os.path.join(ROOT, "sessionkit")):
        return True
    manifests = max(os.stat(os.path.join(ROOT, f)).st_mtime
                    for f in ("setup.py", "pyproject.toml"))
    return min(os.stat(b).st_mtime for b in builds) < manifests


def main() -> int:
    # sessionkit/_compiled.py imports only the standard library: run it by path, so that a
    # stale build is not imported on the way
    compiled = runpy.run_path(os.path.join(ROOT, "sessionkit", "_compiled.py"))
    if compiled["pure_requested"]():
        return 0
    if "--force" not in sys.argv[1:] and not needs_build(compiled):
        return 0
    print("building the compiled core (setup.py; about 20 s)", file=sys.stderr)
    for b in glob.glob(os.path.join(ROOT, "sessionkit", "*.cpython-*.so")):
        os.remove(b)
    done = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                          cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
    # built from the sources as they are now; the copy from build/ keeps the time of the
    # last compile, which mypyc skips when its C output did not change
    for b in glob.glob(os.path.join(ROOT, "sessionkit", "*.cpython-*.so")):
        os.utime(b)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
