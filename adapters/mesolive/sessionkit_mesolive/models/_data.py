"""Data Hub models (``/hubs/data/v1``): snapshot/stream arguments and the items they return.

Read in full: :class:`StreamPositionDataArgs`; :class:`PositionDataEntry` up to the cut of
its page. Every other shape here is **inferred** by analogy ("the other stream and snapshot
pairs presumably take ``LegId`` / ``LegIds`` / ``Underlying`` / ``Contract`` / a list of
contracts plus the same knobs"). A snapshot method takes the same arguments as its stream
(**inferred**) and returns one item in the envelope.

Blocks not selected by the ``Include*`` arguments come back as ``None``. Dictionaries are keyed
by live leg id or leg group id (ints; JSON object keys on the wire).
"""

from __future__ import annotations

from decimal import Decimal

from ._base import Model, Open, WireInt
from ._common import LiveContract, LiveGreeks, LivePnL, LivePrices, LiveUnderlying
from ._enums import DataProviderType, LiveDataInclude, LiveQuoteFields

__all__ = [
    "StreamPositionDataArgs",
    "StreamLegDataArgs",
    "StreamLegsDataArgs",
    "StreamUnderlyingDataArgs",
    "StreamContractDataArgs",
    "StreamComboContractsDataArgs",
    "PositionDataEntry",
    "LegDataEntry",
    "LegsDataEntry",
    "UnderlyingDataEntry",
    "ContractDataEntry",
    "ComboContractsDataEntry",
]


class StreamPositionDataArgs(Model, frozen=True, kw_only=True):
    """Arguments of ``StreamPositionData`` (read in full) and of ``GetPositionSnapshot``
    (**inferred**). The server can infer the provider from the position."""

    position_id: WireInt
    include_position: Open[LiveDataInclude]
    include_legs: Open[LiveDataInclude]
    include_leg_groups: Open[LiveDataInclude]
    price_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    greek_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    pnl_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    provider: Open[DataProviderType] | None = None


class StreamLegDataArgs(Model, frozen=True, kw_only=True):
    """``StreamLegData`` / ``GetLegSnapshot`` (**inferred**)."""

    leg_id: WireInt
    include: Open[LiveDataInclude] = LiveDataInclude.ALL
    price_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    greek_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    pnl_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    provider: Open[DataProviderType] | None = None


class StreamLegsDataArgs(Model, frozen=True, kw_only=True):
    """``StreamLegsData`` / ``GetLegsSnapshot`` (**inferred**)."""

    leg_ids: tuple[WireInt, ...]
    include: Open[LiveDataInclude] = LiveDataInclude.ALL
    price_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    greek_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    pnl_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    provider: Open[DataProviderType] | None = None


class StreamUnderlyingDataArgs(Model, frozen=True, kw_only=True):
    """``StreamUnderlyingData`` / ``GetUnderlyingSnapshot`` (**inferred**).

    ``provider`` is nullable on the wire but the server requires it for this pair (read).
    """

    underlying: LiveUnderlying
    include: Open[LiveDataInclude] = LiveDataInclude.ALL
    price_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    greek_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    provider: Open[DataProviderType] | None = None


class StreamContractDataArgs(Model, frozen=True, kw_only=True):
    """``StreamContractData`` / ``GetContractSnapshot`` (**inferred**; provider required)."""

    contract: LiveContract
    include: Open[LiveDataInclude] = LiveDataInclude.ALL
    price_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    greek_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    provider: Open[DataProviderType] | None = None


class StreamComboContractsDataArgs(Model, frozen=True, kw_only=True):
    """``StreamComboContractsData`` / ``GetComboContractsSnapshot`` (**inferred**; provider
    required). ``ratios`` pairs with ``contracts`` (signed units per combo; all 1 if absent)."""

    contracts: tuple[LiveContract, ...]
    ratios: tuple[Decimal, ...] | None = None
    include: Open[LiveDataInclude] = LiveDataInclude.ALL
    price_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    greek_fields: Open[LiveQuoteFields] = LiveQuoteFields.ALL
    provider: Open[DataProviderType] | None = None


class PositionDataEntry(Model, frozen=True, kw_only=True):
    """One position stream item / snapshot. Position and leg blocks read; leg-group blocks
    **inferred** from ``IncludeLegGroups``."""

    position_prices: LivePrices | None = None
    position_greeks: LiveGreeks | None = None
    position_pnls: LivePnL | None = None
    leg_prices: dict[int, LivePrices] | None = None
    leg_greeks: dict[int, LiveGreeks] | None = None
    leg_pnls: dict[int, LivePnL] | None = None
    leg_group_prices: dict[int, LivePrices] | None = None
    leg_group_greeks: dict[int, LiveGreeks] | None = None
    leg_group_pnls: dict[int, LivePnL] | None = None


class LegDataEntry(Model, frozen=True, kw_only=True):
    """One leg item (**inferred**)."""

    leg_id: WireInt
    prices: LivePrices | None = None
    greeks: LiveGreeks | None = None
    pnls: LivePnL | None = None


class LegsDataEntry(Model, frozen=True, kw_only=True):
    """Several legs, keyed by live leg id (**inferred**)."""

    leg_prices: dict[int, LivePrices] | None = None
    leg_greeks: dict[int, LiveGreeks] | None = None
    leg_pnls: dict[int, LivePnL] | None = None


class UnderlyingDataEntry(Model, frozen=True, kw_only=True):
    """Underlying quote and greeks (**inferred**)."""

    underlying: LiveUnderlying
    prices: LivePrices | None = None
    greeks: LiveGreeks | None = None


class ContractDataEntry(Model, frozen=True, kw_only=True):
    """One contract's quote and greeks (**inferred**)."""

    contract: LiveContract
    prices: LivePrices | None = None
    greeks: LiveGreeks | None = None


class ComboContractsDataEntry(Model, frozen=True, kw_only=True):
    """A combo's net quote and greeks, plus each contract's prices in argument order
    (**inferred**)."""

    combo_prices: LivePrices | None = None
    combo_greeks: LiveGreeks | None = None
    contract_prices: tuple[LivePrices, ...] | None = None
