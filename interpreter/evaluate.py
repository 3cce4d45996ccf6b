"""The tree walker: smart-list filters, flow steps, choices and tokens.

``Evaluator`` interprets the checked AST for one person at a time against the
store and the virtual clock. The engine (``engine.py``) owns actions, the queue
and trigger dispatch, and subclasses the evaluator; the few things a step
needs from it (queue a requested run, emit a trigger event, end other runs of
a campaign, find a webhook handler) are the ``_host_*`` methods below.

Semantics, with the rule each implements (LANGUAGE.md; docs/language.md):

* Filters (§4). Text comparison is case-insensitive (``str.casefold``); an
  empty text is ``""``, so ``is not``, ``not contains`` and ``not starts
  with`` match it. Numbers: ``is 0`` also matches empty; ``is not`` and
  the ordering operators never match empty (§12.5), ``is empty``
  does not match 0. Dates: a literal is an interval (a day, or a minute for a
  date-time literal) and the operators compare against its ends; ``before``
  and ``on or before`` also match empty. Booleans: empty is false. A filter
  with a comma list matches when any value does (``is not``: none does).
* Filters are compiled once per smart list into one generated Python
  function (``_Source``: ``def _pred(p): return ...``, the constants bound,
  store and clock reads as closures), so evaluating a smart list costs what a
  hand-written function costs. For a batch the whole smart list is pushed
  down to SQL where SQL can say it (``sql_for_smart_list``: field operators,
  decimals through ``dcmp``, ``in past``/``in future`` fixed at the clock,
  list, program and nested smart list membership, history and ``campaign was
  run`` as indexed subqueries) with exactly the same case and null rules;
  tests/test_pushdown.py checks the two paths select the same people.
* Smart list logic: ALL, ANY, or advanced (``1 and (2 or not 3)``), parsed by
  ``parse_logic``. A filter that cannot be evaluated (an unknown field, list,
  or a value of the wrong type: the checker's CL501) makes the smart list
  *invalid*, and an invalid smart list qualifies nobody, as in Marketo.
* Steps (§5): each appends its activity; a field, list or program change that
  changed something emits its trigger event (run after the current run, by
  the engine); a step that fails for one person records an ``Error``
  activity and ends that person's run. Flows are compiled once per program
  into a closure per step (``compiled_steps``, "compiled flows" below): names
  resolved, constants converted, the fixed part of each activity's JSON
  encoded; the ``_change_*`` methods interpret the steps that do not compile
  (a name that does not resolve) and remain the reference.
* Choices: the first branch whose condition holds runs; none, or ``else do
  nothing``, does nothing.
* Tokens (§7): ``TokenContext`` holds the My Token environment (an
  ``environment.Environment`` of labelled layers), the campaign whose
  campaign/program/member tokens are in force, and the trigger tokens of a
  triggered run. ``use parent token context`` gives the child the parent's
  context with the child's own layers behind it; without it the child gets
  a fresh context of its own and no trigger tokens. Undefined tokens render
  blank; ``:default=`` applies to an empty value. ``bind`` folds a template
  once per context (My Tokens, campaign, program and trigger tokens), leaving
  a function of the person for lead and member tokens; contexts are shared
  wherever they would be equal (``own_context``, ``child_context``).

Imports ``ast``, ``environment``, ``model``, ``store``, ``clock``, ``errors``.
"""

from __future__ import annotations

import datetime as _dt
import json
from json.encoder import encode_basestring as _jstr   # what dumps() does to a str
import re
import urllib.parse
from decimal import Decimal
from typing import Any, Callable, Sequence

from . import ast
from .clock import Clock, iso
from .environment import MAX_RENDERED_CHARS, MAX_TOKEN_EXPANSIONS, Binding, Environment, Layer
from .model import CampaignInfo, Model, ProgramInfo
from .store import ENCODERS as _ENCODE
from .store import Person, Store, convert, dumps, to_json_value

# --------------------------------------------------------------------------
# Control flow of a run


class Pause(Exception):
    """A ``wait`` at the top level of a flow: resume at ``step`` at ``due``."""

    def __init__(self, due: _dt.datetime, step: int):
        self.due = due
        self.step = step


class EndRun(Exception):
    """The person's run ends here (remove from flow, delete person, an error)."""

    def __init__(self, reason: str):
        self.reason = reason


class StepError(Exception):
    """A step failed for this person: an ``Error`` activity, then the run ends."""


def _too_long(node: Any) -> str:
    where = f" (line {node.span.line})" if getattr(node, "span", None) is not None else ""
    return (f"a rendered value{where} is longer than {MAX_RENDERED_CHARS:,} characters "
            "(My Tokens nested in each other multiply)")


class InvalidSmartList(Exception):
    """A filter cannot be evaluated (unknown name, value of the wrong type)."""


# --------------------------------------------------------------------------
# Token contexts


TRIGGER_TITLES = {
    "fills out form": "Fills Out Form", "visits web page": "Visits Web Page",
    "opens email": "Opens Email", "clicks link in email": "Clicks Link in Email",
    "data value changes": "Data Value Changes", "score is changed": "Score is Changed",
    "added to list": "Added to List", "removed from list": "Removed from List",
    "program status is changed": "Program Status is Changed",
    "person is created": "Person is Created", "campaign is requested": "Campaign is Requested",
}


class TokenContext:
    """The token context of a run (§7): My Tokens, the campaign whose
    campaign/program/member tokens apply, and trigger tokens (or None)."""

    __slots__ = ("env", "campaign", "trigger", "api", "cache", "bound", "children")

    def __init__(self, env: Environment, campaign: CampaignInfo | None,
                 trigger: dict[str, str] | None = None, api: dict[str, str] | None = None):
        self.env = env
        self.campaign = campaign
        self.trigger = trigger          # name_key -> text
        self.api = api                  # the API-passed values (name -> text), for the queue
        self.cache: dict[str, str | None] = {}
        #: templates folded for this context (Evaluator.bind), and child contexts
        self.bound: dict[Any, Any] = {}
        self.children: dict[int, Any] | None = None

    @classmethod
    def own(cls, campaign: CampaignInfo, api: dict[str, str] | None = None,
            trigger: dict[str, str] | None = None) -> "TokenContext":
        """A campaign's own context, API values in front."""
        env = campaign.env()
        if api:
            env = env.push(Layer.of("api", "API-passed value", dict(api)))
        return cls(env, campaign, trigger, dict(api) if api else None)

    def for_child(self, child: CampaignInfo, use_parent: bool) -> "TokenContext":
        """The context a child of ``execute campaign`` runs in (§7)."""
        if not use_parent:
            return TokenContext(child.env(), child, None, None)
        env = self.env.then(child.env(), relabel="child's own")
        return TokenContext(env, self.campaign, self.trigger, self.api)

    def lookup(self, name: str) -> tuple[Binding, Layer] | None:
        return self.env.lookup(name)


def trigger_tokens(kind: str, name: str, attributes: dict[str, Any] | None = None) -> dict[str, str]:
    out = {"trigger name": TRIGGER_TITLES.get(kind, kind), "name": name}
    for k, v in (attributes or {}).items():
        out[ast.name_key(k)] = "" if v is None else format_value(v)
    return out


def format_value(value: Any) -> str:
    """A typed value as a token renders it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)


def literal_text(node: Any) -> str:
    """A literal value node as text (My Token values, API values)."""
    if node is None or isinstance(node, ast.Null):
        return ""
    if isinstance(node, str):
        return node
    if isinstance(node, ast.String):
        return node.value
    if isinstance(node, ast.Number):
        return str(node.value)
    if isinstance(node, ast.Boolean):
        return "true" if node.value else "false"
    if isinstance(node, ast.Date):
        return node.value.isoformat()
    if isinstance(node, ast.DateTime):
        return node.value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(node, ast.ScoreChange):
        return node.text
    if isinstance(node, ast.Duration):
        return node.text
    if isinstance(node, ast.Ref):
        return node.name if node.program is None else f'"{node.program}"."{node.name}"'
    if isinstance(node, ast.Template):
        return "".join(p if isinstance(p, str) else p.text for p in node.parts)
    if isinstance(node, ast.TokenRef):
        return node.text
    return str(node)


def literal_value(node: Any) -> Any:
    """A literal value node as a Python value (None for a token or template)."""
    if isinstance(node, (ast.String,)):
        return node.value
    if isinstance(node, (ast.Number, ast.Boolean, ast.Date, ast.DateTime)):
        return node.value
    if isinstance(node, ast.ScoreChange):
        return node.text
    if isinstance(node, ast.Null):
        return None
    raise TypeError(type(node).__name__)


_SCORE_RE = re.compile(r"^\s*([+=-])\s*(-?\d+)\s*$")


def parse_score_change(text: str) -> tuple[str, int] | None:
    """``"+10"`` -> ("+", 10); ``"=-3"`` -> ("=", -3); a bare number -> None."""
    m = _SCORE_RE.match(text)
    if not m:
        return None
    op, amount = m.group(1), int(m.group(2))
    if op != "=" and amount < 0:
        return None
    return op, amount


def url_escape(text: str) -> str:
    return urllib.parse.quote(text, safe="")


_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def json_escape(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


# --------------------------------------------------------------------------
# Smart list logic


_LOGIC_TOKEN = re.compile(r"\s*(?:(\d+)|(\()|(\))|(and|or|not)\b)", re.IGNORECASE)


def parse_logic(expression: str, count: int) -> Any:
    """``"1 and (2 or 3)"`` -> a tree of ("and"|"or", a, b, ...), ("not", a)
    and filter indexes (0-based); ``ValueError`` when malformed."""
    tokens: list[tuple[str, Any]] = []
    pos, text = 0, expression.strip()
    while pos < len(text):
        m = _LOGIC_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unexpected {text[pos:].split()[0]!r} in smart list logic")
        if m.group(1):
            n = int(m.group(1))
            if not 1 <= n <= count:
                raise ValueError(f"smart list logic names filter {n}, but there are {count}")
            tokens.append(("num", n - 1))
        elif m.group(2):
            tokens.append(("(", None))
        elif m.group(3):
            tokens.append((")", None))
        else:
            tokens.append((m.group(4).lower(), None))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    i = 0

    def peek() -> str | None:
        return tokens[i][0] if i < len(tokens) else None

    def expr() -> Any:
        nonlocal i
        left = term()
        while peek() in ("and", "or"):
            op = tokens[i][0]
            i += 1
            right = term()
            # a chain of one operator is one node ("and", a, b, c, ...): the
            # Python and SQL made from it nest no deeper than the parentheses
            # (a left-deep tree of 45 terms overflowed SQLite's parser stack)
            left = left + (right,) if isinstance(left, tuple) and left[0] == op else (op, left, right)
        return left

    def term() -> Any:
        nonlocal i
        kind = peek()
        if kind == "num":
            i += 1
            return tokens[i - 1][1]
        if kind == "not":
            i += 1
            return ("not", term())
        if kind == "(":
            i += 1
            inner = expr()
            if peek() != ")":
                raise ValueError("unclosed '(' in smart list logic")
            i += 1
            return inner
        raise ValueError("smart list logic expected a filter number")

    tree = expr()
    if i != len(tokens):
        raise ValueError(f"unexpected {tokens[i][0]!r} in smart list logic")
    return tree


def eval_logic(tree: Any, test: Callable[[int], bool]) -> bool:
    if isinstance(tree, int):
        return test(tree)
    if tree[0] == "not":
        return not eval_logic(tree[1], test)
    if tree[0] == "and":
        return all(eval_logic(t, test) for t in tree[1:])
    return any(eval_logic(t, test) for t in tree[1:])


def _sql_join(op: str, terms: Sequence[str], width: int = 64) -> str:
    """``terms`` joined by ``op``, grouped ``width`` at a time: SQLite parses
    ``a AND b AND c ...`` as a tree as deep as the chain, and refuses one
    deeper than 1,000 (SQLITE_MAX_EXPR_DEPTH); grouping keeps a smart list of
    thousands of filters a few levels deep."""
    while len(terms) > width:
        terms = [f"({f' {op} '.join(terms[i:i + width])})" for i in range(0, len(terms), width)]
    return f" {op} ".join(terms)


#: SQLite's parser overflows near 100 nested parentheses, and a statement may
#: bind at most 32,766 parameters; a smart list past either runs in Python
MAX_SQL_NESTING = 60
MAX_SQL_PARAMS = 30_000


def sql_fits(sql: str, params: Sequence[Any]) -> bool:
    """Whether SQLite can take this condition (nesting and parameters)."""
    if len(params) > MAX_SQL_PARAMS:
        return False
    depth = deepest = 0
    for ch in sql:
        if ch == "(":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch == ")":
            depth -= 1
    return deepest <= MAX_SQL_NESTING


def sql_logic(tree: Any, parts: Sequence[str]) -> str:
    if isinstance(tree, int):
        return parts[tree]
    if tree[0] == "not":
        return f"NOT ({sql_logic(tree[1], parts)})"
    return "(" + _sql_join(tree[0].upper(), [f"({sql_logic(t, parts)})" for t in tree[1:]]) + ")"


# --------------------------------------------------------------------------
# Date intervals (docs/language.md, "Dates in filters")

_DAY = _dt.timedelta(days=1)
_MINUTE = _dt.timedelta(minutes=1)


def _interval(field_type: str, value: Any) -> tuple[Any, Any]:
    """The [lo, hi) a date or date-time literal stands for, in the field's domain."""
    if field_type == "date":
        d = value.date() if isinstance(value, _dt.datetime) else value
        return d, d + _DAY
    if isinstance(value, _dt.datetime):
        return value, value + _MINUTE
    start = _dt.datetime.combine(value, _dt.time())
    return start, start + _DAY


def _months_back(t: Any, months: int) -> Any:
    return t - _dt.timedelta(days=30 * months)


# --------------------------------------------------------------------------
# Frames of a run


class Frame:
    """One campaign running inside a run: the top campaign or an executed child."""

    __slots__ = ("campaign", "ctx", "parent_context", "key", "program")

    def __init__(self, campaign: CampaignInfo | None, ctx: TokenContext, parent_context: bool = False):
        self.campaign = campaign
        self.ctx = ctx
        self.parent_context = parent_context
        self.key = campaign.qualname if campaign is not None else None
        self.program = campaign.program if campaign is not None else None


class Run:
    """One person's run of a campaign (or of a test's ``for`` block)."""

    __slots__ = ("id", "person", "frames", "cause", "top", "source")

    def __init__(self, id: int, person: Person, top: Frame, cause: tuple[str, ...] = (),
                 source: str = ""):
        self.id = id
        self.person = person
        self.frames = [top]
        self.top = top
        self.cause = cause
        self.source = source

    @property
    def frame(self) -> Frame:
        return self.frames[-1]

    def chain(self) -> list[str]:
        return [f.key or "(test setup)" for f in self.frames]


# --------------------------------------------------------------------------
# The evaluator


Pred = Callable[[Person], bool]

MAX_EXECUTE_DEPTH = 8   # a runtime guard; the checker limits chains to three levels (CL205)


class Evaluator:
    """Filters, steps and tokens over one store and clock (see the module
    docstring). The engine subclasses it and implements the ``_host_*``
    methods."""

    expansions = 0   # My Tokens expanded in the value being rendered (_expanded)

    def __init__(self, model: Model, store: Store, clock: Clock):
        self.model = model
        self.store = store
        self.clock = clock
        # compiled filters, keyed by node identity; the node is kept in the
        # value so its id cannot be reused while the entry lives
        self._filters: dict[tuple[int, int], tuple[Any, Pred]] = {}
        self._smart_lists: dict[tuple[int, int], tuple[Any, Pred]] = {}
        self._resolved: dict[tuple, Any] = {}
        self._field_specs: dict[str, tuple[str, str, str]] = {}
        #: when a list, choices record the branch they took (campaign explain --person)
        self.trace: list[dict[str, Any]] | None = None
        self._visiting: set[int] = set()
        self._sql_visiting: set[int] = set()
        self.steps_run = 0
        # compiled flows, environments and contexts (see "compiled flows")
        self._flows: dict[tuple[int, int], tuple[Any, Sequence[Any]]] = {}
        self._envs: dict[int, tuple[ProgramInfo, Environment]] = {}
        self._child_own: dict[int, tuple[CampaignInfo, TokenContext]] = {}
        self._contexts: dict[Any, tuple[CampaignInfo, TokenContext]] = {}
        self._score_texts: dict[str, Any] = {}

    # -- names -----------------------------------------------------------------

    def field_spec(self, name: str) -> tuple[str, str, str]:
        """(key, declared name, type) of a person field; ``InvalidSmartList``
        for an unknown field."""
        spec = self._field_specs.get(name)
        if spec is not None:
            return spec
        found = self.model.field(name)
        if found is None:
            raise InvalidSmartList(f"unknown field '{name}'")
        spec = self._field_specs[name] = (ast.name_key(found[0]), found[0], found[1])
        return spec

    def resolve(self, kind: str, ref: ast.Ref, here: ProgramInfo | None) -> Any:
        key = (kind, ref.program, ref.name, id(here))   # by value: runtime refs come and go
        try:
            return self._resolved[key]
        except KeyError:
            pass
        res = self.model.resolve(kind, ref, here)
        if res.found is None:
            what = f'"{ref.program}"."{ref.name}"' if ref.program else f'"{ref.name}"'
            why = "is ambiguous" if res.ambiguous else "does not exist"
            raise InvalidSmartList(f"{kind} {what} {why}")
        self._resolved[key] = res.found
        return res.found

    def asset_key(self, kind: str, ref: ast.Ref, here: ProgramInfo | None) -> str:
        """The store's key of a list, form or email: ``"Program"."Name"``
        (``"Workspace"."Program"."Name"`` outside the Default workspace)."""
        key = ("key:" + kind, ref.program, ref.name, id(here))
        found = self._resolved.get(key)
        if found is None:
            node = self.resolve(kind, ref, here)
            prog = self.model.program_of_asset(kind, node)
            found = self._resolved[key] = f'{prog.quoted}."{node.name}"' if prog else f'"{node.name}"'
        return found

    def find_program(self, name: str, here: ProgramInfo | None) -> ProgramInfo:
        key = ("program", None, name, id(here))
        try:
            return self._resolved[key]
        except KeyError:
            pass
        res = self.model.find_program(name, here.workspace if here else None)
        if res.found is None:
            raise InvalidSmartList(f'program "{name}" {"is ambiguous" if res.ambiguous else "does not exist"}')
        self._resolved[key] = res.found
        return res.found

    @staticmethod
    def program_key(program: ProgramInfo) -> str:
        return program.key

    # -- tokens ------------------------------------------------------------------

    def render_token(self, ref: ast.TokenRef, person: Person | None, ctx: TokenContext,
                     depth: int = 0) -> str:
        ns = ref.namespace
        name = ref.name
        text = ""
        if ns == "my":
            key = ast.name_key(name)
            cached = ctx.cache.get(key)
            if cached is not None:
                text = cached
            else:
                found = ctx.lookup(name)
                if found is not None:
                    value = found[0].value
                    self._expanded(depth, ref)
                    if isinstance(value, ast.Template):
                        text = "" if depth > 8 else self.render(value, person, ctx, depth=depth + 1)
                    elif isinstance(value, ast.TokenRef):
                        text = "" if depth > 8 else self.render_token(value, person, ctx, depth + 1)
                    else:
                        text = literal_text(value)
                        ctx.cache[key] = text
        elif ns == "lead":
            if person is not None:
                try:
                    key = self.field_spec(name)[0]
                except InvalidSmartList:
                    key = None
                if key is not None:
                    text = format_value(person.get(key))
        elif ns == "system":
            now = self.clock.now
            key = ast.name_key(name)
            if key == "date":
                text = now.strftime("%b %d, %Y")
            elif key == "time":
                text = now.strftime("%I:%M %p")
            elif key == "datetime":
                text = now.strftime("%Y-%m-%d %H:%M:%S")
        elif ns in ("campaign", "program"):
            c = ctx.campaign
            if c is not None:
                found = _described(c if ns == "campaign" else c.program, name)
                if found is not None:
                    text = found
        elif ns == "member":
            c = ctx.campaign
            if c is not None and person is not None:
                m = self.store.membership(self.program_key(c.program), person.id)
                if m is not None:
                    key = ast.name_key(name)
                    if key in m.data:
                        text = format_value(m.data[key])
                    elif key in ("status", "program status"):
                        text = m.status or ""
        elif ns == "trigger":
            if ctx.trigger is not None:
                text = ctx.trigger.get(ast.name_key(name), "")
        if text == "" and ref.default is not None:
            text = ref.default
        return text

    def _expanded(self, depth: int, ref: ast.TokenRef) -> None:
        """Count one My Token expanded inside another; a value that expands
        more than ``MAX_TOKEN_EXPANSIONS`` stops with a ``StepError``: nested
        tokens whose text stays short (blank leaves) would otherwise cost
        time exponential in their nesting (docs/security.md, "Limits")."""
        if not depth:
            return   # a token the value names itself; render() and bind() reset the count
        self.expansions = n = self.expansions + 1
        if n > MAX_TOKEN_EXPANSIONS:
            raise StepError(f"My Tokens nested in each other expand more than {MAX_TOKEN_EXPANSIONS:,} "
                            f"times in one value (at {ref.text})")

    def render(self, node: Any, person: Person | None, ctx: TokenContext,
               escape: Callable[[str], str] | None = None, depth: int = 0) -> str:
        """A value node as text, tokens rendered (and escaped with ``escape``)."""
        if not depth:
            self.expansions = 0
        if isinstance(node, ast.Template):
            out = []
            size = 0
            for part in node.parts:
                if isinstance(part, str):
                    out.append(part)
                else:
                    text = self.render_token(part, person, ctx, depth)
                    part = escape(text) if escape else text
                    out.append(part)
                size += len(part)
                if size > MAX_RENDERED_CHARS:
                    # checked per part, so nested My Tokens stop at the cap
                    # instead of multiplying (docs/security.md, "Limits")
                    raise StepError(_too_long(node))
            return "".join(out)
        if isinstance(node, ast.TokenRef):
            text = self.render_token(node, person, ctx, depth)
            text = escape(text) if escape else text
            if len(text) > MAX_RENDERED_CHARS:
                raise StepError(_too_long(node))
            return text
        return literal_text(node)

    def render_payload(self, node: Any, person: Person | None, ctx: TokenContext) -> str:
        """A webhook payload: a token inside a JSON string of the payload's
        own text is JSON-escaped; a token anywhere else becomes one JSON value
        of its type (a number or boolean field's value as itself when it
        reads as one, anything else a quoted string), so no value can add
        structure to the payload (docs/security.md)."""
        if isinstance(node, ast.TokenRef):
            return self._json_value(node, person, ctx)
        if not isinstance(node, ast.Template):
            return self.render(node, person, ctx)
        out: list[str] = []
        in_string = escaped = False
        for part in node.parts:
            if isinstance(part, str):
                out.append(part)
                for ch in part:   # where the payload's own text leaves us: inside a string or not
                    if escaped:
                        escaped = False
                    elif ch == "\\" and in_string:
                        escaped = True
                    elif ch == '"':
                        in_string = not in_string
            elif in_string:
                out.append(json_escape(self.render(part, person, ctx)))
            else:
                out.append(self._json_value(part, person, ctx))
        return "".join(out)

    def _json_value(self, ref: ast.TokenRef, person: Person | None, ctx: TokenContext) -> str:
        text = self.render(ref, person, ctx)
        kind = "text"
        if ref.namespace == "lead":
            try:
                kind = self.field_spec(ref.name)[2]
            except InvalidSmartList:
                pass
        elif ref.namespace == "my":
            found = ctx.lookup(ref.name)
            if found is not None and isinstance(found[0].value, ast.Number):
                kind = "decimal"
        if kind in ("integer", "decimal", "score") and _JSON_NUMBER.fullmatch(text):
            return text
        if kind == "boolean" and text in ("true", "false"):
            return text
        if kind != "text" and text == "":
            return "null"
        return json.dumps(text, ensure_ascii=False)

    def value(self, node: Any, field_type: str, person: Person | None, ctx: TokenContext) -> Any:
        """A step's value node -> a value of ``field_type`` (``StepError`` if it cannot be)."""
        try:
            if isinstance(node, (ast.Template, ast.TokenRef)):
                text = self.render(node, person, ctx)
                return convert(field_type, text)
            if isinstance(node, ast.Null):
                return None
            if isinstance(node, ast.ScoreChange):
                return convert(field_type, node.text)
            return convert(field_type, literal_value(node))
        except (ValueError, TypeError) as exc:
            raise StepError(f"cannot set a {field_type} field: {exc}") from None

    # -- filters -------------------------------------------------------------------

    def smart_list_pred(self, sl: ast.SmartList | None, here: ProgramInfo | None) -> Pred:
        """A predicate for the filters of ``sl`` (None: everyone). An invalid
        smart list qualifies nobody."""
        if sl is None:
            return _everyone
        key = (id(sl), id(here))
        hit = self._smart_lists.get(key)
        if hit is not None and hit[0] is sl:
            return hit[1]
        try:
            pred = self._compile_smart_list(sl, here)
        except InvalidSmartList:
            pred = _nobody
        self._smart_lists[key] = (sl, pred)
        return pred

    def _compile_smart_list(self, sl: ast.SmartList, here: ProgramInfo | None) -> Pred:
        if id(sl) in self._visiting:
            raise InvalidSmartList("a smart list that includes itself")
        self._visiting.add(id(sl))
        gen = _Source()
        try:
            parts = [self._filter_source(f, here, gen) for f in sl.filters]
        finally:
            self._visiting.discard(id(sl))
        if not parts:
            return _everyone
        if sl.logic == "any":
            return gen.function(" or ".join(parts))
        if sl.logic == "advanced" and sl.expression:
            try:
                tree = parse_logic(sl.expression, len(parts))
            except ValueError as exc:
                raise InvalidSmartList(str(exc)) from None
            return gen.function(_logic_source(tree, parts))
        if len(parts) == 1:
            return gen.function(parts[0])
        return gen.function(" and ".join(parts))

    def all_of(self, filters: Sequence[ast.Node], here: ProgramInfo | None) -> Pred:
        """A predicate for ALL of ``filters`` (a batch's filters left to
        Python); ``InvalidSmartList`` when one cannot be evaluated."""
        gen = _Source()
        parts = [self._filter_source(f, here, gen) for f in filters]
        return gen.function(" and ".join(parts)) if parts else _everyone

    def matches(self, sl: ast.SmartList | None, person: Person, here: ProgramInfo | None) -> bool:
        return self.smart_list_pred(sl, here)(person)

    def filter_pred(self, f: ast.Node, here: ProgramInfo | None) -> Pred:
        key = (id(f), id(here))
        hit = self._filters.get(key)
        if hit is not None and hit[0] is f:
            return hit[1]
        pred = self._compile_filter(f, here)
        self._filters[key] = (f, pred)
        return pred

    def _compile_filter(self, f: ast.Node, here: ProgramInfo | None) -> Pred:
        gen = _Source()
        return gen.function(self._filter_source(f, here, gen))

    def _filter_source(self, f: ast.Node, here: ProgramInfo | None, gen: "_Source") -> str:
        """One filter as a Python expression over ``p`` (the person), its
        constants named in ``gen``; filters that read the store or the clock
        are closures called from the expression."""
        store = self.store
        if isinstance(f, ast.FieldFilter):
            return self._field_filter_source(f, gen)
        if isinstance(f, ast.ListFilter):
            lkey = self.asset_key("list", f.list, here)
            call = f"{gen.const(store.in_list)}({gen.const(lkey)}, p.id)"
            return f"(not {call})" if f.negated else call
        if isinstance(f, ast.SmartListFilter):
            target = self.resolve("smart list", f.smart_list, here)
            prog = self.model.program_of_asset("smart list", target)
            return f"{gen.const(self._compile_smart_list(target, prog))}(p)"
        if isinstance(f, ast.ProgramFilter):
            pkey = self.program_key(self.find_program(f.program, here))
            status = f.status
            member = f"{gen.const(store.membership)}({gen.const(pkey)}, p.id)"
            if f.negated:
                return f"({member} is None)"
            if status is None:
                return f"({member} is not None)"
            m = gen.var()
            return f"(({m} := {member}) is not None and {m}.status == {gen.const(status)})"
        if isinstance(f, ast.HistoryFilter):
            return f"{gen.const(self._compile_history(f, here))}(p)"
        raise InvalidSmartList(f"not a filter: {type(f).__name__}")

    def _compile_history(self, f: ast.HistoryFilter, here: ProgramInfo | None) -> Pred:
        store, clock = self.store, self.clock
        within = f.within.delta if f.within is not None else None

        def since() -> str | None:
            return iso(clock.now - within) if within is not None else None

        if f.kind == "campaign was run":
            target = self.resolve("campaign", f.target, here)
            ckey = target.qualname
            return lambda p: store.ran_since(p.id, ckey, since())
        type_, asset = self._history_asset(f, here)
        return lambda p: store.has_activity(p.id, type_, asset, since())

    def _history_asset(self, f: ast.HistoryFilter, here: ProgramInfo | None) -> tuple[str, str]:
        """(activity type, asset key) a history filter looks for."""
        if f.kind == "visited web page":
            return "Visit Web Page", f.target.name
        kind, type_ = {
            "filled out form": ("form", "Fill Out Form"),
            "was sent email": ("email", "Send Email"),
            "opened email": ("email", "Open Email"),
            "clicked link in email": ("email", "Click Email"),
        }[f.kind]
        return type_, self.asset_key(kind, f.target, here)

    def _field_filter_source(self, f: ast.FieldFilter, gen: "_Source") -> str:
        """A field filter as an expression; the rules are the module
        docstring's (Marketo's null rules), one branch per type and operator."""
        key, _name, ftype = self.field_spec(f.field.name)
        op = f.op
        clock = self.clock
        try:
            values = [literal_value(v) for v in f.values if not isinstance(v, ast.Duration)]
        except TypeError:
            raise InvalidSmartList("a filter value must be a literal") from None
        duration = next((v for v in f.values if isinstance(v, ast.Duration)), None)
        get = f"p.get({key!r})"
        text = f'({get} or "")'

        if op == "is empty":
            return f'({text} == "")' if ftype in ("text", "email") else f"({get} is None)"
        if op == "is not empty":
            return f'({text} != "")' if ftype in ("text", "email") else f"({get} is not None)"

        if ftype in ("text", "email"):
            vals = [_fold_text(v) for v in values]
            if op in ("is", "is not"):
                s = gen.const(frozenset(vals))
                return f"({text}.casefold() {'in' if op == 'is' else 'not in'} {s})"
            if op in ("contains", "not contains"):
                if vals:
                    x = gen.var()
                    tests = [f"{gen.const(vals[0])} in ({x} := {text}.casefold())"]
                    tests += [f"{gen.const(v)} in {x}" for v in vals[1:]]
                    hit = "(" + " or ".join(tests) + ")"
                else:
                    hit = "False"
                return hit if op == "contains" else f"(not {hit})"
            if op in ("starts with", "not starts with"):
                hit = f"{text}.casefold().startswith({gen.const(tuple(vals))})"
                return f"({hit})" if op == "starts with" else f"(not {hit})"
            raise InvalidSmartList(f"'{op}' does not apply to a text field")

        if ftype == "boolean":
            if op not in ("is", "is not") or not all(isinstance(v, bool) for v in values):
                raise InvalidSmartList("a boolean field takes is true or is false")
            want = set(values) if op == "is" else {True, False} - set(values)   # bool(v) in want
            if want == {True, False}:
                return "True"
            if not want:
                return "False"
            return f"(not not {get})" if want == {True} else f"(not {get})"

        v = gen.var()
        if ftype in ("integer", "score", "decimal"):
            try:
                nums = [_number(n) for n in values]
            except ValueError as exc:
                raise InvalidSmartList(str(exc)) from None
            if op in ("is", "is not"):
                s = frozenset(nums)
                if op == "is not":   # never matches empty (§12.5), not even 'is not 0'
                    return f"(({v} := {get}) is not None and {v} not in {gen.const(s)})"
                return f"({0 in s} if ({v} := {get}) is None else {v} in {gen.const(s)})"
            if op == "between":
                lo, hi = nums[0], nums[1]
                return f"(({v} := {get}) is not None and {gen.const(lo)} <= {v} <= {gen.const(hi)})"
            if op not in _CMP:
                raise InvalidSmartList(f"'{op}' does not apply to a number field")
            return f"(({v} := {get}) is not None and {v} {op} {gen.const(nums[0])})"

        if ftype in ("date", "datetime"):
            if op in ("in past", "in future"):
                if duration is None:
                    raise InvalidSmartList(f"'{op}' needs a duration")
                delta = duration.delta
                past = op == "in past"
                bounds: list[Any] = [None, None, None]   # now, lo, hi: computed again when the clock moves

                def window(v: Any) -> bool:
                    if v is None:
                        return False
                    now = clock.now
                    if now is not bounds[0]:
                        if ftype == "date":
                            lo, hi = ((now - delta).date(), now.date()) if past else (now.date(), (now + delta).date())
                        else:
                            lo, hi = (now - delta, now) if past else (now, now + delta)
                        bounds[:] = [now, lo, hi]
                    return bounds[1] <= v <= bounds[2]
                return f"{gen.const(window)}({get})"
            try:
                ivs = [_interval(ftype, _date_value(d)) for d in values]
            except ValueError as exc:
                raise InvalidSmartList(str(exc)) from None
            if op in ("is", "is not"):
                tests = " or ".join(f"{gen.const(lo)} <= {v} < {gen.const(hi)}" for lo, hi in ivs) or "False"
                hit = f"(({v} := {get}) is not None and ({tests}))"
                return hit if op == "is" else f"(not {hit})"
            if op == "between":
                lo, hi = ivs[0][0], ivs[1][1]
                return f"(({v} := {get}) is not None and {gen.const(lo)} <= {v} < {gen.const(hi)})"
            lo, hi = ivs[0]
            if op == "before":
                return f"(({v} := {get}) is None or {v} < {gen.const(lo)})"
            if op == "on or before":
                return f"(({v} := {get}) is None or {v} < {gen.const(hi)})"
            if op == "after":
                return f"(({v} := {get}) is not None and {v} >= {gen.const(hi)})"
            if op == "on or after":
                return f"(({v} := {get}) is not None and {v} >= {gen.const(lo)})"
            raise InvalidSmartList(f"'{op}' does not apply to a date field")
        raise InvalidSmartList(f"unknown field type {ftype}")

    # -- SQL pushdown (a batch's smart list) ---------------------------------------

    def sql_for_smart_list(self, sl: ast.SmartList, here: ProgramInfo | None
                           ) -> tuple[str | None, list[Any], list[ast.Node]]:
        """(SQL condition, parameters, filters left for Python). ALL logic
        pushes every filter it can; ANY and advanced logic push all or none.
        The logic is read as ``_compile_smart_list`` reads it: ANY, advanced
        with an expression (even over one filter: ``not 1``), else ALL."""
        filters = list(sl.filters)
        parts: list[tuple[str, list[Any]] | None] = []
        for f in filters:
            try:
                parts.append(self.sql_for_filter(f, here))
            except InvalidSmartList:
                parts.append(None)
        advanced = sl.logic == "advanced" and bool(sl.expression)
        if (sl.logic != "any" and not advanced) or (sl.logic == "any" and len(filters) <= 1):
            pushed = [p for p in parts if p is not None]
            rest = [f for f, p in zip(filters, parts) if p is None]
            if not pushed:
                return None, [], rest
            # cheap tests first (SQLite tests AND terms in order on a scan): a
            # column, then a Python function (cf, dcmp), then a subquery
            pushed.sort(key=lambda part: _sql_cost(part[0]))
            sql = _sql_join("AND", [f"({s})" for s, _ in pushed])
            params = [x for _, ps in pushed for x in ps]
            return sql, params, rest
        if any(p is None for p in parts):
            return None, [], filters
        if sl.logic == "any":
            sql = _sql_join("OR", [f"({s})" for s, _ in parts])  # type: ignore[misc]
            return sql, [x for _, ps in parts for x in ps], []  # type: ignore[misc]
        try:
            tree = parse_logic(sl.expression, len(filters))   # type: ignore[arg-type]
        except ValueError:
            return None, [], filters
        # parameters must follow the order the placeholders appear in
        order: list[int] = []

        def visit(t: Any) -> str:
            if isinstance(t, int):
                order.append(t)
                return parts[t][0]  # type: ignore[index]
            if t[0] == "not":
                return f"NOT ({visit(t[1])})"
            return "(" + _sql_join(t[0].upper(), [f"({visit(x)})" for x in t[1:]]) + ")"
        sql = visit(tree)
        return sql, [x for i in order for x in parts[i][1]], []  # type: ignore[index]

    def sql_for_filter(self, f: ast.Node, here: ProgramInfo | None) -> tuple[str, list[Any]] | None:
        """An SQL condition equivalent to the filter, or None when it stays in
        Python. What is relative to the clock (``in past``, ``in future``,
        history ``in past N``) is fixed at the clock's time now: a batch
        selects at one moment. Every rule is the Python filter's, case and
        nulls included (tests/test_pushdown.py checks the two agree)."""
        if isinstance(f, ast.HistoryFilter):
            return self._sql_for_history(f, here)
        if isinstance(f, ast.SmartListFilter):
            target = self.resolve("smart list", f.smart_list, here)
            if id(target) in self._sql_visiting:
                return None   # includes itself: Python reports it invalid
            prog = self.model.program_of_asset("smart list", target)
            self._sql_visiting.add(id(target))
            try:
                where, params, rest = self.sql_for_smart_list(target, prog)
            finally:
                self._sql_visiting.discard(id(target))
            if rest:
                return None
            return (where or "1"), params
        if isinstance(f, ast.ListFilter):
            lkey = self.asset_key("list", f.list, here)
            neg = "NOT " if f.negated else ""
            return (f"{neg}EXISTS (SELECT 1 FROM list_members lm WHERE lm.list = ? AND lm.person = people.id)",
                    [lkey])
        if isinstance(f, ast.ProgramFilter):
            pkey = self.program_key(self.find_program(f.program, here))
            neg = "NOT " if f.negated else ""
            if f.status is not None and not f.negated:
                return ("EXISTS (SELECT 1 FROM program_members pm WHERE pm.program = ? AND "
                        "pm.person = people.id AND pm.status = ?)", [pkey, f.status])
            return (f"{neg}EXISTS (SELECT 1 FROM program_members pm WHERE pm.program = ? AND "
                    "pm.person = people.id)", [pkey])
        if not isinstance(f, ast.FieldFilter):
            return None
        key, _name, ftype = self.field_spec(f.field.name)
        col = self.store.column(key)
        if col is None:
            return None
        c = f'people."{col}"'
        op = f.op
        if any(isinstance(v, (ast.Template, ast.TokenRef)) for v in f.values):
            return None
        if op in ("is empty", "is not empty"):
            if ftype in ("text", "email"):
                sql = f"({c} IS NULL OR {c} = '')"
            else:
                sql = f"{c} IS NULL"
            return (sql if op == "is empty" else f"NOT {sql}"), []
        values = [literal_value(v) for v in f.values if not isinstance(v, ast.Duration)]
        if ftype in ("text", "email"):
            vals = [_fold_text(v) for v in values]
            folded = f"coalesce(cf({c}), '')"
            if op in ("is", "is not"):
                sql = f"{folded} IN ({', '.join('?' * len(vals))})"
                return (sql if op == "is" else f"NOT ({sql})"), vals
            if op in ("contains", "not contains"):
                sql = " OR ".join(f"instr({folded}, ?) > 0" for _ in vals)
                return (f"({sql})" if op == "contains" else f"NOT ({sql})"), vals
            if op in ("starts with", "not starts with"):
                sql = " OR ".join(f"substr({folded}, 1, length(?)) = ?" for _ in vals)
                params = [x for v in vals for x in (v, v)]
                return (f"({sql})" if op == "starts with" else f"NOT ({sql})"), params
            return None
        if ftype == "boolean":
            if op not in ("is", "is not") or not all(isinstance(v, bool) for v in values):
                return None
            want = set(values)
            if want == {True, False}:
                sql = "1"
            elif want == {True}:
                sql = f"coalesce({c}, 0) = 1"
            else:
                sql = f"coalesce({c}, 0) = 0"
            return (sql if op == "is" else f"NOT ({sql})"), []
        if ftype in ("integer", "score", "decimal"):
            try:
                nums = [_number(v) for v in values]
            except ValueError:
                return None
            if ftype == "decimal" or any(not isinstance(n, int) for n in nums):
                return self._sql_for_decimal(c, op, nums)
            if op in ("is", "is not"):
                zero = 0 in nums
                if op == "is not":   # never matches empty (§12.5)
                    return f"({c} IS NOT NULL AND {c} NOT IN ({', '.join('?' * len(nums))}))", nums
                sql = (f"(({c} IS NOT NULL AND {c} IN ({', '.join('?' * len(nums))})) OR "
                       f"({c} IS NULL AND {1 if zero else 0}))")
                return sql, nums
            if op == "between":
                return f"({c} IS NOT NULL AND {c} BETWEEN ? AND ?)", nums[:2]
            if op in (">", ">=", "<", "<="):
                return f"({c} IS NOT NULL AND {c} {op} ?)", nums[:1]
            return None
        if ftype in ("date", "datetime"):
            enc = (lambda x: x.isoformat()) if ftype == "date" else (lambda x: iso(x))
            if op in ("in past", "in future"):
                duration = next((v for v in f.values if isinstance(v, ast.Duration)), None)
                if duration is None:
                    return None
                now, delta = self.clock.now, duration.delta
                try:
                    if ftype == "date":
                        lo, hi = ((now - delta).date(), now.date()) if op == "in past" else \
                            (now.date(), (now + delta).date())
                    else:
                        lo, hi = (now - delta, now) if op == "in past" else (now, now + delta)
                except OverflowError:
                    return None
                return f"({c} IS NOT NULL AND {c} >= ? AND {c} <= ?)", [enc(lo), enc(hi)]
            try:
                ivs = [_interval(ftype, _date_value(v)) for v in values]
            except ValueError:
                return None
            if op in ("is", "is not"):
                sql = " OR ".join(f"({c} >= ? AND {c} < ?)" for _ in ivs)
                params = [enc(x) for iv in ivs for x in iv]
                sql = f"({c} IS NOT NULL AND ({sql}))"
                return (sql if op == "is" else f"NOT {sql}"), params
            if op == "between":
                return f"({c} IS NOT NULL AND {c} >= ? AND {c} < ?)", [enc(ivs[0][0]), enc(ivs[1][1])]
            lo, hi = ivs[0]
            if op == "before":
                return f"({c} IS NULL OR {c} < ?)", [enc(lo)]
            if op == "on or before":
                return f"({c} IS NULL OR {c} < ?)", [enc(hi)]
            if op == "after":
                return f"({c} IS NOT NULL AND {c} >= ?)", [enc(hi)]
            if op == "on or after":
                return f"({c} IS NOT NULL AND {c} >= ?)", [enc(lo)]
        return None

    @staticmethod
    def _sql_for_decimal(c: str, op: str, nums: list[Any]) -> tuple[str, list[Any]] | None:
        """Number filters compared exactly as ``Decimal`` compares: a decimal
        column is stored as text, so through ``dcmp(column, 'literal')``."""
        lits = [str(n) for n in nums]
        if op in ("is", "is not"):
            eq = " OR ".join(f"dcmp({c}, ?) = 0" for _ in lits) or "0"
            if op == "is not":   # never matches empty (§12.5)
                return f"({c} IS NOT NULL AND NOT ({eq}))", lits
            sql = f"(({c} IS NOT NULL AND ({eq})) OR ({c} IS NULL AND {1 if 0 in nums else 0}))"
            return sql, lits
        if op == "between":
            return f"({c} IS NOT NULL AND dcmp({c}, ?) >= 0 AND dcmp({c}, ?) <= 0)", lits[:2]
        if op in (">", ">=", "<", "<="):
            return f"({c} IS NOT NULL AND dcmp({c}, ?) {op} 0)", lits[:1]
        return None

    def _sql_for_history(self, f: ast.HistoryFilter, here: ProgramInfo | None) -> tuple[str, list[Any]] | None:
        """``filled out form``, ``visited web page``, the email filters and
        ``campaign was run``, ``in past N`` included: a subquery on the
        activity log or the run history (both indexed by person)."""
        since = None
        if f.within is not None:
            try:
                since = iso(self.clock.now - f.within.delta)
            except OverflowError:
                return None
        if f.kind == "campaign was run":
            target = self.resolve("campaign", f.target, here)
            sql = "EXISTS (SELECT 1 FROM runs r WHERE r.person = people.id AND r.campaign = ?"
            params: list[Any] = [target.qualname]
            col = "r.at"
        else:
            type_, asset = self._history_asset(f, here)
            sql = "EXISTS (SELECT 1 FROM activities a WHERE a.person = people.id AND a.type = ? AND a.asset = ?"
            params = [type_, asset]
            col = "a.at"
        if since is not None:
            sql += f" AND {col} >= ?"
            params.append(since)
        return sql + ")", params

    # -- qualification -------------------------------------------------------------

    def rule_allows(self, campaign: CampaignInfo, person: Person) -> bool:
        """The campaign's qualification rule (§3): once, every time, once every
        N (rolling), over every run the store has recorded."""
        rule = campaign.rule
        if rule.rule == "every time":
            return True
        key = campaign.qualname
        if rule.rule == "once every" and rule.period is not None:
            since = self.clock.now - rule.period.delta + _dt.timedelta(seconds=1)
            return not self.store.ran_since(person.id, key, iso(since))
        return not self.store.ran_since(person.id, key, None)

    # -- activities --------------------------------------------------------------

    def log(self, run: Run | None, type_: str, attributes: dict[str, Any], asset: str | None = None,
            old: Any = None, new: Any = None, person: Person | None = None) -> int:
        if run is not None:
            return self.store.add_activity(
                (person or run.person).id, type_, run.frames[-1].key, run.id, self.clock.iso,
                attributes, asset, old, new)
        return self.store.add_activity(person.id if person is not None else None, type_, None, None,
                                       self.clock.iso, attributes, asset, old, new)

    # -- host hooks (the engine implements them) --------------------------------------

    def _host_request(self, run: Run, target: CampaignInfo) -> None:  # pragma: no cover
        raise NotImplementedError

    def _host_emit(self, person: Person, kind: str, **event: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def _host_remove_from_flow(self, person: Person, campaign: CampaignInfo) -> None:  # pragma: no cover
        raise NotImplementedError

    def _host_webhook(self, webhook: ast.Webhook, program: ProgramInfo | None) -> Callable | None:
        return None

    def _host_tick(self) -> None:
        self.steps_run += 1

    # -- compiled flows (compile once, run many) ----------------------------------
    #
    # A flow is compiled once per (steps, program) into one closure per step,
    # with names resolved, constant values converted and the constant parts of
    # each activity's JSON encoded; templates are bound once per token context
    # (``bind``), so a batch's people only look up their own fields. A step
    # whose names do not resolve is not compiled: the interpreting method
    # (``_STEP_METHODS``) runs it and reports the error for each person, as it
    # always did. ``render`` and the ``_change_*`` methods stay the reference
    # the compiled closures must agree with (tests/test_perf_equivalence.py).

    def compiled_steps(self, steps: Sequence[ast.Node], here: ProgramInfo | None) -> Sequence[Any]:
        """One closure ``fn(run)`` per step (None for a ``wait``)."""
        if not isinstance(steps, tuple):   # a caller's list may change: compile it each time
            return [None if isinstance(s, ast.Wait) else self.compile_step(s, here) for s in steps]
        key = (id(steps), id(here))
        hit = self._flows.get(key)
        if hit is not None and hit[0] is steps:
            return hit[1]
        compiled = tuple(None if isinstance(s, ast.Wait) else self.compile_step(s, here) for s in steps)
        self._flows[key] = (steps, compiled)
        return compiled

    def compile_step(self, step: ast.Node, here: ProgramInfo | None) -> Callable[[Run], None]:
        maker = _STEP_COMPILERS.get(type(step))
        if maker is not None:
            try:
                return maker(self, step, here)
            except (InvalidSmartList, StepError):
                pass   # a name that does not resolve: interpreted, so each run reports it
        method = _STEP_METHODS.get(type(step))
        if method is None:
            name = type(step).__name__

            def unknown(run: Run) -> None:
                raise StepError(f"unknown step {name}")
            return unknown
        return lambda run: method(self, run, step)

    def bind(self, node: Any, ctx: TokenContext, escape: Callable[[str], str] | None = None
             ) -> str | Callable[[Person], str]:
        """``render(node, person, ctx, escape)`` with everything the context
        fixes folded once per context: a string when nothing depends on the
        person, else a function of the person."""
        cache = ctx.bound
        key = (id(node), escape)
        hit = cache.get(key)
        if hit is not None and hit[0] is node:
            return hit[1]
        self.expansions = 0
        bound = self._bind(node, ctx, escape, 0)
        if bound.__class__ is not str:
            bound = _capped(bound, node)
        cache[key] = (node, bound)
        return bound

    def _bind(self, node: Any, ctx: TokenContext, escape: Callable[[str], str] | None, depth: int
              ) -> str | Callable[[Person], str]:
        if isinstance(node, ast.Template):
            parts: list[Any] = []
            size = 0
            for part in node.parts:
                if not isinstance(part, str):
                    part = _escaped(self._bind_token(part, ctx, depth), escape)
                parts.append(part)
                if part.__class__ is str:
                    size += len(part)
                    if size > MAX_RENDERED_CHARS:   # as in render(): stop nested My Tokens at the cap
                        raise StepError(_too_long(node))
            return _concat(parts)
        if isinstance(node, ast.TokenRef):
            return _escaped(self._bind_token(node, ctx, depth), escape)
        return literal_text(node)

    def _bind_token(self, ref: ast.TokenRef, ctx: TokenContext, depth: int) -> str | Callable[[Person], str]:
        """``render_token`` folded for one context (same rules, same depth limit)."""
        ns = ref.namespace
        name = ref.name
        bound: Any = ""
        if ns == "my":
            found = ctx.lookup(name)
            if found is not None:
                value = found[0].value
                self._expanded(depth, ref)
                if isinstance(value, ast.Template):
                    bound = "" if depth > 8 else self._bind(value, ctx, None, depth + 1)
                elif isinstance(value, ast.TokenRef):
                    bound = "" if depth > 8 else self._bind_token(value, ctx, depth + 1)
                else:
                    bound = literal_text(value)
        elif ns == "lead":
            try:
                key = self.field_spec(name)[0]
            except InvalidSmartList:
                key = None
            if key is not None:
                def lead(p: Person, key: str = key) -> str:
                    v = p.get(key)
                    return v if v.__class__ is str else format_value(v)
                bound = lead
        elif ns == "system":
            clock = self.clock
            key = ast.name_key(name)
            fmt = {"date": "%b %d, %Y", "time": "%I:%M %p", "datetime": "%Y-%m-%d %H:%M:%S"}.get(key)
            if fmt is not None:   # read the clock at each use: a context outlives a clock advance
                bound = lambda p: clock.now.strftime(fmt)
        elif ns in ("campaign", "program"):
            c = ctx.campaign
            if c is not None:
                found = _described(c if ns == "campaign" else c.program, name)
                if found is not None:
                    bound = found
        elif ns == "member":
            c = ctx.campaign
            if c is not None:
                membership, pkey, key = self.store.membership, self.program_key(c.program), ast.name_key(name)

                def member(p: Person) -> str:
                    m = membership(pkey, p.id)
                    if m is None:
                        return ""
                    if key in m.data:
                        return format_value(m.data[key])
                    if key in ("status", "program status"):
                        return m.status or ""
                    return ""
                bound = member
        elif ns == "trigger":
            if ctx.trigger is not None:
                bound = ctx.trigger.get(ast.name_key(name), "")
        default = ref.default
        if default is None:
            return bound
        if isinstance(bound, str):
            return default if bound == "" else bound
        inner = bound
        return lambda p: inner(p) or default

    def program_env(self, program: ProgramInfo) -> Environment:
        """``program.env()``, built once."""
        hit = self._envs.get(id(program))
        if hit is None or hit[0] is not program:
            hit = self._envs[id(program)] = (program, program.env())
        return hit[1]

    def own_context(self, campaign: CampaignInfo, api: dict[str, str] | None = None,
                    trigger: dict[str, str] | None = None) -> TokenContext:
        """``TokenContext.own`` over the cached environment of the program,
        and the same context again for the same campaign, API values and
        trigger tokens (a stream of events for one form shares one context,
        so its templates are bound once). A context holds nothing of a
        person or a run, so sharing it changes nothing."""
        try:
            key = (id(campaign), tuple(sorted(api.items())) if api else None,
                   tuple(sorted(trigger.items())) if trigger else None)
            hit = self._contexts.get(key)
        except TypeError:   # a value that cannot be a key: no sharing
            key, hit = None, None
        if hit is not None and hit[0] is campaign:
            return hit[1]
        env = self.program_env(campaign.program)
        if api:
            env = env.push(Layer.of("api", "API-passed value", dict(api)))
        ctx = TokenContext(env, campaign, trigger, dict(api) if api else None)
        if key is not None:
            if len(self._contexts) >= 1024:
                self._contexts.clear()
            self._contexts[key] = (campaign, ctx)
        return ctx

    def child_context(self, ctx: TokenContext, child: CampaignInfo, use_parent: bool) -> TokenContext:
        """``ctx.for_child(child, use_parent)``, made once per parent context
        (and once per child without the parent's context), so a batch's
        people share the child's folded templates."""
        if not use_parent:
            hit = self._child_own.get(id(child))
            if hit is None or hit[0] is not child:
                hit = self._child_own[id(child)] = (child, TokenContext(self.program_env(child.program), child))
            return hit[1]
        children = ctx.children
        if children is None:
            children = ctx.children = {}
        hit = children.get(id(child))
        if hit is None or hit[0] is not child:
            env = ctx.env.then(self.program_env(child.program), relabel="child's own")
            hit = children[id(child)] = (child, TokenContext(env, ctx.campaign, ctx.trigger, ctx.api))
        return hit[1]

    def _host_listens(self, kind: str) -> bool:
        """Whether an event of ``kind`` can start anything (the engine knows
        its trigger campaigns); compiled steps skip building events nobody hears."""
        return True

    def _field_setter(self, key: str, name: str) -> Callable[[Run, Person, Any], None]:
        """``_set_field(run, person, key, name, value)`` compiled for one field."""
        store, clock = self.store, self.clock
        col = store.columns.get(key)
        stype = store.field_types.get(key)
        if key == "email address" or col is None or stype is None:
            set_field = self._set_field
            return lambda run, person, value: set_field(run, person, key, name, value)
        enc = _ENCODE.get(stype, str)
        update, add = store.update_field, store.add_activity_json
        attrs = dumps({"field": name})
        listens = self._host_listens("data value changes")
        emit = self._host_emit

        def setter(run: Run, person: Person, value: Any) -> None:
            old = person.get(key)
            if old == value and type(old) is type(value):
                return
            try:
                update(person.id, col, None if value is None else enc(value))
            except Exception as exc:   # a value SQLite cannot hold
                raise StepError(str(exc)) from None
            person._vals[key] = value
            add(person.id, "Change Data Value", run.frames[-1].key, run.id, clock.iso, attrs, key,
                None if old is None else dumps(old), None if value is None else dumps(value))
            if listens:
                emit(person, "data value changes", field=key, field_name=name, old=old, new=value)
        return setter

    def _compile_change_data_value(self, step: ast.ChangeDataValue, here: ProgramInfo | None) -> Callable:
        key, name, ftype = self._field(step.field)
        setter = self._field_setter(key, name)
        node = step.value
        if not isinstance(node, (ast.Template, ast.TokenRef)):
            value = self.value(node, ftype, None, None)    # constant: converted once

            def change_constant(run: Run) -> None:
                setter(run, run.person, value)
            return change_constant
        bind = self.bind
        is_text = ftype in ("text", "email")

        def change_rendered(run: Run) -> None:
            person = run.person
            text = bind(node, run.frames[-1].ctx)
            if text.__class__ is not str:
                text = text(person)
            if is_text:
                value = text        # convert() of text to a text field is the text itself
            else:
                try:
                    value = convert(ftype, text)
                except (ValueError, TypeError) as exc:
                    raise StepError(f"cannot set a {ftype} field: {exc}") from None
            setter(run, person, value)
        return change_rendered

    def _compile_change_score(self, step: ast.ChangeScore, here: ProgramInfo | None) -> Callable:
        key, name, ftype = self._field(step.field)
        node = step.change
        fixed: tuple[str, int] | None = None
        if isinstance(node, ast.ScoreChange):
            fixed = (node.op, node.amount)
        elif isinstance(node, ast.Number) and isinstance(node.value, int) and node.value < 0:
            fixed = ("-", -node.value)
        elif not isinstance(node, (ast.TokenRef, ast.Template)):
            raise StepError("not a score change")   # interpreted: it reports the value
        store, clock, bind = self.store, self.clock, self.bind
        col = store.columns.get(key)
        stype = store.field_types.get(key)
        if key == "email address" or col is None or stype is None:
            raise StepError("not a score field")   # interpreted
        enc = _ENCODE.get(stype, str)
        update, add = store.update_field, store.add_activity_json
        listens = self._host_listens("score is changed")
        emit = self._host_emit
        what = node.text if isinstance(node, ast.TokenRef) else literal_text(node)
        attrs_of: dict[tuple[str, int], str] = {}
        parsed_texts = self._score_texts
        decimal = ftype == "decimal"

        def change_score(run: Run) -> None:
            person = run.person
            if fixed is not None:
                op, amount = fixed
            else:
                text = bind(node, run.frames[-1].ctx)
                if text.__class__ is not str:
                    text = text(person)
                parsed = parsed_texts.get(text, False)
                if parsed is False:
                    parsed = parse_score_change(text)
                    if len(parsed_texts) < 4096:
                        parsed_texts[text] = parsed
                if parsed is None:
                    raise StepError(f"{what} rendered {text!r}, which is not a score change (+N, -N, =N)")
                op, amount = parsed
            old = person.get(key)
            base = old or 0
            new = base + amount if op == "+" else base - amount if op == "-" else amount
            if decimal:
                new = Decimal(new)
            elif not -2 ** 63 < new < 2 ** 63:   # SQLite integers are 64-bit
                raise StepError(f"{name} would become {str(new)[:30]}, more than a score holds (19 digits)")
            changed = new != old
            if changed:
                update(person.id, col, enc(new))
                person._vals[key] = new
            attrs = attrs_of.get((op, amount))
            if attrs is None:
                attrs = attrs_of[(op, amount)] = dumps({"field": name, "change": f"{op}{amount}"})
            add(person.id, "Change Score", run.frames[-1].key, run.id, clock.iso, attrs, key,
                None if old is None else dumps(old), dumps(new))
            if changed and listens:
                emit(person, "score is changed", field=key, field_name=name, old=old, new=new,
                     change=f"{op}{amount}")
        return change_score

    def _compile_send_email(self, step: ast.SendEmail, here: ProgramInfo | None) -> Callable:
        email = self.resolve("email", step.email, here)
        key = self.asset_key("email", step.email, here)
        items: list[tuple[str, Any]] = [("email", key)]
        for part in ("subject", "sender", "body"):
            node = getattr(email, part)
            if node is not None:
                items.append(("from" if part == "sender" else part, node))
        attrs_of = _json_object_builder(items, self.bind)
        add, clock = self.store.add_activity_json, self.clock

        def send_email(run: Run) -> None:
            person = run.person
            frame = run.frames[-1]
            add(person.id, "Send Email", frame.key, run.id, clock.iso, attrs_of(frame.ctx, person), key)
        return send_email

    def _compile_send_alert(self, step: ast.SendAlert, here: ProgramInfo | None) -> Callable:
        email = self.resolve("email", step.email, here)
        key = self.asset_key("email", step.email, here)
        items: list[tuple[str, Any]] = [("email", key), ("to", list(step.recipients))]
        if email.subject is not None:
            items.append(("subject", email.subject))
        attrs_of = _json_object_builder(items, self.bind)
        add, clock = self.store.add_activity_json, self.clock

        def send_alert(run: Run) -> None:
            person = run.person
            frame = run.frames[-1]
            add(person.id, "Send Alert", frame.key, run.id, clock.iso, attrs_of(frame.ctx, person), key)
        return send_alert

    def _compile_interesting_moment(self, step: ast.InterestingMoment, here: ProgramInfo | None) -> Callable:
        attrs_of = _json_object_builder([("type", step.type), ("description", step.description)], self.bind)
        add, clock = self.store.add_activity_json, self.clock

        def interesting_moment(run: Run) -> None:
            person = run.person
            frame = run.frames[-1]
            add(person.id, "Interesting Moment", frame.key, run.id, clock.iso, attrs_of(frame.ctx, person))
        return interesting_moment

    def _compile_list_step(self, step: ast.AddToList | ast.RemoveFromList, here: ProgramInfo | None) -> Callable:
        lkey = self.asset_key("list", step.list, here)
        store, clock = self.store, self.clock
        adding = isinstance(step, ast.AddToList)
        write = store.list_add if adding else store.list_remove
        type_ = "Add to List" if adding else "Remove from List"
        kind = "added to list" if adding else "removed from list"
        attrs = dumps({"list": lkey})
        add = store.add_activity_json
        listens = self._host_listens(kind)
        emit = self._host_emit

        def list_step(run: Run) -> None:
            person = run.person
            if (write(lkey, person.id, clock.iso) if adding else write(lkey, person.id)):
                add(person.id, type_, run.frames[-1].key, run.id, clock.iso, attrs, lkey)
                if listens:
                    emit(person, kind, list=lkey)
        return list_step

    def _compile_change_program_status(self, step: ast.ChangeProgramStatus, here: ProgramInfo | None) -> Callable:
        program = self.find_program(step.program, here)
        status = step.status
        statuses = program.statuses
        if statuses and status not in statuses:
            raise StepError("no such status")   # interpreted: it reports the status
        order = {s: statuses.index(s) for s in statuses}
        pkey = self.program_key(program)
        store, clock = self.store, self.clock
        attrs = dumps({"program": program.name})
        new_json = dumps(status)
        add = store.add_activity_json
        listens = self._host_listens("program status is changed")
        emit = self._host_emit
        pname = program.name

        def change_program_status(run: Run) -> None:
            person = run.person
            m = store.membership(pkey, person.id)
            old = m.status if m is not None else None
            if old == status and m is not None:
                return
            if old is not None and statuses and old in order and order[status] <= order[old]:
                return   # never moves back in channel order
            store.set_status(pkey, person.id, status, clock.iso)
            add(person.id, "Change Program Status", run.frames[-1].key, run.id, clock.iso, attrs, pkey,
                None if old is None else dumps(old), new_json)
            if listens:
                emit(person, "program status is changed", program=pkey, program_name=pname, old=old, new=status)
        return change_program_status

    def _compile_execute_campaign(self, step: ast.ExecuteCampaign, here: ProgramInfo | None) -> Callable:
        child = self.resolve("campaign", step.campaign, here)
        if child.kind != "executable":
            raise StepError("not an executable")   # interpreted: it reports the campaign
        use_parent = step.parent_context
        cq = child.qualname
        store, clock = self.store, self.clock
        add = store.add_activity_json
        qualifies = self.smart_list_pred(child.smart_list, child.program)
        rule_allows = self.rule_allows
        every_time = child.rule.rule == "every time"
        child_context, exec_steps = self.child_context, self.exec_steps
        head = '{"campaign":' + dumps(cq) + ',"parent":'
        tails = {q: f',"qualified":{dumps(q)},"use parent token context":{dumps(use_parent)}}}'
                 for q in (True, False)}
        parents: dict[str | None, str] = {}

        def execute_campaign(run: Run) -> None:
            frames = run.frames
            frame = frames[-1]
            if len(frames) > MAX_EXECUTE_DEPTH:
                raise StepError("execute campaign chain too deep: " + " > ".join(run.chain()))
            person = run.person
            qualified = qualifies(person) and (every_time or rule_allows(child, person))
            parent = parents.get(frame.key)
            if parent is None:
                parent = parents[frame.key] = dumps(frame.key)
            add(person.id, "Executed Campaign", frame.key, run.id, clock.iso,
                head + parent + tails[qualified], cq)
            if not qualified:
                return
            store.record_run(person.id, cq, clock.iso, run.id)
            frames.append(Frame(child, child_context(frame.ctx, child, use_parent), use_parent))
            try:
                exec_steps(run, child.steps, top=False)
            finally:
                frames.pop()
        return execute_campaign

    def _compile_choice(self, step: ast.Choice, here: ProgramInfo | None) -> Callable:
        branches = []
        for number, branch in enumerate(step.branches, 1):
            pred = None
            if branch.condition is not None:
                try:
                    pred = self.filter_pred(branch.condition, here)
                except InvalidSmartList:
                    pred = _nobody
            if branch.step is None:
                fn = None
            elif isinstance(branch.step, ast.Wait):
                fn = _cannot_wait
            else:
                fn = self.compile_step(branch.step, here)
            branches.append((pred, fn, number, branch.condition is None, branch.step is None))
        kind, line = step.kind, (step.span.line if step.span else None)
        file = step.span.file if step.span else None

        def choice(run: Run) -> None:
            person = run.person
            for pred, fn, number, is_else, nothing in branches:
                if pred is not None and not pred(person):
                    continue
                if self.trace is not None:
                    self.trace.append({"campaign": run.frames[-1].key, "step": kind, "file": file, "line": line,
                                       "branch": number, "else": is_else, "does nothing": nothing})
                if fn is not None:
                    fn(run)
                return
        return choice

    # -- steps -------------------------------------------------------------------

    def exec_steps(self, run: Run, steps: Sequence[ast.Node], start: int = 0, top: bool = True) -> None:
        """Run ``steps`` from ``start``; ``Pause`` at a top-level wait,
        ``EndRun`` when the run ends early."""
        compiled = self.compiled_steps(steps, run.frames[-1].program)
        tick = self._host_tick
        for index in range(start, len(compiled)):
            tick()
            fn = compiled[index]
            if fn is None:   # a wait
                step = steps[index]
                due = self._wait_due(run, step)
                if due is not None:
                    if not top:
                        self._error(run, step, "wait is not allowed here (use request campaign)")
                    raise Pause(due, index + 1)
                continue
            try:
                fn(run)
            except StepError as exc:
                self._error(run, steps[index], str(exc))

    def _error(self, run: Run, step: ast.Node, message: str) -> None:
        attrs: dict[str, Any] = {"message": message, "chain": run.chain()}
        if step is not None and step.span is not None:
            attrs["step"] = f"{step.span.file}:{step.span.line}:{step.span.column}"
        self.log(run, "Error", attrs)
        raise EndRun("error")

    def step(self, run: Run, step: ast.Node) -> None:
        method = _STEP_METHODS.get(type(step))
        if method is None:
            raise StepError(f"unknown step {type(step).__name__}")
        method(self, run, step)

    def _choice(self, run: Run, step: ast.Choice) -> None:
        here = run.frame.program
        person = run.person
        for number, branch in enumerate(step.branches, 1):
            if branch.condition is not None:
                try:
                    hit = self.filter_pred(branch.condition, here)(person)
                except InvalidSmartList:
                    hit = False
                if not hit:
                    continue
            if self.trace is not None:
                self.trace.append({"campaign": run.frame.key, "step": step.kind,
                                   "file": step.span.file if step.span else None,
                                   "line": step.span.line if step.span else None,
                                   "branch": number, "else": branch.condition is None,
                                   "does nothing": branch.step is None})
            if branch.step is not None:
                if isinstance(branch.step, ast.Wait):
                    raise StepError("a choice cannot wait")
                self.step(run, branch.step)
            return

    def _wait_due(self, run: Run, step: ast.Wait) -> _dt.datetime | None:
        now = self.clock.now
        node = step.until
        if step.duration is not None:
            t = now + step.duration.delta
        elif isinstance(node, ast.DateTime):
            t = node.value
        elif isinstance(node, ast.Date):
            t = _dt.datetime.combine(node.value, _dt.time())
        else:
            text = self.render(node, run.person, run.frame.ctx)
            try:
                t = convert("datetime", text)
            except ValueError:
                t = None
            if t is None:
                self.log(run, "Wait", {"until": None, "skipped": f"'{text}' is not a date"})
                return None
        if t <= now:
            return None
        self.log(run, "Wait", {"until": iso(t)})
        return t

    def _set_field(self, run: Run | None, person: Person, key: str, name: str, value: Any,
                   reason: str | None = None) -> bool:
        """Write a field; an activity and a ``data value changes`` event when it changed."""
        old = person.get(key)
        if old == value and type(old) is type(value):
            return False
        try:
            self.store.set_field(person.id, key, value)
        except Exception as exc:  # StoreError: a taken email address
            raise StepError(str(exc)) from None
        person._set(key, value)
        attrs: dict[str, Any] = {"field": name}
        if reason:
            attrs["reason"] = reason
        self.log(run, "Change Data Value", attrs, key, old, value, person=person)
        self._host_emit(person, "data value changes", field=key, field_name=name, old=old, new=value)
        return True

    def _change_data_value(self, run: Run, step: ast.ChangeDataValue) -> None:
        key, name, ftype = self._field(step.field)
        value = self.value(step.value, ftype, run.person, run.frame.ctx)
        self._set_field(run, run.person, key, name, value)

    def _field(self, ref: ast.FieldRef) -> tuple[str, str, str]:
        try:
            return self.field_spec(ref.name)
        except InvalidSmartList as exc:
            raise StepError(str(exc)) from None

    def score_change(self, node: Any, person: Person, ctx: TokenContext) -> tuple[str, int]:
        if isinstance(node, ast.ScoreChange):
            return node.op, node.amount
        if isinstance(node, ast.Number) and isinstance(node.value, int) and node.value < 0:
            return "-", -node.value     # `by -5` reads as a number: a subtraction
        if isinstance(node, (ast.TokenRef, ast.Template)):
            text = self.render(node, person, ctx)
            parsed = parse_score_change(text)
            if parsed is None:
                what = node.text if isinstance(node, ast.TokenRef) else literal_text(node)
                raise StepError(f"{what} rendered {text!r}, which is not a score change (+N, -N, =N)")
            return parsed
        raise StepError(f"{literal_text(node)!r} is not a score change (+N, -N, =N)")

    def _change_score(self, run: Run, step: ast.ChangeScore) -> None:
        key, name, ftype = self._field(step.field)
        person = run.person
        op, amount = self.score_change(step.change, person, run.frame.ctx)
        old = person.get(key)
        base = old or 0
        new = base + amount if op == "+" else base - amount if op == "-" else amount
        if ftype == "decimal":
            new = Decimal(new)
        elif not -2 ** 63 < new < 2 ** 63:   # SQLite integers are 64-bit
            raise StepError(f"{name} would become {str(new)[:30]}, more than a score holds (19 digits)")
        if new != old:
            self.store.set_field(person.id, key, new)
            person._set(key, new)
        self.log(run, "Change Score", {"field": name, "change": f"{op}{amount}"}, key, old, new)
        if new != old:
            self._host_emit(person, "score is changed", field=key, field_name=name, old=old, new=new,
                            change=f"{op}{amount}")

    def _email(self, run: Run, ref: ast.Ref) -> tuple[str, ast.Email]:
        here = run.frame.program
        try:
            node = self.resolve("email", ref, here)
            return self.asset_key("email", ref, here), node
        except InvalidSmartList as exc:
            raise StepError(str(exc)) from None

    def _send_email(self, run: Run, step: ast.SendEmail) -> None:
        key, email = self._email(run, step.email)
        attrs: dict[str, Any] = {"email": key}
        ctx = run.frame.ctx
        for part in ("subject", "sender", "body"):
            node = getattr(email, part)
            if node is not None:
                attrs["from" if part == "sender" else part] = self.render(node, run.person, ctx)
        self.log(run, "Send Email", attrs, key)

    def _send_alert(self, run: Run, step: ast.SendAlert) -> None:
        key, email = self._email(run, step.email)
        ctx = run.frame.ctx
        attrs: dict[str, Any] = {"email": key,
                                 "to": [self.render(r, run.person, ctx) for r in step.recipients]}
        if email.subject is not None:
            attrs["subject"] = self.render(email.subject, run.person, ctx)
        self.log(run, "Send Alert", attrs, key)

    def _list_key(self, run: Run, ref: ast.Ref) -> str:
        try:
            return self.asset_key("list", ref, run.frame.program)
        except InvalidSmartList as exc:
            raise StepError(str(exc)) from None

    def add_to_list(self, run: Run | None, person: Person, lkey: str) -> None:
        if self.store.list_add(lkey, person.id, iso(self.clock.now)):
            self.log(run, "Add to List", {"list": lkey}, lkey, person=person)
            self._host_emit(person, "added to list", list=lkey)

    def remove_from_list(self, run: Run | None, person: Person, lkey: str) -> None:
        if self.store.list_remove(lkey, person.id):
            self.log(run, "Remove from List", {"list": lkey}, lkey, person=person)
            self._host_emit(person, "removed from list", list=lkey)

    def _add_to_list(self, run: Run, step: ast.AddToList) -> None:
        self.add_to_list(run, run.person, self._list_key(run, step.list))

    def _remove_from_list(self, run: Run, step: ast.RemoveFromList) -> None:
        self.remove_from_list(run, run.person, self._list_key(run, step.list))

    def _program(self, run: Run, name: str) -> ProgramInfo:
        try:
            return self.find_program(name, run.frame.program)
        except InvalidSmartList as exc:
            raise StepError(str(exc)) from None

    def change_status(self, run: Run | None, person: Person, program: ProgramInfo, status: str) -> None:
        statuses = program.statuses
        if statuses and status not in statuses:
            raise StepError(f'program "{program.name}" has no status "{status}"')
        pkey = self.program_key(program)
        m = self.store.membership(pkey, person.id)
        old = m.status if m is not None else None
        if old == status and m is not None:
            return
        if old is not None and statuses and old in statuses and statuses.index(status) <= statuses.index(old):
            return   # never moves back in channel order
        self.store.set_status(pkey, person.id, status, iso(self.clock.now))
        self.log(run, "Change Program Status", {"program": program.name}, pkey, old, status, person=person)
        self._host_emit(person, "program status is changed", program=pkey, program_name=program.name,
                        old=old, new=status)

    def _change_program_status(self, run: Run, step: ast.ChangeProgramStatus) -> None:
        self.change_status(run, run.person, self._program(run, step.program), step.status)

    def _change_member_data(self, run: Run, step: ast.ChangeMemberData) -> None:
        program = self._program(run, step.program)
        fields = {ast.name_key(n): n for n in program.member_fields}
        fkey = ast.name_key(step.member_field)
        if program.member_fields and fkey not in fields:
            raise StepError(f'program "{program.name}" has no member field "{step.member_field}"')
        pkey = self.program_key(program)
        m = self.store.membership(pkey, run.person.id)
        if m is None:
            return   # only members have member data (as in Marketo): nothing to change
        if isinstance(step.value, (ast.Template, ast.TokenRef)):
            value: Any = self.render(step.value, run.person, run.frame.ctx)
        elif isinstance(step.value, ast.Null):
            value = None
        else:
            value = to_json_value(literal_value(step.value))
        old = m.data.get(fkey)
        if old == value:
            return
        data = dict(m.data)
        if value is None:
            data.pop(fkey, None)
        else:
            data[fkey] = value
        self.store.set_member_data(pkey, run.person.id, data)
        self.log(run, "Change Program Member Data",
                 {"program": program.name, "field": fields.get(fkey, step.member_field)}, pkey, old, value)

    def _interesting_moment(self, run: Run, step: ast.InterestingMoment) -> None:
        text = self.render(step.description, run.person, run.frame.ctx)
        self.log(run, "Interesting Moment", {"type": step.type, "description": text})

    def _delete_person(self, run: Run, step: ast.DeletePerson) -> None:
        self.log(run, "Delete Person", {})
        self.store.delete_person(run.person.id)
        run.person.deleted = True
        raise EndRun("deleted")

    def _call_webhook(self, run: Run, step: ast.CallWebhook) -> None:
        here = run.frame.program
        try:
            hook = self.resolve("webhook", step.webhook, here)
        except InvalidSmartList as exc:
            raise StepError(str(exc)) from None
        prog = self.model.program_of_asset("webhook", hook)
        key = f'{prog.quoted}."{hook.name}"' if prog else f'"{hook.name}"'
        person, ctx = run.person, run.frame.ctx
        url = self.render(hook.url, person, ctx, escape=url_escape) if hook.url is not None else ""
        payload = self.render_payload(hook.payload, person, ctx) if hook.payload is not None else None
        attrs: dict[str, Any] = {"webhook": key, "method": hook.method.upper(), "url": url}
        if payload is not None:
            attrs["payload"] = payload
        handler = self._host_webhook(hook, prog)
        if handler is None:
            self.log(run, "Call Webhook", attrs, key)
            return
        request = WebhookRequest(hook.name, key, hook.method.upper(), url, payload, person.email)
        try:
            result = handler(request)
            # (status, JSON body): anything else is the handler's mistake, said as one
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise TypeError(f"a handler returns (status, body), not {type(result).__name__}")
            status, body = result
            if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
                raise TypeError(f"the status must be a whole number from 100 to 599, not {status!r}"[:200])
            json.dumps(body)   # a body the activity log can hold (TypeError/ValueError otherwise)
        except EndRun:
            raise
        except Exception as exc:   # the embedder's handler: any failure is this person's error
            self.log(run, "Call Webhook", attrs, key)
            raise StepError(f'webhook "{hook.name}" handler failed: {type(exc).__name__}: {exc}') from None
        attrs["status"] = status
        attrs["response"] = body
        self.log(run, "Call Webhook", attrs, key)
        if 200 <= status < 300:
            for mapping in hook.responses:
                found, value = _json_path(body, mapping.path)
                if not found:
                    continue
                fkey, fname, ftype = self._field(mapping.field)
                try:
                    typed = convert(ftype, value)
                except ValueError as exc:
                    raise StepError(f"webhook response {mapping.path!r} -> {fname}: {exc}") from None
                self._set_field(run, person, fkey, fname, typed, reason=f"webhook {key}")

    def _request_campaign(self, run: Run, step: ast.RequestCampaign) -> None:
        try:
            target = self.resolve("campaign", step.campaign, run.frame.program)
        except InvalidSmartList as exc:
            raise StepError(str(exc)) from None
        self.log(run, "Request Campaign", {"campaign": target.qualname}, target.qualname)
        self._host_request(run, target)

    def _execute_campaign(self, run: Run, step: ast.ExecuteCampaign) -> None:
        frame = run.frame
        try:
            child = self.resolve("campaign", step.campaign, frame.program)
        except InvalidSmartList as exc:
            raise StepError(str(exc)) from None
        if child.kind != "executable":
            raise StepError(f"{child.qualname} is not an executable campaign")
        if len(run.frames) > MAX_EXECUTE_DEPTH:
            raise StepError("execute campaign chain too deep: " + " > ".join(run.chain()))
        person = run.person
        qualified = self.matches(child.smart_list, person, child.program) and self.rule_allows(child, person)
        self.log(run, "Executed Campaign",
                 {"campaign": child.qualname, "parent": frame.key, "qualified": qualified,
                  "use parent token context": step.parent_context}, child.qualname)
        if not qualified:
            return
        self.store.record_run(person.id, child.qualname, iso(self.clock.now), run.id)
        run.frames.append(Frame(child, frame.ctx.for_child(child, step.parent_context), step.parent_context))
        try:
            self.exec_steps(run, child.steps, top=False)
        finally:
            run.frames.pop()

    def _remove_from_flow(self, run: Run, step: ast.RemoveFromFlow) -> None:
        frame = run.frame
        end = False
        running = {f.key for f in run.frames}
        for target in step.campaigns:
            if isinstance(target, ast.ThisCampaign):
                campaign = frame.campaign
                if campaign is None:
                    raise StepError("'this campaign' outside a campaign")
            else:
                try:
                    campaign = self.resolve("campaign", target, frame.program)
                except InvalidSmartList as exc:
                    raise StepError(str(exc)) from None
            self.log(run, "Remove from Flow", {"campaign": campaign.qualname}, campaign.qualname)
            self._host_remove_from_flow(run.person, campaign)
            if campaign.qualname in running:
                end = True
        if end:
            raise EndRun("removed from flow")


class WebhookRequest:
    """What a registered webhook handler receives."""

    __slots__ = ("name", "webhook", "method", "url", "payload", "email")

    def __init__(self, name: str, webhook: str, method: str, url: str, payload: str | None, email: str):
        self.name = name
        self.webhook = webhook
        self.method = method
        self.url = url
        self.payload = payload
        self.email = email

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None

    def __repr__(self) -> str:
        return f"WebhookRequest({self.method} {self.url})"


_STEP_METHODS: dict[type, Callable[[Evaluator, Run, Any], None]] = {
    ast.ChangeDataValue: Evaluator._change_data_value,
    ast.ChangeScore: Evaluator._change_score,
    ast.SendEmail: Evaluator._send_email,
    ast.SendAlert: Evaluator._send_alert,
    ast.AddToList: Evaluator._add_to_list,
    ast.RemoveFromList: Evaluator._remove_from_list,
    ast.ChangeProgramStatus: Evaluator._change_program_status,
    ast.ChangeMemberData: Evaluator._change_member_data,
    ast.InterestingMoment: Evaluator._interesting_moment,
    ast.DeletePerson: Evaluator._delete_person,
    ast.CallWebhook: Evaluator._call_webhook,
    ast.RequestCampaign: Evaluator._request_campaign,
    ast.ExecuteCampaign: Evaluator._execute_campaign,
    ast.RemoveFromFlow: Evaluator._remove_from_flow,
    ast.Choice: Evaluator._choice,
}

#: step type -> its compiler (``Evaluator.compile_step``); the rest are interpreted
_STEP_COMPILERS: dict[type, Callable[[Evaluator, Any, Any], Callable[[Run], None]]] = {
    ast.ChangeDataValue: Evaluator._compile_change_data_value,
    ast.ChangeScore: Evaluator._compile_change_score,
    ast.SendEmail: Evaluator._compile_send_email,
    ast.SendAlert: Evaluator._compile_send_alert,
    ast.AddToList: Evaluator._compile_list_step,
    ast.RemoveFromList: Evaluator._compile_list_step,
    ast.ChangeProgramStatus: Evaluator._compile_change_program_status,
    ast.InterestingMoment: Evaluator._compile_interesting_moment,
    ast.ExecuteCampaign: Evaluator._compile_execute_campaign,
    ast.Choice: Evaluator._compile_choice,
}


# --------------------------------------------------------------------------
# helpers


class _Source:
    """The constants and temporaries of one generated predicate: filters are
    compiled to Python source once per smart list (``def _pred(p): return
    ...``), so evaluating one costs what a hand-written function costs."""

    __slots__ = ("ns", "n")

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {}
        self.n = 0

    def const(self, value: Any) -> str:
        name = f"_c{len(self.ns)}"
        self.ns[name] = value
        return name

    def var(self) -> str:
        self.n += 1
        return f"_v{self.n}"

    def function(self, expression: str) -> Pred:
        src = f"def _pred(p):\n    return {expression}\n"
        ns = dict(self.ns)
        exec(compile(src, "<smart list>", "exec"), ns)
        pred = ns["_pred"]
        pred.source = expression   # type: ignore[attr-defined]  (for debugging: print(pred.source))
        return pred


def _sql_cost(sql: str) -> int:
    """How dear an SQL condition is to test on one row, roughly (for ordering)."""
    if "EXISTS" in sql:
        return 2
    if "cf(" in sql or "dcmp(" in sql:
        return 1
    return 0


def _logic_source(tree: Any, parts: Sequence[str]) -> str:
    """Advanced smart list logic as a Python expression (``and``/``or``/``not``
    short-circuit as ``eval_logic`` does)."""
    if isinstance(tree, int):
        return parts[tree]
    if tree[0] == "not":
        return f"(not {_logic_source(tree[1], parts)})"
    return "(" + f" {tree[0]} ".join(_logic_source(t, parts) for t in tree[1:]) + ")"


def _escaped(bound: Any, escape: Callable[[str], str] | None) -> Any:
    if escape is None:
        return bound
    if isinstance(bound, str):
        return escape(bound)
    return lambda p: escape(bound(p))


def _capped(fn: Callable[[Person], str], node: Any) -> Callable[[Person], str]:
    """``fn`` refusing a rendered value longer than the cap (person data
    repeated by a template)."""
    def capped(p: Person) -> str:
        text = fn(p)
        if len(text) > MAX_RENDERED_CHARS:
            raise StepError(_too_long(node))
        return text
    return capped


def _concat(parts: list[Any]) -> Any:
    """Bound template parts (strings, functions of the person) as one string
    when all are fixed, else one function of the person."""
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str):
            if merged and isinstance(merged[-1], str):
                merged[-1] += part
            elif part:
                merged.append(part)
        else:
            merged.append(part)
    if not merged:
        return ""
    if len(merged) == 1:
        return merged[0]
    if len(merged) == 2:
        a, b = merged
        if isinstance(a, str):
            return lambda p: a + b(p)
        if isinstance(b, str):
            return lambda p: a(p) + b
        return lambda p: a(p) + b(p)
    if len(merged) == 3 and isinstance(merged[0], str) and isinstance(merged[2], str):
        a, b, c = merged
        return lambda p: a + b(p) + c
    seq = tuple(merged)
    return lambda p: "".join([x if x.__class__ is str else x(p) for x in seq])


def _json_object_builder(items: list[tuple[str, Any]], bind: Callable) -> Callable[[TokenContext, Person], str]:
    """``dumps(dict(items))`` for an activity's attributes, compiled: the
    keys sorted and encoded once; a value is fixed text (a ``str``), a value
    node to render, or a list of nodes; what a token context fixes is encoded
    once per context."""
    items = sorted(items, key=lambda kv: kv[0])
    prefixes = [("{" if i == 0 else ",") + _jstr(k) + ":" for i, (k, _v) in enumerate(items)]
    if all(isinstance(v, str) for _k, v in items):
        fixed = "".join(p + _jstr(v) for p, (_k, v) in zip(prefixes, items)) + "}"
        return lambda ctx, person: fixed
    slot = object()   # this builder's entry in each context's cache

    def prepare(ctx: TokenContext) -> Any:
        parts: list[Any] = []
        for prefix, (_k, v) in zip(prefixes, items):
            parts.append(prefix)
            if isinstance(v, str):
                parts.append(_jstr(v))
                continue
            nodes = v if isinstance(v, list) else None
            if nodes is not None:
                parts.append("[")
            for i, node in enumerate(nodes if nodes is not None else (v,)):
                if i:
                    parts.append(",")
                b = bind(node, ctx)
                parts.append(_jstr(b) if isinstance(b, str) else (lambda p, b=b: _jstr(b(p))))
            if nodes is not None:
                parts.append("]")
        parts.append("}")
        return _concat(parts)

    def attrs_of(ctx: TokenContext, person: Person) -> str:
        cache = ctx.bound
        prepared = cache.get(slot)
        if prepared is None:
            prepared = cache[slot] = prepare(ctx)
        return prepared if prepared.__class__ is str else prepared(person)
    return attrs_of


def _cannot_wait(run: Run) -> None:
    raise StepError("a choice cannot wait")


def _everyone(p: Person) -> bool:
    return True


def _nobody(p: Person) -> bool:
    return False


def _fold_text(v: Any) -> str:
    if isinstance(v, str):
        return v.casefold()
    if v is None:
        return ""
    raise InvalidSmartList(f"{v!r} is not text")


def _number(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, Decimal)):
        raise ValueError(f"{v!r} is not a number")
    return v


def _date_value(v: Any) -> Any:
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v
    raise ValueError(f"{v!r} is not a date")


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
}


def _json_path(body: Any, path: str) -> tuple[bool, Any]:
    """``"company.size"`` or ``"items.0.name"`` in a JSON body."""
    cur = body
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return False, None
    return True, cur


def _described(obj: Any, name: str) -> str | None:
    """``{{campaign.name}}``, ``.id``, ``.description`` (and the same of
    ``program.``) for a campaign or program; None for another name."""
    key = ast.name_key(name)
    if key == "name":
        return obj.name
    if key == "id":
        return str(obj.id)
    if key == "description":
        return obj.description
    return None
