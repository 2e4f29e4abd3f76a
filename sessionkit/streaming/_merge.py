"""Applying streaming deltas to a snapshot.

The rules, from the OpenAPI streaming semantics:

* an object update holds only the properties that changed; structured values
  (objects, keyed arrays) are updates themselves and apply recursively, any
  other value replaces the old one;
* an array without key properties is sent whole and replaces the old array;
* an array with key properties holds add, update and delete elements: an
  element whose key is not in the state is added, one with ``__meta_deleted``
  removes the element with its key, any other updates (merges into) it.

Key properties are not on the wire; they are declared per path with a
:class:`KeySpec`. A path is the dotted property names from the root, arrays
being transparent (``"Data.Legs"`` is the ``Legs`` array of each element of
the ``Data`` array); ``""`` is the root itself.

The merge is copy-on-write: it never changes the state or the delta it is
given, and returns a new state that shares every untouched branch with the old
one. A state handed out earlier therefore stays valid, and a failed merge
leaves nothing half-done behind.

Nesting is bounded: data nested deeper than ``max_depth`` levels (objects and
arrays; :data:`DEFAULT_MAX_DEPTH` unless given) is refused with a
:class:`MergeError` naming the limit, before Python's own recursion limit could
be reached.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import attrs

from ._errors import InvalidArgumentError, MergeError

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DELETED_MARKER",
    "IndexCache",
    "KeySpec",
    "KeysArg",
    "apply_update",
    "clone_data",
    "merge_delta",
]

DELETED_MARKER = "__meta_deleted"
"""The property that marks an element of a keyed array as deleted in a delta."""
LIST_DATA_PROPERTY = "Data"
DEFAULT_MAX_DEPTH = 100
"""Levels of nested objects and arrays the merge accepts (``StreamingConfig.max_depth``)."""

KeysArg: TypeAlias = "KeySpec | Sequence[str] | Mapping[str, Sequence[str]] | None"
"""What ``keys=`` accepts: a KeySpec, key names for the top-level array, or path -> key names."""

_SCALARS = frozenset({str, int, float, bool, type(None)})
_MISSING: Any = object()
_GONE: Any = object()


class _Node:
    """One level of the compiled key tree: key properties here, and deeper paths."""

    __slots__ = ("children", "keys")

    def __init__(self) -> None:
        self.keys: tuple[str, ...] | None = None
        self.children: dict[str, _Node] = {}


_LEAF = _Node()


class _Fail(Exception):
    """Internal: a merge failure whose path is filled in while unwinding."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []


class _TooDeep(_Fail):
    """Internal: nested deeper than the limit (the top level names the limit)."""

    def __init__(self) -> None:
        super().__init__("nested too deep")


def _check_names(field: str, value: object, names: object) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise InvalidArgumentError(field, value, "key properties must be a sequence of names")
    out = tuple(names)
    if not out:
        raise InvalidArgumentError(field, value, "needs at least one key property name")
    for name in out:
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(field, value, f"key property {name!r} is not a name")
    return out


def _to_pairs(value: object) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if isinstance(value, Mapping):
        pairs = []
        for path, names in value.items():
            if not isinstance(path, str) or any(not seg for seg in path.split(".")) and path:
                raise InvalidArgumentError("keys", value, f"path {path!r} is not a dotted path")
            pairs.append((path, _check_names("keys", value, names)))
        return tuple(sorted(pairs))
    if isinstance(value, tuple) and all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in value
    ):
        return _to_pairs(dict(value))
    raise InvalidArgumentError("keys", value, "expected a mapping of path -> key property names")


@attrs.frozen
class KeySpec:
    """The key properties of the keyed arrays of one resource, by path.

    >>> spec = KeySpec.of({"Data": ["PositionId"], "Data.Legs": ["LegId"]})
    >>> spec.keys_at("Data.Legs")
    ('LegId',)

    A plain sequence of names is shorthand for the top-level array: the root if
    the snapshot is an array, or its ``Data`` array (list resources).

    >>> KeySpec.of(("Name",)).paths
    (('', ('Name',)), ('Data', ('Name',)))
    """

    paths: tuple[tuple[str, tuple[str, ...]], ...] = attrs.field(converter=_to_pairs)
    _root: _Node = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        root = _Node()
        for path, names in self.paths:
            node = root
            if path:
                for seg in path.split("."):
                    node = node.children.setdefault(seg, _Node())
            node.keys = names
        object.__setattr__(self, "_root", root)

    @classmethod
    def of(cls, keys: KeysArg) -> KeySpec:
        """Build a spec from whatever ``subscribe(keys=...)`` accepts."""
        if keys is None:
            return cls(())
        if isinstance(keys, KeySpec):
            return keys
        if isinstance(keys, Mapping):
            return cls(keys)
        names = _check_names("keys", keys, keys)
        return cls({"": names, LIST_DATA_PROPERTY: names})

    def keys_at(self, path: str) -> tuple[str, ...] | None:
        """The key properties declared for ``path``, or None."""
        return dict(self.paths).get(path)


def _clone(value: Any, room: int) -> Any:
    """A copy of ``value``; ``room``: how many more levels of nesting may be entered."""
    t = type(value)
    if t is dict:
        if room <= 0:
            raise _TooDeep()
        room -= 1
        return {k: v if type(v) in _SCALARS else _clone(v, room) for k, v in value.items()}
    if t is list:
        if room <= 0:
            raise _TooDeep()
        room -= 1
        return [v if type(v) in _SCALARS else _clone(v, room) for v in value]
    if t in _SCALARS:
        return value
    return _clone(_plain(value, room), room)


def _plain(value: Any, room: int) -> Any:
    """Turn other mapping / sequence types (not str) into dict / list; reject the rest."""
    if isinstance(value, Mapping):
        if room <= 0:
            raise _TooDeep()
        return {k: _plain(v, room - 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if room <= 0:
            raise _TooDeep()
        return [_plain(v, room - 1) for v in value]
    if type(value) in _SCALARS or isinstance(value, (str, int, float)):
        return value
    raise _Fail(f"value of type {type(value).__name__} is not JSON data")


IndexCache: TypeAlias = "dict[int, tuple[list[Any], dict[Any, int]]]"
"""Key indexes of keyed arrays of a state, by ``id`` of the array (engine-owned states only)."""


def _merge_dict(
    target: dict[str, Any], delta: dict[str, Any], node: _Node, cache: IndexCache | None,
    room: int,
) -> dict[str, Any]:
    if room <= 0:
        raise _TooDeep()
    room -= 1
    out = target.copy()
    children = node.children
    for k, v in delta.items():
        tv = type(v)
        if tv in _SCALARS:
            out[k] = v
            continue
        if tv is not dict and tv is not list:
            try:
                v = _plain(v, room)
            except _Fail as e:
                e.path.append(str(k))
                raise
            tv = type(v)
        child = children.get(k, _LEAF) if children else _LEAF
        try:
            if tv is dict:
                cur = out.get(k)
                out[k] = _merge_dict(cur if type(cur) is dict else {}, v, child, cache, room)
            elif child.keys is not None:
                cur = out.get(k)
                out[k] = _merge_keyed(cur if type(cur) is list else [], v, child, cache, room)
            else:
                out[k] = _clone(v, room)
        except _Fail as e:
            e.path.append(str(k))
            raise
    return out


def _key_of(el: dict[str, Any], keys: tuple[str, ...]) -> Any:
    parts = []
    for name in keys:
        p = el.get(name, _MISSING)
        if p is _MISSING:
            raise _Fail(f"element lacks key property {name!r}")
        parts.append(p)
    return parts[0] if len(parts) == 1 else tuple(parts)


def _build_index(items: list[Any], keys: tuple[str, ...]) -> dict[Any, int]:
    """Key -> position of the elements of a state's keyed array (first one wins).

    Elements without their keys (or with unhashable ones) cannot be addressed
    and are left out.
    """
    index: dict[Any, int] = {}
    single = keys[0] if len(keys) == 1 else None
    for n, el in enumerate(items):
        if type(el) is not dict:
            continue
        if single is not None:
            k = el.get(single, _MISSING)
            if k is _MISSING:
                continue
        else:
            try:
                k = _key_of(el, keys)
            except _Fail:
                continue
        try:
            index.setdefault(k, n)
        except TypeError:
            pass
    return index


def _merge_keyed(
    target: list[Any], delta: list[Any], node: _Node, cache: IndexCache | None, room: int
) -> list[Any]:
    if room <= 0:
        raise _TooDeep()
    room -= 1
    keys = node.keys
    assert keys is not None
    out = list(target)
    index = None
    if cache is not None:
        hit = cache.pop(id(target), None)
        if hit is not None and hit[0] is target:
            index = hit[1]  # taken over: it now describes ``out``
    if index is None:
        index = _build_index(out, keys)
    single = keys[0] if len(keys) == 1 else None
    removed = False
    for pos, el in enumerate(delta):
        try:
            if type(el) is not dict:
                if isinstance(el, Mapping):
                    el = _plain(el, room)
                else:
                    raise _Fail(f"element of a keyed array must be an object, not {el!r}")
            if single is not None:
                key = el.get(single, _MISSING)
                if key is _MISSING:
                    raise _Fail(f"element lacks key property {single!r}")
            else:
                key = _key_of(el, keys)
            try:
                i = index.get(key)
            except TypeError:
                raise _Fail(f"key {key!r} is not a plain value") from None
            if i is None:
                if DELETED_MARKER in el:
                    continue  # deleting what is not there: nothing to do
                index[key] = len(out)
                out.append(_merge_dict({}, el, node, cache, room))
            elif DELETED_MARKER in el:
                out[i] = _GONE
                del index[key]
                removed = True
            else:
                out[i] = _merge_dict(out[i], el, node, cache, room)
        except _Fail as e:
            e.path.append(f"[{pos}]")
            raise
    if removed:
        out = [el for el in out if el is not _GONE]  # positions moved: index not kept
    elif cache is not None:
        cache[id(out)] = (out, index)
    return out


def _raise(e: _Fail, max_depth: int) -> MergeError:
    path = "$"
    segments = list(reversed(e.path))
    if isinstance(e, _TooDeep) and len(segments) > 8:  # the path of a deep value is long
        segments = [*segments[:8], f"...({len(segments) - 8} more)"]
    for seg in segments:
        path += seg if seg.startswith("[") else f".{seg}"
    if isinstance(e, _TooDeep):
        return MergeError(path, f"data nested deeper than {max_depth} levels (max_depth)")
    return MergeError(path, e.problem)


def apply_update(state: Any, data: Any, spec: KeySpec, cache: IndexCache | None = None,
                 max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Apply one update's ``Data`` to ``state``; return the new state.

    Like :func:`merge_delta`, plus the list-resource rule of OpenAPI streaming:
    when the snapshot is an object holding a ``Data`` array and the update is an
    array, the update applies to that ``Data`` array.

    ``cache`` lets the caller keep the key indexes of keyed arrays between
    updates of a state it owns; it must only ever see states produced by
    ``apply_update`` with that same cache, and never changed in place.
    """
    root: _Node = spec._root
    room = max_depth
    try:
        td = type(data)
        if td is dict:
            return _merge_dict(state if type(state) is dict else {}, data, root, cache, room)
        if td is list:
            if type(state) is dict and type(state.get(LIST_DATA_PROPERTY)) is list:
                child = root.children.get(LIST_DATA_PROPERTY, _LEAF)
                out = state.copy()
                try:
                    if child.keys is not None:
                        out[LIST_DATA_PROPERTY] = _merge_keyed(
                            state[LIST_DATA_PROPERTY], data, child, cache, room
                        )
                    else:
                        out[LIST_DATA_PROPERTY] = _clone(data, room)
                except _Fail as e:
                    e.path.append(LIST_DATA_PROPERTY)
                    raise
                return out
            if root.keys is not None:
                return _merge_keyed(state if type(state) is list else [], data, root, cache,
                                    room)
            return _clone(data, room)
        if td in _SCALARS:
            return data
        return apply_update(state, _plain(data, room), spec, cache, max_depth)
    except _Fail as e:
        raise _raise(e, max_depth) from None


def merge_delta(state: Any, delta: Any, keys: KeysArg = None, *,
                max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Return ``state`` with ``delta`` applied; neither argument is changed.

    >>> snapshot = {"Name": "Mister Green", "Age": 42,
    ...             "Address": {"Street": "Green Boulevard", "City": "Green Town"}}
    >>> merge_delta(snapshot, {"Age": 43, "Address": {"Street": "Red Boulevard"}})["Address"]
    {'Street': 'Red Boulevard', 'City': 'Green Town'}
    >>> merge_delta([{"Id": 1, "P": 1}, {"Id": 2, "P": 2}],
    ...             [{"Id": 1, "P": 5}, {"Id": 2, "__meta_deleted": True}, {"Id": 3, "P": 3}],
    ...             keys=("Id",))
    [{'Id': 1, 'P': 5}, {'Id': 3, 'P': 3}]

    Raises :class:`MergeError` naming the path when the delta does not fit the
    key spec (a keyed element without its key, a non-object in a keyed array),
    or is nested deeper than ``max_depth`` levels.
    """
    return apply_update(state, delta, KeySpec.of(keys), max_depth=max_depth)


def clone_data(value: Any, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """A deep copy of JSON-like data (other mappings / sequences become dict / list);
    :class:`MergeError` when it is nested deeper than ``max_depth`` levels."""
    try:
        return _clone(value, max_depth)
    except _Fail as e:
        raise _raise(e, max_depth) from None
