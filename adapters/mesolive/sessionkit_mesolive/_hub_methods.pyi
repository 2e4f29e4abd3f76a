"""Typed signatures of the generated hub methods (written by render_stub())."""

from typing import Any

from . import models as m
from ._hubs import TypedStream

__all__ = ["ControlHubMethods", "DataHubMethods", "EventHubMethods", "render_stub"]


def render_stub() -> str: ...


class ControlHubMethods:
    async def get_idempotency_record(
        self, args: m.GetIdempotencyRecordArgs | None = None, /, **fields: Any
    ) -> m.IdempotencyRecord: ...
    async def list_agents(
        self, args: m.ListAgentsArgs | None = None, /, **fields: Any
    ) -> tuple[m.AgentInfo, ...]: ...
    async def list_accounts(
        self, args: m.ListAccountsArgs | None = None, /, **fields: Any
    ) -> m.ListAccountsResult: ...
    async def get_account(
        self, args: m.GetAccountArgs | None = None, /, **fields: Any
    ) -> m.LiveAccount: ...
    async def create_strategy(
        self, args: m.CreateStrategyArgs | None = None, /, **fields: Any
    ) -> m.LiveStrategy: ...
    async def update_strategy(
        self, args: m.UpdateStrategyArgs | None = None, /, **fields: Any
    ) -> m.LiveStrategy: ...
    async def rename_strategy(
        self, args: m.RenameStrategyArgs | None = None, /, **fields: Any
    ) -> m.LiveStrategy: ...
    async def delete_strategy(
        self, args: m.DeleteStrategyArgs | None = None, /, **fields: Any
    ) -> m.DeleteStrategyResult: ...
    async def list_strategies(
        self, args: m.ListStrategiesArgs | None = None, /, **fields: Any
    ) -> m.ListStrategiesResult: ...
    async def get_strategy(
        self, args: m.GetStrategyArgs | None = None, /, **fields: Any
    ) -> m.LiveStrategy: ...
    async def list_positions(
        self, args: m.ListPositionsArgs | None = None, /, **fields: Any
    ) -> m.ListPositionsResult: ...
    async def get_position(
        self, args: m.GetPositionArgs | None = None, /, **fields: Any
    ) -> m.LivePositionDetails: ...
    async def list_legs(
        self, args: m.ListLegsArgs | None = None, /, **fields: Any
    ) -> m.ListLegsResult: ...
    async def get_leg(
        self, args: m.GetLegArgs | None = None, /, **fields: Any
    ) -> m.LiveLeg: ...
    async def get_legs(
        self, args: m.GetLegsArgs | None = None, /, **fields: Any
    ) -> tuple[m.LiveLeg, ...]: ...
    async def start_prepare_position_entry(
        self, args: m.PreparePositionEntryArgs | None = None, /, **fields: Any
    ) -> m.StartPreparationResult: ...
    async def get_prepare_position_entry_status(
        self, args: m.GetPreparePositionEntryStatusArgs | None = None, /, **fields: Any
    ) -> m.GetPreparePositionEntryStatusResult: ...
    async def cancel_prepare_position_entry(
        self, args: m.CancelPreparePositionEntryArgs | None = None, /, **fields: Any
    ) -> m.CancelPreparationResult: ...
    async def start_prepare_position_exit(
        self, args: m.PreparePositionExitArgs | None = None, /, **fields: Any
    ) -> m.StartPreparationResult: ...
    async def get_prepare_position_exit_status(
        self, args: m.GetPreparePositionExitStatusArgs | None = None, /, **fields: Any
    ) -> m.GetPreparePositionExitStatusResult: ...
    async def cancel_prepare_position_exit(
        self, args: m.CancelPreparePositionExitArgs | None = None, /, **fields: Any
    ) -> m.CancelPreparationResult: ...
    async def start_prepare_position_adjustment(
        self, args: m.PreparePositionAdjustmentArgs | None = None, /, **fields: Any
    ) -> m.StartPreparationResult: ...
    async def get_prepare_position_adjustment_status(
        self, args: m.GetPreparePositionAdjustmentStatusArgs | None = None, /, **fields: Any
    ) -> m.GetPreparePositionAdjustmentStatusResult: ...
    async def cancel_prepare_position_adjustment(
        self, args: m.CancelPreparePositionAdjustmentArgs | None = None, /, **fields: Any
    ) -> m.CancelPreparationResult: ...
    async def send_order(
        self, args: m.SendOrderArgs | None = None, /, **fields: Any
    ) -> m.SendOrderResult: ...
    async def cancel_order(
        self, args: m.CancelOrderArgs | None = None, /, **fields: Any
    ) -> m.CancelOrderResult: ...
    async def apply_paper_fills(
        self, args: m.ApplyPaperFillsArgs | None = None, /, **fields: Any
    ) -> m.ApplyPaperFillsResult: ...
    async def get_order(
        self, args: m.GetOrderArgs | None = None, /, **fields: Any
    ) -> m.Order: ...
    async def list_orders(
        self, args: m.ListOrdersArgs | None = None, /, **fields: Any
    ) -> tuple[m.Order, ...]: ...


class DataHubMethods:
    def stream_position_data(
        self, args: m.StreamPositionDataArgs | None = None, /, **fields: Any
    ) -> TypedStream[m.PositionDataEntry]: ...
    async def get_position_snapshot(
        self, args: m.StreamPositionDataArgs | None = None, /, **fields: Any
    ) -> m.PositionDataEntry: ...
    def stream_leg_data(
        self, args: m.StreamLegDataArgs | None = None, /, **fields: Any
    ) -> TypedStream[m.LegDataEntry]: ...
    async def get_leg_snapshot(
        self, args: m.StreamLegDataArgs | None = None, /, **fields: Any
    ) -> m.LegDataEntry: ...
    def stream_legs_data(
        self, args: m.StreamLegsDataArgs | None = None, /, **fields: Any
    ) -> TypedStream[m.LegsDataEntry]: ...
    async def get_legs_snapshot(
        self, args: m.StreamLegsDataArgs | None = None, /, **fields: Any
    ) -> m.LegsDataEntry: ...
    def stream_underlying_data(
        self, args: m.StreamUnderlyingDataArgs | None = None, /, **fields: Any
    ) -> TypedStream[m.UnderlyingDataEntry]: ...
    async def get_underlying_snapshot(
        self, args: m.StreamUnderlyingDataArgs | None = None, /, **fields: Any
    ) -> m.UnderlyingDataEntry: ...
    def stream_contract_data(
        self, args: m.StreamContractDataArgs | None = None, /, **fields: Any
    ) -> TypedStream[m.ContractDataEntry]: ...
    async def get_contract_snapshot(
        self, args: m.StreamContractDataArgs | None = None, /, **fields: Any
    ) -> m.ContractDataEntry: ...
    def stream_combo_contracts_data(
        self, args: m.StreamComboContractsDataArgs | None = None, /, **fields: Any
    ) -> TypedStream[m.ComboContractsDataEntry]: ...
    async def get_combo_contracts_snapshot(
        self, args: m.StreamComboContractsDataArgs | None = None, /, **fields: Any
    ) -> m.ComboContractsDataEntry: ...


class EventHubMethods:
    async def subscribe_to_strategies(
        self, args: m.SubscribeToStrategiesArgs | None = None, /, **fields: Any
    ) -> m.SubscribeToStrategiesResult: ...
    async def unsubscribe_from_strategies(
        self, args: m.UnsubscribeFromStrategiesArgs | None = None, /, **fields: Any
    ) -> m.UnsubscribeFromStrategiesResult: ...
    async def get_latest_event_seq_id(
        self, args: m.GetLatestEventSeqIdArgs | None = None, /, **fields: Any
    ) -> m.GetLatestEventSeqIdResult: ...
    async def get_events_since(
        self, args: m.GetEventsSinceArgs | None = None, /, **fields: Any
    ) -> m.GetEventsSinceResult: ...
