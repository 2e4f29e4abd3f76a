"""Pluggable subcommands: built-ins plus click commands registered by other distributions.

A distribution adds a command with an entry point in the ``sessionkit.cli``
group; the entry point's value is a click command (or group)::

    [project.entry-points."sessionkit.cli"]
    keygen = "sessionkit_zmq.cli:keygen"          # sessionkit keygen
    "sim.zmq" = "sessionkit_zmq.cli:simulator"    # sessionkit sim zmq

A dotted name nests: ``sim.zmq`` becomes ``zmq`` under a ``sim`` group that
exists as soon as one command is registered below it. Commands are imported
only when they run or when a help text lists them; one that fails to load
shows as a command that reports the error, so a broken plugin never breaks
the rest of the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

import click

__all__ = ["ENTRY_POINT_GROUP", "BUILTIN", "LazyGroup", "command_specs"]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "sessionkit.cli"

#: the commands sessionkit itself ships, as "module:attribute"
BUILTIN: dict[str, str] = {
    "conformance": "sessionkit.cli._conformance:conformance",
    "demo": "sessionkit.cli._demo:demo",
    "journal": "sessionkit.store._cli:journal_group",
    "supervise": "sessionkit.store._supcli:supervise_group",
}


def _entry_point_specs() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def command_specs() -> dict[str, str]:
    """Every registered command, by dotted name: built-ins win over plugins of the same name."""
    specs = {}
    for name, target in _entry_point_specs().items():
        if name in BUILTIN:
            logger.warning("ignoring plugin command %r (%s): sessionkit has a built-in command "
                           "of that name", name, target)
            continue
        specs[name] = target
    specs.update(BUILTIN)
    return specs


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj: Any = import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def _broken(name: str, target: str, error: BaseException) -> click.Command:
    message = f"could not load {target}: {type(error).__name__}: {error}"

    def fail() -> None:
        raise click.ClickException(f"command {name!r} is unavailable: {message}")

    return click.Command(name, callback=fail, help=f"(unavailable: {message})",
                         short_help="(unavailable: failed to load)")


class LazyGroup(click.Group):
    """A click group whose subcommands come from :func:`command_specs`, loaded on demand.

    ``prefix`` is the dotted path of this group (empty for the top level).
    """

    def __init__(self, *args: Any, prefix: str = "",
                 specs: Callable[[], dict[str, str]] = command_specs, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefix = prefix
        self._specs = specs

    def _children(self) -> dict[str, str | None]:
        """name -> target for direct commands, None for a nested group."""
        out: dict[str, str | None] = {}
        lead = f"{self.prefix}." if self.prefix else ""
        for full, target in self._specs().items():
            if not full.startswith(lead):
                continue
            head, _, rest = full[len(lead):].partition(".")
            if not head:
                continue
            if rest:
                out.setdefault(head, None)
            else:
                out[head] = target
        return out

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._children()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        if cmd is not None:
            return cmd
        children = self._children()
        if name not in children:
            return None
        path = f"{self.prefix}.{name}" if self.prefix else name
        target = children[name]
        if target is None:
            cmd = LazyGroup(name=name, prefix=path, specs=self._specs,
                            help=f"The '{name}' commands registered by installed packages.")
        else:
            try:
                cmd = _load(target)
            except Exception as exc:
                return _broken(name, target, exc)
            if not isinstance(cmd, click.Command):
                return _broken(name, target, TypeError(
                    f"{target} is a {type(cmd).__name__}, not a click command"))
            if isinstance(cmd, click.Group) and any(
                    k.startswith(path + ".") for k in self._specs()):
                for sub in LazyGroup(prefix=path, specs=self._specs).list_commands(ctx):
                    if sub not in cmd.commands:
                        child = LazyGroup(prefix=path, specs=self._specs).get_command(ctx, sub)
                        if child is not None:
                            cmd.add_command(child, sub)
        return cmd
