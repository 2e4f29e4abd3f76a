"""The library's loggers: a NullHandler on each top-level logger and no other handler.

An application that configures no logging sees nothing from sessionkit (no record reaches
stderr through ``logging.lastResort``); one that does gets every record through its own
handlers, since importing sessionkit adds none that would print them.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: what a user may import: every package with a public API, the command line, the adapters
MODULES = [
    "sessionkit", "sessionkit.runtime", "sessionkit.runtime.memory", "sessionkit.store",
    "sessionkit.streaming", "sessionkit.testing", "sessionkit.conformance",
    "sessionkit.conformance.pytest_plugin", "sessionkit.cli",
    "sessionkit_zmq", "sessionkit_zmq.cli", "sessionkit_mesolive",
    "sessionkit_mesolive.signalr", "sessionkit_mesolive.sim.app",
    "sessionkit_mesolive.sim.cli",
]
TOP_LEVEL = ["sessionkit", "sessionkit_zmq", "sessionkit_mesolive"]

_PROBE = """
import importlib, json, logging, sys
for name in {modules!r}:
    importlib.import_module(name)
handlers = {{}}
for name, logger in [("", logging.getLogger())] + sorted(
        logging.Logger.manager.loggerDict.items()):
    if isinstance(logger, logging.Logger) and logger.handlers:
        handlers[name] = [type(h).__name__ for h in logger.handlers]
# a warning of each library logger, with no logging configured
for name in {top!r}:
    logging.getLogger(name + ".probe").warning("a warning nobody asked to see")
print(json.dumps(handlers))
"""


def _probe() -> subprocess.CompletedProcess[str]:
    code = _PROBE.format(modules=MODULES, top=TOP_LEVEL)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)


def test_importing_adds_only_a_null_handler_to_each_top_level_logger() -> None:
    handlers = json.loads(_probe().stdout.strip().splitlines()[-1])
    assert handlers == {name: ["NullHandler"] for name in TOP_LEVEL}


def test_without_logging_configured_nothing_reaches_stderr() -> None:
    assert "a warning nobody asked to see" not in _probe().stderr


def test_an_application_handler_gets_the_records() -> None:
    code = ("import logging, io, sessionkit, sessionkit_zmq, sessionkit_mesolive;"
            "logging.basicConfig(level=logging.INFO, format='%(name)s %(message)s');"
            "[logging.getLogger(n + '.x').info('hello') for n in "
            f"{TOP_LEVEL!r}]")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert proc.stderr.splitlines() == [f"{name}.x hello" for name in TOP_LEVEL]
