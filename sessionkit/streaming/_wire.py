"""The JSON wire format at the engine's edges (cattrs converters and message parsing).

Models never know their wire names; this module maps between the PascalCase
names of OpenAPI and the attrs models, and parses control messages. Every
problem comes out as :class:`WireError` with a message naming the field.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any, cast

import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._models import HeartbeatReason, Snapshot, SubscribeRequest

__all__ = [
    "WireError",
    "show",
    "decode_json",
    "parse_heartbeats",
    "parse_reset_targets",
    "request_body",
    "snapshot_body",
    "structure_snapshot",
]

_SNAPSHOT_NAMES = {
    "context_id": "ContextId",
    "reference_id": "ReferenceId",
    "data": "Snapshot",
    "inactivity_timeout": "InactivityTimeout",
    "refresh_rate": "RefreshRate",
    "state": "State",
    "tag": "Tag",
    "format": "Format",
}
_REQUEST_NAMES = {
    "context_id": "ContextId",
    "reference_id": "ReferenceId",
    "arguments": "Arguments",
    "refresh_rate": "RefreshRate",
    "tag": "Tag",
    "format": "Format",
}


class WireError(ValueError):
    """A message or body from the server does not have the expected shape."""


_REPR = reprlib.Repr()
_REPR.maxlevel = 4  # bounded: a deeply nested value must not recurse past Python's limit
_REPR.maxstring = _REPR.maxother = 80


def show(value: Any) -> str:
    """A short repr of something the server sent (bounded in depth and length)."""
    text = _REPR.repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _strict_str(value: Any, _type: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {show(value)}")
    return value


def _strict_int(value: Any, _type: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {show(value)}")
    return value


def _strict_float(value: Any, _type: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {show(value)}")
    return float(value)


def _renames(names: Mapping[str, str]) -> dict[str, Any]:
    return cast(dict[str, Any], {k: override(rename=v) for k, v in names.items()})


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(float, _strict_float)
    conv.register_structure_hook(
        Snapshot,
        make_dict_structure_fn(Snapshot, conv, **_renames(_SNAPSHOT_NAMES)),
    )
    conv.register_unstructure_hook(
        Snapshot,
        make_dict_unstructure_fn(
            Snapshot,
            conv,
            _cattrs_omit_if_default=True,
            **_renames(_SNAPSHOT_NAMES),
        ),
    )
    conv.register_unstructure_hook(
        SubscribeRequest,
        make_dict_unstructure_fn(
            SubscribeRequest,
            conv,
            _cattrs_omit_if_default=True,
            resource=override(omit=True),
            replaces=override(omit=True),
            **_renames(_REQUEST_NAMES),
        ),
    )
    return conv


_converter = _make_converter()


def decode_json(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode one JSON text; raise :class:`WireError` saying why it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise WireError(f"payload is not valid JSON: {e}") from None


def _describe(exc: BaseException, names: Mapping[str, str]) -> str:
    if isinstance(exc, cattrs.ClassValidationError):
        with_notes, without = exc.group_exceptions()
        parts = []
        for err, note in with_notes:
            wire = names.get(note.name, note.name)
            if isinstance(err, KeyError):
                parts.append(f"{wire} is missing")
            else:
                parts.append(f"{wire}: {err}")
        parts.extend(str(err) for err in without)
        return "; ".join(parts)
    return str(exc)


def structure_snapshot(body: Any) -> Snapshot:
    """The :class:`Snapshot` in a subscribe response body (a decoded JSON object)."""
    if not isinstance(body, Mapping):
        raise WireError(f"snapshot body must be a JSON object, got {type(body).__name__}")
    try:
        snap = _converter.structure(body, Snapshot)
    except (cattrs.BaseValidationError, ValueError, TypeError) as e:
        raise WireError(f"snapshot body is malformed: {_describe(e, _SNAPSHOT_NAMES)}") from None
    if snap.inactivity_timeout is not None and snap.inactivity_timeout < 0:
        raise WireError(
            f"snapshot body is malformed: InactivityTimeout {snap.inactivity_timeout!r} is negative"
        )
    if snap.refresh_rate is not None and snap.refresh_rate < 0:
        raise WireError(
            f"snapshot body is malformed: RefreshRate {snap.refresh_rate!r} is negative"
        )
    return snap


def snapshot_body(snapshot: Snapshot) -> dict[str, Any]:
    """The wire form of a snapshot (what a server, or the simulator, answers)."""
    body: dict[str, Any] = _converter.unstructure(snapshot)
    body.setdefault("Snapshot", snapshot.data)
    return body


def request_body(request: SubscribeRequest) -> dict[str, Any]:
    """The JSON body of a subscribe request, with the OpenAPI field names.

    >>> request_body(SubscribeRequest("trade/v1/infoprices", "ctx", "p1", {"Uic": 21}))
    {'ContextId': 'ctx', 'ReferenceId': 'p1', 'Arguments': {'Uic': 21}}
    """
    body: dict[str, Any] = _converter.unstructure(request)
    return body


def parse_heartbeats(msg: Mapping[str, Any]) -> tuple[list[tuple[str, HeartbeatReason]], list[str]]:
    """The (reference id, reason) pairs of a ``_heartbeat`` message, and a problem
    description for every entry that could not be read."""
    beats = msg.get("Heartbeats")
    if not isinstance(beats, list):
        return [], [f"_heartbeat: Heartbeats must be a list, got {show(beats)}"]
    out: list[tuple[str, HeartbeatReason]] = []
    problems: list[str] = []
    for i, beat in enumerate(beats):
        where = f"_heartbeat: Heartbeats[{i}]"
        if not isinstance(beat, Mapping):
            problems.append(f"{where} must be an object, got {show(beat)}")
            continue
        ref = beat.get("OriginatingReferenceId")
        if not isinstance(ref, str):
            problems.append(f"{where}.OriginatingReferenceId must be a string, got {show(ref)}")
            continue
        raw = beat.get("Reason")
        if raw is None:
            out.append((ref, HeartbeatReason.NO_NEW_DATA))
            continue
        try:
            out.append((ref, HeartbeatReason(raw)))
        except ValueError:
            problems.append(f"{where}.Reason {show(raw)} is not a known heartbeat reason")
    return out, problems


def parse_reset_targets(msg: Mapping[str, Any]) -> list[str] | None:
    """The TargetReferenceIds of a ``_resetsubscriptions`` message; None means all."""
    targets = msg.get("TargetReferenceIds")
    if targets is None:
        return None
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise WireError(
            "_resetsubscriptions: TargetReferenceIds must be a list of strings, got "
            f"{show(targets)}"
        )
    return targets or None
