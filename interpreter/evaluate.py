"""The tree walker: smart-list filters, flow steps, choices and tokens.

``Evaluator`` interprets the checked AST for one person at a time against the
store and the virtual clock. The engine (``engine.py``) owns actions, the queue
and trigger dispatch, and *has* an evaluator: the few things a step needs from
it (queue a requested run, emit a trigger event, end other runs of a campaign,
find a webhook handler, count steps) are the small ``Host`` protocol below,
which the engine implements; ``StandaloneHost`` lets the evaluator run (and be
tested) without an engine.

Semantics, with the rule each implements (LANGUAGE.md; docs/language.md):

* Filters (§4). Text comparison is case-insensitive (``str.casefold``); an
  empty text is ``""``, so ``is not``, ``not contains`` and ``not starts
  with`` match it. Numbers: ``is 0`` also matches empty; ``is not`` and
  the ordering operators never match empty (§12.5), ``is empty``
  does not match 0. Dates: a literal is an interval (a day, or a minute for a
  date-time literal) and the operators compare against its ends; ``before``
  and ``on or before`` also match empty. Booleans: empty is false. A filter
  with a comma list matches when any value does (``is not``: none does).
  Each filter's expression and store-neutral query are its vocabulary
  entry's (``stdlib.filters``: ``predicate``, ``query``).
* Filters are compiled once per smart list into one generated Python
  function (``_Source``: ``def _pred(p): return ...``, the constants bound,
  store and clock reads as closures), so evaluating a smart list costs what a
  hand-written function costs. For a batch the whole smart list is pushed
  down to the store where it can say it (``pushdown``: a store-neutral
  ``storage.Query`` the store turns into SQL: field operators,
  decimals through ``dcmp``, ``in past``/``in future`` fixed at the clock,
  list, program and nested smart list membership, history and ``campaign was
  run`` as indexed subqueries) with exactly the same case and null rules;
  tests/test_pushdown.py checks the two paths select the same people.
* Smart list logic: ALL, ANY, or advanced (``1 and (2 or not 3)``), parsed by
  ``logic.parse_logic`` (the checker's parser, in its runtime mode). A
  filter that cannot be evaluated (an unknown field, list,
  or a value of the wrong type: the checker's CL501) makes the smart list
  *invalid*, and an invalid smart list qualifies nobody, as in Marketo.
* Steps (§5): each appends its activity; a field, list or program change that
  changed something emits its trigger event (run after the current run, by
  the engine); a step that fails for one person records an ``Error``
  activity and ends that person's run. Flows are compiled once per program
  into a closure per step (``compiled_steps``, "compiled flows" below) by
  the step's compiler, which its vocabulary entry holds (``stdlib.steps``):
  names resolved, constants converted, the fixed part of each activity's
  JSON encoded. A step whose name does not resolve compiles to a closure
  that records the ``Error`` activity.
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
  wherever they would be equal (``own_context``, ``TokenContext.for_child``).

Why one module of this size: it is one evaluator, whose smart lists, flows
and token binding share its caches (compiled predicates, flows, folded
templates, writers) and its host; each step's compiler and each filter's
predicate and query are their vocabulary entries' (``stdlib``), the store's
SQL is ``store.py``'s, the logic parser ``logic.py``'s, value conversions
``values.py``'s.

* Names: the checker resolved every name the program writes; the evaluator
  takes its answers (``check.Resolutions``, handed over by the engine from
  the ``CheckedProgram``) and asks the model only about names the checker
  never saw (API names, a clone's inherited steps in another program).

Imports ``ast``, ``check`` (``Resolutions``), ``clock``, ``environment``,
``logic``, ``model``, ``stdlib``, ``storage``, ``store`` (the ``Person``
record) and ``values``; never ``engine``.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import urllib.parse
from json.encoder import encode_basestring as _jstr  # what dumps() does to a str
from typing import Any, Callable, Protocol, Sequence

from . import ast
from .check import Resolutions
from .clock import Clock, iso
from .environment import MAX_RENDERED_CHARS, MAX_TOKEN_EXPANSIONS, Binding, Environment, Layer
from .logic import FilterRef, Logic, LogicError, Not, parse_logic
from .model import CampaignInfo, Model, ProgramInfo
from .stdlib.filters import filter_entry
from .stdlib.steps import BY_NODE as STEPS_BY_NODE
from .stdlib.triggers import TRIGGERS
from .storage import AllOf, AnyOf, FieldTest, HasActivity, InList, InProgram, LogicOf, Query, RanCampaign
from .store import Person, Store
from .values import convert, dumps, format_value

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


#: trigger kind -> its title ({{trigger.Trigger Name}}): the vocabulary entry's
TRIGGER_TITLES: dict[str, str] = {p.words: p.title or p.words for p in TRIGGERS}


class TokenContext:
    """The token context of a run (§7): My Tokens, the campaign whose
    campaign/program/member tokens apply, and trigger tokens (or None).
    ``own`` and ``for_child`` are the rules of LANGUAGE.md §7; a context
    holds nothing of a person or a run, so it is shared wherever it would
    be equal, and keeps what was folded for it (``Evaluator.bind``)."""

    __slots__ = ("env", "campaign", "trigger", "api", "bound", "children")

    def __init__(self, env: Environment, campaign: CampaignInfo | None,
                 trigger: dict[str, str] | None = None, api: dict[str, str] | None = None):
        self.env = env
        self.campaign = campaign
        self.trigger = trigger          # name_key -> text
        self.api = api                  # the API-passed values (name -> text), for the queue
        #: templates folded for this context (Evaluator.bind)
        self.bound: dict[Any, Any] = {}
        #: child contexts made from this one (``for_child``)
        self.children: dict[tuple[int, bool], tuple[CampaignInfo, TokenContext]] | None = None

    @classmethod
    def own(cls, campaign: CampaignInfo, api: dict[str, str] | None = None,
            trigger: dict[str, str] | None = None, env: Environment | None = None) -> "TokenContext":
        """A campaign's own context, API values in front (``env``: the
        campaign's lexical environment, when the caller has it built)."""
        if env is None:
            env = campaign.env()
        if api:
            env = env.push(Layer.of("api", "API-passed value", dict(api)))
        return cls(env, campaign, trigger, dict(api) if api else None)

    def for_child(self, child: CampaignInfo, use_parent: bool, env: Environment | None = None) -> "TokenContext":
        """The context a child of ``execute campaign`` runs in (§7): with
        ``use parent token context`` this context (My Tokens, API values,
        campaign and trigger tokens) with the child's own My Tokens behind
        it; without, the child's own context and no trigger tokens. Made
        once per (child, flag) for this context, so a batch's people share
        the child's folded templates."""
        children = self.children
        if children is None:
            children = self.children = {}
        key = (id(child), use_parent)
        hit = children.get(key)
        if hit is None or hit[0] is not child:
            own = child.env() if env is None else env
            if use_parent:
                ctx = TokenContext(self.env.then(own, relabel="child's own"), self.campaign, self.trigger, self.api)
            else:
                ctx = TokenContext(own, child)
            hit = children[key] = (child, ctx)
        return hit[1]

    def lookup(self, name: str) -> tuple[Binding, Layer] | None:
        return self.env.lookup(name)


def trigger_tokens(kind: str, name: str, attributes: dict[str, Any] | None = None) -> dict[str, str]:
    out = {"trigger name": TRIGGER_TITLES.get(kind, kind), "name": name}
    for k, v in (attributes or {}).items():
        out[ast.name_key(k)] = "" if v is None else format_value(v)
    return out


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

#: whom ``render`` renders for when there is no person: every field empty
_NO_PERSON = Person(-1, (), {})

#: the flag of ``execute campaign ... use parent token context``, as the
#: activity log, the call graph and ``campaign explain`` name it
PARENT_CONTEXT = "use parent token context"

MAX_EXECUTE_DEPTH = 8   # a runtime guard; the checker limits chains to three levels (CL205)


class Host(Protocol):
    """What the evaluator needs from whoever runs it: the engine implements
    it (``Engine``), ``StandaloneHost`` is the evaluator on its own. Steps
    call these; nothing else of the host is known here.

    * ``request_campaign(run, target)`` — queue a run of ``target`` for the
      run's person (``request campaign``);
    * ``emit(person, kind, **event)`` — a trigger event a step caused (a
      field, score, list or status change), run after the current run;
    * ``listens(kind)`` — whether an event of ``kind`` can start anything
      (compiled steps skip building events nobody hears);
    * ``remove_from_flow(person, campaign)`` — end the person's waiting and
      queued runs of ``campaign``;
    * ``webhook_handler(webhook, program)`` — the embedder's handler of a
      webhook, or None (the call is only recorded);
    * ``tick()`` — once per step (step limits, cancelling);
    * ``step_compiled(step, fn)`` and ``wait_reached(run, step)`` — what
      observes the flow (coverage) sees each compiled step, which it may
      wrap, and each ``wait`` a run reaches."""

    def request_campaign(self, run: "Run", target: CampaignInfo) -> None: ...

    def emit(self, person: Person, kind: str, **event: Any) -> None: ...

    def listens(self, kind: str) -> bool: ...

    def remove_from_flow(self, person: Person, campaign: CampaignInfo) -> None: ...

    def webhook_handler(self, webhook: ast.Webhook, program: ProgramInfo | None) -> Callable | None: ...

    def tick(self) -> None: ...

    def step_compiled(self, step: ast.Node, fn: Callable[["Run"], None]) -> Callable[["Run"], None]: ...

    def wait_reached(self, run: "Run", step: ast.Wait) -> None: ...


class StandaloneHost:
    """The host of an evaluator used without the engine (tests, tools):
    events go nowhere, webhooks are only recorded, a requested campaign is
    an error (nothing would run it)."""

    def request_campaign(self, run: "Run", target: CampaignInfo) -> None:
        raise StepError(f"request campaign {target.qualname}: no engine runs requested campaigns here")

    def emit(self, person: Person, kind: str, **event: Any) -> None:
        pass

    def listens(self, kind: str) -> bool:
        return False

    def remove_from_flow(self, person: Person, campaign: CampaignInfo) -> None:
        pass

    def webhook_handler(self, webhook: ast.Webhook, program: ProgramInfo | None) -> Callable | None:
        return None

    def tick(self) -> None:
        pass

    def step_compiled(self, step: ast.Node, fn: Callable[["Run"], None]) -> Callable[["Run"], None]:
        return fn

    def wait_reached(self, run: "Run", step: ast.Wait) -> None:
        pass


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


class Evaluator:
    """Filters, steps and tokens over one store and clock (see the module
    docstring), for a ``Host`` (the engine has an evaluator and is its host)."""

    expansions = 0   # My Tokens expanded in the value being rendered (_expanded)

    # What a step's compiler (its vocabulary entry, ``stdlib.steps``) uses of
    # the run: the entries sit below the runtime, so a compiler is handed
    # the evaluator and reaches the run's types and helpers through it.
    StepError = StepError
    EndRun = EndRun
    InvalidSmartList = InvalidSmartList
    Frame = Frame
    WebhookRequest = WebhookRequest
    MAX_EXECUTE_DEPTH = MAX_EXECUTE_DEPTH
    PARENT_CONTEXT = PARENT_CONTEXT
    literal_text = staticmethod(literal_text)
    literal_value = staticmethod(literal_value)
    parse_score_change = staticmethod(parse_score_change)
    url_escape = staticmethod(url_escape)
    json_path = staticmethod(_json_path)
    json_object_builder = staticmethod(_json_object_builder)
    # and what a filter's entry (``stdlib.filters``) builds its store-neutral query from
    FieldTest = FieldTest
    InList = InList
    InProgram = InProgram
    HasActivity = HasActivity
    RanCampaign = RanCampaign

    def __init__(self, model: Model, store: Store, clock: Clock, host: Host | None = None,
                 resolutions: Resolutions | None = None):
        self.model = model
        self.store = store
        self.clock = clock
        #: what runs the evaluator (the engine): see ``Host``
        self.host: Host = host if host is not None else StandaloneHost()
        #: the checker's resolution of the program's names (``CheckedProgram.resolutions``)
        self.resolutions = resolutions if resolutions is not None else Resolutions({}, {})
        # compiled filters, keyed by node identity; the node is kept in the
        # value so its id cannot be reused while the entry lives
        self._filters: dict[tuple[int, int], tuple[Any, Pred]] = {}
        self._smart_lists: dict[tuple[int, int], tuple[Any, Pred]] = {}
        #: names the checker never resolved (API and command-line names, a
        #: clone's inherited steps in its own program), resolved once; and asset keys
        self._resolved: dict[tuple, Any] = {}
        self._field_specs: dict[str, tuple[str, str, str]] = {}
        #: when a list, choices record the branch they took (campaign explain --person)
        self.trace: list[dict[str, Any]] | None = None
        self._visiting: set[int] = set()
        self._sql_visiting: set[int] = set()
        # compiled flows, environments and contexts (see "compiled flows")
        self._flows: dict[tuple[int, int], tuple[Any, Sequence[Any]]] = {}
        self._envs: dict[int, tuple[ProgramInfo, Environment]] = {}
        #: field setters, list writers and status changers (see "writes")
        self._setters: dict[tuple, Any] = {}
        self._contexts: dict[Any, tuple[CampaignInfo, TokenContext]] = {}
        self.score_texts: dict[str, Any] = {}

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
        """What ``ref`` names in ``here``: the checker's answer
        (``Resolutions``); a name the checker did not resolve there is
        asked of the model (``InvalidSmartList`` when it does not resolve)."""
        found = self.resolutions.name(kind, ref, here)
        if found is not None:
            return found
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

    def find_program(self, name: str, here: ProgramInfo | None, node: ast.Node | None = None) -> ProgramInfo:
        """The program ``name`` (written in ``node``, when it is the
        program's) names from ``here``: the checker's answer when it has one."""
        found = self.resolutions.program(name, node, here.workspace if here else None)
        if found is not None:
            return found
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
               escape: Callable[[str], str] | None = None) -> str:
        """A value node as text, tokens rendered (and escaped with
        ``escape``): ``bind`` applied to the person (the one renderer)."""
        if not isinstance(node, (ast.Template, ast.TokenRef)):
            return literal_text(node)
        bound = self.bind(node, ctx, escape)
        if bound.__class__ is str:
            if len(bound) > MAX_RENDERED_CHARS:   # docs/security.md, "Limits"
                raise StepError(_too_long(node))
            return bound  # type: ignore[return-value]
        return bound(person if person is not None else _NO_PERSON)  # type: ignore[operator]

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
            except LogicError as exc:
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
        are closures called from the expression. The expression is the
        filter's vocabulary entry's (``stdlib.filters``: ``predicate``)."""
        entry = filter_entry(f)
        if entry is None or entry.predicate is None:
            raise InvalidSmartList(f"not a filter: {type(f).__name__}")
        return entry.predicate(self, f, here, gen)

    # -- SQL pushdown (a batch's smart list) ---------------------------------------

    def nested_smart_list_pred(self, target: ast.SmartList) -> Pred:
        """The predicate of a smart list asset a filter names (``member of
        smart list``), in its own program; ``InvalidSmartList`` when it
        cannot be evaluated (it includes itself, a filter is invalid)."""
        return self._compile_smart_list(target, self.model.program_of_asset("smart list", target))

    def nested_smart_list_query(self, target: ast.SmartList) -> Query | None:
        """The store-neutral query of a smart list asset a filter names, or
        None when some of it stays in Python (or it includes itself: Python
        reports that invalid)."""
        if id(target) in self._sql_visiting:
            return None
        prog = self.model.program_of_asset("smart list", target)
        self._sql_visiting.add(id(target))
        try:
            query, rest = self.pushdown(target, prog)
        finally:
            self._sql_visiting.discard(id(target))
        if rest:
            return None
        return query if query is not None else AllOf(())

    def pushdown(self, sl: ast.SmartList, here: ProgramInfo | None) -> tuple[Query | None, list[ast.Node]]:
        """The store-neutral query for the filters of ``sl`` the store can
        select by (``storage``), and the filters left for Python. ALL logic
        pushes every filter it can; ANY and advanced logic push all or none.
        The logic is read as ``_compile_smart_list`` reads it: ANY, advanced
        with an expression (even over one filter: ``not 1``), else ALL."""
        filters = list(sl.filters)
        where = self.store.where
        parts: list[Query | None] = []
        for f in filters:
            try:
                q = self.pushdown_filter(f, here)
            except InvalidSmartList:
                q = None
            parts.append(q if q is not None and where(q) is not None else None)
        advanced = sl.logic == "advanced" and bool(sl.expression)
        if (sl.logic != "any" and not advanced) or (sl.logic == "any" and len(filters) <= 1):
            pushed = tuple(p for p in parts if p is not None)
            rest = [f for f, p in zip(filters, parts) if p is None]
            return (AllOf(pushed) if pushed else None), rest
        if any(p is None for p in parts):
            return None, filters
        if sl.logic == "any":
            return AnyOf(tuple(parts)), []  # type: ignore[arg-type]
        try:
            tree = parse_logic(sl.expression, len(filters))   # type: ignore[arg-type]
        except LogicError:
            return None, filters
        return LogicOf(tree, tuple(parts)), []  # type: ignore[arg-type]

    def selection(self, sl: ast.SmartList, here: ProgramInfo | None) -> tuple[str | None, list[Any], list[ast.Node]]:
        """``pushdown`` said in the store's language: (condition or None,
        its parameters, the filters left for Python)."""
        query, rest = self.pushdown(sl, here)
        if query is None:
            return None, [], rest
        said = self.store.where(query)
        if said is None:   # pragma: no cover - every part was checked
            return None, [], list(sl.filters)
        return said[0], said[1], rest

    def pushdown_filter(self, f: ast.Node, here: ProgramInfo | None) -> Query | None:
        """The filter as a store-neutral query (names resolved; what is
        relative to the clock — ``in past``, ``in future``, history ``in past
        N`` — fixed at the clock's time now: a batch selects at one moment),
        or None when it stays in Python: the filter's vocabulary entry says it
        (``stdlib.filters``: ``query``). The store must select exactly whom
        the Python filter selects (tests/test_pushdown.py checks it)."""
        entry = filter_entry(f)
        if entry is None or entry.query is None:
            return None
        return entry.query(self, f, here)

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

    # -- compiled flows (compile once, run many) ----------------------------------
    #
    # A flow is compiled once per (steps, program) into one closure per step,
    # with names resolved, constant values converted and the constant parts of
    # each activity's JSON encoded; templates are bound once per token context
    # (``bind``), so a batch's people only look up their own fields. Each
    # step's compiler is its vocabulary entry's (``stdlib.steps``): it is
    # handed this evaluator, and uses the writers below and the runtime
    # types the class names for it (``StepError``, ``Frame``...). A step
    # whose names do not resolve compiles to a closure that records the
    # ``Error`` activity for each person who reaches it.

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
        """The step's closure: its vocabulary entry's compiler
        (``stdlib.steps``; a choice's is ``_compile_choice``). A step whose names do not
        resolve, or whose constant cannot be what it must be, compiles to a
        closure that fails for each person who reaches it (an ``Error``
        activity; the run ends)."""
        if step.__class__ is ast.Choice:
            return self.host.step_compiled(step, self._compile_choice(step, here))  # type: ignore[arg-type]
        entry = STEPS_BY_NODE.get(type(step))
        maker = entry.compile if entry is not None else None
        if maker is None:
            message = f"unknown step {type(step).__name__}"
        else:
            try:
                return self.host.step_compiled(step, maker(self, step, here))
            except (InvalidSmartList, StepError) as exc:
                message = str(exc)

        def failing(run: Run) -> None:
            raise StepError(message)
        return self.host.step_compiled(step, failing)

    def bind(self, node: Any, ctx: TokenContext, escape: Callable[[str], str] | None = None
             ) -> str | Callable[[Person], str]:
        """A template or token folded once per context: a string when
        nothing depends on the person, else a function of the person
        (``render`` applies it)."""
        cache = ctx.bound
        key = (id(node), escape)
        hit = cache.get(key)
        if hit is not None and hit[0] is node:
            return hit[1]
        self.expansions = 0
        bound = self._bind(node, ctx, escape, 0)
        if bound.__class__ is not str:
            bound = _capped(bound, node)  # type: ignore[arg-type]
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
        """One token folded for a context: its text when the context fixes
        it, else a function of the person (lead and member tokens, the
        clock). My Tokens nest at most 8 deep."""
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
                def system(p: Person, fmt: str = fmt) -> str:
                    return clock.now.strftime(fmt)
                bound = system
        elif ns in ("campaign", "program"):
            c = ctx.campaign
            if c is not None:
                described = _described(c if ns == "campaign" else c.program, name)
                if described is not None:
                    bound = described
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
        so its templates are bound once)."""
        try:
            key = (id(campaign), tuple(sorted(api.items())) if api else None,
                   tuple(sorted(trigger.items())) if trigger else None)
            hit = self._contexts.get(key)
        except TypeError:   # a value that cannot be a key: no sharing
            key, hit = None, None
        if hit is not None and hit[0] is campaign:
            return hit[1]
        ctx = TokenContext.own(campaign, api, trigger, self.program_env(campaign.program))
        if key is not None:
            if len(self._contexts) >= 1024:
                self._contexts.clear()
            self._contexts[key] = (campaign, ctx)
        return ctx

    # -- writes shared by steps and events ------------------------------------------
    #
    # A field, list or status change is one rule whether a flow step or an
    # event (``Engine.fire``) makes it: the writer below is made once per
    # field, list or (program, status) and called with the run (None outside
    # a run) and the person.

    def field_setter(self, key: str, name: str, reason: str | None = None
                      ) -> Callable[[Run | None, Person, Any], bool]:
        """``set(run, person, value)``: write a field; when it changed, a
        ``Change Data Value`` activity and a ``data value changes`` event.
        Returns whether it changed."""
        cache_key = ("field", key, name, reason)
        hit = self._setters.get(cache_key)
        if hit is not None:
            return hit
        store, clock = self.store, self.clock
        write = store.field_writer(key)   # None: the email address, or no column (set_field)
        set_field, add = store.set_field, store.add_activity_json
        attrs = dumps({"field": name, "reason": reason} if reason else {"field": name})
        listens = self.host.listens("data value changes")
        emit = self.host.emit

        def setter(run: Run | None, person: Person, value: Any) -> bool:
            old = person.get(key)
            if old == value and type(old) is type(value):
                return False
            try:
                if write is None:
                    set_field(person.id, key, value)
                else:
                    write(person.id, value)
            except Exception as exc:   # a value SQLite cannot hold; a taken email address
                raise StepError(str(exc)) from None
            person._vals[key] = value
            if run is None:
                add(person.id, "Change Data Value", None, None, clock.iso, attrs, key,
                    None if old is None else dumps(old), None if value is None else dumps(value))
            else:
                add(person.id, "Change Data Value", run.frames[-1].key, run.id, clock.iso, attrs, key,
                    None if old is None else dumps(old), None if value is None else dumps(value))
            if listens:
                emit(person, "data value changes", field=key, field_name=name, old=old, new=value)
            return True
        self._setters[cache_key] = setter
        return setter

    def _set_field(self, run: Run | None, person: Person, key: str, name: str, value: Any,
                   reason: str | None = None) -> bool:
        """Write a field (``field_setter``)."""
        return self.field_setter(key, name, reason)(run, person, value)

    def list_writer(self, lkey: str, adding: bool) -> Callable[[Run | None, Person], None]:
        """``write(run, person)``: add to (remove from) a static list; when
        it changed, the activity and the ``added to list`` (``removed from
        list``) event."""
        hit = self._setters.get(("list", lkey, adding))
        if hit is not None:
            return hit
        store, clock = self.store, self.clock
        add_member, remove_member = store.list_add, store.list_remove
        type_ = "Add to List" if adding else "Remove from List"
        kind = "added to list" if adding else "removed from list"
        attrs = dumps({"list": lkey})
        add = store.add_activity_json
        listens = self.host.listens(kind)
        emit = self.host.emit

        def list_write(run: Run | None, person: Person) -> None:
            if (add_member(lkey, person.id, clock.iso) if adding else remove_member(lkey, person.id)):
                if run is None:
                    add(person.id, type_, None, None, clock.iso, attrs, lkey)
                else:
                    add(person.id, type_, run.frames[-1].key, run.id, clock.iso, attrs, lkey)
                if listens:
                    emit(person, kind, list=lkey)
        self._setters[("list", lkey, adding)] = list_write
        return list_write

    def add_to_list(self, run: Run | None, person: Person, lkey: str) -> None:
        self.list_writer(lkey, True)(run, person)

    def remove_from_list(self, run: Run | None, person: Person, lkey: str) -> None:
        self.list_writer(lkey, False)(run, person)

    def status_changer(self, program: ProgramInfo, status: str) -> Callable[[Run | None, Person], None]:
        """``change(run, person)``: a program status change (never back in
        channel order); ``StepError`` for a status the channel lacks."""
        statuses = program.statuses
        if statuses and status not in statuses:
            raise StepError(f'program "{program.name}" has no status "{status}"')
        cache_key = ("status", id(program), status)
        hit = self._setters.get(cache_key)
        if hit is not None and hit[0] is program:
            return hit[1]
        order = {s: statuses.index(s) for s in statuses}
        pkey = self.program_key(program)
        store, clock = self.store, self.clock
        attrs = dumps({"program": program.name})
        new_json = dumps(status)
        add = store.add_activity_json
        listens = self.host.listens("program status is changed")
        emit = self.host.emit
        pname = program.name

        def change_status(run: Run | None, person: Person) -> None:
            m = store.membership(pkey, person.id)
            old = m.status if m is not None else None
            if old == status and m is not None:
                return
            if old is not None and statuses and old in order and order[status] <= order[old]:
                return   # never moves back in channel order
            store.set_status(pkey, person.id, status, clock.iso)
            add(person.id, "Change Program Status", run.frames[-1].key if run is not None else None,
                run.id if run is not None else None, clock.iso, attrs, pkey,
                None if old is None else dumps(old), new_json)
            if listens:
                emit(person, "program status is changed", program=pkey, program_name=pname, old=old, new=status)
        self._setters[cache_key] = (program, change_status)
        return change_status

    def change_status(self, run: Run | None, person: Person, program: ProgramInfo, status: str) -> None:
        self.status_changer(program, status)(run, person)

    def _compile_choice(self, step: ast.Choice, here: ProgramInfo | None) -> Callable:
        branches = []
        for number, branch in enumerate(step.branches, 1):
            pred = None
            fn: Callable[[Run], None] | None
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
        tick = self.host.tick
        for index in range(start, len(compiled)):
            tick()
            fn = compiled[index]
            if fn is None:   # a wait
                step: Any = steps[index]
                self.host.wait_reached(run, step)
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

    def fixed_wait_due(self, step: ast.Wait) -> _dt.datetime | None:
        """When a wait written without tokens ends (``wait 3 days``, ``wait until
        2026-12-01`` from midnight, ``wait until 2026-12-01T09:00``); None for
        ``wait until {{token}}``, which each person renders. An OverflowError
        past the last date the clock holds."""
        node = step.until
        if step.duration is not None:
            return self.clock.now + step.duration.delta
        if isinstance(node, ast.DateTime):
            return node.value
        if isinstance(node, ast.Date):
            return _dt.datetime.combine(node.value, _dt.time())
        return None

    def _wait_due(self, run: Run, step: ast.Wait) -> _dt.datetime | None:
        now = self.clock.now
        t = self.fixed_wait_due(step)
        if t is None:
            text = self.render(step.until, run.person, run.frame.ctx)
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

    def step_field(self, ref: ast.FieldRef) -> tuple[str, str, str]:
        try:
            return self.field_spec(ref.name)
        except InvalidSmartList as exc:
            raise StepError(str(exc)) from None





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
        pred.source = expression   # type: ignore[attr-defined]  # for debugging: print(pred.source)
        return pred


def _logic_source(tree: Logic, parts: Sequence[str]) -> str:
    """Advanced smart list logic as a Python expression (``and``, ``or``
    and ``not`` short-circuit as Python's do)."""
    if isinstance(tree, FilterRef):
        return parts[tree.index]
    if isinstance(tree, Not):
        return f"(not {_logic_source(tree.operand, parts)})"
    return "(" + f" {tree.op} ".join(_logic_source(t, parts) for t in tree.operands) + ")"


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


def _cannot_wait(run: Run) -> None:
    raise StepError("a choice cannot wait")


def _everyone(p: Person) -> bool:
    return True


def _nobody(p: Person) -> bool:
    return False


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
