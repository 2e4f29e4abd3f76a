"""Options refused where they enter (sessionkit/runtime/_options.py, _reconnect.py, _context.py
and SessionConfig): NaN never, infinity only where it means "no bound", a processor class
or a non-processor never.

Before: ``login_timeout=nan`` crashed ``open_session`` with a raw ExceptionGroup; a processor
class logged in and then failed every callback, with ``ctx.exception`` still None.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from sessionkit import (
    ConfigError,
    ConfigTypeError,
    GetBookState,
    MessageProcessor,
    SessionConfig,
    SessionkitError,
)
from sessionkit.runtime import (
    Context,
    ReconnectPolicy,
    SessionClient,
    SessionOptions,
    SessionOptionsArgs,
    open_session,
)
from sessionkit.testing import ReferenceExchange

NAN, INF = math.nan, math.inf
CFG = SessionConfig(ack_timeout=1000.0, ack_timeout_max=1000.0, cid_prefix="c")


def run(body: Any) -> None:
    trio.run(body, clock=trio.testing.MockClock(autojump_threshold=0))


# -- SessionConfig and ReconnectPolicy ----------------------------------------------------------

_CONFIG_FLOATS = [a.name for a in attrs.fields(SessionConfig)
                  if a.type in ("float", "float | None", float)]


def test_the_float_options_are_all_listed() -> None:
    assert set(_CONFIG_FLOATS) >= {"ack_timeout", "ack_backoff", "ack_timeout_max",
                                   "heartbeat_grace", "heartbeat_interval", "login_timeout"}


@pytest.mark.parametrize("value", [NAN, INF, -INF], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", _CONFIG_FLOATS)
def test_session_config_refuses_nan_and_infinity(name: str, value: float) -> None:
    """Every time of the core is a timer that must fire: no NaN, no infinity."""
    options: dict[str, Any] = {name: value}
    with pytest.raises(ConfigError, match=f"SessionConfig.{name} must be .*finite number, "
                                          f"got {value!r}"):
        SessionConfig(**options)


def test_session_config_batch_limit_is_at_most_the_exchanges() -> None:
    assert SessionConfig(batch_limit=200).batch_limit == 200
    with pytest.raises(ConfigError, match="batch_limit must be a positive int of at most 200, "
                                          "got 201"):
        SessionConfig(batch_limit=201)


@pytest.mark.parametrize("value", [NAN, INF], ids=["nan", "inf"])
@pytest.mark.parametrize("name", ["initial", "max", "factor", "jitter"])
def test_reconnect_policy_refuses_nan_and_infinity(name: str, value: float) -> None:
    options: dict[str, Any] = {name: value}
    if name == "initial":
        options["max"] = 10.0
    with pytest.raises(ConfigError, match=f"ReconnectPolicy.{name} must be a finite number"):
        ReconnectPolicy(**options)


# -- open_session / SessionClient / Context --------------------------------------------------


@pytest.mark.parametrize("name", ["login_timeout", "submit_timeout", "close_timeout"])
@pytest.mark.parametrize("value", [NAN, -1.0, "5"], ids=["nan", "negative", "str"])
def test_open_session_refuses_a_bad_timeout_before_connecting(parts: Any, name: str,
                                                              value: Any) -> None:
    emb = parts.EmbeddedExchange(ReferenceExchange())

    async def body() -> None:
        with pytest.raises(ConfigError, match=f"{name} must be None or a .* number of seconds"):
            async with open_session(emb, parts.Log(), account="acct", **{name: value}):
                pass

    run(body)
    assert emb.attempts == 0  # nothing was connected
    with pytest.raises(ConfigError, match=name):
        Context(emb, parts.Log(), account="acct", **{name: value})
    with pytest.raises(ConfigError, match=name):
        SessionOptions(account="acct", **{name: value})


def test_the_login_timeout_of_issue_14_is_one_config_error_not_a_group(parts: Any) -> None:
    emb = parts.EmbeddedExchange(ReferenceExchange())

    async def body() -> None:
        try:
            async with open_session(emb, parts.Log(), account="acct", login_timeout=NAN):
                pass
        except BaseException as exc:
            assert type(exc) is ConfigError, repr(exc)
            assert str(exc) == "login_timeout must be None or a positive number of seconds, " \
                               "got nan"

    run(body)


@pytest.mark.parametrize("value", [-1, 2**63 + 1, True, 1.0])
def test_the_resume_token_is_checked(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"resume_event_id must be None or a resume token "
                                          r"\(an integer in 0..2\^63\), got "):
        SessionOptions(account="acct", resume_event_id=value)
    SessionOptions(account="acct", resume_event_id=2**63)  # after 2^63-1


def test_infinity_means_no_bound_where_a_wait_is_bounded(parts: Any) -> None:
    """login_timeout, submit_timeout, close_timeout and submit(timeout=) / close(timeout=)
    take infinity: wait as long as it takes."""
    emb = parts.EmbeddedExchange(ReferenceExchange())
    log = parts.Log()

    async def body() -> None:
        async with open_session(emb, log, account="acct", config=CFG, login_timeout=INF,
                                submit_timeout=INF, close_timeout=INF) as client:
            await client.submit(GetBookState(contract_id=1), timeout=INF)
            await client.aclose(timeout=INF)

    run(body)
    assert log.finished()


def test_submit_and_close_refuse_a_nan_timeout(parts: Any) -> None:
    emb = parts.EmbeddedExchange(ReferenceExchange())
    log = parts.Log()

    async def body() -> None:
        async with open_session(emb, log, account="acct", config=CFG) as client:
            with pytest.raises(ConfigError, match="timeout must be None or a non-negative "
                                                  "number of seconds, got nan"):
                await client.submit(GetBookState(contract_id=1), timeout=NAN)
            with pytest.raises(ConfigError, match="got nan"):
                await client.submit_batch([GetBookState(contract_id=1)], timeout=NAN)
            assert client.statistics().submitted == 0
            with pytest.raises(ConfigError, match="timeout must be None or a non-negative "
                                                  "number of seconds, got nan"):
                await client.aclose(timeout=NAN)

    run(body)


@pytest.mark.parametrize("how", ["close(timeout=None)", "close()"])
def test_close_without_a_timeout_is_bounded_by_close_timeout(parts: Any, how: str) -> None:
    """close(timeout=None) raised a raw TypeError from trio, and close() waited 5 s whatever
    close_timeout said: both are bounded by close_timeout, as submit(timeout=None) is by
    submit_timeout."""
    exchange = ReferenceExchange()
    emb = parts.EmbeddedExchange(exchange)
    log = parts.Log()
    reasons: list[str | None] = []

    async def body() -> None:
        async with open_session(emb, log, account="acct", config=CFG,
                                close_timeout=3) as client:
            exchange.silent = True  # the logout is never answered: only the bound ends it
            if how == "close()":
                await client.aclose()
            else:
                await client.aclose(timeout=None)
            reasons.append(client.close_reason)

    run(body)
    assert reasons == ["the connection was not closed within 3.0 s of the logout; aborted"]


def test_context_refuses_a_bad_stop_timeout(parts: Any) -> None:
    emb = parts.EmbeddedExchange(ReferenceExchange())
    for value in (NAN, -1.0, None):
        with pytest.raises(ConfigError, match="stop_timeout must be"):
            Context(emb, parts.Log(), account="acct", stop_timeout=value)
    ctx = Context(emb, parts.Log(), account="acct", config=CFG, stop_timeout=INF,
                  clock=trio.testing.MockClock(autojump_threshold=0))
    ctx.start()
    try:
        assert ctx.wait_logged_in(10)
        with pytest.raises(ConfigError, match="timeout must be None or a non-negative number "
                                              "of seconds, got nan"):
            ctx.stop(timeout=NAN)
        assert ctx.is_alive()
        with pytest.raises(ConfigError, match="got nan"):
            ctx.submit(GetBookState(contract_id=1), timeout=NAN)
    finally:
        ctx.stop()
        ctx.join(10)
    assert not ctx.is_alive() and ctx.exception is None


# -- the processor -----------------------------------------------------------------------------


class Processor(MessageProcessor):
    def handle_status_message(self, msg: Any, prev_msg: Any) -> None:
        pass


class NotCallable(MessageProcessor):
    handle_status_message = 5  # type: ignore[assignment]


@pytest.mark.parametrize("processor, words", [
    (Processor, "processor must be an instance, got the class Processor: pass Processor(), "
                "not Processor"),
    (MessageProcessor, "got the class MessageProcessor"),
    (None, "processor must be a MessageProcessor instance (or an object with its methods), "
           "got None"),
    (object(), "got object <object object at"),
    (print, "got builtin_function_or_method <built-in function print>, which has none of them"),
    ("processor", "got str 'processor', which has none of them"),
    (NotCallable(), "processor.handle_status_message must be callable, got int 5"),
])
def test_what_is_not_a_processor_is_refused_naming_it(parts: Any, processor: Any,
                                                      words: str) -> None:
    emb = parts.EmbeddedExchange(ReferenceExchange())
    for make in (lambda: Context(emb, processor, account="acct"),
                 lambda: SessionClient(emb, processor, SessionOptions(account="acct"))):
        with pytest.raises(TypeError) as err:
            make()
        assert words in str(err.value)
        assert isinstance(err.value, ConfigTypeError) and isinstance(err.value, ConfigError)
        assert isinstance(err.value, SessionkitError)

    async def body() -> None:
        with pytest.raises(ConfigTypeError, match="processor"):
            async with open_session(emb, processor, account="acct"):
                pass

    run(body)
    assert emb.attempts == 0


def test_a_duck_typed_processor_is_taken(parts: Any) -> None:
    """An object that is not a MessageProcessor but has some of its methods is a processor."""
    seen: list[str] = []

    class Duck:
        def on_login_accepted(self, event_id: int) -> None:
            seen.append("login")

    emb = parts.EmbeddedExchange(ReferenceExchange())

    async def body() -> None:
        async with open_session(emb, Duck(), account="acct", config=CFG):
            pass

    run(body)
    assert seen == ["login"]


# -- SessionOptions: one options object for every entry point --------------------------------


def test_the_keyword_form_has_the_options_fields_and_types() -> None:
    """SessionOptionsArgs (the keyword arguments' types) and SessionOptions cannot drift."""
    import typing

    from sessionkit.runtime import _options

    ns = vars(_options) | {"SessionStore": __import__("sessionkit.store").store.SessionStore}
    args = typing.get_type_hints(SessionOptionsArgs, globalns=ns, localns=ns)
    fields = {a.name: a for a in attrs.fields(SessionOptions)}
    assert list(args) == list(fields)
    init = typing.get_type_hints(SessionOptions.__init__, globalns=ns, localns=ns)
    for name, hint in args.items():
        assert init[name] == hint, (name, init[name], hint)


def test_options_are_frozen_and_made_once_for_every_entry_point(parts: Any) -> None:
    base = SessionOptions(account="acct", on_handler_error="stop", submit_timeout=1.0)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        base.account = "other"  # type: ignore[misc]
    assert base.config == SessionConfig() and base.reconnect is None
    emb = parts.EmbeddedExchange(ReferenceExchange())
    ctx = Context(emb, parts.Log(), base, account="b")  # keywords change the given fields
    assert ctx.options == attrs.evolve(base, account="b")
    assert Context(emb, parts.Log(), base).options is base
    client = SessionClient(emb, parts.Log(), base)
    assert client.options is base

    async def body() -> None:
        async with open_session(emb, parts.Log(), base, account="c",
                                on_handler_error="log") as client:
            assert client.options == attrs.evolve(base, account="c", on_handler_error="log")

    run(body)


def test_a_bad_options_call_is_named(parts: Any) -> None:
    emb = parts.EmbeddedExchange(ReferenceExchange())
    with pytest.raises(ConfigTypeError, match="unknown session option acount; the options "
                                              "are account, token, config"):
        Context(emb, parts.Log(), acount="acct")  # type: ignore[call-arg]
    with pytest.raises(ConfigTypeError, match="account is required"):
        Context(emb, parts.Log())
    with pytest.raises(ConfigTypeError, match="options must be a SessionOptions, got dict"):
        Context(emb, parts.Log(), {"account": "acct"})  # type: ignore[arg-type]
    with pytest.raises(ConfigTypeError, match="options must be a SessionOptions, got dict"):
        SessionClient(emb, parts.Log(), {"account": "acct"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="on_handler_error must be 'log' or 'stop', got"):
        Context(emb, parts.Log(), SessionOptions(account="a"),
                on_handler_error="stpo")  # type: ignore[typeddict-item]


def test_the_old_handler_errors_keyword_still_works_with_a_warning(parts: Any) -> None:
    emb = parts.EmbeddedExchange(ReferenceExchange())
    with pytest.warns(DeprecationWarning, match="handler_errors= option is now "
                                                "on_handler_error="):
        ctx = Context(emb, parts.Log(), account="acct", handler_errors="stop")  # type: ignore
    assert ctx.options.on_handler_error == "stop"
