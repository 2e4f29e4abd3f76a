"""Typed hub clients against the simulated platform: every method is reachable under its
catalogue name, results are typed, API errors and transport failures are told apart.

Each test runs on asyncio and on trio (the ``backend`` fixture).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import msgspec
import pytest
from sessionkit_mesolive import (
    ControlHub,
    DataHub,
    DecodeError,
    EventHub,
    MesoLiveAuthenticationError,
    MesoLiveClient,
    MesoLiveSignalRError,
)
from sessionkit_mesolive import models as m
from sessionkit_mesolive._catalogue import METHODS, Hub
from sessionkit_mesolive._errors import NotFoundError
from sessionkit_mesolive._hub_methods import render_stub

from .conftest import PAPER, platform, run

CLASSES = {Hub.CONTROL: ControlHub, Hub.DATA: DataHub, Hub.EVENT: EventHub}


def test_every_catalogue_method_is_a_typed_method_and_the_stub_is_current() -> None:
    for spec in METHODS.values():
        fn = getattr(CLASSES[spec.hub], spec.python_name)
        assert inspect.iscoroutinefunction(fn) is not spec.stream, spec.name
        assert spec.name in fn.__doc__
    stub = Path(__file__).parents[2] / "sessionkit_mesolive" / "_hub_methods.pyi"
    assert stub.read_text() == render_stub(), "regenerate _hub_methods.pyi with render_stub()"


def test_calls_return_typed_results_and_raise_api_errors(backend: str) -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            accounts = await client.control.list_accounts()
            assert PAPER in [a.broker_account_id for a in accounts.accounts]
            account = await client.control.get_account(m.GetAccountArgs(broker_account_id=PAPER))
            assert account.is_paper_account is True
            with pytest.raises(NotFoundError) as info:
                await client.control.get_account(broker_account_id="nope")
            assert info.value.status == m.StatusCode.NOT_FOUND
            latest = await client.events.get_latest_event_seq_id()
            assert latest.latest_event_seq_id >= 1
            with pytest.raises(TypeError, match="get_account"):
                await client.control.get_account(m.GetAccountArgs(broker_account_id=PAPER),
                                                  broker_account_id=PAPER)
            with pytest.raises(ValueError, match="data hub"):
                await client.control.call("GetPositionSnapshot")

    run(main, backend=backend)


def test_a_result_field_of_the_wrong_type_names_it_and_an_unknown_enum_value_is_kept(
    backend: str,
) -> None:
    """What the server sends is read strictly: a field of the wrong type is a DecodeError (a
    MesoLiveSignalRError) naming the model and the field; an enum value this client does not
    know is kept as its text, not refused."""

    async def main() -> None:
        async with platform() as p, p.client() as client:
            accounts = p.domain.state.accounts
            good = accounts[PAPER]
            accounts[PAPER] = msgspec.structs.replace(good, broker_type="Tradier2030")
            account = await client.control.get_account(broker_account_id=PAPER)
            assert account.broker_type == "Tradier2030"
            assert not isinstance(account.broker_type, m.BrokerType)
            accounts[PAPER] = msgspec.structs.replace(good, currency=5)
            with pytest.raises(DecodeError) as info:
                await client.control.get_account(broker_account_id=PAPER)
            assert str(info.value) == "LiveAccount.currency: expected a string, got 5"
            assert isinstance(info.value, MesoLiveSignalRError)
            accounts[PAPER] = good  # and the connection is still good
            account = await client.control.get_account(broker_account_id=PAPER)
            assert account.broker_type is m.BrokerType.IBKR and account.currency == "USD"

    run(main, backend=backend)


def test_a_stream_decodes_items_and_a_failing_stream_raises_a_signalr_error(backend: str) -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            async with client.data.stream_underlying_data(
                    underlying=m.LiveUnderlying(symbol="SPX"), provider=m.DataProviderType.IBKR,
                    include="All") as stream:
                item = await stream.__anext__()
            assert isinstance(item, m.UnderlyingDataEntry)
            with pytest.raises(MesoLiveSignalRError, match="Provider"):
                async for _ in client.data.stream_underlying_data(
                        underlying=m.LiveUnderlying(symbol="SPX"), include="All"):
                    pass

    run(main, backend=backend)


def test_a_bad_token_is_a_clear_authentication_error(backend: str) -> None:
    async def main() -> None:
        async with platform() as p:
            with pytest.raises(MesoLiveAuthenticationError, match="API key was refused") as info:
                async with p.client(token="wrong"):
                    pass
            assert info.value.status_code == 401
            assert "wrong" not in str(info.value)

    run(main, backend=backend)


def test_the_client_refuses_to_be_entered_twice(backend: str) -> None:
    async def main() -> None:
        async with platform() as p:
            client: MesoLiveClient = p.client()
            async with client:
                with pytest.raises(RuntimeError):
                    await client.__aenter__()

    run(main, backend=backend)
