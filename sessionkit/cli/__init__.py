"""The ``sessionkit`` command line.

Subcommands are pluggable: sessionkit ships ``demo`` and ``conformance``;
other distributions add theirs through the ``sessionkit.cli`` entry point
group (see :mod:`sessionkit.cli._registry` and ``docs/adapters.md``).
"""

from __future__ import annotations

import logging

try:
    import click
except ImportError as exc:  # the command line is an extra: the core needs no click
    raise ImportError(f"the sessionkit command needs click ({exc}): "
                      "install sessionkit[cli]") from exc

from ._registry import BUILTIN, ENTRY_POINT_GROUP, LazyGroup, command_specs

__all__ = ["main", "LazyGroup", "command_specs", "ENTRY_POINT_GROUP", "BUILTIN"]

_LEVELS = ("debug", "info", "warning", "error", "critical")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sessionkit", prog_name="sessionkit")
@click.option("--log-level", type=click.Choice(_LEVELS), default="error", show_default=True,
              help="Log records of sessionkit at this level and above go to stderr.")
@click.pass_context
def main(ctx: click.Context, log_level: str) -> None:
    """sessionkit: a reliable session between trading engines and exchanges.

    Run 'sessionkit COMMAND --help' for the options of a command. Installed
    adapters may add commands of their own.
    """
    # sessionkit logs to its own logger tree and installs no handler; the command
    # line is an application, so it shows records at --log-level on stderr while a
    # command runs, and puts the logger back as it was afterwards.
    logger = logging.getLogger("sessionkit")
    saved = (logger.level, logger.propagate)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.setLevel(getattr(logging, log_level.upper()))
    logger.addHandler(handler)
    logger.propagate = False

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]

    ctx.call_on_close(restore)
