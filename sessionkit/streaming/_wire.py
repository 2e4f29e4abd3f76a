"""The JSON wire format at the engine's edges (msgspec) and message parsing.

The two wire models, :class:`~sessionkit.streaming.Snapshot` and
:class:`~sessionkit.streaming.SubscribeRequest`, are msgspec Structs that declare
their PascalCase OpenAPI names; this module reads and writes them (strictly: a string
field takes a string, an integer field an integer, a number field an integer or a
float, never a boolean) and parses control messages. Every problem comes out as
:class:`WireError` with a message naming the field.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping
from typing import Any

import msgspec

from ._models import SNAPSHOT_NAMES, HeartbeatReason, Snapshot, SubscribeRequest

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


class WireError(ValueError):
    """A message or body from the server does not have the expected shape."""


_REPR = reprlib.Repr()
_REPR.maxlevel = 4  # bounded: a deeply nested value must not recurse past Python's limit
_REPR.maxstring = _REPR.maxother = 80


def show(value: Any) -> str:
    """A short repr of something the server sent (bounded in depth and length)."""
    text = _REPR.repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


_DECODER = msgspec.json.Decoder()
#: what an error says a field of each type wants
_WANTED = {"str": "a string", "int": "an integer", "float": "a number"}
_EXPECTED = re.compile(r"^Expected `(\w+)(?: \| null)?`.* - at `\$\.(\w+)`$")
_MISSING = re.compile(r"^Object missing required field `(\w+)`")


def decode_json(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode one JSON text; raise :class:`WireError` saying why it is not JSON."""
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, RecursionError) as e:  # RecursionError: nested too deep
        raise WireError(f"payload is not valid JSON: {e}") from None


def _describe(exc: msgspec.ValidationError, body: Mapping[str, Any]) -> str:
    text = str(exc)
    missing = _MISSING.match(text)
    if missing:
        return f"{missing.group(1)} is missing"
    wrong = _EXPECTED.match(text)
    if wrong:
        wanted = _WANTED.get(wrong.group(1), wrong.group(1))
        return f"{wrong.group(2)}: expected {wanted}, got {show(body.get(wrong.group(2)))}"
    return text


def structure_snapshot(body: Any) -> Snapshot:
    """The :class:`Snapshot` in a subscribe response body (a decoded JSON object)."""
    if not isinstance(body, Mapping):
        raise WireError(f"snapshot body must be a JSON object, got {type(body).__name__}")
    if type(body) is not dict:
        body = dict(body)
    try:
        snap = msgspec.convert(body, Snapshot, strict=True)
    except msgspec.ValidationError as e:
        raise WireError(f"snapshot body is malformed: {_describe(e, body)}") from None
    if snap.inactivity_timeout is not None and snap.inactivity_timeout < 0:
        raise WireError(f"snapshot body is malformed: InactivityTimeout "
                        f"{snap.inactivity_timeout!r} is negative")
    if snap.refresh_rate is not None and snap.refresh_rate < 0:
        raise WireError(
            f"snapshot body is malformed: RefreshRate {snap.refresh_rate!r} is negative"
        )
    return snap


def snapshot_body(snapshot: Snapshot) -> dict[str, Any]:
    """The wire form of a snapshot (what a server, or the simulator, answers)."""
    body: dict[str, Any] = msgspec.to_builtins(snapshot)
    body.setdefault(SNAPSHOT_NAMES["data"], snapshot.data)
    return body


def request_body(request: SubscribeRequest) -> dict[str, Any]:
    """The JSON body of a subscribe request, with the OpenAPI field names.

    >>> request_body(SubscribeRequest("trade/v1/infoprices", "ctx", "p1", {"Uic": 21}))
    {'ContextId': 'ctx', 'ReferenceId': 'p1', 'Arguments': {'Uic': 21}}
    """
    body: dict[str, Any] = msgspec.to_builtins(request)
    del body["resource"]  # in the path, not the body
    body.pop("replaces", None)  # the engine's own bookkeeping
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
