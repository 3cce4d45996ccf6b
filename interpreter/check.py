"""The static checker: (loaded modules) -> diagnostics and a checked program.

A function of its input: it never raises for a user's mistake; it collects
every diagnostic, sorted by position. Only a program without errors becomes a
``CheckedProgram``, the one thing the engine accepts (the gate is in the
types: jlox's ``if (hadError) return;`` made explicit).

The checks run in this order, each owning one family of codes (OPA's
compiler stages; ``CHECKS`` below is the same list, as code):

    resolve names      CL101 CL103   every reference, field, status, token name
    duplicates         CL102         names unique per kind in their scope
    campaign kinds     CL202 CL203 CL204 CL209 CL502
    call graph         CL201 CL207 CL208   execute / request targets
    depth and cycles   CL205 CL206   chains over every choice branch
    tokens             CL401 CL402   My Tokens by scope and call path
                       CL404 CL405   ... referring to themselves, or expanding too far
    types              CL301 CL403   score changes, step values, choices
    smart lists        CL501 CL503 CL504 CL505
    reachability       CL601 CL602   dead branches, idle executables, trigger loops

The first pass also gathers, per campaign, the ``Facts`` the later passes
decide on (its effective steps by kind, its calls, the tokens it renders), so
that they need not walk the tree again: on a large program every walk costs
memory traffic (bench/bench_check.py).

CL001 and CL002 come from the parser and the loader. When a file has a
syntax or import error the semantic checks do not run: a dropped line would
otherwise surface as a cascade of follow-on findings (an unused executable,
a campaign without a trigger).

Rules the spec leaves open, decided here (docs/language.md should say the
same):

* **One mistake, one diagnostic.** A reference that does not resolve is
  reported once, by the pass that owns it, and everything downstream treats
  it as absent: an unknown execute target adds no edge, so no depth, token or
  reachability finding follows; a duplicate declaration's body is not checked
  (the first declaration wins); two findings of one code at one span are
  merged (an error wins over a warning). Clones inherit steps and smart lists
  at the same spans as their source, and this merge keeps those single too.
* **Where names resolve.** A reference resolves where it is written (the
  program of the campaign or asset that holds it), so a clone's inherited
  steps mean what they meant in the source. Tokens are the exception: they
  belong to the run, so a clone's inherited steps are checked against the
  clone's own token scope, and an email's tokens against the scope of each
  campaign that sends it.
* **Smart lists vs. conditions.** Inside a smart list, an unknown field,
  list, smart list, program, form or email, a wrongly typed value, an
  operator the field's type does not take, or a token (filters take literal
  values, as in Marketo) makes the smart list invalid: CL501, an error in a
  batch or trigger campaign or a smart list asset, a warning in an
  executable. A choice condition is not a smart list: there an unknown name is
  CL101, a wrongly typed value CL403, and a token CL301.
* **Triggers** inside a smart list are checked like filters (CL501); in a
  batch or executable, or in a smart list asset, a trigger is CL204 and
  nothing more.
* **Depth** counts from every campaign that can start a run (batch,
  trigger) and from every executable that nothing validly executes; a chain
  too deep is reported once, at the step that reaches level four.
* **Tokens through chains.** A My Token used by an executable is defined
  when its own scope defines it, or when it has callers, every one of them
  passes its context, and each caller's context defines it (transitively).
  A campaign inside an execution cycle (CL206) is not held to more than its
  own scope: the cycle is the mistake.
* **Tokens in tests and the API.** ``run`` and ``request`` with tokens may
  only pass tokens the campaign can see (CL401).
* **Score changes.** ``+N``, ``=N``, ``=-N`` and a negative number ``-N``
  are score changes; so is a My Token declared with one of them. A bare
  non-negative number, a text, or a token declared as text or number is
  CL403. Tokens other than My Tokens are accepted (they fail at run time).
* **Values of steps.** ``change data value`` takes, for a text or email field,
  text or any token; for integer and score fields a whole number; decimal a
  number; boolean ``true``/``false``; date and datetime a date or date-time;
  ``null`` anywhere; a My Token by its declared type; a lead token by its
  field's type; other tokens anywhere.
* **Statuses and member data.** ``change program status`` and status filters
  and triggers must name a declared status when the program declares any;
  ``change program member data`` must name a declared member field.
* **Runs in tests.** ``run`` targets a batch campaign (anything else is
  CL201); ``request`` targets a trigger campaign admitting API requests
  (``from api`` or ``from any``; anything else is CL208).
* **Lead, campaign, program and system tokens** must name a field or a known
  attribute (CL101); trigger and member tokens are not checked by name.
* **Trigger cycles (CL602)** are reported only when every campaign of the
  cycle qualifies every time: ``qualify once`` (or once every N) stops the
  loop within one action.
* **Clone cycles** (a campaign cloning itself, directly or not) are CL206.

Why one module of this size: it is one pass, the named checks in their
order, each a function owning one family of codes over the same shared
context (``Context``); splitting them would spread one pass's state.

Imports ``source``, ``errors``, ``ast``, ``loader``, ``logic``, ``model``, ``graph``,
``environment`` and the ``stdlib`` vocabulary; nothing to its right
(evaluate, engine, cli).
"""

from __future__ import annotations

import difflib
import functools
from collections import deque
from collections.abc import Mapping
from typing import Any, Callable, Iterable, Iterator

import attrs
from attrs import field, frozen

from . import ast
from .environment import MAX_RENDERED_CHARS, MAX_TOKEN_EXPANSIONS, Binding, Environment
from .errors import Diagnostic, Related, error, warning
from .graph import MAX_DEPTH, CallGraph, build_call_graph, find_cycle, reach, strongly_connected, written_by
from .loader import Loaded
from .logic import LogicError, parse_logic
from .model import DEFAULT_WORKSPACE, CampaignInfo, Model, ProgramInfo, Resolution, build_model
from .parse import paused_gc
from .source import SourceFile, Span
from .stdlib import steps as _steps
from .stdlib.filters import FILTERS, OPS_BY_TYPE
from .stdlib.triggers import TRIGGERS
from .stdlib.types import TYPES
from .stdlib.vocabulary import Alt, Opt, Phrase, Slot

#: The named checks, in the order they run, with the codes each owns.
#: the named checks, in order: ``CHECKS`` at the end of the module (title, function, codes it owns)

#: §8: the activity types the engine records (``expect activity "..."``): each
#: flow step's (its vocabulary entry says which), then those of events and runs
ACTIVITY_TYPES: tuple[str, ...] = tuple(
    p.activity for p in _steps.STEPS if p.activity is not None and p.activity != "Wait") + (
    "Fill Out Form", "Visit Web Page", "Open Email", "Click Email", "New Person", "Campaign is Requested",
    "Wait", "Error",
)

#: §7: the attributes of the campaign, program and system tokens
TOKEN_ATTRIBUTES = {
    "campaign": ("name", "id", "description"),
    "program": ("name", "id", "description"),
    "system": ("date", "time", "dateTime"),
}

#: history filters and triggers -> the kind of asset they name (None: free text)
#: what the name of a history filter or a trigger must resolve to: their vocabulary entries say
HISTORY_TARGETS: dict[str, str | None] = {p.words: p.target for p in FILTERS if p.node is ast.HistoryFilter}
TRIGGER_TARGETS: dict[str, str | None] = {p.words: p.target for p in TRIGGERS}

_NEEDS = {name: t.needs for name, t in TYPES.items()}


class RefTable(Mapping):
    """The span of every reference that resolved -> the ``CampaignInfo`` or
    asset node it names; a read-only mapping, built on first use (a program
    that is only checked never pays for it)."""

    def __init__(self, found: dict[int, tuple[ast.Ref, Any]]):
        self._found = found
        self._table: dict[Span, Any] | None = None

    def _get(self) -> dict[Span, Any]:
        if self._table is None:
            self._table = {ref.span: target for ref, target in self._found.values()}
        return self._table

    def __getitem__(self, span: Span) -> Any:
        return self._get()[span]

    def __iter__(self) -> Iterator[Span]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._found)


class Resolutions:
    """The checker's answer to the question the runtime asks of each name:
    what ``Model.resolve(kind, ref, here)`` (``Model.find_program(name,
    workspace)``) gives for a reference node of the program, in the program
    (workspace) it is resolved in. The evaluator reads its names from here
    (as jlox's and starlark-go's resolvers hand their bindings to the
    evaluator) and asks the model only about what the checker never saw:
    names given to the API or the command line, and the steps a clone
    inherits from a campaign of another program (the runtime resolves those
    in the clone's program). ``name`` and ``program`` answer None then."""

    __slots__ = ("_names", "_programs")

    def __init__(self, names: dict[int, tuple[ast.Ref, str, "ProgramInfo | None", Any]],
                 programs: dict[tuple[Span, str], tuple[Any, ProgramInfo]]):
        self._names = names
        self._programs = programs

    def name(self, kind: str, ref: ast.Ref, here: ProgramInfo | None) -> Any:
        """What ``ref`` (a ``kind``: campaign, list, email...) names in
        ``here``, or None when the checker did not resolve it there."""
        hit = self._names.get(id(ref))
        if hit is not None and hit[0] is ref and hit[2] is here and hit[1] == kind:
            return hit[3]
        return None

    def program(self, name: str, node: ast.Node | None, workspace: Any) -> ProgramInfo | None:
        """The program ``name`` (written in ``node``) names in ``workspace``,
        or None when the checker did not resolve it there."""
        if node is None or node.span is None:
            return None
        hit = self._programs.get((node.span, name))
        if hit is not None and hit[0] is workspace:
            return hit[1]
        return None


@frozen
class CheckedProgram:
    """A program with no errors: its model and sources, with the checker's
    side tables: ``refs`` maps the span of every ``Ref`` that resolved to
    its ``CampaignInfo`` or asset node (editors read it), ``resolutions``
    answers the runtime's name questions (the evaluator reads it), ``graph``
    is the call graph. Built only by ``check``."""

    model: Model
    sources: dict[str, SourceFile]
    refs: Mapping[Span, Any] = field(factory=dict)
    graph: CallGraph | None = None
    #: the runtime's questions, answered (``Resolutions``); the evaluator reads them
    resolutions: Resolutions = field(factory=lambda: Resolutions({}, {}))


@frozen
class CheckResult:
    diagnostics: tuple[Diagnostic, ...]
    model: Model
    sources: dict[str, SourceFile]
    program: CheckedProgram | None   # None when there is an error
    refs: Mapping[Span, Any] = field(factory=dict)
    graph: CallGraph | None = None
    #: programs named by a plain string (``change program status "P"``, a
    #: program filter, ``expect ... status in "P"``): (span of the node
    #: that names it, the name) -> the ``ProgramInfo`` (editors read it)
    programs: Mapping[tuple[Span, str], Any] = field(factory=dict)

    @property
    def ok(self) -> bool:
        return self.program is not None

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if not d.is_error)


def check(loaded: Loaded) -> CheckResult:
    """Check loaded modules (their CL001/CL002 included) and return the result."""
    with paused_gc():   # the model and the checker's tables are built, not freed
        return _check(loaded)


def _check(loaded: Loaded) -> CheckResult:
    model = build_model(loaded.modules)
    sources = loaded.sources
    ctx = Context(model, sources)
    diags = list(loaded.diagnostics)
    if not any(d.is_error for d in diags):
        for _title, run_check, _codes in CHECKS:
            run_check(ctx)
        diags += _merge(ctx.diagnostics)
    diags.sort(key=Diagnostic.sort_key)
    program = None
    refs = ctx.refs
    if not any(d.is_error for d in diags):
        program = CheckedProgram(model, sources, refs, ctx.graph, Resolutions(ctx.bound, ctx.bound_programs))
    programs = {key: res.found for key, res in ctx.program_resolutions.items() if res.found is not None}
    return CheckResult(tuple(diags), model, sources, program, refs, ctx.graph, programs)


def _merge(diags: list[Diagnostic]) -> list[Diagnostic]:
    """One finding per (code, span); an error wins over a warning."""
    kept: dict[tuple, Diagnostic] = {}
    for d in diags:
        key = (d.code, d.span.file, d.span.start, d.span.end)
        old = kept.get(key)
        if old is None or (d.is_error and not old.is_error):
            kept[key] = d
    return list(kept.values())


# --------------------------------------------------------------------------
# Shared state and helpers


def _in_workspace(c: CampaignInfo) -> str:
    """A campaign with its workspace: the qualified name says it outside the
    Default workspace (``"EMEA"."P"."C"``), words say it inside."""
    if c.program.workspace.name == DEFAULT_WORKSPACE:
        return f"{c.qualname} of workspace {_q(DEFAULT_WORKSPACE)}"
    return c.qualname


def _q(name: str) -> str:
    return f'"{name}"'


def _ref_text(ref: ast.Ref) -> str:
    return _q(ref.name) if ref.program is None else f"{_q(ref.program)}.{_q(ref.name)}"


def _close(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate (case-insensitively), for "did you mean"."""
    cands = list(candidates)
    folded = {c.casefold(): c for c in cands}
    close = difflib.get_close_matches(word.casefold(), list(folded), n=1)
    return folded[close[0]] if close else None


def _did_you_mean(word: str | None, candidates: Iterable[str], quote: str = "'",
                  prefix: str = "") -> str | None:
    close = _close(word, candidates) if word is not None else None
    return f"did you mean {quote}{prefix}{close}{quote}?" if close else None


def _field_text(name: str) -> str:
    return f"'lead.{name}'"


def _describe(v: ast.Node) -> str:
    if isinstance(v, ast.String):
        return f'the text "{v.value}"'
    if isinstance(v, ast.Template):
        return "a text with tokens"
    if isinstance(v, ast.Number):
        return f"the number {v.value}"
    if isinstance(v, ast.Boolean):
        return "true" if v.value else "false"
    if isinstance(v, ast.Null):
        return "null"
    if isinstance(v, ast.Date):
        return f"the date {v.value.isoformat()}"
    if isinstance(v, ast.DateTime):
        return f"the date-time {v.value.isoformat(timespec='minutes')}"
    if isinstance(v, ast.Duration):
        return f"the duration {v.text}"
    if isinstance(v, ast.ScoreChange):
        return f"the score change {v.text}"
    if isinstance(v, ast.TokenRef):
        return f"the token '{v.text}'"
    return "this value"


def _literal_fits(v: ast.Node, ftype: str) -> bool:
    """A literal (no token) against a field type, as filters compare it."""
    family = TYPES[ftype].family if ftype in TYPES else None
    if family is None:
        return True
    return isinstance(v, _LITERALS[family])


#: the literal nodes each family of field types compares with (``stdlib.types.TYPES``)
_LITERALS: dict[str, tuple[type, ...]] = {
    "text": (ast.String,), "number": (ast.Number,), "date": (ast.Date, ast.DateTime), "boolean": (ast.Boolean,),
}


def _has_tokens(v: ast.Node) -> bool:
    return isinstance(v, ast.TokenRef) or (isinstance(v, ast.Template) and bool(v.tokens))


def _token_type(value: ast.Node) -> str:
    """The type of a My Token, from its literal (§7)."""
    if isinstance(value, ast.ScoreChange):
        return "score"
    if isinstance(value, ast.Number):
        return "number"
    if isinstance(value, (ast.Date, ast.DateTime)):
        return "date"
    if isinstance(value, ast.Boolean):
        return "boolean"
    return "text"


def _is_score_change(value: ast.Node) -> bool:
    return isinstance(value, ast.ScoreChange) or (
        isinstance(value, ast.Number) and isinstance(value.value, int) and value.value < 0)


_TOKEN_FIELDS: dict[type, tuple[str, ...]] = {}
#: nodes that never hold a token reference
_NO_TOKENS = (ast.String, ast.Number, ast.Boolean, ast.Null, ast.Date, ast.DateTime, ast.Duration,
              ast.ScoreChange, ast.FieldRef, ast.Ref, ast.ThisCampaign)


def tokens_in(node: ast.Node) -> Iterator[ast.TokenRef]:
    """Every token reference at or below ``node`` (templates included)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.TokenRef):
            yield n
            continue
        if isinstance(n, ast.Template):
            yield from n.tokens
            continue
        if isinstance(n, _NO_TOKENS):
            continue
        names = _TOKEN_FIELDS.get(type(n))
        if names is None:
            names = _TOKEN_FIELDS[type(n)] = tuple(a.name for a in attrs.fields(type(n))  # type: ignore[arg-type]
                                                   if a.name != "span")
        for name in names:
            v = getattr(n, name)
            if isinstance(v, ast.Node):
                stack.append(v)
            elif isinstance(v, tuple):
                for x in v:
                    if isinstance(x, ast.Node):
                        stack.append(x)
                    elif isinstance(x, tuple):   # Choice.head pairs
                        stack.extend(y for y in x if isinstance(y, ast.Node))


_CALLS = (ast.ExecuteCampaign, ast.RequestCampaign)
_SENDS = (ast.SendEmail, ast.SendAlert, ast.CallWebhook)
_TYPED = (ast.ChangeScore, ast.ChangeDataValue, ast.Wait, ast.InterestingMoment, ast.SendAlert)
_CALL_TYPES, _SEND_TYPES, _TYPED_TYPES = frozenset(_CALLS), frozenset(_SENDS), frozenset(_TYPED)


#: the steps only some campaign kinds may hold (wait, call webhook): their entries say which
_RESTRICTED: dict[type, Phrase] = {p.node: p for p in _steps.STEPS if p.campaigns is not None}
_RESTRICTED_WORDS: dict[str, Phrase] = {p.words: p for p in _RESTRICTED.values()}


def _refused(kind: str, step: ast.Node) -> bool:
    """Whether a campaign of ``kind`` may not hold ``step`` (its entry's ``campaigns``)."""
    entry = _RESTRICTED.get(type(step))
    return entry is not None and kind not in entry.campaigns  # type: ignore[operator]


class Facts:
    """What the later checks need of one campaign's *effective* parts,
    gathered once by the names pass while the campaign is at hand. The later
    passes read these small records instead of walking the tree again: a
    program of 10,000 campaigns does not fit in a processor's cache, and
    every full walk over it costs more per campaign than over a small one."""

    __slots__ = ("campaign", "kind", "flow_origin", "sl_origin", "members", "triggers", "filters",
                 "advanced", "top", "steps", "choices", "calls", "restricted", "typed", "sends",
                 "uses")

    def __init__(self, c: CampaignInfo):
        self.campaign = c
        self.kind = c.node.kind
        self.flow_origin = written_by(c, "flow")
        self.sl_origin = written_by(c, "smart_list")
        sl = c.smart_list
        self.members = members = sl.members if sl is not None else ()
        self.advanced = sl if sl is not None and sl.logic == "advanced" else None
        triggers = [m for m in members if type(m) is ast.Trigger]
        self.triggers = tuple(triggers)
        self.filters = tuple(m for m in members if type(m) is not ast.Trigger) if triggers else members
        self.top = top = c.steps
        steps: list[ast.Node] = []
        choices: list[ast.Node] = []
        restricted: list[tuple[ast.Node, Phrase]] = []   # steps only some campaign kinds may hold
        for s in top:
            if type(s) is ast.Choice:
                choices.append(s)
                steps.extend(b.step for b in s.branches if b.step is not None)
                entry = _RESTRICTED_WORDS.get(s.kind)
            else:
                steps.append(s)
                entry = _RESTRICTED.get(type(s))
            if entry is not None:
                restricted.append((s, entry))
        self.steps = tuple(steps)
        self.choices, self.restricted = tuple(choices), tuple(restricted)
        self.calls = tuple(s for s in steps if type(s) in _CALL_TYPES)
        self.typed = tuple(s for s in steps if type(s) in _TYPED_TYPES)
        self.sends = tuple(s for s in steps if type(s) in _SEND_TYPES)
        self.uses: list[tuple[ast.TokenRef, str, list[Related]]] = []   # set by the names pass


def _value_slots(pattern: tuple[Any, ...]) -> tuple[str, ...]:
    """The names of a step entry's ``value`` and ``values`` slots, in order."""
    out: list[str] = []
    for item in pattern:
        if isinstance(item, Slot) and item.kind in ("value", "values"):
            out.append(item.name)
        elif isinstance(item, Opt):
            out += _value_slots(item.items)
        elif isinstance(item, Alt):
            for option in item.options:
                out += _value_slots(option)
    return tuple(out)


#: where a step's values (the only places tokens stand) are: its vocabulary entry's value slots
_STEP_VALUES: dict[type, tuple[str, ...]] = {
    p.node: _value_slots(p.pattern) for p in _steps.STEPS if _value_slots(p.pattern)}
_NO_VALUES = tuple(p.node for p in _steps.STEPS if not _value_slots(p.pattern))


def _tokens_of(node: ast.Node) -> tuple[ast.TokenRef, ...]:
    """``tokens_in`` with a fast path for steps and values."""
    if isinstance(node, ast.TokenRef):
        return (node,)
    if isinstance(node, ast.Template):
        return node.tokens
    names = _STEP_VALUES.get(type(node))
    if names is not None:
        out: list[ast.TokenRef] = []
        for name in names:
            v = getattr(node, name)
            for x in (v if isinstance(v, tuple) else (v,)):
                if isinstance(x, ast.TokenRef):
                    out.append(x)
                elif isinstance(x, ast.Template):
                    out.extend(x.tokens)
        return tuple(out)
    if isinstance(node, _NO_VALUES) or isinstance(node, _NO_TOKENS):
        return ()
    return tuple(tokens_in(node))


@frozen
class Problem:
    """What is wrong with one filter or trigger: a ``name`` that does not
    resolve, or a ``type`` mismatch (the pass decides the code)."""

    kind: str
    span: Span
    message: str
    hint: str | None = None


class Context:
    """State shared by the checks: the model, the diagnostics, the side
    tables (resolutions by span, the call graph)."""

    def __init__(self, model: Model, sources: dict[str, SourceFile]):
        self.model = model
        self.sources = sources
        self.diagnostics: list[Diagnostic] = []
        self.resolutions: dict[int, Resolution] = {}   # id(Ref) -> outcome
        self._found: dict[int, tuple[ast.Ref, Any]] = {}   # id(Ref) -> (ref, what it names)
        self.program_resolutions: dict[tuple[Span, str], Resolution] = {}
        #: what the runtime's own question (``Model.resolve(kind, ref, here)``, ``Model.find_program``)
        #: gets for each reference and program name: ``Resolutions``
        self.bound: dict[int, tuple[ast.Ref, str, ProgramInfo | None, Any]] = {}
        self.bound_programs: dict[tuple[Span, str], tuple[Any, ProgramInfo]] = {}
        self.graph: CallGraph | None = None
        self.broken_clones: set[int] = set()   # campaign ids whose clone source is unusable
        self._envs: dict[int, Environment] = {}
        self._problems: dict[tuple, Problem | None] = {}
        self._tokens: dict[int, tuple[ast.TokenRef, ...]] = {}
        self._origins: dict[tuple[int, str], CampaignInfo] = {}
        self._fields: dict[str, tuple[str, str] | None] = {}
        self._keys: dict[str, str] = {}
        self._lookups: dict[tuple[int, str], Any] = {}
        self.clones: list[CampaignInfo] = []   # campaigns with a clone line (names pass)
        self.facts: dict[int, Facts] = {}       # campaign id -> its facts (names pass)
        self.all_facts: list[Facts] = []
        self.written_calls: list[ast.Node] = []     # execute/request steps as written (names pass)
        self.written_choices: list[tuple[ast.Choice, ProgramInfo | None]] = []
        self.guaranteed: dict[int, set[str]] = {}   # tokens pass: My Tokens every run of a campaign sees

    # -- reporting ---------------------------------------------------------

    def error(self, code: str, message: str, span: Span, hint: str | None = None,
              related: Iterable[Related] = ()) -> None:
        self.diagnostics.append(error(code, message, span, hint, tuple(related)))

    def warning(self, code: str, message: str, span: Span, hint: str | None = None,
                related: Iterable[Related] = ()) -> None:
        self.diagnostics.append(warning(code, message, span, hint, tuple(related)))

    # -- scopes ------------------------------------------------------------

    def env(self, c: CampaignInfo) -> Environment:
        return self.program_env(c.program)

    def program_env(self, p: ProgramInfo) -> Environment:
        """The program's token environment, built once."""
        env = self._envs.get(p.id)
        if env is None:
            env = self._envs[p.id] = p.env()
        return env

    def tokens(self, node: ast.Node) -> tuple[ast.TokenRef, ...]:
        """``tokens_in(node)``, once per node."""
        found = self._tokens.get(id(node))
        if found is None:
            found = self._tokens[id(node)] = _tokens_of(node)
        return found

    def key(self, tok: ast.TokenRef) -> str:
        """``name_key`` of a token's name, once per spelling."""
        try:
            return self._keys[tok.name]
        except KeyError:
            k = self._keys[tok.name] = ast.name_key(tok.name)
            return k

    def origin(self, c: CampaignInfo, part: str) -> CampaignInfo:
        """``written_by(c, part)``, once per campaign and part."""
        f = self.facts.get(c.id)
        if f is not None:
            return f.flow_origin if part == "flow" else f.sl_origin
        key = (c.id, part)
        found = self._origins.get(key)
        if found is None:
            found = self._origins[key] = written_by(c, part)
        return found

    def inherited(self, c: CampaignInfo, part: str) -> list[Related]:
        """A note for a finding in a part ``c`` inherits from its clone source."""
        if c.clone_of is None or self.origin(c, part) is c:
            return []
        return [Related(f"inherited by the clone {c.qualname}", c.node.clone.span)]

    # -- resolution --------------------------------------------------------

    def resolve(self, kind: str, ref: ast.Ref, here: ProgramInfo | None, report: bool = True) -> Any:
        """Resolve (once per span) and, when asked, report CL101; an
        ambiguous name is CL103 wherever it stands."""
        res = self.resolutions.get(id(ref))
        if res is not None:
            return res.found
        res = plain = self.model.resolve(kind, ref, here)
        if plain.found is not None:   # the runtime's answer (Resolutions)
            self.bound[id(ref)] = (ref, kind, here, plain.found)
        if here is None and DEFAULT_WORKSPACE in self.model.workspaces:
            # tests stand outside workspaces: the Default workspace first
            first = self.model.resolve(kind, ref, None, DEFAULT_WORKSPACE)
            if first.found is not None or (first.ambiguous and ref.program is None):
                res = first
        self.resolutions[id(ref)] = res
        if res.found is not None:
            self._found[id(ref)] = (ref, res.found)
            return res.found
        if res.ambiguous:
            self._ambiguous(kind, ref, res)
        elif report:
            self.error("CL101", self.unknown_message(kind, ref, res), ref.span,
                       hint=self.unknown_hint(res))
        return None

    def unknown_message(self, kind: str, ref: ast.Ref, res: Resolution) -> str:
        if res.program_missing is not None:
            return f"unknown program {_q(res.program_missing)}"
        return f"unknown {kind} {_ref_text(ref)}"

    @staticmethod
    def unknown_hint(res: Resolution) -> str | None:
        if not res.suggestion:
            return None
        if res.program_missing is not None:   # Model gives a program's bare name
            return f"did you mean {_q(res.suggestion)}?"
        return f"did you mean {res.suggestion}?"

    def _ambiguous(self, kind: str, ref: ast.Ref, res: Resolution) -> None:
        if res.program_missing is not None:
            spaces = ", ".join(_q(p.workspace.name) for p in res.ambiguous)
            self.error("CL103", f"ambiguous program {_q(res.program_missing)}: workspaces {spaces} each have one",
                       ref.span, hint="refer to a program of your own workspace")
            return
        progs = [self.model.program_of_asset(kind, getattr(a, "node", a)) for a in res.ambiguous] \
            if kind != "campaign" else [a.program for a in res.ambiguous]
        names = [_q(p.name) for p in progs if p is not None]
        first = names[0] if names else '"Program"'
        self.error("CL103", f"ambiguous {kind} {_q(ref.name)}: programs {' and '.join(names)} each have one",
                   ref.span, hint=f"write {first}.{_q(ref.name)} to say which")

    def target(self, ref: ast.Ref) -> Any:
        """What a resolved reference names (None: unknown or not resolved)."""
        found = self._found.get(id(ref))
        return found[1] if found is not None else None

    @property
    def refs(self) -> "RefTable":
        """The side table: the span of every reference that resolved -> what it names."""
        return RefTable(self._found)

    def program(self, name: str, span: Span, here_ws: Any, report: bool = True) -> ProgramInfo | None:
        """A program named by a plain string (``change program status "P"``),
        resolved once per (span, name)."""
        key = (span, name)
        res = self.program_resolutions.get(key)
        if res is None:
            in_test = here_ws is None
            if in_test:   # tests: the Default workspace first
                here_ws = self.model.workspaces.get(DEFAULT_WORKSPACE)
            res = self.program_resolutions[key] = self.model.find_program(name, here_ws)
            if not in_test and res.found is not None:
                self.bound_programs[key] = (here_ws, res.found)   # the runtime's answer (Resolutions)
            if res.found is None:
                if res.ambiguous:
                    spaces = ", ".join(_q(p.workspace.name) for p in res.ambiguous)
                    self.error("CL103", f"ambiguous program {_q(name)}: workspaces {spaces} each have one",
                               span, hint="refer to a program of your own workspace")
                elif report:
                    self.error("CL101", f"unknown program {_q(name)}", span,
                               hint=f"did you mean {_q(res.suggestion)}?" if res.suggestion else None)
        return res.found

    def program_problem(self, name: str, span: Span, here_ws: Any) -> Problem | None:
        if self.program(name, span, here_ws, report=False) is not None:
            return None
        res = self.program_resolutions[(span, name)]
        if res.ambiguous:
            return None  # CL103 already
        return Problem("name", span, f"unknown program {_q(name)}",
                       f"did you mean {_q(res.suggestion)}?" if res.suggestion else None)

    def field(self, name: str) -> tuple[str, str] | None:
        """``Model.field``, once per spelling."""
        try:
            return self._fields[name]
        except KeyError:
            found = self._fields[name] = self.model.field(name)
            return found

    def lookup(self, c: CampaignInfo, name: str) -> Any:
        """The campaign's own scope's binding of a My Token (or None), once
        per program and name."""
        key = (c.program.id, name)
        try:
            return self._lookups[key]
        except KeyError:
            found = self.env(c).lookup(name)
            self._lookups[key] = found
            return found

    def field_type(self, f: ast.FieldRef) -> str | None:
        found = self.field(f.name)
        return found[1] if found else None

    def field_problem(self, f: ast.FieldRef) -> Problem | None:
        if self.field(f.name) is not None:
            return None
        return Problem("name", f.span, f"unknown field {_field_text(f.name)}",
                       _did_you_mean(f.name, self.model.field_names(), prefix="lead."))

    @staticmethod
    def status_problem(prog: ProgramInfo, status: str, span: Span) -> Problem | None:
        if not prog.statuses or status in prog.statuses:
            return None
        hint = _did_you_mean(status, prog.statuses, '"') or (
            "its statuses are " + ", ".join(_q(s) for s in prog.statuses))
        return Problem("name", span, f"program {_q(prog.name)} has no status {_q(status)}", hint)

    # -- filters and triggers ----------------------------------------------

    def ref_problem(self, kind: str, ref: ast.Ref, here: ProgramInfo | None) -> Problem | None:
        if self.resolve(kind, ref, here, report=False) is not None:
            return None
        res = self.resolutions[id(ref)]
        if res.ambiguous:
            return None  # CL103 already
        return Problem("name", ref.span, self.unknown_message(kind, ref, res), self.unknown_hint(res))

    def filter_problem(self, f: ast.Node, here: ProgramInfo | None, in_smart_list: bool) -> Problem | None:
        """The first thing wrong with a filter, or None. Cached per span."""
        key = (id(f), in_smart_list)
        if key in self._problems:
            return self._problems[key]
        p = self._filter_problem(f, here, in_smart_list)
        self._problems[key] = p
        return p

    def _filter_problem(self, f: ast.Node, here: ProgramInfo | None, in_smart_list: bool) -> Problem | None:
        ws = here.workspace if here else None
        if isinstance(f, ast.FieldFilter):
            p = self.field_problem(f.field)
            if p:
                return p
            ftype = self.field_type(f.field)
            assert ftype is not None
            if f.op not in OPS_BY_TYPE[ftype]:
                return Problem("type", f.span,
                               f"operator '{f.op}' does not apply to the {ftype} field {_field_text(f.field.name)}",
                               f"{ftype} fields take: " + ", ".join(OPS_BY_TYPE[ftype]))
            if f.op in ("in past", "in future"):
                return None
            for v in f.values:
                if _has_tokens(v):
                    if in_smart_list:
                        return Problem("type", v.span, "a smart list filter takes literal values, not tokens",
                                       "write the value itself; tokens are not evaluated in smart lists")
                    continue   # a choice condition: CL301, reported by the types pass
                if not _literal_fits(v, ftype):
                    hint = (f"write lead.{f.field.name} is empty" if isinstance(v, ast.Null) else
                            f'write "{v.value}"' if isinstance(v, ast.Number) and ftype in ("text", "email")
                            else None)
                    return Problem("type", v.span,
                                   f"{_describe(v)} where the {ftype} field {_field_text(f.field.name)} "
                                   f"needs {_NEEDS[ftype]}", hint)
            return None
        if isinstance(f, ast.ListFilter):
            return self.ref_problem("list", f.list, here)
        if isinstance(f, ast.SmartListFilter):
            return self.ref_problem("smart list", f.smart_list, here)
        if isinstance(f, ast.ProgramFilter):
            p = self.program_problem(f.program, f.span, ws)
            if p or f.status is None:
                return p
            prog = self.program(f.program, f.span, ws, report=False)
            return self.status_problem(prog, f.status, f.span) if prog else None
        if isinstance(f, ast.HistoryFilter):
            kind = HISTORY_TARGETS.get(f.kind)
            return self.ref_problem(kind, f.target, here) if kind else None
        return None

    def trigger_problem(self, t: ast.Trigger, here: ProgramInfo | None) -> Problem | None:
        key = (id(t), "trigger")
        if key in self._problems:
            return self._problems[key]
        p = self._trigger_problem(t, here)
        self._problems[key] = p
        return p

    def _trigger_problem(self, t: ast.Trigger, here: ProgramInfo | None) -> Problem | None:
        ws = here.workspace if here else None
        kind = TRIGGER_TARGETS.get(t.kind)
        if kind and t.target is not None:
            return self.ref_problem(kind, t.target, here)
        if t.kind == "program status is changed" and t.target is not None:
            name = t.target.name if t.target.program is None else t.target.program
            p = self.program_problem(name, t.target.span, ws)
            if p:
                return p
            prog = self.program(name, t.target.span, ws, report=False)
            if prog is not None and t.to is not None:
                if not isinstance(t.to, ast.String):
                    return Problem("type", t.to.span, f"{_describe(t.to)} where a program status is needed",
                                   'write the status as a quoted name: to "Registered"')
                return self.status_problem(prog, t.to.value, t.to.span)
            return None
        if t.field is not None:
            p = self.field_problem(t.field)
            if p:
                return p
            ftype = self.field_type(t.field)
            if t.kind == "score is changed" and ftype != "score":
                return Problem("type", t.field.span,
                               f"{_field_text(t.field.name)} is a {ftype} field, not a score field",
                               "use trigger data value changes for other fields")
            for v in (t.to, t.from_):
                if v is None or isinstance(v, ast.Null):
                    continue
                if _has_tokens(v):
                    return Problem("type", v.span, "a trigger takes literal values, not tokens")
                if not _literal_fits(v, ftype):
                    return Problem("type", v.span,
                                   f"{_describe(v)} where the {ftype} field {_field_text(t.field.name)} "
                                   f"needs {_NEEDS[ftype]}")
        return None


# --------------------------------------------------------------------------
# resolve names: CL101, CL103


def check_names(ctx: Context) -> None:
    """Resolve every reference of the written program, once per span.

    Smart list contents are resolved here too (so the side table is whole),
    but reported by the smart list pass as CL501; ambiguity is CL103
    everywhere."""
    m = ctx.model
    for prog in m.programs:
        for item in prog.node.items:
            if isinstance(item, ast.Campaign):
                c = m.campaign_of(item)
                if c is None:
                    continue  # a duplicate (CL102): its body is not checked
                if item.clone is not None:
                    ctx.clones.append(c)
                _names_campaign(ctx, prog, item)
                f = ctx.facts[c.id] = Facts(c)
                ctx.all_facts.append(f)
                # gathered here, while the campaign's steps are at hand; the
                # tokens pass decides on them
                f.uses = [(tok, ctx.key(tok), notes) for tok, notes in campaign_tokens(ctx, f)]
            elif isinstance(item, ast.SmartList):
                if item.name is not None and prog.smart_lists.get(item.name) is item:
                    _names_smart_list(ctx, prog, item)
            elif isinstance(item, ast.Webhook):
                if prog.webhooks.get(item.name) is item:
                    for r in item.responses:
                        _report(ctx, ctx.field_problem(r.field))
                    for part in (item.url, item.payload):
                        if part is not None:
                            _names_tokens(ctx, part)
            elif isinstance(item, ast.Email):
                if prog.emails.get(item.name) is item:
                    for part in (item.subject, item.sender, item.body):
                        if part is not None:
                            _names_tokens(ctx, part)
    for test in m.tests:
        for stmt in test.statements:
            _names_test_statement(ctx, stmt)


def _report(ctx: Context, p: Problem | None, code: str = "CL101") -> None:
    if p is not None and p.kind == "name":
        ctx.error(code, p.message, p.span, p.hint)


def _names_smart_list(ctx: Context, prog: ProgramInfo, sl: ast.SmartList) -> None:
    for member in sl.members:
        if isinstance(member, ast.Trigger):
            ctx.trigger_problem(member, prog)
        else:
            ctx.filter_problem(member, prog, in_smart_list=True)


def _names_campaign(ctx: Context, prog: ProgramInfo, node: ast.Campaign) -> None:
    if node.clone is not None:
        ctx.resolve("campaign", node.clone.source, prog)
    if node.smart_list is not None:
        _names_smart_list(ctx, prog, node.smart_list)
    if node.flow is not None:
        _names_steps(ctx, prog, node.flow.steps)


def _names_steps(ctx: Context, prog: ProgramInfo | None, steps: Iterable[ast.Node]) -> None:
    for step in steps:
        if isinstance(step, _CALLS):
            ctx.written_calls.append(step)
        if isinstance(step, ast.Choice):
            ctx.written_choices.append((step, prog))
            for b in step.branches:
                if b.condition is not None:
                    _report(ctx, ctx.filter_problem(b.condition, prog, in_smart_list=False))
            _names_steps(ctx, prog, [b.step for b in step.branches if b.step is not None])
            continue
        _names_step(ctx, prog, step)
        _names_tokens(ctx, step)


def _names_step(ctx: Context, prog: ProgramInfo | None, step: ast.Node) -> None:
    ws = prog.workspace if prog else None
    if isinstance(step, (ast.ChangeDataValue, ast.ChangeScore)):
        _report(ctx, ctx.field_problem(step.field))
    elif isinstance(step, (ast.SendEmail, ast.SendAlert)):
        ctx.resolve("email", step.email, prog)
    elif isinstance(step, (ast.AddToList, ast.RemoveFromList)):
        ctx.resolve("list", step.list, prog)
    elif isinstance(step, ast.ChangeProgramStatus):
        found = ctx.program(step.program, step.span, ws)
        if found is not None:
            _report(ctx, ctx.status_problem(found, step.status, step.span))
    elif isinstance(step, ast.ChangeMemberData):
        found = ctx.program(step.program, step.span, ws)
        if found is not None and not any(ast.name_key(f) == ast.name_key(step.member_field)
                                         for f in found.member_fields):
            hint = _did_you_mean(step.member_field, found.member_fields, '"') or (
                f'declare it: member fields "{step.member_field}"' if not found.member_fields else
                "its member fields are " + ", ".join(_q(f) for f in found.member_fields))
            ctx.error("CL101", f"program {_q(found.name)} has no member field {_q(step.member_field)}",
                      step.span, hint)
    elif isinstance(step, ast.CallWebhook):
        ctx.resolve("webhook", step.webhook, prog)
    elif isinstance(step, (ast.RequestCampaign, ast.ExecuteCampaign)):
        ctx.resolve("campaign", step.campaign, prog)
    elif isinstance(step, ast.RemoveFromFlow):
        for target in step.campaigns:
            if isinstance(target, ast.Ref):
                ctx.resolve("campaign", target, prog)


def _names_tokens(ctx: Context, node: ast.Node) -> None:
    """Lead tokens name a field; campaign, program and system tokens a known
    attribute (§7). My Tokens are the tokens pass's; trigger and member
    tokens are free."""
    for tok in ctx.tokens(node):
        if tok.namespace == "lead":
            if ctx.field(tok.name) is None:
                ctx.error("CL101", f"unknown field {_field_text(tok.name)} in '{tok.text}'", tok.span,
                          _did_you_mean(tok.name, ctx.model.field_names(), prefix="lead."))
        elif tok.namespace in TOKEN_ATTRIBUTES:
            known = TOKEN_ATTRIBUTES[tok.namespace]
            if ast.name_key(tok.name) not in {ast.name_key(k) for k in known}:
                ctx.error("CL101", f"unknown token '{tok.text}'", tok.span,
                          _did_you_mean(tok.name, known, prefix=f"{tok.namespace}.") or
                          f"{tok.namespace} tokens: " + ", ".join(f"{tok.namespace}.{k}" for k in known))


def _names_test_statement(ctx: Context, stmt: ast.Node) -> None:
    if isinstance(stmt, ast.PersonStmt):
        for a in stmt.fields:
            if ctx.field(a.name) is None:
                ctx.error("CL101", f"unknown field '{a.name}'", a.span,
                          _did_you_mean(a.name, ctx.model.field_names()))
    elif isinstance(stmt, ast.ForStmt):
        _names_steps(ctx, None, stmt.steps)
    elif isinstance(stmt, (ast.RunStmt, ast.RequestStmt)):
        ctx.resolve("campaign", stmt.campaign, None)
    elif isinstance(stmt, ast.FireStmt):
        _report(ctx, ctx.trigger_problem(stmt.trigger, None))
    elif isinstance(stmt, ast.ExpectField):
        if ctx.field(stmt.field) is None:
            ctx.error("CL101", f"unknown field '{stmt.field}'", stmt.span,
                      _did_you_mean(stmt.field, ctx.model.field_names()))
    elif isinstance(stmt, ast.ExpectList):
        ctx.resolve("list", stmt.list, None)
    elif isinstance(stmt, ast.ExpectStatus):
        found = ctx.program(stmt.program, stmt.span, None)
        if found is not None:
            _report(ctx, ctx.status_problem(found, stmt.status, stmt.span))
    elif isinstance(stmt, ast.ExpectActivity):
        known = {ast.name_key(t) for t in ACTIVITY_TYPES}
        if ast.name_key(stmt.type) not in known:
            ctx.error("CL101", f"unknown activity type {_q(stmt.type)}", stmt.span,
                      _did_you_mean(stmt.type, ACTIVITY_TYPES, '"'))
        for a in stmt.attributes:
            if ast.name_key(a.name) != "campaign":
                continue
            if isinstance(a.value, ast.Ref):
                ctx.resolve("campaign", a.value, None)
            elif isinstance(a.value, ast.String):
                ctx.resolve("campaign", ast.Ref(None, a.value.value, span=a.value.span), None)


# --------------------------------------------------------------------------
# duplicates: CL102


def check_duplicates(ctx: Context) -> None:
    """Names unique per kind in their scope (§2): programs per workspace;
    campaigns and assets per program; fields; My Tokens per scope;
    statuses and member fields per program; tests per file."""
    for d in ctx.model.duplicates:
        if d.first is d.second:  # a standard field declared again
            ctx.error("CL102", f"field {_q(d.name)} is a standard field", d.second.span,
                      hint="standard fields exist without a declaration; remove this one")
            continue
        scope = {"program": "per workspace", "field": "among person fields"}.get(d.kind, "per program")
        first_name = getattr(d.first, "name", d.name)
        ctx.error("CL102", f"duplicate {d.kind} {_q(d.name)}", d.second.span,
                  hint=f"{d.kind} names are unique {scope}; rename one",
                  related=[Related(f"the first {d.kind} {_q(first_name)} is here", d.first.span)])
    scopes: list[list[ast.TokenDecl]] = []
    for ws in ctx.model.workspaces.values():
        scopes.append(list(ws.tokens))
    for prog in ctx.model.programs:
        scopes.append(prog.tokens)
        _unique_names(ctx, [(n, s.span) for s in prog.node.of(ast.Statuses) for n in s.names], "status")
        _unique_names(ctx, [(n, s.span) for s in prog.node.of(ast.MemberFields) for n in s.names],
                      "member field")
    for folder in _folders(ctx.model):
        scopes.append([t for item in folder.items if isinstance(item, ast.Tokens) for t in item.tokens])
    for decls in scopes:
        first: dict[str, ast.TokenDecl] = {}
        for t in decls:
            key = ast.name_key(t.name)
            if key in first:
                ctx.error("CL102", f"duplicate My Token 'my.{t.name}' in its scope", t.span,
                          hint="each scope declares a token once; the first declaration is used",
                          related=[Related(f"'my.{first[key].name}' is first declared here", first[key].span)])
            else:
                first[key] = t
    for module in ctx.model.modules:
        seen: dict[str, ast.Test] = {}
        for test in module.of(ast.Test):
            if test.name in seen:
                ctx.error("CL102", f"duplicate test {_q(test.name)} in this file", test.span,
                          hint="give each test its own name",
                          related=[Related("the first test of that name is here", seen[test.name].span)])
            else:
                seen[test.name] = test


def _unique_names(ctx: Context, names: list[tuple[str, Span]], what: str) -> None:
    seen: set[str] = set()
    for name, span in names:
        if name in seen:
            ctx.error("CL102", f"duplicate {what} {_q(name)}", span, hint=f"list each {what} once")
        seen.add(name)


def _folders(model: Model) -> Iterator[ast.Folder]:
    stack: list[ast.Node] = [i for m in model.modules for i in m.items]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Folder):
            yield n
            stack.extend(n.items)
        elif isinstance(n, ast.Workspace):
            stack.extend(n.items)


# --------------------------------------------------------------------------
# campaign kinds: CL202, CL203, CL204, CL209, CL502


def check_campaign_kinds(ctx: Context) -> None:
    """What each kind may hold (§3, §6.5): triggers only in trigger
    campaigns, at least one trigger or filter, no wait or webhook in an
    executable, no webhook in a batch; clones (§3) keep those rules."""
    for c in ctx.clones:
        _clone_state(ctx, c)
        _clone_of_triggers(ctx, c)
    for f in ctx.all_facts:
        _kind_smart_list(ctx, f)
        if f.restricted:
            _kind_flow(ctx, f)
    for prog in ctx.model.programs:
        for sl in prog.smart_lists.values():
            for t in sl.triggers:
                ctx.error("CL204", f"trigger in the smart list asset {_q(sl.name)}", t.span,
                          hint="a smart list asset holds filters only; put triggers in a trigger campaign")


def _clone_state(ctx: Context, c: CampaignInfo) -> None:
    clone = c.node.clone
    if clone is None:
        return
    # broken: the source does not resolve, or the chain of clones loops (CL206)
    seen = [c]
    src = ctx.target(clone.source)
    while src is not None and src not in seen and src.node.clone is not None:
        seen.append(src)
        src = ctx.target(src.node.clone.source)
    if src is None or src in seen or c.clone_of is None:
        ctx.broken_clones.add(c.id)


def _clone_of_triggers(ctx: Context, c: CampaignInfo) -> None:
    """§12.2: a campaign whose smart list holds a trigger is never the source
    of an executable's clone, even when the clone states its own smart list
    (Marketo refuses the clone before anything is edited). The inherited case
    is reported by ``_kind_smart_list``, where the triggers show up."""
    src = c.clone_of
    if (c.kind != "executable" or src is None or c.id in ctx.broken_clones
            or c.node.smart_list is None or src.smart_list is None or not src.smart_list.triggers):
        return
    triggers = src.smart_list.triggers
    ctx.error("CL209", f"{c.qualname} clones {src.qualname}, whose smart list holds triggers, "
                       f"into an executable", c.node.clone.span,
              hint="Marketo refuses this clone whatever smart list it states; clone a campaign "
                   "without triggers, or clone into a trigger campaign",
              related=[Related("a trigger of the source", t.span) for t in triggers[:3]])


def _kind_smart_list(ctx: Context, f: Facts) -> None:
    c = f.campaign
    triggers, filters = f.triggers, f.filters
    if f.kind == "trigger" and triggers or f.kind == "batch" and filters and not triggers or (
            f.kind == "executable" and not triggers):
        return  # the common, correct cases
    broken = c.id in ctx.broken_clones
    if c.kind == "trigger" and not triggers and not broken:
        ctx.error("CL502", f"trigger campaign {c.qualname} has no trigger", c.node.span,
                  hint="add a trigger to its smart list, e.g. trigger fills out form \"Contact Us\"")
    if c.kind == "batch" and not filters and not broken:
        ctx.error("CL502", f"batch campaign {c.qualname} has no filter", c.node.span,
                  hint="a batch without filters would reach the whole database; add a filter")
    if c.kind == "trigger" or not triggers:
        return
    origin = ctx.origin(c, "smart_list")
    if origin is not c and c.kind == "executable":
        src = c.clone_of
        ctx.error("CL209", f"{c.qualname} clones {src.qualname}, whose smart list holds triggers, "
                           f"into an executable", c.node.clone.span,
                  hint="give the clone its own smart list of filters, or clone into a trigger campaign",
                  related=[Related("a trigger of the source", t.span) for t in triggers[:3]])
        return
    for t in triggers:
        ctx.error("CL204", f"trigger in the smart list of {c.kind} campaign {c.qualname}", t.span,
                  hint="only trigger campaigns listen for triggers; make it a trigger campaign, or use a filter",
                  related=ctx.inherited(c, "smart_list"))


def _kind_flow(ctx: Context, f: Facts) -> None:
    """Steps the campaign's kind may not hold (CL202 wait in an executable,
    CL203 a webhook outside a trigger campaign): each step's vocabulary
    entry says which kinds may hold it, and the code and hint when one does."""
    c = f.campaign
    note = ctx.inherited(c, "flow")
    for step, entry in f.restricted:
        if c.kind not in entry.campaigns:  # type: ignore[operator]
            code, hint = entry.refusal  # type: ignore[misc]
            ctx.error(code, f"'{entry.words}' in {c.kind} campaign {c.qualname}", step.span,
                      hint=hint, related=note)


# --------------------------------------------------------------------------
# call graph: CL201, CL207, CL208


def check_call_graph(ctx: Context) -> None:
    """Targets of execute and request (§6.3, §6.6), and of run and request
    in tests (§9): the right kind, in the same workspace."""
    facts = ctx.facts
    ctx.graph = graph = build_call_graph(ctx.model, lambda ref, where: ctx.target(ref),
                                         lambda c: (facts[c.id].flow_origin, facts[c.id].calls))
    for e in graph.edges:
        t = e.target
        if t is None:
            continue
        span = e.step.campaign.span  # type: ignore[attr-defined]  # an execute or request step
        verb = "execute" if e.kind == "execute" else "request"
        if e.cross_workspace:
            ctx.error("CL207", f"{_in_workspace(e.caller)} cannot {verb} {_in_workspace(t)}", span,
                      hint=f"{verb} campaign reaches campaigns of its own workspace only")
            continue
        if e.kind == "execute" and t.kind != "executable":
            hint = ("execute campaign runs executables only; use request campaign to start a trigger campaign"
                    if t.kind == "trigger" else
                    "execute campaign runs executables only; make the target executable")
            ctx.error("CL201", f"{t.qualname} is a {t.kind} campaign, not an executable", span, hint)
        elif e.kind == "request":
            _request_target(ctx, t, span, "flow action")
    for test in ctx.model.tests:
        for stmt in test.statements:
            if isinstance(stmt, ast.RunStmt):
                t = ctx.target(stmt.campaign)
                if t is not None and t.kind != "batch":
                    ctx.error("CL201", f"'run' starts batch campaigns; {t.qualname} is a {t.kind} campaign",
                              stmt.campaign.span,
                              hint=("an executable runs only from execute campaign" if t.kind == "executable"
                                    else "start a trigger campaign with fire or request"))
            elif isinstance(stmt, ast.RequestStmt):
                t = ctx.target(stmt.campaign)
                if t is not None:
                    _request_target(ctx, t, stmt.campaign.span, "api")


def _request_target(ctx: Context, t: CampaignInfo, span: Span, source: str) -> None:
    """CL208 unless ``t`` may be requested from ``source`` (flow action, api)."""
    if t.kind != "trigger":
        hint = ("use execute campaign to run an executable" if t.kind == "executable" else
                "make it a trigger campaign with trigger campaign is requested")
        ctx.error("CL208", f"{t.qualname} is {'an' if t.kind == 'executable' else 'a'} {t.kind} campaign, "
                           f"which cannot be requested", span, hint)
        return
    requested = [tr for tr in (t.smart_list.triggers if t.smart_list else ())
                 if tr.kind == "campaign is requested"]
    if not requested:
        ctx.error("CL208", f"{t.qualname} has no 'campaign is requested' trigger", span,
                  hint="add trigger campaign is requested to its smart list")
        return
    admitted = [tr for tr in requested
                if (tr.source or "flow action") in (source, "any")]
    if not admitted:
        sources = ", ".join(sorted({tr.source or "flow action" for tr in requested}))
        ctx.error("CL208", f"{t.qualname} is requested only from {sources}, not from {source}", span,
                  hint=f"add trigger campaign is requested from {source}, or from any")
        return
    if not t.active:
        ctx.error("CL208", f"{t.qualname} is inactive", span,
                  hint=f"make it active: campaign {_q(t.name)} trigger, without 'inactive'")


# --------------------------------------------------------------------------
# depth and cycles: CL205, CL206


def check_depth_and_cycles(ctx: Context) -> None:
    """§6.4: at most three levels below the campaign that starts the run,
    over every branch of every choice; no cycle of executions (and no clone
    cycle)."""
    graph = ctx.graph
    assert graph is not None
    for comp in graph.components:
        cycle = find_cycle(graph, comp)
        if not cycle:  # pragma: no cover
            continue
        names = [cycle[0].caller.qualname] + [e.target.qualname for e in cycle]
        related = [Related(f"{e.caller.qualname} executes {e.target.qualname}", e.step.span)
                   for e in cycle[1:]]
        if len(cycle) == 1:
            message = f"execution cycle: {cycle[0].caller.qualname} executes itself"
        else:
            message = "execution cycle: " + " > ".join(names)
        ctx.error("CL206", message, cycle[0].step.span,
                  hint="a run cannot execute a campaign it is already running; "
                       "use request campaign to start it as a separate run",
                  related=related)
    _, too_deep = reach(graph)
    for edge, chain in too_deep:
        root = chain[0].caller if chain else edge.caller
        names = [root.qualname] + [e.target.qualname for e in chain] + [edge.target.qualname]
        starts = "starts the run" if root.kind != "executable" else "is measured from itself (nothing executes it)"
        related = [Related(f"{root.qualname} {starts}", root.node.span)]
        related += [Related(f"level {i}: {e.caller.qualname} executes {e.target.qualname}", e.step.span)
                    for i, e in enumerate(chain, 1)]
        ctx.error("CL205", f"execution chain deeper than three levels: {' > '.join(names)}",
                  edge.step.span,
                  hint=f"this step runs {edge.target.qualname} at level {MAX_DEPTH + 1}; a run reaches at most "
                       f"{MAX_DEPTH} levels below its start: flatten the chain, or request a campaign",
                  related=related)
    _clone_cycles(ctx)


def _clone_cycles(ctx: Context) -> None:
    for c in ctx.clones:
        chain = [c]
        node = ctx.target(c.node.clone.source)
        while node is not None and node not in chain:
            chain.append(node)
            nxt = node.node.clone
            node = ctx.target(nxt.source) if nxt is not None else None
        if node is not c or min(x.id for x in chain) != c.id:
            continue
        if len(chain) == 1:
            ctx.error("CL206", f"clone cycle: {c.qualname} clones itself", c.node.clone.span,
                      hint="clone another campaign, or remove the clone line")
        else:
            names = " > ".join(x.qualname for x in chain + [c])
            ctx.error("CL206", f"clone cycle: {names}", c.node.clone.span,
                      hint="a campaign cannot start as a copy of itself; remove one clone line",
                      related=[Related(f"{x.qualname} clones the next", x.node.clone.span) for x in chain[1:]])


# --------------------------------------------------------------------------
# tokens: CL401, CL402


def campaign_tokens(ctx: Context, f: Facts) -> Iterator[tuple[ast.TokenRef, list[Related]]]:
    """Every token a run of ``c`` renders: in its effective flow (choice
    branches included, conditions not: those are CL301) and in the emails and
    webhooks its steps use; each with notes saying how it is reached. Steps
    the campaign's kind forbids (CL202, CL203) are skipped."""
    c = f.campaign
    note = ctx.inherited(c, "flow")
    for step in f.steps:
        toks = ctx.tokens(step)
        if not toks:
            continue
        if _refused(f.kind, step):   # CL202, CL203
            continue
        for tok in toks:
            yield tok, note
    for step in f.sends:
        if isinstance(step, ast.CallWebhook):
            if _refused(f.kind, step):   # CL203
                continue
            asset = ctx.target(step.webhook)
            how = "called"
        else:
            asset = ctx.target(step.email)  # type: ignore[attr-defined]  # send email, send alert
            how = "sent"
        if asset is None:
            # a step inherited from a clone source written later in the file
            # is resolved on first use, where it is written
            kind = "webhook" if how == "called" else "email"
            ref = step.webhook if how == "called" else step.email  # type: ignore[attr-defined]
            asset = ctx.resolve(kind, ref, f.flow_origin.program, report=False)
        if asset is not None:
            via = [Related(f"{how} by {c.qualname} here", step.span)]
            parts = ((asset.subject, asset.sender, asset.body) if isinstance(asset, ast.Email)
                     else (asset.url, asset.payload))
            for part in parts:
                if part is not None:
                    for tok in ctx.tokens(part):
                        yield tok, via


def check_tokens(ctx: Context) -> None:
    """§7: every My Token is defined in every context a run can give it; a
    trigger token needs a run started by a trigger."""
    graph = ctx.graph
    assert graph is not None
    needed = {k for f in ctx.all_facts for t, k, _ in f.uses if t.namespace == "my"}
    order = graph.topological()
    in_cycle = {c.id for comp in graph.components for c in comp}
    guaranteed: dict[int, set[str]] = {}
    triggered: dict[int, bool] = {}
    by_program: dict[int, set[str]] = {}   # the My Tokens of ``needed`` a program's scope defines
    for c in order:
        own = by_program.get(c.program.id)
        if own is None:
            own = by_program[c.program.id] = _defined(ctx, c, needed)
        trig = c.kind == "trigger"
        if c.kind == "executable":
            callers = graph.acyclic_callers(c)
            if c.id in in_cycle:
                own = set(needed)     # the cycle is the mistake (CL206)
                trig = True
            elif callers and all(e.parent_context for e in callers):
                # what every caller guarantees (each a set of ``needed``'s
                # names): not ``needed`` copied per executable, which was
                # quadratic when programs name their tokens apart
                inherited = set.intersection(*(guaranteed[e.caller.id] for e in callers))
                own = own | inherited
            trig = trig or any(e.parent_context and triggered[e.caller.id] for e in callers)
        guaranteed[c.id] = own
        triggered[c.id] = trig
    ctx.guaranteed = guaranteed
    for f in ctx.all_facts:
        c = f.campaign
        for tok, key, notes in f.uses:
            if tok.namespace == "my" and key not in guaranteed[c.id]:
                _undefined_token(ctx, c, tok, notes)
            elif tok.namespace == "trigger" and not triggered[c.id]:
                if c.kind == "batch":
                    hint = f"{c.qualname} is a batch campaign; only runs started by a trigger have trigger tokens"
                else:
                    hint = (f"no run started by a trigger reaches {c.qualname} with parent token context; "
                            "only such runs have trigger tokens")
                ctx.warning("CL402", f"trigger token '{tok.text}' can have no value here", tok.span,
                            hint=hint, related=notes)
    _api_tokens(ctx)
    check_token_expansion(ctx)


def _defined(ctx: Context, c: CampaignInfo, keys: set[str]) -> set[str]:
    """The My Tokens of ``keys`` (name keys) that ``c``'s own scope defines:
    each key looked up, or, when the scope holds fewer names than ``keys``,
    each name of the scope looked for among them (asking every program for
    every token name the file uses was quadratic in a file whose programs
    name their tokens apart: 7.7 s to check 1 MB)."""
    layers = ctx.env(c).layers
    if len(keys) <= sum(len(layer.bindings) for layer in layers):
        return {k for k in keys if ctx.lookup(c, k) is not None}
    return {k for layer in layers for k in layer.bindings if k in keys}


def check_token_expansion(ctx: Context) -> None:
    """A My Token whose value refers back to itself (CL404, a warning); one
    whose nested references expand past the run-time caps (CL405): longer
    than ``MAX_RENDERED_CHARS`` characters, or more than
    ``MAX_TOKEN_EXPANSIONS`` My Tokens inside it. Both are computed in each
    program's lexical scope, where its campaigns render them; a person's or
    trigger's value counts as its ``:default=`` text (its length is not known
    statically). Only the innermost token past a cap is reported."""
    for prog in ctx.model.programs:
        env = ctx.program_env(prog)
        visible: dict[str, Binding] = {}
        for layer in env.layers:
            for key, binding in layer.bindings.items():
                visible.setdefault(key, binding)
        if not visible:
            continue
        sizer = _ExpansionSizes(ctx, env)
        sizes = sizer.sizes
        # in name order (``Environment.visible``), so a cycle is reported at the same token
        for key, binding in sorted(visible.items(), key=lambda kb: kb[1].name.casefold()):
            if key in sizes:
                continue
            if _value_refs(binding.value):
                sizer.ref_size(ast.TokenRef("my", binding.name))
            else:   # a plain value: its own length (ref_size's answer, without the walk)
                size = sizes[key] = sizer.size_of(binding.value)
                if size[0] > MAX_RENDERED_CHARS and binding.node is not None and binding.node.span is not None:
                    sizer.too_long(binding)


class _ExpansionSizes:
    """The expanded size of each My Token of one program's scope
    (``check_token_expansion``). A small object rather than two nested
    functions calling each other: such closures form a reference cycle that
    would keep the whole checker context alive until the next full garbage
    collection."""

    __slots__ = ("ctx", "env", "sizes", "stack")

    def __init__(self, ctx: Context, env: Environment):
        self.ctx = ctx
        self.env = env
        self.sizes: dict[str, tuple[int, int]] = {}     # key -> (characters, expansions)
        self.stack: list[str] = []

    def size_of(self, value: Any) -> tuple[int, int]:
        cap, most = MAX_RENDERED_CHARS, MAX_TOKEN_EXPANSIONS
        refs = _value_refs(value)
        if not refs:
            if isinstance(value, ast.String):
                return len(value.value), 0
            span = getattr(value, "span", None)
            return (span.end - span.start if span is not None else 0), 0
        chars = sum(len(p) for p in value.parts if isinstance(p, str)) if isinstance(value, ast.Template) else 0
        count = 0
        for ref in refs:
            c, n = self.ref_size(ref)
            chars, count = min(chars + c, cap + 1), min(count + n + (ref.namespace == "my"), most + 1)
        return chars, count

    def ref_size(self, ref: ast.TokenRef) -> tuple[int, int]:
        cap, most = MAX_RENDERED_CHARS, MAX_TOKEN_EXPANSIONS
        ctx, env, sizes, stack = self.ctx, self.env, self.sizes, self.stack
        if ref.namespace != "my":
            return len(ref.default or ""), 0
        key = ast.name_key(ref.name)
        if key in sizes:
            return sizes[key]
        found = env.lookup(ref.name)
        if found is None:
            return len(ref.default or ""), 0   # CL401 says it
        binding = found[0]
        if key in stack:
            chain = [*stack[stack.index(key):], key]
            node = binding.node
            if node is not None and node.span is not None:
                names = " -> ".join(f"my.{env.lookup(k)[0].name}" for k in chain)   # type: ignore[index]
                what = "itself" if len(chain) == 2 else f"itself through {names}"
                ctx.warning("CL404", f"My Token 'my.{binding.name}' refers to {what}", node.span,
                            hint="a run expands the reference back a few levels deep, then renders it blank; "
                                 "define the token without it")
            return 0, 0
        stack.append(key)
        try:
            size = self.size_of(binding.value)
        finally:
            stack.pop()
        sizes[key] = size
        node = binding.node
        if node is not None and node.span is not None:
            inner = [sizes.get(ast.name_key(t.name), (0, 0)) for t in _value_refs(binding.value)
                     if t.namespace == "my"]
            if size[0] > cap and not any(c > cap for c, _ in inner):
                self.too_long(binding)
            elif size[1] > most and size[0] <= cap and not any(n > most for _, n in inner):
                ctx.error("CL405", f"My Token 'my.{binding.name}' expands more than {most:,} "
                          "My Tokens nested inside it", node.span,
                          hint="the My Tokens it refers to are repeated inside each other; "
                          "a run would stop here with an Error activity")
        return size

    def too_long(self, binding: Binding) -> None:
        self.ctx.error("CL405", f"My Token 'my.{binding.name}' expands to more than {MAX_RENDERED_CHARS:,} "
                       "characters", binding.node.span,
                       hint="the My Tokens it refers to are repeated inside each other; "
                       "a run would stop here with an Error activity")


def _value_refs(value: Any) -> tuple[ast.TokenRef, ...]:
    if isinstance(value, ast.Template):
        return value.tokens
    if isinstance(value, ast.TokenRef):
        return (value,)
    return ()


def _undefined_token(ctx: Context, c: CampaignInfo, tok: ast.TokenRef, notes: list[Related]) -> None:
    graph = ctx.graph
    assert graph is not None
    key = ast.name_key(tok.name)
    related = list(notes)
    env = ctx.env(c)
    where = f'declare it in tokens {{ }} of program {_q(c.program.name)}, or a folder or workspace around it'
    if c.kind == "executable":
        callers = graph.acyclic_callers(c)
        if not callers:
            where += f"; nothing executes {c.qualname} with parent token context"
        for e in callers:
            if not e.parent_context:
                related.append(Related(f"{e.caller.qualname} executes it without parent token context",
                                       e.step.span))
            elif key not in ctx.guaranteed[e.caller.id]:
                related.append(Related(f"{e.caller.qualname} executes it with parent token context, "
                                       f"and its scope lacks 'my.{tok.name}'", e.step.span))
        related = related[:6]
    hint = _did_you_mean(tok.name, env.names(), prefix="my.") or where
    ctx.error("CL401", f"My Token 'my.{tok.name}' is defined nowhere in scope", tok.span,
              hint=hint, related=related)


def _api_tokens(ctx: Context) -> None:
    """§7: a token passed by run or request must be one the campaign sees."""
    for test in ctx.model.tests:
        for stmt in test.statements:
            if not isinstance(stmt, (ast.RunStmt, ast.RequestStmt)):
                continue
            t = ctx.target(stmt.campaign)
            if t is None:
                continue
            env = ctx.env(t)
            for decl in stmt.tokens:
                if env.lookup(decl.name) is None:
                    ctx.error("CL401", f"My Token 'my.{decl.name}' is defined nowhere in the scope of {t.qualname}",
                              decl.span,
                              hint=(_did_you_mean(decl.name, env.names(), prefix="my.") or
                                    "a run or request may override only tokens the campaign can see"))


# --------------------------------------------------------------------------
# types: CL301, CL403


class _Declarations:
    """Which declarations can give a My Token its value in a run of each
    campaign: its own scope's, and through ``use parent token context`` its
    callers' (computed per token name, callers first)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.cache: dict[str, dict[int, list[Binding]]] = {}
        self.order: dict[int, int] = {}   # campaign id -> its place in the graph's topological order

    def of(self, c: CampaignInfo, name: str) -> list[Binding]:
        key = ast.name_key(name)
        table = self.cache.get(key)
        if table is None:
            table = self.cache[key] = {}
        if c.id not in table:
            self._compute(key, c, table)
        return table.get(c.id, [])

    def _compute(self, key: str, start: CampaignInfo, out: dict[int, list[Binding]]) -> None:
        """``out`` for ``start`` and the campaigns whose declarations can
        reach it (its callers through ``use parent token context``, theirs,
        ...), callers first. Only those: every campaign for every token name
        was quadratic in a file whose programs name their tokens apart."""
        ctx = self.ctx
        graph = ctx.graph
        assert graph is not None
        if not self.order:
            self.order = {c.id: i for i, c in enumerate(graph.topological())}
        if start.id not in self.order:
            return
        reach = {start.id: start}
        todo = [start]
        while todo:
            cur = todo.pop()
            for e in graph.acyclic_callers(cur) if cur.kind == "executable" else ():
                if e.caller.id not in reach and e.caller.id not in out and e.caller.id in self.order:
                    reach[e.caller.id] = e.caller
                    todo.append(e.caller)
        for c in sorted(reach.values(), key=lambda c: self.order[c.id]):
            found = ctx.lookup(c, key)
            own = found[0] if found else None
            result: list[Binding] = []
            callers = graph.acyclic_callers(c) if c.kind == "executable" else []
            use_own = not callers
            for e in callers:
                if not e.parent_context:
                    use_own = True
                    continue
                result.extend(out.get(e.caller.id, []))
                if key not in ctx.guaranteed.get(e.caller.id, set()):
                    use_own = True
            if use_own and own is not None:
                result.append(own)
            seen: set[int] = set()
            out[c.id] = [b for b in result if not (id(b.node) in seen or seen.add(id(b.node)))]  # type: ignore[func-returns-value]


def check_types(ctx: Context) -> None:
    """§1, §5, §7: score changes, values of steps against field types, date
    tokens in waits; choices (§5): no choice on wait, no token in a
    condition, condition values of the field's type."""
    decls = _Declarations(ctx)
    for choice, where in ctx.written_choices:   # as written: conditions resolve there
        _types_choice(ctx, choice, where)
    for f in ctx.all_facts:
        if f.typed:
            c = f.campaign
            note = ctx.inherited(c, "flow")
            for step in f.typed:
                _types_step(ctx, c, step, decls, note)
    for test in ctx.model.tests:
        for stmt in test.statements:
            if isinstance(stmt, ast.PersonStmt):
                for a in stmt.fields:
                    found = ctx.field(a.name)
                    if found and not isinstance(a.value, ast.Null) and not _literal_fits(a.value, found[1]):
                        ctx.error("CL403", f"{_describe(a.value)} where the {found[1]} field "
                                           f"{_field_text(found[0])} needs {_NEEDS[found[1]]}", a.value.span)
            elif isinstance(stmt, ast.ExpectField) and stmt.value is not None:
                found = ctx.field(stmt.field)
                if found and not isinstance(stmt.value, ast.Null) and not _literal_fits(stmt.value, found[1]):
                    ctx.error("CL403", f"{_describe(stmt.value)} where the {found[1]} field "
                                       f"{_field_text(found[0])} needs {_NEEDS[found[1]]}", stmt.value.span)
            elif isinstance(stmt, ast.FireStmt):
                p = ctx.trigger_problem(stmt.trigger, None)
                if p is not None and p.kind == "type":
                    ctx.error("CL403", p.message, p.span, p.hint)


def _types_choice(ctx: Context, choice: ast.Choice, where: ProgramInfo | None) -> None:
    if choice.kind == "wait":
        ctx.error("CL301", "'wait' cannot be written as a choice", choice.span,
                  hint="wait the same time for everyone, or request a campaign per branch that waits")
    for b in choice.branches:
        if b.condition is None:
            continue
        toks = list(tokens_in(b.condition))
        for tok in toks:
            ctx.error("CL301", f"token '{tok.text}' in a choice condition", tok.span,
                      hint="a condition compares with literal values only, as in Marketo")
        p = ctx.filter_problem(b.condition, where, in_smart_list=False)
        if p is not None and p.kind == "type":
            ctx.error("CL403", p.message, p.span, p.hint)


def _types_step(ctx: Context, c: CampaignInfo, step: ast.Node, decls: _Declarations,
                note: list[Related]) -> None:
    if isinstance(step, ast.ChangeScore):
        ftype = ctx.field_type(step.field)
        if ftype is None:
            return
        if ftype != "score":
            ctx.error("CL403", f"{_field_text(step.field.name)} is a {ftype} field, not a score field",
                      step.field.span, hint="change score works on score fields; use change data value",
                      related=note)
            return
        v = step.change
        if _is_score_change(v):
            return
        if isinstance(v, ast.TokenRef):
            if v.namespace == "my":
                for b in decls.of(c, v.name):
                    if not _is_score_change(b.value):
                        ctx.error("CL403", f"My Token '{v.text}' is {_token_type(b.value)}, not a score change",
                                  v.span, hint="declare it as +N, -N, =N or =-N",
                                  related=[Related(f"'my.{b.name}' is declared here", b.node.span)] + note)
                        return
            return
        if isinstance(v, ast.Number) and isinstance(v.value, int):
            ctx.error("CL403", f"the bare number {v.value} is not a score change", v.span,
                      hint=f"write +{v.value} to add or ={v.value} to set", related=note)
            return
        ctx.error("CL403", f"{_describe(v)} is not a score change", v.span,
                  hint="write +10 to add, -5 to subtract, =20 or =-3 to set", related=note)
    elif isinstance(step, ast.ChangeDataValue):
        ftype = ctx.field_type(step.field)
        if ftype is None:
            return
        _types_value(ctx, c, step.value, ftype, step.field.name, decls, note)
    elif isinstance(step, ast.Wait) and step.until is not None:
        v = step.until
        if _refused(c.kind, step):
            return  # CL202 already
        if _has_tokens(v):
            if c.kind == "batch":
                ctx.error("CL403", "a date token in a batch wait", v.span,
                          hint="a batch campaign waits until a fixed date-time; date tokens work in "
                               "trigger campaigns", related=note)
                return
            if isinstance(v, ast.TokenRef):
                _types_date_token(ctx, c, v, decls, note)
            else:
                ctx.error("CL403", "'wait until' needs a date-time, not a text", v.span,
                          hint="write a date-time like 2026-12-01T09:00 or a date token", related=note)
        elif not isinstance(v, (ast.Date, ast.DateTime)):
            ctx.error("CL403", f"{_describe(v)} where 'wait until' needs a date-time", v.span,
                      hint="write a date-time like 2026-12-01T09:00", related=note)
    elif isinstance(step, ast.InterestingMoment):
        _types_text(ctx, step.description, "an interesting moment's description", note)
    elif isinstance(step, ast.SendAlert):
        for r in step.recipients:
            _types_text(ctx, r, "an alert's recipient", note)


def _types_text(ctx: Context, v: ast.Node, what: str, note: list[Related]) -> None:
    if not isinstance(v, (ast.String, ast.Template, ast.TokenRef)):
        ctx.error("CL403", f"{_describe(v)} where {what} needs text", v.span,
                  hint="write it in double quotes", related=note)


def _types_date_token(ctx: Context, c: CampaignInfo, v: ast.TokenRef, decls: _Declarations,
                      note: list[Related]) -> None:
    if v.namespace == "my":
        for b in decls.of(c, v.name):
            if _token_type(b.value) != "date":
                ctx.error("CL403", f"My Token '{v.text}' is {_token_type(b.value)}, not a date", v.span,
                          hint="'wait until' needs a date token",
                          related=[Related(f"'my.{b.name}' is declared here", b.node.span)] + note)
                return
    elif v.namespace == "lead":
        found = ctx.field(v.name)
        if found and found[1] not in ("date", "datetime"):
            ctx.error("CL403", f"{_field_text(found[0])} is a {found[1]} field, not a date", v.span,
                      hint="'wait until' needs a date or datetime field", related=note)


def _value_ok(v: ast.Node, ftype: str) -> bool:
    """A literal value of ``change data value`` against the field type."""
    if isinstance(v, ast.Null):
        return True
    if ftype in TYPES and TYPES[ftype].family == "text":
        return isinstance(v, (ast.String, ast.Template))
    if ftype in TYPES and TYPES[ftype].whole:
        return isinstance(v, ast.Number) and isinstance(v.value, int)
    return _literal_fits(v, ftype)


_TOKEN_FITS = {name: t.token_fits for name, t in TYPES.items()}
_FIELD_FITS = {name: t.field_fits for name, t in TYPES.items()}


def _types_value(ctx: Context, c: CampaignInfo, v: ast.Node, ftype: str, fname: str,
                 decls: _Declarations, note: list[Related]) -> None:
    where = f"the {ftype} field {_field_text(fname)}"
    if isinstance(v, ast.TokenRef):
        if v.namespace == "my":
            for b in decls.of(c, v.name):
                t = _token_type(b.value)
                ok = t in _TOKEN_FITS[ftype] and not (
                    t == "number" and ftype in ("integer", "score") and not isinstance(b.value.value, int))
                if not ok:
                    ctx.error("CL403", f"My Token '{v.text}' is {t}, where {where} needs {_NEEDS[ftype]}",
                              v.span, related=[Related(f"'my.{b.name}' is declared here", b.node.span)] + note)
                    return
        elif v.namespace == "lead":
            found = ctx.field(v.name)
            fits = _FIELD_FITS[ftype]
            if found and fits is not None and found[1] not in fits:
                ctx.error("CL403", f"the {found[1]} field {_field_text(found[0])} where {where} "
                                   f"needs {_NEEDS[ftype]}", v.span, related=note)
        return
    if isinstance(v, ast.Template) and ftype not in ("text", "email"):
        ctx.error("CL403", f"a text with tokens where {where} needs {_NEEDS[ftype]}", v.span, related=note)
        return
    if not _value_ok(v, ftype):
        hint = None
        if isinstance(v, ast.ScoreChange):
            hint = "to change a score, use change score"
        elif isinstance(v, ast.Number) and ftype in ("text", "email"):
            hint = f'write "{v.value}"'
        ctx.error("CL403", f"{_describe(v)} where {where} needs {_NEEDS[ftype]}", v.span,
                  hint=hint, related=note)


# --------------------------------------------------------------------------
# smart lists: CL501, CL503, CL504


def check_smart_lists(ctx: Context) -> None:
    """§4: every filter and trigger of every smart list names things that
    exist with values of the right type; advanced logic is well formed;
    no smart list includes itself."""
    for f in ctx.all_facts:
        c = f.campaign
        where = f.sl_origin.program
        for member in f.members:
            if isinstance(member, ast.Trigger):
                if f.kind != "trigger":
                    continue  # CL204
                p = ctx.trigger_problem(member, where)
            else:
                p = ctx.filter_problem(member, where, in_smart_list=True)
            if p is not None:
                hint = p.hint
                if f.kind == "executable":
                    tail = "an executable with an invalid smart list runs and qualifies nobody"
                    hint = f"{hint}; {tail}" if hint else tail
                report = ctx.warning if f.kind == "executable" else ctx.error
                report("CL501", f"invalid smart list: {p.message}", p.span, hint=hint,
                       related=ctx.inherited(c, "smart_list"))
        if f.advanced is not None:
            _logic(ctx, f.advanced, ctx.inherited(c, "smart_list"))
    for prog in ctx.model.programs:
        for sl in prog.smart_lists.values():
            for member in sl.filters:
                p = ctx.filter_problem(member, prog, in_smart_list=True)
                if p is not None:
                    ctx.error("CL501", f"invalid smart list {_q(sl.name)}: {p.message}", p.span, hint=p.hint)
            _logic(ctx, sl, [])
    _self_inclusion(ctx)


@functools.lru_cache(maxsize=1024)
def logic_problem(expression: str, count: int) -> tuple[str, str | None] | None:
    """What is wrong with an advanced logic expression over ``count``
    filters, as (message, hint), or None: ``logic.parse_logic`` in the
    language's grammar (``strict``). Remembered per (expression, count):
    programs repeat a few expressions over many smart lists."""
    try:
        parse_logic(expression, count, strict=True)
    except LogicError as exc:
        return exc.message, exc.hint
    return None


def _logic(ctx: Context, sl: ast.SmartList, note: list[Related]) -> None:
    if sl.logic != "advanced":
        return
    p = logic_problem(sl.expression or "", len(sl.filters))
    if p is None:
        return
    ctx.error("CL503", p[0], sl.expression_span or sl.span, hint=p[1], related=note)


def _self_inclusion(ctx: Context) -> None:
    """CL504: ``member of smart list`` cycles among smart list assets."""
    assets: dict[int, tuple[ast.SmartList, ProgramInfo]] = {}
    for prog in ctx.model.programs:
        for sl in prog.smart_lists.values():
            assets[id(sl)] = (sl, prog)
    succ: dict[int, list[int]] = {}
    via: dict[tuple[int, int], ast.SmartListFilter] = {}
    for key, (sl, _prog) in assets.items():
        for f in sl.filters:
            if isinstance(f, ast.SmartListFilter):
                target = ctx.target(f.smart_list)
                if target is not None and id(target) in assets:
                    succ.setdefault(key, []).append(id(target))
                    via.setdefault((key, id(target)), f)
    _inclusion_chains(ctx, assets, succ, via)
    for comp in strongly_connected(list(assets), succ):
        if len(comp) == 1 and comp[0] not in succ.get(comp[0], ()):
            continue
        start = comp[0]
        path = _cycle_through(start, set(comp), succ)
        edges = [(path[k], path[(k + 1) % len(path)]) for k in range(len(path))]
        first = via[edges[-1]]
        name = lambda k: _q(assets[k][0].name)  # noqa: E731
        if len(path) == 1:
            ctx.error("CL504", f"smart list {name(start)} includes itself", first.span,
                      hint="a smart list cannot be a member of itself")
        else:
            chain = " > ".join(name(k) for k in path + [start])
            ctx.error("CL504", f"smart list {name(start)} includes itself: {chain}", via[edges[0]].span,
                      hint="break the cycle of member of smart list filters",
                      related=[Related(f"{name(a)} includes {name(b)}", via[(a, b)].span) for a, b in edges[1:]])


#: how long a chain of ``member of smart list`` links may be: each link is a
#: level of the engine's evaluation (Python frames, nested SQL), and past a
#: few hundred a run would exhaust them; the checker refuses the chain (CL505)
MAX_SMART_LIST_CHAIN = 100


def _inclusion_chains(ctx: Context, assets: Mapping[int, tuple[ast.SmartList, ProgramInfo]],
                      succ: Mapping[int, list[int]], via: Mapping[tuple[int, int], ast.SmartListFilter]) -> None:
    """CL505: a smart list reached through more than ``MAX_SMART_LIST_CHAIN``
    ``member of smart list`` links, reported once, at the link that crosses
    the limit. Iterative, so a chain of any length is measured."""
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    for root in assets:
        if root in depth:
            continue
        stack = [(root, iter(succ.get(root, ())))]
        on_path.add(root)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(node)
                best = max((depth.get(c, 0) for c in succ.get(node, ()) if c not in on_path), default=0)
                depth[node] = best + 1
                if depth[node] == MAX_SMART_LIST_CHAIN + 1:
                    deepest = max(succ[node], key=lambda c: depth.get(c, 0))
                    ctx.error("CL505", f"smart list {_q(assets[node][0].name)} includes a chain of more than "
                              f"{MAX_SMART_LIST_CHAIN} smart lists through 'member of smart list'",
                              via[(node, deepest)].span,
                              hint="name the filters of a smart list further down the chain directly")
                continue
            if child in depth or child in on_path:   # done, or a cycle (CL504)
                continue
            on_path.add(child)
            stack.append((child, iter(succ.get(child, ()))))


def _cycle_through(start: int, members: set[int], succ: Mapping[int, list[int]]) -> list[int]:
    """The shortest cycle through ``start`` within one strongly connected
    component (breadth first): its nodes from ``start`` on."""
    prev: dict[int, int] = {}
    queue = deque([start])
    end = None
    while queue and end is None:
        n = queue.popleft()
        for t in succ.get(n, ()):
            if t == start:
                end = n
                break
            if t in members and t not in prev and t != start:
                prev[t] = n
                queue.append(t)
    back = []
    node = end
    while node is not None and node != start:
        back.append(node)
        node = prev.get(node)
    return [start, *reversed(back)]


# --------------------------------------------------------------------------
# reachability: CL601, CL602


def check_reachability(ctx: Context) -> None:
    """Dead code and loops: a choice branch whose condition repeats an
    earlier one, an executable nothing executes (§3); campaigns whose steps
    fire each other's triggers (§8)."""
    m = ctx.model
    for choice, _where in ctx.written_choices:
        _dead_branches(ctx, choice)
    # Any execute or request naming it counts (an invalid one is its own
    # finding, CL201/CL207/CL208: no second one here).
    targets = {id(ctx.target(step.campaign)) for step in ctx.written_calls}  # type: ignore[attr-defined]
    targets |= {id(ctx.target(stmt.campaign)) for test in m.tests for stmt in test.statements
                if isinstance(stmt, ast.RequestStmt)}
    for f in ctx.all_facts:
        c = f.campaign
        if f.kind == "executable" and id(c) not in targets:
            ctx.warning("CL601", f"executable {c.qualname} is never executed", c.node.span,
                        hint="an executable runs only from execute campaign; execute it from a flow, "
                             "or remove it")
    _trigger_cycles(ctx)


def _dead_branches(ctx: Context, choice: ast.Choice) -> None:
    # conditions are hashable nodes (spans aside): one dict lookup a branch
    earlier: dict[ast.Node, ast.Branch] = {}
    for b in choice.branches:
        if b.condition is None:
            continue
        same = earlier.get(b.condition)
        if same is not None:
            ctx.warning("CL601", "this branch can never run: an earlier branch has the same condition",
                        b.span, hint="change its condition or remove it",
                        related=[Related("the earlier branch", same.span)])
        else:
            earlier[b.condition] = b


def _fired_events(ctx: Context, c: CampaignInfo) -> Iterator[tuple[ast.Node, tuple]]:
    """The trigger events a run of ``c`` can fire, each with its step: its
    own steps' and those of the executables it runs (inline, §6.1)."""
    graph = ctx.graph
    assert graph is not None
    seen = {c.id}
    todo = [c]
    while todo:
        cur = todo.pop()
        where = ctx.origin(cur, "flow").program
        for step in ctx.facts[cur.id].steps:
            if isinstance(step, ast.ChangeDataValue):
                yield step, ("data value changes", ast.name_key(step.field.name), step.value)
            elif isinstance(step, ast.ChangeScore):
                yield step, ("score is changed", ast.name_key(step.field.name), None)
            elif isinstance(step, (ast.AddToList, ast.RemoveFromList)):
                target = ctx.target(step.list)
                if target is not None:
                    kind = "added to list" if isinstance(step, ast.AddToList) else "removed from list"
                    yield step, (kind, id(target), None)
            elif isinstance(step, ast.ChangeProgramStatus):
                prog = ctx.model.find_program(step.program, where.workspace).found
                if prog is not None:
                    yield step, ("program status is changed", id(prog), step.status)
            elif isinstance(step, ast.RequestCampaign):
                target = ctx.target(step.campaign)
                if target is not None:
                    yield step, ("campaign is requested", id(target), None)
        for e in graph.executes(cur):
            if e.target.id not in seen:
                seen.add(e.target.id)
                todo.append(e.target)


def _same_literal(a: ast.Node | None, b: ast.Node | None) -> bool:
    """Could a step writing ``a`` fire a trigger expecting ``b``?"""
    if a is None or b is None:
        return True
    va, vb = getattr(a, "value", None), getattr(b, "value", None)
    if isinstance(a, ast.String) and isinstance(b, ast.String):
        return va.casefold() == vb.casefold()
    if type(a) is type(b) and va is not None:
        return va == vb
    return True


def _listens(ctx: Context, t: CampaignInfo, event: tuple) -> bool:
    kind, key, value = event
    where = ctx.origin(t, "smart_list").program
    for tr in t.smart_list.triggers if t.smart_list else ():
        if tr.kind != kind:
            continue
        if kind in ("data value changes", "score is changed"):
            if tr.field is not None and ast.name_key(tr.field.name) == key and (
                    kind != "data value changes" or _same_literal(value, tr.to)):
                return True
        elif kind in ("added to list", "removed from list"):
            if tr.target is not None and id(ctx.target(tr.target)) == key:
                return True
        elif kind == "program status is changed":
            if tr.target is None:
                continue
            prog = ctx.model.find_program(tr.target.name, where.workspace).found
            if prog is not None and id(prog) == key and (
                    tr.to is None or not isinstance(tr.to, ast.String) or tr.to.value == value):
                return True
        elif kind == "campaign is requested":
            if id(t) == key and (tr.source or "flow action") in ("flow action", "any"):
                return True
    return False


def _trigger_cycles(ctx: Context) -> None:
    """CL602: trigger campaigns that fire each other's triggers, every one of
    them qualifying every time (otherwise the rule stops the loop)."""
    listeners = [f.campaign for f in ctx.all_facts if f.kind == "trigger" and f.triggers
                 and f.campaign.active and f.campaign.rule.rule == "every time"]
    if not listeners:
        return
    by_kind: dict[str, list[CampaignInfo]] = {}
    for t in listeners:
        for tr in t.smart_list.triggers:
            by_kind.setdefault(tr.kind, [])
            if t not in by_kind[tr.kind]:
                by_kind[tr.kind].append(t)
    succ: dict[int, list[int]] = {}
    via: dict[tuple[int, int], ast.Node] = {}
    by_id = {c.id: c for c in listeners}
    for c in listeners:
        for step, event in _fired_events(ctx, c):
            for t in by_kind.get(event[0], ()):
                if (c.id, t.id) in via or not _listens(ctx, t, event):
                    continue
                via[(c.id, t.id)] = step
                succ.setdefault(c.id, []).append(t.id)
    for comp in strongly_connected([c.id for c in listeners], succ):
        if len(comp) == 1 and comp[0] not in succ.get(comp[0], ()):
            continue
        start = min(comp)
        path = _cycle_through(start, set(comp), succ)
        edges = [(path[k], path[(k + 1) % len(path)]) for k in range(len(path))]
        names = " > ".join(by_id[k].qualname for k in path + [start])
        ctx.warning("CL602", f"trigger cycle: {names}", via[edges[0]].span,
                    hint="each run fires the next campaign's trigger again; qualify once, or a filter that "
                         "leaves out people already handled, stops the loop",
                    related=[Related(f"{by_id[a].qualname} fires a trigger of {by_id[b].qualname}", via[(a, b)].span)
                             for a, b in edges[1:]])


#: the named checks in the order ``check`` runs them: (title, function, the codes it owns)
CHECKS: tuple[tuple[str, Callable[[Context], None], tuple[str, ...]], ...] = (
    ("resolve names", check_names, ("CL101", "CL103")),
    ("duplicates", check_duplicates, ("CL102",)),
    ("campaign kinds", check_campaign_kinds, ("CL202", "CL203", "CL204", "CL209", "CL502")),
    ("call graph", check_call_graph, ("CL201", "CL207", "CL208")),
    ("depth and cycles", check_depth_and_cycles, ("CL205", "CL206")),
    ("tokens", check_tokens, ("CL401", "CL402", "CL404", "CL405")),
    ("types", check_types, ("CL301", "CL403")),
    ("smart lists", check_smart_lists, ("CL501", "CL503", "CL504", "CL505")),
    ("reachability", check_reachability, ("CL601", "CL602")),
)
