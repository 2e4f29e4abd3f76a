"""The per-method half of the typed hub clients, generated from the catalogue.

Each :class:`~._catalogue.HubMethod` becomes a method of :class:`ControlHubMethods`,
:class:`DataHubMethods` or :class:`EventHubMethods` named by its ``python_name``: a coroutine
calling :meth:`~._hubs.HubClient.call` for request/response methods, a plain method returning
a :class:`~._hubs.TypedStream` for streams. ``_hub_methods.pyi`` declares their typed
signatures; :func:`render_stub` writes it (a test checks that it matches the catalogue).

>>> ControlHubMethods.send_order.__doc__.splitlines()[0]
'``SendOrder(SendOrderArgs)`` -> ``SendOrderResult`` (idempotent).'
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

from ._catalogue import METHODS, Hub, HubMethod

__all__ = ["ControlHubMethods", "DataHubMethods", "EventHubMethods", "render_stub"]


class ControlHubMethods:
    """Control Hub methods (installed from the catalogue)."""


class DataHubMethods:
    """Data Hub snapshots and streams (installed from the catalogue)."""


class EventHubMethods:
    """Event Hub client-to-server methods (installed from the catalogue)."""


_MIXINS: dict[Hub, type] = {
    Hub.CONTROL: ControlHubMethods, Hub.DATA: DataHubMethods, Hub.EVENT: EventHubMethods}


def _type_text(tp: Any) -> str:
    """How a catalogue result type is written in the stub (``m.`` prefixes the models)."""
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        return f"tuple[{_type_text(item)}, ...]"
    return f"m.{tp.__name__}"


def _doc(spec: HubMethod) -> str:
    result = _type_text(spec.result_type).replace("m.", "")
    kind = "stream of" if spec.stream else "->"
    notes = [n for n, on in (("idempotent", spec.idempotent), ("inferred", spec.inferred)) if on]
    tail = f" ({', '.join(notes)})" if notes else ""
    return (f"``{spec.name}({spec.args_type.__name__})`` {kind} ``{result}``{tail}.\n\n"
            f"Pass a ``{spec.args_type.__name__}`` or its fields as keywords.")


def _make(spec: HubMethod) -> Callable[..., Any]:
    if spec.stream:
        def stream(self: Any, args: Any = None, /, **fields: Any) -> Any:
            return self.open_stream(spec, args, **fields)

        fn: Callable[..., Any] = stream
    else:
        async def call(self: Any, args: Any = None, /, **fields: Any) -> Any:
            return await self.call(spec, args, **fields)

        fn = call
    fn.__name__ = fn.__qualname__ = spec.python_name
    fn.__doc__ = _doc(spec)
    return fn


def _install() -> None:
    for spec in METHODS.values():
        setattr(_MIXINS[spec.hub], spec.python_name, _make(spec))


_install()


def render_stub() -> str:
    """The text of ``_hub_methods.pyi`` for the current catalogue."""
    lines = [
        '"""Typed signatures of the generated hub methods (written by render_stub())."""',
        "",
        "from typing import Any",
        "",
        "from . import models as m",
        "from ._hubs import TypedStream",
        "",
        "__all__ = " + repr(__all__).replace("'", '"'),
        "",
        "",
        "def render_stub() -> str: ...",
    ]
    for hub, cls in _MIXINS.items():
        lines += ["", "", f"class {cls.__name__}:"]
        for spec in (s for s in METHODS.values() if s.hub is hub):
            result = _type_text(spec.result_type)
            lines += [
                f"    {'def' if spec.stream else 'async def'} {spec.python_name}(",
                f"        self, args: m.{spec.args_type.__name__} | None = None, /, "
                "**fields: Any",
                f"    ) -> {f'TypedStream[{result}]' if spec.stream else result}: ...",
            ]
    return "\n".join(lines) + "\n"
