"""Build of the ``sessionkit`` distribution: its metadata is in pyproject.toml; this file
adds the compiled core.

The sans-IO core's state machines (the modules in ``COMPILED``) are compiled with mypyc
into C extensions. They are the same fully typed sources, with the same behaviour; each
order passes through them several times, and compiled they take a few microseconds less
per order (docs/architecture.md, "The compiled core"). Where they cannot be built (no C
compiler) the build goes on without them and the pure-Python modules are used.
``SESSIONKIT_PURE=1`` skips them on purpose.

A compiled module lies beside its source (``pip install -e .`` and
``python setup.py build_ext --inplace`` put it there) and is imported in its place:
``tools/dev`` rebuilds the core when a source is newer than its build
(``tools/build_core.py``).
"""

from __future__ import annotations

import runpy

from setuptools import setup

#: the core modules compiled with mypyc (paths from the project's root)
COMPILED = [
    "sessionkit/_tracking.py",
    "sessionkit/_submitting.py",
    "sessionkit/_session.py",
    "sessionkit/_flow.py",
    "sessionkit/_heartbeat.py",
    "sessionkit/_sequencing.py",
]


def compiled_core() -> list:
    # the rule of SESSIONKIT_PURE is the package's own (a stdlib-only module, run by path)
    if runpy.run_path("sessionkit/_compiled.py")["pure_requested"]():
        return []
    from mypyc.build import mypycify

    extensions = mypycify(COMPILED, opt_level="3")
    for ext in extensions:
        ext.optional = True  # a failed build leaves the pure-Python module in use
    return extensions


if __name__ == "__main__":
    setup(ext_modules=compiled_core())
