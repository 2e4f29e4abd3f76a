"""The .skt scenario format: what parses, what it means, and errors that name file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionkit.conformance import (
    SCENARIO_DIR,
    Field,
    ScriptError,
    Var,
    load_scenario,
    load_scenarios,
    parse_scenario,
)
from sessionkit.conformance._script import _show, parse_value
from sessionkit.conformance._vocabulary import CAPABILITIES
from sessionkit.runtime import CAPABILITIES as RUNTIME_CAPABILITIES

PROLOGUE = """\
category: login
capability: session
login
connect
expect-send login
send login_ack run_id=r1 last_event_id=0
"""


def parse(body: str, path: str = "t.skt") -> object:
    return parse_scenario(PROLOGUE + body, path=path)


def error_of(text: str, path: str = "bad.skt") -> str:
    with pytest.raises(ScriptError) as info:
        parse_scenario(text, path=path)
    return str(info.value)


# -- good scripts ------------------------------------------------------------------------


def test_every_bundled_scenario_parses_and_names_are_unique() -> None:
    scenarios = load_scenarios()
    assert len(scenarios) >= 60
    assert len({s.name for s in scenarios}) == len(scenarios)
    for sc in scenarios:
        assert sc.capabilities <= CAPABILITIES, sc.name
        assert sc.description, f"{sc.name} has no description"


def test_the_suite_covers_every_category_the_brief_names() -> None:
    cats: dict[str, int] = {}
    for sc in load_scenarios():
        cats[sc.category] = cats.get(sc.category, 0) + 1
    for needed in ("login", "ack_mid", "batch", "run_id", "event_replay", "backpressure",
                   "heartbeat", "robustness", "reconnect", "idempotency"):
        assert cats.get(needed, 0) >= 3, (needed, cats)


def test_capability_names_agree_with_the_runtime() -> None:
    assert CAPABILITIES == RUNTIME_CAPABILITIES


def test_headers_and_defaults() -> None:
    sc = parse_scenario("""\
# a comment
category: batch
capability: session, batch
capability: ack_mid
description: two   words
config: ack_timeout=0.5 max_in_flight=3 gap_policy=request
timeout: 2
reconnect: on

login
""", path="dir/my_case.skt")
    assert sc.name == "my_case"
    assert sc.category == "batch"
    assert sc.capabilities == {"session", "batch", "ack_mid"}
    assert sc.description == "two   words"
    assert dict(sc.config) == {"ack_timeout": 0.5, "max_in_flight": 3, "gap_policy": "request"}
    assert sc.timeout == 2.0 and sc.reconnect is True
    assert [s.verb for s in sc.steps] == ["login"]
    assert sc.steps[0].line == 10


def test_capability_defaults_to_session() -> None:
    assert parse_scenario("category: login\nlogin").capabilities == {"session"}


def test_values_fields_options_and_variables() -> None:
    sc = parse("""\
submit limit_order contract_id=1 size=2 price_in_cents=5000 side=sell as=o1
expect-send limit_order cid=$cid(o1) size>=2 side!=buy within=1.5
send status cid=$cid(o1) mid=101 message="two words" extra_flag=true
expect callback handle_status_message mid=101 prev.type=limit_order times=1
send message_replay cid=x mids=[1,2,3]
send-raw "{\\"type\\":\\"heartbeat\\"}"  # a trailing comment
""")
    submit, expect_send, send, cb, replay, raw = sc.steps[4:]
    assert submit.args == ("limit_order",)
    assert submit.opt("as") == "o1"
    assert Field("side", "=", "sell") in submit.fields
    assert expect_send.fields[0] == Field("cid", "=", Var("cid", "o1"))
    assert expect_send.fields[1] == Field("size", ">=", 2)
    assert expect_send.opt("within") == 1.5
    assert Field("message", "=", "two words") in send.fields
    assert Field("extra_flag", "=", True) in send.fields
    assert cb.args == ("callback", "handle_status_message") and cb.opt("times") == 1
    assert Field("mids", "=", [1, 2, 3]) in replay.fields
    assert raw.args == ('{"type":"heartbeat"}',)


def test_raise_in_and_handler_errors() -> None:
    sc = parse_scenario("""\
category: hostile
login handler_errors=stop
raise-in handle_status_message
raise-in callback times=3
""")
    login, handler, callback = sc.steps
    assert login.opt("handler_errors") == "stop"
    assert handler.args == ("handle_status_message",) and handler.opt("times") is None
    assert callback.args == ("callback",) and callback.opt("times") == 3


def test_batch_aliases_and_each() -> None:
    sc = parse("""\
submit-batch 201 limit_order contract_id=1 size=1 price_in_cents=1 as=b
expect-send batch cid=$cid(b.batch1) messages.0.cid=$cid(b.200)
send-batch-ack b.batch0 first_mid=1000 reject=[1,3] omit=[5]
each b send action_report mid=$mid(@) contract_id=1 size=0
each b.batch1 expect finished @ outcome=done
""")
    each = sc.steps[-2]
    assert each.verb == "each" and each.args == ("b",)
    assert each.inner is not None and each.inner.verb == "send"
    assert each.inner.fields[0] == Field("mid", "=", Var("mid", "@"))


@pytest.mark.parametrize("raw, value", [
    ("12", 12), ("-3", -3), ("1.5", 1.5), ("true", True), ("FALSE", False), ("none", None),
    ("null", None), ('"12"', "12"), ('"a b"', "a b"), ("word", "word"), ("[]", []),
    ("[1,two]", [1, "two"]), ("$cid(o1)", Var("cid", "o1")), ("$mid(b.3)", Var("mid", "b.3")),
])
def test_value_literals(raw: str, value: object) -> None:
    got = parse_value(raw, ValueError)
    assert got == value and type(got) is type(value)


_plain = st.one_of(
    st.integers(-10**9, 10**9), st.booleans(), st.none(),
    st.text(st.characters(codec="ascii", exclude_characters="\\"), max_size=12),
)


@settings(deadline=None)  # a pure function: a stall on a loaded machine is no failure
@given(st.one_of(_plain, st.lists(st.integers(-99, 99), max_size=5)))
def test_values_round_trip_through_their_written_form(value: object) -> None:
    assert parse_value(_show(value), ValueError) == value


def test_load_scenario_reads_a_file(tmp_path: Path) -> None:
    p = tmp_path / "x.skt"
    p.write_text("category: login\nlogin\n")
    assert load_scenario(p).name == "x"
    assert SCENARIO_DIR.is_dir()


# -- bad scripts: every error names file:line ----------------------------------------------

BAD = [
    # (script, line, words the message must hold)
    ("login\n", 1, "no 'category:' header"),
    ("category: login\n", 1, "no steps"),
    ("category: login\nlogin\ncategory: batch\n", 3, "after the first step"),
    ("category: login\ncategory: batch\nlogin\n", 2, "given twice"),
    ("category: login\ncolour: red\nlogin\n", 2, "unknown header 'colour'"),
    ("category: login\ncapability: teleport\nlogin\n", 2, "unknown capability 'teleport'"),
    ("category: login\nconfig: ack_timeout=-1\nlogin\n", 2, "ack_timeout"),
    ("category: login\nconfig: warp=9\nlogin\n", 2, "no setting 'warp'"),
    ("category: login\ntimeout: soon\nlogin\n", 2, "timeout must be a positive number"),
    ("category: login\nreconnect: maybe\nlogin\n", 2, "'on' or 'off'"),
    ("category: login\nlogin\nfly away\n", 3, "unknown step 'fly'"),
    ("category: login\nsubmit limit_ordr size=1\n", 2, "needs a request type"),
    ("category: login\nsubmit limit_order colour=red\n", 2, "no field 'colour'"),
    ("category: login\nsubmit limit_order size>=1\n", 2, "takes '='"),
    ("category: login\nsubmit limit_order as=o1\nsubmit limit_order as=o1\n", 3,
     "already defined"),
    ("category: login\nsend status cid=$cid(o9)\n", 2, "alias 'o9', which no earlier step"),
    ("category: login\nsend status cid=$zid(o1)\n", 2, "bad variable"),
    ("category: login\nsend status cid=$cid(@)\n", 2, "only allowed inside an 'each'"),
    ("category: login\nsend status bogus_field=1\n", 2, "must start with extra_"),
    ("category: login\nsend status message=\"open\n", 2, "unterminated string"),
    ("category: login\nsend status mids=[1,2\n", 2, "no closing ]"),
    ("category: login\nsubmit-batch 3 limit_order as=b\nsend status cid=$cid(b.3)\n", 3,
     "has 3 requests (index 3 is out of range)"),
    ("category: login\nsubmit-batch 3 limit_order as=b\nsend status cid=$cid(b.batch1)\n", 3,
     "has 1 batch frames"),
    ("category: login\nsubmit limit_order as=o\neach o send status\n", 3, "single request"),
    ("category: login\nsubmit-batch 0 limit_order as=b\n", 2, "positive integer"),
    ("category: login\nexpect-send limit_ordr\n", 2, "not a message the client sends"),
    ("category: login\nexpect-error Oops\n", 2, "unknown error 'Oops'"),
    ("category: login\nexpect callback on_everything\n", 2, "MessageProcessor method"),
    ("category: login\nexpect finished\n", 2, "needs an alias"),
    ("category: login\nsubmit get_contracts as=g\nexpect finished g outcome=great\n", 3,
     "unknown outcome 'great'"),
    ("category: login\nexpect stat warp=1\n", 2, "no field 'warp'"),
    ("category: login\nexpect dance\n", 2, "expect needs one of"),
    ("category: login\ninject lightning\n", 2, "inject needs one of"),
    ("category: login\ninject delay\n", 2, "positive number of seconds"),
    ("category: login\ninject garbled 3\n", 2, "takes no argument"),
    ("category: login\nrestart\n", 2, "needs run_id"),
    ("category: login\nwait\n", 2, "number of seconds"),
    ("category: login\nconnect now\n", 2, "takes no positional value"),
    ("category: login\nlogin colour=red\n", 2, "no option 'colour'"),
    ("category: login\nlogin resume=-1\n", 2, "integer >= 0"),
    ("category: login\nsend-raw unquoted\n", 2, "one quoted string"),
    ("category: login\nsend-batch-ack nothing\n", 2, "batch frame alias"),
    ("category: login\nexpect callback x=1 on_login_accepted\n", 2, "after key=value"),
    ("category: login\nraise-in handle_everything\n", 2, "raise-in needs a MessageProcessor"),
    ("category: login\nraise-in\n", 2, "raise-in needs a MessageProcessor"),
    ("category: login\nraise-in callback times=0\n", 2, "times= takes a positive integer"),
    ("category: login\nlogin handler_errors=ignore\n", 2, "handler_errors= takes log or stop"),
]


@pytest.mark.parametrize("text, line, words", BAD, ids=[w for _, _, w in BAD])
def test_bad_scripts_name_file_and_line(text: str, line: int, words: str) -> None:
    message = error_of(text, path="dir/bad.skt")
    assert message.startswith(f"dir/bad.skt:{line}: "), message
    assert words in message, message


def test_a_bad_bundled_style_file_is_reported_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "good.skt").write_text("category: login\nlogin\n")
    (tmp_path / "broken.skt").write_text("category: login\nlogin\n\nsubmit nothing\n")
    with pytest.raises(ScriptError) as info:
        load_scenarios(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'broken.skt'}:4: ")


def test_duplicate_scenario_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "x.skt").write_text("category: login\nlogin\n")
    assert len(load_scenarios(tmp_path)) == 1


def test_unreadable_file(tmp_path: Path) -> None:
    p = tmp_path / "bin.skt"
    p.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ScriptError) as info:
        load_scenario(p)
    assert str(info.value).startswith(f"{p}:0: cannot read")
