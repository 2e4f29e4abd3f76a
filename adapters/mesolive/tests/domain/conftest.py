"""Fixtures for the MesoLive domain tests: a seeded simulated platform and a small driver."""

from __future__ import annotations

from typing import Any

import pytest
from sessionkit_mesolive import models as m
from sessionkit_mesolive.sim.domain import DomainConfig, MesoLiveDomain

PAPER, LIVE = "ML1234", "U1234567"


class Driver:
    """Drives a :class:`MesoLiveDomain` through common flows with its own clock."""

    PAPER = PAPER
    LIVE = LIVE

    def __init__(self, domain: MesoLiveDomain) -> None:
        self.d = domain
        self.t = domain.now

    def tick(self, dt: float = 1.0) -> None:
        self.t += dt
        self.d.advance(self.t)

    def settle(self, rounds: int = 5) -> None:
        """Advance long enough for every job and broker fill to finish."""
        for _ in range(rounds):
            self.tick(1.0)

    def entry_args(self, key: str, account: str = PAPER, **kw: Any) -> m.PreparePositionEntryArgs:
        fields: dict[str, Any] = dict(
            idempotency_key=key, position_name="P " + key, strategy_id=1,
            broker_account_id=account,
            leg_selection_constraint=m.LiveLegSelectionConstraint.UNIQUE_IN_POSITION,
            underlying=m.LiveUnderlying(symbol="SPX"), data_provider=None)
        fields.update(kw)
        return m.PreparePositionEntryArgs(**fields)

    def prepare_entry(self, key: str, account: str = PAPER,
                      **kw: Any) -> m.GetPreparePositionEntryStatusResult:
        job = self.d.start_prepare_position_entry(self.entry_args(key, account, **kw))
        self.settle()
        return self.d.get_prepare_position_entry_status(
            m.GetPreparePositionEntryStatusArgs(job_id=job.job_id))

    def paper_position(self, key: str = "k") -> m.ApplyPaperFillsResult:
        status = self.prepare_entry("prep_entry_" + key, PAPER)
        assert status.result is not None
        return self.d.apply_paper_fills(m.ApplyPaperFillsArgs(
            idempotency_key="paper_entry_" + key, broker_account_id=PAPER,
            exec_plan_id=status.result.exec_plan_id))

    def send_group(self, key: str, plan_id: int, group: int, account: str = LIVE,
                   **order: Any) -> m.SendOrderResult:
        lgo = m.LegGroupOrder(order_type=order.pop("order_type", m.OrderType.MARKET), **order)
        return self.d.send_order(m.SendOrderArgs(
            idempotency_key=key, broker_account_id=account, exec_plan_id=plan_id,
            leg_group_id=group, leg_group_order=lgo))


@pytest.fixture
def domain() -> MesoLiveDomain:
    return MesoLiveDomain.with_defaults(seed=7)


@pytest.fixture
def driver(domain: MesoLiveDomain) -> Driver:
    return Driver(domain)


@pytest.fixture
def make_driver() -> Any:
    """Build a driver over a platform with a custom configuration."""

    def make(**config: Any) -> Driver:
        return Driver(MesoLiveDomain.with_defaults(seed=7, config=DomainConfig(**config)))

    return make
