"""MesoLive wire models: frozen msgspec Structs with snake_case attributes.

One module per concern (:mod:`._enums`, :mod:`._common`, :mod:`._control`, :mod:`._data`,
:mod:`._events`) on one base (:mod:`._base`: the generated PascalCase wire names and the
wire rules msgspec's types do not say); everything public is re-exported here. JSON is read
and written by :mod:`sessionkit_mesolive._converters`.
"""

from __future__ import annotations

from ._base import Model, Open, WireInt, wire_name
from ._common import *  # noqa: F403
from ._common import __all__ as _common_all
from ._control import *  # noqa: F403
from ._control import __all__ as _control_all
from ._data import *  # noqa: F403
from ._data import __all__ as _data_all
from ._enums import *  # noqa: F403
from ._enums import __all__ as _enums_all
from ._events import *  # noqa: F403
from ._events import __all__ as _events_all

__all__ = ["Model", "Open", "WireInt", "wire_name",
           *_enums_all, *_common_all, *_control_all, *_data_all, *_events_all]
