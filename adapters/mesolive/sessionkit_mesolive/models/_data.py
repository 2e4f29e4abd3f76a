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

import attrs

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


@attrs.frozen(kw_only=True)
class StreamPositionDataArgs:
    """Arguments of ``StreamPositionData`` (read in full) and of ``GetPositionSnapshot``
    (**inferred**). The server can infer the provider from the position."""

    position_id: int
    include_position: LiveDataInclude | str
    include_legs: LiveDataInclude | str
    include_leg_groups: LiveDataInclude | str
    price_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    greek_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    pnl_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    provider: DataProviderType | str | None = None


@attrs.frozen(kw_only=True)
class StreamLegDataArgs:
    """``StreamLegData`` / ``GetLegSnapshot`` (**inferred**)."""

    leg_id: int
    include: LiveDataInclude | str = LiveDataInclude.ALL
    price_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    greek_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    pnl_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    provider: DataProviderType | str | None = None


@attrs.frozen(kw_only=True)
class StreamLegsDataArgs:
    """``StreamLegsData`` / ``GetLegsSnapshot`` (**inferred**)."""

    leg_ids: tuple[int, ...]
    include: LiveDataInclude | str = LiveDataInclude.ALL
    price_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    greek_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    pnl_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    provider: DataProviderType | str | None = None


@attrs.frozen(kw_only=True)
class StreamUnderlyingDataArgs:
    """``StreamUnderlyingData`` / ``GetUnderlyingSnapshot`` (**inferred**).

    ``provider`` is nullable on the wire but the server requires it for this pair (read).
    """

    underlying: LiveUnderlying
    include: LiveDataInclude | str = LiveDataInclude.ALL
    price_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    greek_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    provider: DataProviderType | str | None = None


@attrs.frozen(kw_only=True)
class StreamContractDataArgs:
    """``StreamContractData`` / ``GetContractSnapshot`` (**inferred**; provider required)."""

    contract: LiveContract
    include: LiveDataInclude | str = LiveDataInclude.ALL
    price_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    greek_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    provider: DataProviderType | str | None = None


@attrs.frozen(kw_only=True)
class StreamComboContractsDataArgs:
    """``StreamComboContractsData`` / ``GetComboContractsSnapshot`` (**inferred**; provider
    required). ``ratios`` pairs with ``contracts`` (signed units per combo; all 1 if absent)."""

    contracts: tuple[LiveContract, ...]
    ratios: tuple[Decimal, ...] | None = None
    include: LiveDataInclude | str = LiveDataInclude.ALL
    price_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    greek_fields: LiveQuoteFields | str = LiveQuoteFields.ALL
    provider: DataProviderType | str | None = None


@attrs.frozen(kw_only=True)
class PositionDataEntry:
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


@attrs.frozen(kw_only=True)
class LegDataEntry:
    """One leg item (**inferred**)."""

    leg_id: int
    prices: LivePrices | None = None
    greeks: LiveGreeks | None = None
    pnls: LivePnL | None = None


@attrs.frozen(kw_only=True)
class LegsDataEntry:
    """Several legs, keyed by live leg id (**inferred**)."""

    leg_prices: dict[int, LivePrices] | None = None
    leg_greeks: dict[int, LiveGreeks] | None = None
    leg_pnls: dict[int, LivePnL] | None = None


@attrs.frozen(kw_only=True)
class UnderlyingDataEntry:
    """Underlying quote and greeks (**inferred**)."""

    underlying: LiveUnderlying
    prices: LivePrices | None = None
    greeks: LiveGreeks | None = None


@attrs.frozen(kw_only=True)
class ContractDataEntry:
    """One contract's quote and greeks (**inferred**)."""

    contract: LiveContract
    prices: LivePrices | None = None
    greeks: LiveGreeks | None = None


@attrs.frozen(kw_only=True)
class ComboContractsDataEntry:
    """A combo's net quote and greeks, plus each contract's prices in argument order
    (**inferred**)."""

    combo_prices: LivePrices | None = None
    combo_greeks: LiveGreeks | None = None
    contract_prices: tuple[LivePrices, ...] | None = None
