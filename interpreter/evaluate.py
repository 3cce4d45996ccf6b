"""The tree walker: smart-list filters, flow steps, choices and tokens.

``Evaluator`` interprets the checked AST for one person at a time against the
store and the virtual clock. The engine (``engine.py``) owns actions, the queue
and trigger dispatch, and subclasses the evaluator; the few things a step
needs from it (queue a requested run, emit a trigger event, end other runs of
a campaign, find a webhook handler) are the ``_host_*`` methods below.

Semantics, with the rule each implements (LANGUAGE.md; docs/language.md):

* Filters (§4). Text comparison is case-insensitive (``str.casefold``); an
  empty text is ``""``, so ``is not``, ``not contains`` and ``not starts
  with`` match it. Numbers: ``is 0`` also matches empty, ``is not`` is the
  complement of ``is``, ordering operators never match empty, ``is empty``
  does not match 0. Dates: a literal is an interval (a day, or a minute for a
  date-time literal) and the operators compare against its ends; ``before``
  and ``on or before`` also match empty. Booleans: empty is false. A filter
  with a comma list matches when any value does (``is not``: none does).
* Filters are compiled once into closures (``_compile_filter``) and, for a
  batch, the ones over field, list and program columns are pushed down to SQL
  (``sql_for_smart_list``) with exactly the same null rules.
* Smart list logic: ALL, ANY, or advanced (``1 and (2 or not 3)``), parsed by
  ``parse_logic``. A filter that cannot be evaluated (an unknown field, list,
  or a value of the wrong type: the checker's CL501) makes the smart list
  *invalid*, and an invalid smart list qualifies nobody, as in Marketo.
* Steps (§5): each appends its activity; a field, list or program change that
  changed something emits its trigger event (run after the current run, by
  the engine); a step that fails for one person records an ``Error``
  activity and ends that person's run.
* Choices: the first branch whose condition holds runs; none, or ``else do
  nothing``, does nothing.
* Tokens (§7): ``TokenContext`` holds the My Token environment (an
  ``environment.Environment`` of labelled layers), the campaign whose
  campaign/program/member tokens are in force, and the trigger tokens of a
  triggered run. ``use parent token context`` gives the child the parent's
  context with the child's own layers behind it; without it the child gets
  a fresh context of its own and no trigger tokens. Undefined tokens render
  blank; ``:default=`` applies to an empty value.

Imports ``ast``, ``environment``, ``model``, ``store``, ``clock``, ``errors``.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import urllib.parse
from decimal import Decimal
from typing import Any, Callable, Sequence

from . import ast
from .clock import Clock, iso
from .environment import Binding, Environment, Layer
from .model import CampaignInfo, Model, ProgramInfo
from .store import Person, Store, convert, to_json_value

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

    __slots__ = ("env", "campaign", "trigger", "api", "cache")

    def __init__(self, env: Environment, campaign: CampaignInfo | None,
                 trigger: dict[str, str] | None = None, api: dict[str, str] | None = None):
        self.env = env
        self.campaign = campaign
        self.trigger = trigger          # name_key -> text
        self.api = api                  # the API-passed values (name -> text), for the queue
        self.cache: dict[str, str | None] = {}

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


def json_escape(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


# --------------------------------------------------------------------------
# Smart list logic


_LOGIC_TOKEN = re.compile(r"\s*(?:(\d+)|(\()|(\))|(and|or|not)\b)", re.IGNORECASE)


def parse_logic(expression: str, count: int) -> Any:
    """``"1 and (2 or 3)"`` -> a tree of ("and"|"or", a, b), ("not", a) and
    filter indexes (0-based); ``ValueError`` when malformed."""
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
            left = (op, left, right)
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
        return eval_logic(tree[1], test) and eval_logic(tree[2], test)
    return eval_logic(tree[1], test) or eval_logic(tree[2], test)


def sql_logic(tree: Any, parts: Sequence[str]) -> str:
    if isinstance(tree, int):
        return parts[tree]
    if tree[0] == "not":
        return f"NOT ({sql_logic(tree[1], parts)})"
    return f"(({sql_logic(tree[1], parts)}) {tree[0].upper()} ({sql_logic(tree[2], parts)}))"


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
        self.steps_run = 0

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
        """The store's key of a list, form or email: ``"Program"."Name"``."""
        key = ("key:" + kind, ref.program, ref.name, id(here))
        found = self._resolved.get(key)
        if found is None:
            node = self.resolve(kind, ref, here)
            prog = self.model.program_of_asset(kind, node)
            found = self._resolved[key] = f'"{prog.name}"."{node.name}"' if prog else f'"{node.name}"'
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
        return program.name

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
                key = ast.name_key(name)
                obj: Any = c if ns == "campaign" else c.program
                if key == "name":
                    text = obj.name
                elif key == "id":
                    text = str(obj.id)
                elif key == "description":
                    text = obj.description
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

    def render(self, node: Any, person: Person | None, ctx: TokenContext,
               escape: Callable[[str], str] | None = None, depth: int = 0) -> str:
        """A value node as text, tokens rendered (and escaped with ``escape``)."""
        if isinstance(node, ast.Template):
            out = []
            for part in node.parts:
                if isinstance(part, str):
                    out.append(part)
                else:
                    text = self.render_token(part, person, ctx, depth)
                    out.append(escape(text) if escape else text)
            return "".join(out)
        if isinstance(node, ast.TokenRef):
            text = self.render_token(node, person, ctx, depth)
            return escape(text) if escape else text
        return literal_text(node)

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
        try:
            preds = [self.filter_pred(f, here) for f in sl.filters]
        finally:
            self._visiting.discard(id(sl))
        if not preds:
            return _everyone
        if sl.logic == "any":
            return lambda p: any(f(p) for f in preds)
        if sl.logic == "advanced" and sl.expression:
            try:
                tree = parse_logic(sl.expression, len(preds))
            except ValueError as exc:
                raise InvalidSmartList(str(exc)) from None
            return lambda p: eval_logic(tree, lambda i: preds[i](p))
        if len(preds) == 1:
            return preds[0]
        return lambda p: all(f(p) for f in preds)

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
        store = self.store
        if isinstance(f, ast.FieldFilter):
            return self._compile_field_filter(f)
        if isinstance(f, ast.ListFilter):
            lkey = self.asset_key("list", f.list, here)
            if f.negated:
                return lambda p: not store.in_list(lkey, p.id)
            return lambda p: store.in_list(lkey, p.id)
        if isinstance(f, ast.SmartListFilter):
            target = self.resolve("smart list", f.smart_list, here)
            prog = self.model.program_of_asset("smart list", target)
            return self._compile_smart_list(target, prog)
        if isinstance(f, ast.ProgramFilter):
            pkey = self.program_key(self.find_program(f.program, here))
            status = f.status
            if f.negated:
                return lambda p: store.membership(pkey, p.id) is None
            if status is None:
                return lambda p: store.membership(pkey, p.id) is not None

            def in_status(p: Person) -> bool:
                m = store.membership(pkey, p.id)
                return m is not None and m.status == status
            return in_status
        if isinstance(f, ast.HistoryFilter):
            return self._compile_history(f, here)
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
        if f.kind == "visited web page":
            type_, asset = "Visit Web Page", f.target.name
        else:
            kind, type_ = {
                "filled out form": ("form", "Fill Out Form"),
                "was sent email": ("email", "Send Email"),
                "opened email": ("email", "Open Email"),
                "clicked link in email": ("email", "Click Email"),
            }[f.kind]
            asset = self.asset_key(kind, f.target, here)
        return lambda p: store.has_activity(p.id, type_, asset, since())

    def _compile_field_filter(self, f: ast.FieldFilter) -> Pred:
        key, _name, ftype = self.field_spec(f.field.name)
        op = f.op
        clock = self.clock
        try:
            values = [literal_value(v) for v in f.values if not isinstance(v, ast.Duration)]
        except TypeError:
            raise InvalidSmartList("a filter value must be a literal") from None
        duration = next((v for v in f.values if isinstance(v, ast.Duration)), None)

        if op == "is empty":
            if ftype in ("text", "email"):
                return lambda p: (p.get(key) or "") == ""
            return lambda p: p.get(key) is None
        if op == "is not empty":
            if ftype in ("text", "email"):
                return lambda p: (p.get(key) or "") != ""
            return lambda p: p.get(key) is not None

        if ftype in ("text", "email"):
            vals = [_fold_text(v) for v in values]
            if op in ("is", "is not"):
                s = frozenset(vals)
                if op == "is":
                    return lambda p: (p.get(key) or "").casefold() in s
                return lambda p: (p.get(key) or "").casefold() not in s
            if op in ("contains", "not contains"):
                neg = op == "not contains"
                return lambda p: neg != any(v in (p.get(key) or "").casefold() for v in vals)
            if op in ("starts with", "not starts with"):
                neg = op == "not starts with"
                t = tuple(vals)
                return lambda p: neg != (p.get(key) or "").casefold().startswith(t)
            raise InvalidSmartList(f"'{op}' does not apply to a text field")

        if ftype == "boolean":
            if op not in ("is", "is not") or not all(isinstance(v, bool) for v in values):
                raise InvalidSmartList("a boolean field takes is true or is false")
            want = set(values)
            neg = op == "is not"
            return lambda p: neg != (bool(p.get(key)) in want)

        if ftype in ("integer", "score", "decimal"):
            try:
                nums = [_number(v) for v in values]
            except ValueError as exc:
                raise InvalidSmartList(str(exc)) from None
            if op in ("is", "is not"):
                s = frozenset(nums)
                zero = 0 in s
                neg = op == "is not"

                def num_is(p: Person) -> bool:
                    v = p.get(key)
                    return neg != (zero if v is None else v in s)
                return num_is
            if op == "between":
                lo, hi = nums[0], nums[1]
                return lambda p: (v := p.get(key)) is not None and lo <= v <= hi
            cmp = _CMP.get(op)
            if cmp is None:
                raise InvalidSmartList(f"'{op}' does not apply to a number field")
            n = nums[0]
            return lambda p: (v := p.get(key)) is not None and cmp(v, n)

        if ftype in ("date", "datetime"):
            if op in ("in past", "in future"):
                if duration is None:
                    raise InvalidSmartList(f"'{op}' needs a duration")
                delta = duration.delta
                past = op == "in past"

                def window(p: Person) -> bool:
                    v = p.get(key)
                    if v is None:
                        return False
                    now = clock.now
                    if ftype == "date":
                        lo, hi = ((now - delta).date(), now.date()) if past else (now.date(), (now + delta).date())
                    else:
                        lo, hi = (now - delta, now) if past else (now, now + delta)
                    return lo <= v <= hi
                return window
            try:
                ivs = [_interval(ftype, _date_value(v)) for v in values]
            except ValueError as exc:
                raise InvalidSmartList(str(exc)) from None
            if op in ("is", "is not"):
                neg = op == "is not"

                def date_is(p: Person) -> bool:
                    v = p.get(key)
                    hit = v is not None and any(lo <= v < hi for lo, hi in ivs)
                    return neg != hit
                return date_is
            if op == "between":
                lo, hi = ivs[0][0], ivs[1][1]
                return lambda p: (v := p.get(key)) is not None and lo <= v < hi
            lo, hi = ivs[0]
            if op == "before":
                return lambda p: (v := p.get(key)) is None or v < lo
            if op == "on or before":
                return lambda p: (v := p.get(key)) is None or v < hi
            if op == "after":
                return lambda p: (v := p.get(key)) is not None and v >= hi
            if op == "on or after":
                return lambda p: (v := p.get(key)) is not None and v >= lo
            raise InvalidSmartList(f"'{op}' does not apply to a date field")
        raise InvalidSmartList(f"unknown field type {ftype}")

    # -- SQL pushdown (a batch's smart list) ---------------------------------------

    def sql_for_smart_list(self, sl: ast.SmartList, here: ProgramInfo | None
                           ) -> tuple[str | None, list[Any], list[ast.Node]]:
        """(SQL condition, parameters, filters left for Python). ALL logic
        pushes every filter it can; ANY and advanced logic push all or none."""
        filters = list(sl.filters)
        parts: list[tuple[str, list[Any]] | None] = []
        for f in filters:
            try:
                parts.append(self.sql_for_filter(f, here))
            except InvalidSmartList:
                parts.append(None)
        if sl.logic == "all" or len(filters) <= 1:
            pushed = [p for p in parts if p is not None]
            rest = [f for f, p in zip(filters, parts) if p is None]
            if not pushed:
                return None, [], rest
            sql = " AND ".join(f"({s})" for s, _ in pushed)
            params = [x for _, ps in pushed for x in ps]
            return sql, params, rest
        if any(p is None for p in parts):
            return None, [], filters
        if sl.logic == "any":
            sql = " OR ".join(f"({s})" for s, _ in parts)  # type: ignore[misc]
            return sql, [x for _, ps in parts for x in ps], []  # type: ignore[misc]
        try:
            tree = parse_logic(sl.expression or "", len(filters))
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
            return f"(({visit(t[1])}) {t[0].upper()} ({visit(t[2])}))"
        sql = visit(tree)
        return sql, [x for i in order for x in parts[i][1]], []  # type: ignore[index]

    def sql_for_filter(self, f: ast.Node, here: ProgramInfo | None) -> tuple[str, list[Any]] | None:
        """An SQL condition equivalent to the filter, or None when it stays in Python."""
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
        if ftype in ("integer", "score"):
            try:
                nums = [_number(v) for v in values]
            except ValueError:
                return None
            if any(not isinstance(n, int) for n in nums):
                return None
            if op in ("is", "is not"):
                zero = 0 in nums
                sql = (f"(({c} IS NOT NULL AND {c} IN ({', '.join('?' * len(nums))})) OR "
                       f"({c} IS NULL AND {1 if zero else 0}))")
                return (sql if op == "is" else f"NOT {sql}"), nums
            if op == "between":
                return f"({c} IS NOT NULL AND {c} BETWEEN ? AND ?)", nums[:2]
            if op in (">", ">=", "<", "<="):
                return f"({c} IS NOT NULL AND {c} {op} ?)", nums[:1]
            return None
        if ftype in ("date", "datetime"):
            if op in ("in past", "in future"):
                return None   # relative to the clock: evaluated in Python
            try:
                ivs = [_interval(ftype, _date_value(v)) for v in values]
            except ValueError:
                return None
            enc = (lambda x: x.isoformat()) if ftype == "date" else (lambda x: iso(x))
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

    # -- steps -------------------------------------------------------------------

    def exec_steps(self, run: Run, steps: Sequence[ast.Node], start: int = 0, top: bool = True) -> None:
        """Run ``steps`` from ``start``; ``Pause`` at a top-level wait,
        ``EndRun`` when the run ends early."""
        for index in range(start, len(steps)):
            step = steps[index]
            self._host_tick()
            if isinstance(step, ast.Wait):
                due = self._wait_due(run, step)
                if due is not None:
                    if not top:
                        self._error(run, step, "wait is not allowed here (use request campaign)")
                    raise Pause(due, index + 1)
                continue
            try:
                self.step(run, step)
            except StepError as exc:
                self._error(run, step, str(exc))

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
        key = f'"{prog.name}"."{hook.name}"' if prog else f'"{hook.name}"'
        person, ctx = run.person, run.frame.ctx
        url = self.render(hook.url, person, ctx, escape=url_escape) if hook.url is not None else ""
        payload = self.render(hook.payload, person, ctx, escape=json_escape) if hook.payload is not None else None
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
            status, body = result
            status = int(status)
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


# --------------------------------------------------------------------------
# helpers


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
