"""The ``.skt`` scenario format: tokenising, parsing and checking a script.

A scenario is a header (``key: value`` lines) followed by one step per line.
Every error names the file and line at fault (``path:line: what is wrong``).
The format is documented in ``docs/adapters.md``; the step vocabulary is the
:data:`VERBS` table below.

>>> sc = parse_scenario('''
... category: login
... capability: session
... login account=acct
... connect
... expect-send login resume_event_id=0
... send login_ack run_id=r1 last_event_id=0
... expect callback on_login_accepted event_id=0
... ''', path="demo.skt")
>>> sc.name, sc.category, sorted(sc.capabilities), len(sc.steps)
('demo', 'login', ['session'], 5)
>>> try:
...     parse_scenario("category: login\\nsubmit limit_ordr size=1", path="bad.skt")
... except ScriptError as err:
...     print(str(err).split(" (")[0])
bad.skt:2: submit needs a request type
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from .._config import SessionConfig
from .._errors import SessionkitError
from .._messages import MESSAGE_TYPES, Request
from .._stats import SessionStatistics
from ._vocabulary import (
    CALLBACK_METHODS,
    CAPABILITIES,
    CLIENT_TYPES,
    ERROR_ALIASES,
    ERROR_NAMES,
    HALF_CLOSE_DIRECTIONS,
    HANDLER_ERROR_MODES,
    INJECT_KINDS,
    NET_INJECT_KINDS,
    OUTCOMES,
    RAISE_TARGETS,
    TRANSPORT_CHECK_NAMES,
)

__all__ = ["ScriptError", "Var", "Field", "Step", "Scenario", "parse_scenario", "load_scenario",
           "VERBS", "OPS"]

#: comparison operators a field check may use
OPS = ("!=", ">=", "<=", "~=", "=", ">", "<")
_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)(!=|>=|<=|~=|=|>|<)(.*)$")
_HEADER = re.compile(r"^([a-z][a-z_-]*):(?:\s+(.*))?$")
_VAR = re.compile(r"^\$(cid|mid)\((@|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\)$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHILD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.(batch)?(\d+)$")
_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][-+]?\d+)$")

HEADER_KEYS = ("category", "capability", "description", "config", "timeout", "reconnect")


class ScriptError(SessionkitError, ValueError):
    """A scenario script is malformed; the message starts with ``path:line:``."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.detail = path, line, message


@attrs.frozen
class Var:
    """A variable resolved when the step runs: ``$cid(alias)`` or ``$mid(alias)``."""

    kind: str
    alias: str

    def __str__(self) -> str:
        return f"${self.kind}({self.alias})"


@attrs.frozen
class Field:
    """``key op value``: a message field to set (``=``) or a check to make."""

    key: str
    op: str
    value: Any

    def __str__(self) -> str:
        return f"{self.key}{self.op}{_show(self.value)}"


_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:/-]*$")


def _show(value: Any) -> str:
    """The written form of a value: ``parse_value(_show(v)) == v``."""
    if isinstance(value, str):
        bare = _BARE.match(value) and value.lower() not in ("true", "false", "none", "null")
        return value if bare else json.dumps(value)
    if isinstance(value, list):
        return "[" + ",".join(_show(v) for v in value) + "]"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@attrs.frozen
class Step:
    """One step: ``verb`` with positional ``args``, field ``fields`` and reserved ``options``."""

    line: int
    verb: str
    args: tuple[Any, ...] = ()
    fields: tuple[Field, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    text: str = ""
    #: for ``each``: the step run once per alias
    inner: Step | None = None

    def opt(self, name: str, default: Any = None) -> Any:
        for k, v in self.options:
            if k == name:
                return v
        return default


@attrs.frozen
class Scenario:
    name: str
    path: str
    category: str
    capabilities: frozenset[str]
    steps: tuple[Step, ...]
    description: str = ""
    #: SessionConfig overrides for the client
    config: tuple[tuple[str, Any], ...] = ()
    #: default wait of expect steps, in (virtual) seconds
    timeout: float = 5.0
    #: whether the runtime is opened with reconnection on
    reconnect: bool = False


# -- tokens and values ----------------------------------------------------------


def _tokens(text: str, err: Any) -> list[str]:
    """Split on blanks, keeping double-quoted parts whole; a blank-led ``#`` starts a comment."""
    out: list[str] = []
    cur: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise err("unterminated string (a \" has no closing \")")
            cur.append(text[i:j + 1])
            i = j + 1
            continue
        if c.isspace():
            if cur:
                out.append("".join(cur))
                cur = []
        elif c == "#" and not cur:
            break
        else:
            cur.append(c)
        i += 1
    if cur:
        out.append("".join(cur))
    return out


def parse_value(raw: str, err: Any) -> Any:
    """A literal: int, float, true/false, none, "string", [list], $cid(a)/$mid(a) or a word."""
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise err(f"bad string {raw!r}: text after the closing quote")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise err(f"bad string {raw}: {exc}") from None
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise err(f"bad list {raw!r}: no closing ]")
        body = raw[1:-1].strip()
        return [parse_value(p.strip(), err) for p in body.split(",")] if body else []
    if raw.startswith("$"):
        m = _VAR.match(raw)
        if not m:
            raise err(f"bad variable {raw!r}: use $cid(alias) or $mid(alias)")
        return Var(m.group(1), m.group(2))
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if _INT.match(raw):
        return int(raw)
    if _FLOAT.match(raw):
        return float(raw)
    if not raw or any(ch in raw for ch in '"[]$'):
        raise err(f"bad value {raw!r}")
    return raw


def iter_vars(value: Any) -> Iterator[Var]:
    if isinstance(value, Var):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from iter_vars(v)


# -- verbs ------------------------------------------------------------------------

#: verb -> (positional names, reserved option names, whether free fields are allowed,
#:          whether field checks may use operators other than "=")
VERBS: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool, bool]] = {
    # the client-side driver (calls the runtime)
    "login": ((), ("account", "token", "resume", "handler_errors"), False, False),
    "submit": (("type",), ("as",), True, False),
    "submit-nowait": (("type",), ("as",), True, False),
    "submit-batch": (("count", "type"), ("as",), True, False),
    "submit-batch-nowait": (("count", "type"), ("as",), True, False),
    "close": ((), (), False, False),
    "expect-error": (("error",), (), True, True),
    # the scripted exchange (the far side, over the adapter's transport)
    "connect": ((), ("within",), False, False),
    "expect-send": (("type",), ("as", "within"), True, True),
    "expect-no-send": ((), ("for",), False, False),
    "expect-disconnect": ((), ("within",), False, False),
    "expect-no-connect": ((), ("for",), False, False),
    "send": (("type",), (), True, False),
    "send-raw": (("text",), (), False, False),
    "send-batch-ack": (("batch",), ("mid", "first_mid", "reject", "reject_status", "omit",
                                    "event_id", "run_id"), False, False),
    "each": (("group",), (), False, False),
    "inject": (("fault",), (), False, False),
    "restart": ((), ("run_id",), False, False),
    "wait": (("seconds",), (), False, False),
    # the engine misbehaving: its processor method (or callback) raises
    "raise-in": (("method",), ("times",), False, False),
    # what the client saw
    "expect": (("what",), ("times", "within", "for"), True, True),
    # the Transport rules, checked on a connection of their own
    "check-transport": (("name",), (), False, False),
}

EXPECT_KINDS = ("callback", "no-callback", "finished", "open", "reply", "stat")
_STAT_FIELDS = {a.name for a in attrs.fields(SessionStatistics)}
_CONFIG_FIELDS = {a.name for a in attrs.fields(SessionConfig)}


class _Parser:
    def __init__(self, text: str, path: str, name: str | None) -> None:
        self.text, self.path = text, path
        self.name = name or Path(path).stem
        self.lineno = 0
        #: alias -> batch size (None: a single request)
        self.aliases: dict[str, int | None] = {}
        self.batch_limit = 200

    def err(self, message: str) -> ScriptError:
        return ScriptError(self.path, self.lineno, message)

    def parse(self) -> Scenario:
        headers: dict[str, Any] = {"capability": set()}
        steps: list[Step] = []
        for lineno, raw_line in enumerate(self.text.splitlines(), 1):
            self.lineno = lineno
            line = raw_line.strip()
            if not line or line.startswith("#"):
                continue
            h = _HEADER.match(line)
            if h and h.group(1) not in VERBS:
                if steps:
                    raise self.err(f"header {h.group(1)!r} after the first step; headers "
                                   f"come first")
                self._header(h.group(1), (h.group(2) or "").strip(), headers)
                continue
            steps.append(self._step(line))
        self.lineno = max(1, self.lineno)
        if "category" not in headers:
            raise ScriptError(self.path, 1, "no 'category:' header")
        if not steps:
            raise ScriptError(self.path, self.lineno, "the scenario has no steps")
        caps = frozenset(headers["capability"]) or frozenset({"session"})
        for step in steps:  # a real network fault needs the fault proxy (capability tcp)
            if step.verb == "inject" and step.args[0] in NET_INJECT_KINDS and "tcp" not in caps:
                raise ScriptError(self.path, step.line, f"inject {step.args[0]} needs "
                                  f"'capability: tcp' (the scenario then runs through the "
                                  f"fault proxy)")
        return Scenario(self.name, self.path, headers["category"], caps, tuple(steps),
                        headers.get("description", ""), tuple(headers.get("config", {}).items()),
                        headers.get("timeout", 5.0), headers.get("reconnect", False))

    def _header(self, key: str, value: str, headers: dict[str, Any]) -> None:
        if key not in HEADER_KEYS:
            raise self.err(f"unknown header {key!r}; known: {', '.join(HEADER_KEYS)}")
        if key != "capability" and key in headers:
            raise self.err(f"header {key!r} given twice")
        if key == "category":
            if not _ALIAS.match(value):
                raise self.err(f"category must be one word, got {value!r}")
            headers[key] = value
        elif key == "capability":
            for cap in value.replace(",", " ").split():
                if cap not in CAPABILITIES:
                    raise self.err(f"unknown capability {cap!r}; known: "
                                   f"{', '.join(sorted(CAPABILITIES))}")
                headers[key].add(cap)
        elif key == "description":
            headers[key] = value
        elif key == "config":
            cfg: dict[str, Any] = {}
            for tok in _tokens(value, self.err):
                m = _FIELD.match(tok)
                if not m or m.group(2) != "=":
                    raise self.err(f"config takes name=value pairs, got {tok!r}")
                if m.group(1) not in _CONFIG_FIELDS:
                    raise self.err(f"config: SessionConfig has no setting {m.group(1)!r}")
                cfg[m.group(1)] = parse_value(m.group(3), self.err)
            try:
                conf = SessionConfig(**cfg)
            except Exception as exc:
                raise self.err(f"config: {exc}") from None
            self.batch_limit = conf.batch_limit
            headers[key] = cfg
        elif key == "timeout":
            t = parse_value(value, self.err)
            if not isinstance(t, (int, float)) or isinstance(t, bool) or t <= 0:
                raise self.err(f"timeout must be a positive number of seconds, got {value!r}")
            headers[key] = float(t)
        elif key == "reconnect":
            if value not in ("on", "off"):
                raise self.err(f"reconnect must be 'on' or 'off', got {value!r}")
            headers[key] = value == "on"

    def _step(self, line: str, inner_of: str | None = None) -> Step:
        toks = _tokens(line, self.err)
        verb = toks[0]
        if verb not in VERBS:
            raise self.err(f"unknown step {verb!r}; known steps: {', '.join(VERBS)}")
        pos_names, opt_names, free, checks = VERBS[verb]
        if verb == "each":
            if len(toks) < 3:
                raise self.err("each needs a group alias and a step: each GROUP STEP...")
            group = toks[1]
            self._group_size(group)
            rest = line.split(None, 2)[2]
            inner = self._step(rest, inner_of=group)
            if inner.verb not in ("send", "expect", "send-batch-ack"):
                raise self.err(f"each repeats send, send-batch-ack or expect steps, not "
                               f"{inner.verb}")
            return Step(self.lineno, verb, (group,), text=line, inner=inner)
        args: list[Any] = []
        fields: list[Field] = []
        options: list[tuple[str, Any]] = []
        for tok in toks[1:]:
            m = _FIELD.match(tok)
            if m is None:
                if fields or options:
                    raise self.err(f"{verb}: positional value {tok!r} after key=value fields")
                args.append(parse_value(tok, self.err) if verb != "send-raw" else tok)
                continue
            key, op, raw = m.groups()
            value = parse_value(raw, self.err)
            if key in opt_names:
                if op != "=":
                    raise self.err(f"{verb}: option {key} takes '=', not {op!r}")
                options.append((key, value))
            elif free:
                if op != "=" and not checks:
                    raise self.err(f"{verb}: field {key} takes '=', not {op!r} "
                                   f"(comparisons are for expect steps)")
                fields.append(Field(key, op, value))
            else:
                raise self.err(f"{verb} has no option {key!r}"
                               + (f"; options: {', '.join(opt_names)}" if opt_names else ""))
        if not pos_names and args:
            raise self.err(f"{verb} takes no positional value, got {_show(args[0])!r}")
        step = Step(self.lineno, verb, tuple(args), tuple(fields), tuple(options), line)
        self._check(step, inner_of)
        return step

    # -- per-verb checks ---------------------------------------------------------

    def _check(self, step: Step, inner_of: str | None) -> None:
        verb, args = step.verb, step.args
        for value in [*(f.value for f in step.fields), *(v for _, v in step.options), *args]:
            for var in iter_vars(value):
                if var.alias == "@":
                    if inner_of is None:
                        raise self.err(f"{var} is only allowed inside an 'each' step")
                else:
                    self._known_alias(var.alias, str(var))
        getattr(self, "_check_" + verb.replace("-", "_"), lambda s: None)(step)

    def _need_args(self, step: Step, n: int, usage: str) -> None:
        if len(step.args) != n:
            raise self.err(f"{step.verb} needs {usage}")

    def _define(self, step: Step, size: int | None) -> None:
        alias = step.opt("as")
        if alias is None:
            return
        if not isinstance(alias, str) or not _ALIAS.match(alias):
            raise self.err(f"as= takes a name (letters, digits, _), got {alias!r}")
        if alias in self.aliases:
            raise self.err(f"alias {alias!r} is already defined")
        self.aliases[alias] = size

    def _known_alias(self, alias: str, where: str) -> None:
        m = _CHILD.match(alias)
        if m:
            base, is_batch, idx = m.group(1), m.group(2), int(m.group(3))
            if base not in self.aliases:
                raise self.err(f"{where} names alias {base!r}, which no earlier step defines")
            size = self.aliases[base]
            if size is None:
                raise self.err(f"{where}: {base!r} is a single request, not a batch")
            limit = -(-size // self.batch_limit) if is_batch else size
            if idx >= limit:
                what = "batch frames" if is_batch else "requests"
                raise self.err(f"{where}: {base!r} has {limit} {what} (index {idx} is out of "
                               f"range)")
            return
        if alias not in self.aliases:
            raise self.err(f"{where} names alias {alias!r}, which no earlier step defines")

    def _group_size(self, group: str) -> None:
        self._known_alias(group, f"each {group}")
        if not _CHILD.match(group) and self.aliases[group] is None:
            raise self.err(f"each {group}: {group!r} is a single request, not a batch")
        m = _CHILD.match(group)
        if m and not m.group(2):
            raise self.err(f"each {group}: name a batch alias or a batch frame (alias.batchN)")

    def _request_type(self, step: Step, name: Any) -> None:
        cls = MESSAGE_TYPES.get(name) if isinstance(name, str) else None
        if cls is None or not issubclass(cls, Request) or name == "batch":
            reqs = sorted(t for t, c in MESSAGE_TYPES.items()
                          if issubclass(c, Request) and t != "batch")
            raise self.err(f"{step.verb} needs a request type ({', '.join(reqs)}), got "
                           f"{name!r}")
        known = set(cls.__struct_fields__)
        for f in step.fields:
            if f.key not in known:
                raise self.err(f"{name} has no field {f.key!r}")

    def _check_login(self, step: Step) -> None:
        r = step.opt("resume")
        if r is not None and (not isinstance(r, int) or isinstance(r, bool) or r < 0):
            raise self.err(f"login resume= takes an integer >= 0, got {r!r}")
        mode = step.opt("handler_errors")
        if mode is not None and mode not in HANDLER_ERROR_MODES:
            raise self.err(f"login handler_errors= takes {' or '.join(HANDLER_ERROR_MODES)}, "
                           f"got {mode!r}")

    def _check_raise_in(self, step: Step) -> None:
        if len(step.args) != 1 or step.args[0] not in RAISE_TARGETS:
            raise self.err(f"raise-in needs a MessageProcessor method or callback; known: "
                           f"{', '.join(RAISE_TARGETS)}")
        times = step.opt("times", 1)
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise self.err(f"raise-in times= takes a positive integer, got {times!r}")

    def _check_submit(self, step: Step) -> None:
        self._need_args(step, 1, "a request type: submit TYPE field=value... as=ALIAS")
        self._request_type(step, step.args[0])
        self._define(step, None)

    _check_submit_nowait = _check_submit

    def _check_submit_batch(self, step: Step) -> None:
        self._need_args(step, 2, "a count and a request type: submit-batch N TYPE field=value...")
        n = step.args[0]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise self.err(f"submit-batch count must be a positive integer, got {n!r}")
        self._request_type(step, step.args[1])
        self._define(step, n)

    _check_submit_batch_nowait = _check_submit_batch

    def _check_expect_error(self, step: Step) -> None:
        self._need_args(step, 1, "an error name: expect-error NAME [field=value]")
        if step.args[0] not in ERROR_NAMES and step.args[0] not in ERROR_ALIASES:
            raise self.err(f"expect-error: unknown error {step.args[0]!r}; known: "
                           f"{', '.join(ERROR_NAMES)}")

    def _check_expect_send(self, step: Step) -> None:
        self._need_args(step, 1, "a message type: expect-send TYPE field=value...")
        if step.args[0] not in CLIENT_TYPES:
            raise self.err(f"expect-send: {step.args[0]!r} is not a message the client sends; "
                           f"known: {', '.join(CLIENT_TYPES)}")
        alias = step.opt("as")
        if alias is not None:
            self._define(step, None)

    def _check_send(self, step: Step) -> None:
        self._need_args(step, 1, "a message type: send TYPE field=value...")
        if not isinstance(step.args[0], str) or not _ALIAS.match(step.args[0]):
            raise self.err(f"send needs a message type name, got {step.args[0]!r}")
        cls = MESSAGE_TYPES.get(step.args[0])
        if cls is not None:
            known = set(cls.__struct_fields__)
            for f in step.fields:
                top = f.key.split(".")[0]
                if top not in known and not top.startswith("extra_"):
                    raise self.err(f"{step.args[0]} has no field {top!r} (a field the "
                                   f"message does not define must start with extra_)")

    def _check_send_raw(self, step: Step) -> None:
        self._need_args(step, 1, 'one quoted frame text: send-raw "..."')
        if not step.args[0].startswith('"'):
            raise self.err("send-raw takes one quoted string")
        object.__setattr__(step, "args", (parse_value(step.args[0], self.err),))

    def _check_send_batch_ack(self, step: Step) -> None:
        self._need_args(step, 1, "a batch frame alias: send-batch-ack ALIAS.batchN first_mid=N")
        b = step.args[0]
        m = _CHILD.match(b) if isinstance(b, str) else None
        if b != "@" and (m is None or not m.group(2)):
            raise self.err(f"send-batch-ack needs a batch frame alias like b.batch0, got {b!r}")
        if b != "@":
            self._known_alias(b, f"send-batch-ack {b}")
        for key in ("reject", "omit"):
            v = step.opt(key, [])
            if not isinstance(v, list) or not all(isinstance(i, int) for i in v):
                raise self.err(f"send-batch-ack {key}= takes a list of indexes like [1,3]")

    def _check_inject(self, step: Step) -> None:
        if not step.args or step.args[0] not in INJECT_KINDS:
            raise self.err(f"inject needs one of {', '.join(INJECT_KINDS)}")
        kind, rest = step.args[0], step.args[1:]
        if kind in ("delay", "net-delay"):
            if len(rest) != 1 or not isinstance(rest[0], (int, float)) or rest[0] <= 0:
                raise self.err(f"inject {kind} needs a positive number of seconds")
        elif kind in ("drop", "duplicate", "refuse-connect", "net-split"):
            if len(rest) > 1 or (rest and (not isinstance(rest[0], int) or rest[0] < 1)):
                what = "piece size in bytes" if kind == "net-split" else "count"
                raise self.err(f"inject {kind} takes an optional positive {what}")
        elif kind == "net-half-close":
            if len(rest) > 1 or (rest and rest[0] not in HALF_CLOSE_DIRECTIONS):
                raise self.err(f"inject net-half-close takes an optional direction: "
                               f"{' or '.join(HALF_CLOSE_DIRECTIONS)}")
        elif rest:
            raise self.err(f"inject {kind} takes no argument")

    def _check_restart(self, step: Step) -> None:
        if not isinstance(step.opt("run_id"), str):
            raise self.err("restart needs run_id=NAME")

    def _check_check_transport(self, step: Step) -> None:
        if len(step.args) != 1 or step.args[0] not in TRANSPORT_CHECK_NAMES:
            raise self.err(f"check-transport needs one of {', '.join(TRANSPORT_CHECK_NAMES)}")

    def _check_wait(self, step: Step) -> None:
        if (len(step.args) != 1 or not isinstance(step.args[0], (int, float))
                or isinstance(step.args[0], bool) or step.args[0] < 0):
            raise self.err("wait needs a number of seconds")

    def _check_expect(self, step: Step) -> None:
        args = step.args
        if not args or args[0] not in EXPECT_KINDS:
            raise self.err(f"expect needs one of {', '.join(EXPECT_KINDS)}")
        kind = args[0]
        if kind in ("callback", "no-callback"):
            if len(args) != 2 or args[1] not in CALLBACK_METHODS:
                raise self.err(f"expect {kind} needs a MessageProcessor method; known: "
                               f"{', '.join(CALLBACK_METHODS)}")
        elif kind in ("finished", "open", "reply"):
            if len(args) != 2 or not isinstance(args[1], str):
                raise self.err(f"expect {kind} needs an alias")
            if args[1] != "@":
                self._known_alias(args[1], f"expect {kind} {args[1]}")
            if kind == "finished":
                for f in step.fields:
                    if f.key == "outcome" and f.value not in OUTCOMES:
                        raise self.err(f"unknown outcome {f.value!r}; known: "
                                       f"{', '.join(OUTCOMES)}")
        elif kind == "stat":
            if len(args) != 1 or not step.fields:
                raise self.err("expect stat needs checks like resends=1 or gaps>=1")
            for f in step.fields:
                if f.key not in _STAT_FIELDS:
                    raise self.err(f"expect stat: SessionStatistics has no field {f.key!r}")
        times = step.opt("times")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise self.err(f"times= takes a positive integer, got {times!r}")


def parse_scenario(text: str, *, path: str = "<string>", name: str | None = None) -> Scenario:
    """Parse one scenario script; raises :class:`ScriptError` naming ``path:line``."""
    return _Parser(text, path, name).parse()


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(str(p), 0, f"cannot read the scenario: {exc}") from None
    return parse_scenario(text, path=str(p))

