"""The docstring examples of the streaming package run and hold."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import sessionkit.streaming as streaming

MODULES = sorted(m.name for m in pkgutil.iter_modules(streaming.__path__, "sessionkit.streaming."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_every_public_name_is_exported() -> None:
    for name in streaming.__all__:
        assert hasattr(streaming, name), name
