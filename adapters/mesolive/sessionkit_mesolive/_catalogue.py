"""The MesoLive method catalogue: every hub method and every server-to-client callback.

One table drives the typed hub clients and the simulator: for each method its hub, wire name,
argument model, result type, whether it takes an ``IdempotencyKey`` and whether it is a
server-to-client stream (streams yield ``result_type`` items and return no envelope; every
other method returns ``MesoLiveApiResponse[result_type]``). ``inferred`` marks entries whose
name, argument model or result shape the reference could only infer.

>>> m = METHODS["SendOrder"]
>>> m.hub.path, m.args_type.__name__, m.idempotent, m.stream, m.python_name
('/hubs/control/v1', 'SendOrderArgs', True, False, 'send_order')
>>> CALLBACKS["OnOrderUpdate"].payload_type.__name__
'OrderUpdateEvent'
>>> validate_idempotency_key("send_order_2024-05-01_1")
'send_order_2024-05-01_1'
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from . import models as m
from ._errors import InvalidIdempotencyKeyError

__all__ = [
    "Hub",
    "HubMethod",
    "Callback",
    "METHODS",
    "CALLBACKS",
    "methods_of",
    "callback_for",
    "snake_name",
    "validate_idempotency_key",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
]


class Hub(enum.Enum):
    """The three MesoLive hubs; the value is the documented path."""

    CONTROL = "/hubs/control/v1"
    DATA = "/hubs/data/v1"
    EVENT = "/hubs/event/v1"

    @property
    def path(self) -> str:
        return self.value

    @property
    def server_class(self) -> str:
        return {"CONTROL": "MesoLiveControlHub", "DATA": "MesoLiveDataHub",
                "EVENT": "MesoLiveEventHub"}[self.name]


def snake_name(name: str) -> str:
    """The SDK-style snake_case name of a hub method (``GetPnL`` -> ``get_pnl``).

    >>> snake_name("StartPreparePositionEntry"), snake_name("GetLatestEventSeqId")
    ('start_prepare_position_entry', 'get_latest_event_seq_id')
    """
    name = name.replace("PnL", "Pnl")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@attrs.frozen(kw_only=True)
class HubMethod:
    """One client-to-server hub method."""

    hub: Hub
    name: str
    args_type: type
    result_type: Any
    idempotent: bool = False
    stream: bool = False
    inferred: bool = False

    @property
    def python_name(self) -> str:
        return snake_name(self.name)

    @property
    def operation(self) -> m.IdempotencyOperation | str | None:
        """The :class:`~.models.IdempotencyOperation` of an idempotent method, else ``None``."""
        return m.IdempotencyOperation.parse(self.name) if self.idempotent else None


@attrs.frozen(kw_only=True)
class Callback:
    """One server-to-client callback on the Event Hub: its target name and payload model."""

    name: str
    payload_type: type
    inferred: bool = False


_C, _D, _E = Hub.CONTROL, Hub.DATA, Hub.EVENT


def _table() -> list[HubMethod]:
    M = HubMethod
    control = [
        M(hub=_C, name="GetIdempotencyRecord", args_type=m.GetIdempotencyRecordArgs,
          result_type=m.IdempotencyRecord, inferred=True),
        M(hub=_C, name="ListAgents", args_type=m.ListAgentsArgs,
          result_type=tuple[m.AgentInfo, ...], inferred=True),
        M(hub=_C, name="ListAccounts", args_type=m.ListAccountsArgs,
          result_type=m.ListAccountsResult, inferred=True),
        M(hub=_C, name="GetAccount", args_type=m.GetAccountArgs, result_type=m.LiveAccount,
          inferred=True),
        M(hub=_C, name="CreateStrategy", args_type=m.CreateStrategyArgs,
          result_type=m.LiveStrategy, inferred=True),
        M(hub=_C, name="UpdateStrategy", args_type=m.UpdateStrategyArgs,
          result_type=m.LiveStrategy, inferred=True),
        M(hub=_C, name="RenameStrategy", args_type=m.RenameStrategyArgs,
          result_type=m.LiveStrategy, inferred=True),
        M(hub=_C, name="DeleteStrategy", args_type=m.DeleteStrategyArgs,
          result_type=m.DeleteStrategyResult, inferred=True),
        M(hub=_C, name="ListStrategies", args_type=m.ListStrategiesArgs,
          result_type=m.ListStrategiesResult, inferred=True),
        M(hub=_C, name="GetStrategy", args_type=m.GetStrategyArgs, result_type=m.LiveStrategy,
          inferred=True),
        M(hub=_C, name="ListPositions", args_type=m.ListPositionsArgs,
          result_type=m.ListPositionsResult, inferred=True),
        M(hub=_C, name="GetPosition", args_type=m.GetPositionArgs,
          result_type=m.LivePositionDetails, inferred=True),
        M(hub=_C, name="ListLegs", args_type=m.ListLegsArgs, result_type=m.ListLegsResult,
          inferred=True),
        M(hub=_C, name="GetLeg", args_type=m.GetLegArgs, result_type=m.LiveLeg, inferred=True),
        M(hub=_C, name="GetLegs", args_type=m.GetLegsArgs, result_type=tuple[m.LiveLeg, ...],
          inferred=True),
        M(hub=_C, name="StartPreparePositionEntry", args_type=m.PreparePositionEntryArgs,
          result_type=m.StartPreparationResult, idempotent=True),
        M(hub=_C, name="GetPreparePositionEntryStatus",
          args_type=m.GetPreparePositionEntryStatusArgs,
          result_type=m.GetPreparePositionEntryStatusResult, inferred=True),
        M(hub=_C, name="CancelPreparePositionEntry", args_type=m.CancelPreparePositionEntryArgs,
          result_type=m.CancelPreparationResult, idempotent=True, inferred=True),
        M(hub=_C, name="StartPreparePositionExit", args_type=m.PreparePositionExitArgs,
          result_type=m.StartPreparationResult, idempotent=True),
        M(hub=_C, name="GetPreparePositionExitStatus",
          args_type=m.GetPreparePositionExitStatusArgs,
          result_type=m.GetPreparePositionExitStatusResult, inferred=True),
        M(hub=_C, name="CancelPreparePositionExit", args_type=m.CancelPreparePositionExitArgs,
          result_type=m.CancelPreparationResult, idempotent=True, inferred=True),
        M(hub=_C, name="StartPreparePositionAdjustment",
          args_type=m.PreparePositionAdjustmentArgs, result_type=m.StartPreparationResult,
          idempotent=True, inferred=True),
        M(hub=_C, name="GetPreparePositionAdjustmentStatus",
          args_type=m.GetPreparePositionAdjustmentStatusArgs,
          result_type=m.GetPreparePositionAdjustmentStatusResult, inferred=True),
        M(hub=_C, name="CancelPreparePositionAdjustment",
          args_type=m.CancelPreparePositionAdjustmentArgs,
          result_type=m.CancelPreparationResult, idempotent=True, inferred=True),
        M(hub=_C, name="SendOrder", args_type=m.SendOrderArgs, result_type=m.SendOrderResult,
          idempotent=True),
        M(hub=_C, name="CancelOrder", args_type=m.CancelOrderArgs,
          result_type=m.CancelOrderResult, idempotent=True, inferred=True),
        M(hub=_C, name="ApplyPaperFills", args_type=m.ApplyPaperFillsArgs,
          result_type=m.ApplyPaperFillsResult, idempotent=True, inferred=True),
        M(hub=_C, name="GetOrder", args_type=m.GetOrderArgs, result_type=m.Order,
          inferred=True),
        M(hub=_C, name="ListOrders", args_type=m.ListOrdersArgs,
          result_type=tuple[m.Order, ...], inferred=True),
    ]
    data = []
    for suffix, args, item, read in (
        ("Position", m.StreamPositionDataArgs, m.PositionDataEntry, True),
        ("Leg", m.StreamLegDataArgs, m.LegDataEntry, False),
        ("Legs", m.StreamLegsDataArgs, m.LegsDataEntry, False),
        ("Underlying", m.StreamUnderlyingDataArgs, m.UnderlyingDataEntry, False),
        ("Contract", m.StreamContractDataArgs, m.ContractDataEntry, False),
        ("ComboContracts", m.StreamComboContractsDataArgs, m.ComboContractsDataEntry, False),
    ):
        data.append(M(hub=_D, name=f"Stream{suffix}Data", args_type=args, result_type=item,
                      stream=True, inferred=not read))
        data.append(M(hub=_D, name=f"Get{suffix}Snapshot", args_type=args, result_type=item,
                      inferred=True))
    event = [
        M(hub=_E, name="SubscribeToStrategies", args_type=m.SubscribeToStrategiesArgs,
          result_type=m.SubscribeToStrategiesResult),
        M(hub=_E, name="UnsubscribeFromStrategies", args_type=m.UnsubscribeFromStrategiesArgs,
          result_type=m.UnsubscribeFromStrategiesResult),
        M(hub=_E, name="GetLatestEventSeqId", args_type=m.GetLatestEventSeqIdArgs,
          result_type=m.GetLatestEventSeqIdResult),
        M(hub=_E, name="GetEventsSince", args_type=m.GetEventsSinceArgs,
          result_type=m.GetEventsSinceResult, inferred=True),
    ]
    return control + data + event


METHODS: Mapping[str, HubMethod] = MappingProxyType({h.name: h for h in _table()})
"""Every hub method by wire name (names are unique across the three hubs)."""

CALLBACKS: Mapping[str, Callback] = MappingProxyType({c.name: c for c in (
    Callback(name="OnEntrySignal", payload_type=m.EntrySignalEvent),
    Callback(name="OnExitSignal", payload_type=m.ExitSignalEvent),
    Callback(name="OnAdjustmentSignal", payload_type=m.AdjustmentSignalEvent),
    Callback(name="OnError", payload_type=m.ErrorEvent),
    Callback(name="OnOrderUpdate", payload_type=m.OrderUpdateEvent),
    Callback(name="OnPositionUpdate", payload_type=m.PositionUpdateEvent),
    Callback(name="OnLegUpdate", payload_type=m.LegUpdateEvent),
    Callback(name="OnPositionEntryPreparationCompleted",
             payload_type=m.PositionEntryPreparationCompletedEvent, inferred=True),
    Callback(name="OnPositionEntryPreparationFailed",
             payload_type=m.PositionEntryPreparationFailedEvent, inferred=True),
    Callback(name="OnPositionExitPreparationCompleted",
             payload_type=m.PositionExitPreparationCompletedEvent, inferred=True),
    Callback(name="OnPositionExitPreparationFailed",
             payload_type=m.PositionExitPreparationFailedEvent, inferred=True),
    Callback(name="OnPositionAdjustmentPreparationCompleted",
             payload_type=m.PositionAdjustmentPreparationCompletedEvent),
    Callback(name="OnPositionAdjustmentPreparationFailed",
             payload_type=m.PositionAdjustmentPreparationFailedEvent),
    Callback(name="OnAgentStatus", payload_type=m.AgentStatusEvent, inferred=True),
)})
"""Every Event Hub callback by target name."""

_CALLBACK_BY_PAYLOAD = {c.payload_type: c.name for c in CALLBACKS.values()}


def callback_for(payload: object) -> str:
    """The callback name a payload model is delivered under."""
    try:
        return _CALLBACK_BY_PAYLOAD[type(payload)]
    except KeyError:
        raise TypeError(f"{type(payload).__name__} is not a callback payload") from None


def methods_of(hub: Hub) -> tuple[HubMethod, ...]:
    """The methods of one hub, in catalogue order."""
    return tuple(h for h in METHODS.values() if h.hub is hub)


MAX_IDEMPOTENCY_KEY_LENGTH = 128
"""Documented maximum key length (SDK core concepts)."""

_KEY_CHARS = re.compile(r"[\x21-\x7e]+")


def validate_idempotency_key(key: object) -> str:
    """Check an idempotency key and return it.

    Rules: a string of 1 to 128 characters (the length limit is documented). The allowed
    characters are not documented; this accepts printable ASCII without spaces
    (``!`` through ``~``), which covers the documented ``prep_entry_*`` style and UUIDs
    (**inferred**). Raises :class:`~._errors.InvalidIdempotencyKeyError` saying what is wrong.
    """
    if not isinstance(key, str):
        raise InvalidIdempotencyKeyError(
            f"IdempotencyKey must be a string, got {type(key).__name__}")
    if not key:
        raise InvalidIdempotencyKeyError("IdempotencyKey must not be empty")
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidIdempotencyKeyError(
            f"IdempotencyKey is {len(key)} characters long; the limit is "
            f"{MAX_IDEMPOTENCY_KEY_LENGTH}")
    if not _KEY_CHARS.fullmatch(key):
        bad = next(ch for ch in key if not ("\x21" <= ch <= "\x7e"))
        raise InvalidIdempotencyKeyError(
            f"IdempotencyKey contains {bad!r} at index {key.index(bad)}; allowed are printable "
            "ASCII characters without spaces")
    return key
