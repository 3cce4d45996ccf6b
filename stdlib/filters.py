"""Smart list filters (LANGUAGE.md §4): field operators and the membership and
history filters, each entry with everything about itself: its words and
slots, the AST node it builds, its documentation, what it names (the asset
kind of a history filter, the activity it looks for), and how the evaluator
runs it: ``predicate(ev, f, here, gen)``, the filter as a Python
expression over ``p`` (the person) for the smart list's generated function,
and ``query(ev, f, here)``, the store-neutral query (``storage``) a batch
selects by, which the store says in its own language (SQL is the store's:
no entry knows a table). Field filters are ``lead.F OPERATOR OPERANDS``;
``OPERATORS`` maps every accepted spelling to its canonical operator and
the operands it takes, ``FIELD_FILTER`` is their entry.

The entries sit below the runtime (docs/architecture.md): ``predicate`` and
``query`` are given the evaluator and reach the run through it (its store
and clock, its name resolution, the query types it names); the runtime is
imported only to annotate. A name that does not resolve, or a value of the
wrong type, raises ``InvalidSmartList``: the smart list is invalid.

Imports ``ast``, ``clock``, ``values`` and the vocabulary's shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from campaignlang import ast
from campaignlang.clock import iso
from campaignlang.stdlib.types import TYPES
from campaignlang.stdlib.vocabulary import Opt, Phrase, Slot
from campaignlang.values import date_value, fold_text, interval, number

if TYPE_CHECKING:
    from campaignlang.evaluate import Evaluator, Pred
    from campaignlang.evaluate import _Source as Source
    from campaignlang.model import ProgramInfo
    from campaignlang.storage import Query

#: spelling -> (canonical operator, operands). Operands: "values" (a comma
#: list), "value" (one), "range" (A and B), "duration", "none".
OPERATORS: dict[str, tuple[str, str]] = {
    "is": ("is", "values"),
    "is not": ("is not", "values"),
    "contains": ("contains", "values"),
    "not contains": ("not contains", "values"),
    "starts with": ("starts with", "values"),
    "not starts with": ("not starts with", "values"),
    "is empty": ("is empty", "none"),
    "is not empty": ("is not empty", "none"),
    ">": (">", "value"), ">=": (">=", "value"), "<": ("<", "value"), "<=": ("<=", "value"),
    "greater than": (">", "value"), "at least": (">=", "value"),
    "less than": ("<", "value"), "at most": ("<=", "value"),
    "between": ("between", "range"),
    "before": ("before", "value"), "after": ("after", "value"),
    "on or before": ("on or before", "value"), "on or after": ("on or after", "value"),
    "in past": ("in past", "duration"), "in future": ("in future", "duration"),
}

#: operators by field type (the checker's type rules, §4): ``types.TYPES``
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {name: t.operators for name, t in TYPES.items()}

_PAST = Opt(("in past", Slot("within", "duration")))


def _history(words: str, usage: str, doc: str, target: str | None = None, activity: str | None = None) -> Phrase:
    """A history filter: ``target`` the asset kind it names, ``activity`` the activity it looks for."""
    return Phrase(words, (Slot("target", "ref"), _PAST), ast.HistoryFilter,
                  fixed={"kind": words}, usage=usage, doc=doc, target=target, activity=activity,
                  predicate=_history_predicate, query=_history_query)


# --------------------------------------------------------------------------
# how the evaluator runs each filter (the entries below name these)

_CMP: dict[str, Callable[[Any, Any], bool]] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
}


def _fold_text(ev: Evaluator, v: Any) -> str:
    try:
        return fold_text(v)
    except ValueError as exc:
        raise ev.InvalidSmartList(str(exc)) from None


def _field_predicate(ev: Evaluator, f: ast.FieldFilter, here: ProgramInfo | None, gen: Source) -> str:
    """A field filter as an expression; the rules are the module
    docstring's (Marketo's null rules), one branch per type and operator."""
    key, _name, ftype = ev.field_spec(f.field.name)
    op = f.op
    clock = ev.clock
    try:
        values = [ev.literal_value(v) for v in f.values if not isinstance(v, ast.Duration)]
    except TypeError:
        raise ev.InvalidSmartList("a filter value must be a literal") from None
    duration = next((v for v in f.values if isinstance(v, ast.Duration)), None)
    get = f"p.get({key!r})"
    text = f'({get} or "")'

    if op == "is empty":
        return f'({text} == "")' if ftype in ("text", "email") else f"({get} is None)"
    if op == "is not empty":
        return f'({text} != "")' if ftype in ("text", "email") else f"({get} is not None)"

    if ftype in ("text", "email"):
        vals = [_fold_text(ev, v) for v in values]
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
        raise ev.InvalidSmartList(f"'{op}' does not apply to a text field")

    if ftype == "boolean":
        if op not in ("is", "is not") or not all(isinstance(v, bool) for v in values):
            raise ev.InvalidSmartList("a boolean field takes is true or is false")
        want = set(values) if op == "is" else {True, False} - set(values)   # bool(v) in want
        if want == {True, False}:
            return "True"
        if not want:
            return "False"
        return f"(not not {get})" if want == {True} else f"(not {get})"

    v = gen.var()
    if ftype in ("integer", "score", "decimal"):
        try:
            nums = [number(n) for n in values]
        except ValueError as exc:
            raise ev.InvalidSmartList(str(exc)) from None
        if op in ("is", "is not"):
            allowed = frozenset(nums)
            if op == "is not":   # never matches empty (§12.5), not even 'is not 0'
                return f"(({v} := {get}) is not None and {v} not in {gen.const(allowed)})"
            return f"({0 in allowed} if ({v} := {get}) is None else {v} in {gen.const(allowed)})"
        if op == "between":
            lo, hi = nums[0], nums[1]
            return f"(({v} := {get}) is not None and {gen.const(lo)} <= {v} <= {gen.const(hi)})"
        if op not in _CMP:
            raise ev.InvalidSmartList(f"'{op}' does not apply to a number field")
        return f"(({v} := {get}) is not None and {v} {op} {gen.const(nums[0])})"

    if ftype in ("date", "datetime"):
        if op in ("in past", "in future"):
            if duration is None:
                raise ev.InvalidSmartList(f"'{op}' needs a duration")
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
            ivs = [interval(ftype, date_value(d)) for d in values]
        except ValueError as exc:
            raise ev.InvalidSmartList(str(exc)) from None
        if op in ("is", "is not"):
            within = " or ".join(f"{gen.const(lo)} <= {v} < {gen.const(hi)}" for lo, hi in ivs) or "False"
            hit = f"(({v} := {get}) is not None and ({within}))"
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
        raise ev.InvalidSmartList(f"'{op}' does not apply to a date field")
    raise ev.InvalidSmartList(f"unknown field type {ftype}")


def _field_query(ev: Evaluator, f: ast.FieldFilter, here: ProgramInfo | None) -> Query | None:
    if any(isinstance(v, (ast.Template, ast.TokenRef)) for v in f.values):
        return None
    key, _name, ftype = ev.field_spec(f.field.name)
    duration = next((v for v in f.values if isinstance(v, ast.Duration)), None)
    values = tuple(ev.literal_value(v) for v in f.values if not isinstance(v, ast.Duration))
    return ev.FieldTest(key, ftype, f.op, values, ev.clock.now if duration is not None else None,
                        duration.delta if duration is not None else None)


def _list_predicate(ev: Evaluator, f: ast.ListFilter, here: ProgramInfo | None, gen: Source) -> str:
    lkey = ev.asset_key("list", f.list, here)
    call = f"{gen.const(ev.store.in_list)}({gen.const(lkey)}, p.id)"
    return f"(not {call})" if f.negated else call


def _list_query(ev: Evaluator, f: ast.ListFilter, here: ProgramInfo | None) -> Query | None:
    return ev.InList(ev.asset_key("list", f.list, here), f.negated)


def _smart_list_predicate(ev: Evaluator, f: ast.SmartListFilter, here: ProgramInfo | None, gen: Source) -> str:
    target = ev.resolve("smart list", f.smart_list, here)
    return f"{gen.const(ev.nested_smart_list_pred(target))}(p)"


def _smart_list_query(ev: Evaluator, f: ast.SmartListFilter, here: ProgramInfo | None) -> Query | None:
    return ev.nested_smart_list_query(ev.resolve("smart list", f.smart_list, here))


def _program_predicate(ev: Evaluator, f: ast.ProgramFilter, here: ProgramInfo | None, gen: Source) -> str:
    pkey = ev.program_key(ev.find_program(f.program, here, f))
    status = f.status
    member = f"{gen.const(ev.store.membership)}({gen.const(pkey)}, p.id)"
    if f.negated:
        return f"({member} is None)"
    if status is None:
        return f"({member} is not None)"
    m = gen.var()
    return f"(({m} := {member}) is not None and {m}.status == {gen.const(status)})"


def _program_query(ev: Evaluator, f: ast.ProgramFilter, here: ProgramInfo | None) -> Query | None:
    pkey = ev.program_key(ev.find_program(f.program, here, f))
    return ev.InProgram(pkey, f.status, f.negated)


def _history_asset(ev: Evaluator, f: ast.HistoryFilter, here: ProgramInfo | None) -> tuple[str, str]:
    """(activity type, asset key) a history filter looks for."""
    entry = BY_WORDS[f.kind]   # its vocabulary entry: the activity and the asset kind
    if entry.target is None:   # a web page is named by its address
        return entry.activity, f.target.name
    return entry.activity, ev.asset_key(entry.target, f.target, here)


def _history_pred(ev: Evaluator, f: ast.HistoryFilter, here: ProgramInfo | None) -> Pred:
    store, clock = ev.store, ev.clock
    within = f.within.delta if f.within is not None else None

    def since() -> str | None:
        return iso(clock.now - within) if within is not None else None

    if f.kind == "campaign was run":
        target = ev.resolve("campaign", f.target, here)
        ckey = target.qualname
        return lambda p: store.ran_since(p.id, ckey, since())
    type_, asset = _history_asset(ev, f, here)
    return lambda p: store.has_activity(p.id, type_, asset, since())


def _history_predicate(ev: Evaluator, f: ast.HistoryFilter, here: ProgramInfo | None, gen: Source) -> str:
    return f"{gen.const(_history_pred(ev, f, here))}(p)"


def _history_query(ev: Evaluator, f: ast.HistoryFilter, here: ProgramInfo | None) -> Query | None:
    since = None
    if f.within is not None:
        try:
            since = iso(ev.clock.now - f.within.delta)
        except OverflowError:
            return None
    if f.kind == "campaign was run":
        return ev.RanCampaign(ev.resolve("campaign", f.target, here).qualname, since)
    type_, asset = _history_asset(ev, f, here)
    return ev.HasActivity(type_, asset, since)


# --------------------------------------------------------------------------
# the entries

FILTERS: tuple[Phrase, ...] = (
    Phrase("member of list", (Slot("list", "ref"),), ast.ListFilter,
           usage='member of list "Customers"',
           doc="Qualifies people in a static list.", predicate=_list_predicate, query=_list_query),
    Phrase("not member of list", (Slot("list", "ref"),), ast.ListFilter,
           fixed={"negated": True}, usage='not member of list "Customers"',
           doc="Qualifies people not in a static list.", predicate=_list_predicate, query=_list_query),
    Phrase("member of smart list", (Slot("smart_list", "ref"),), ast.SmartListFilter,
           usage='member of smart list "Engaged"',
           doc="Qualifies people a named smart list matches (evaluated now).",
           predicate=_smart_list_predicate, query=_smart_list_query),
    Phrase("member of program",
           (Slot("program", "name"), Opt(("status is", Slot("status", "name")))),
           ast.ProgramFilter, usage='member of program "Webinar" status is "Attended"',
           doc="Qualifies members of a program, optionally with a given status.",
           predicate=_program_predicate, query=_program_query),
    Phrase("not member of program", (Slot("program", "name"),), ast.ProgramFilter,
           fixed={"negated": True}, usage='not member of program "Webinar"',
           doc="Qualifies people who are not members of a program.",
           predicate=_program_predicate, query=_program_query),
    _history("filled out form", 'filled out form "Contact Us" in past 30 days',
             "Qualifies people who filled out a form, optionally within a recent period.",
             "form", "Fill Out Form"),
    _history("visited web page", 'visited web page "/pricing" in past 7 days',
             "Qualifies people who visited a web page, optionally within a recent period.",
             None, "Visit Web Page"),
    _history("was sent email", 'was sent email "Invite"',
             "Qualifies people who were sent an email, optionally within a recent period.",
             "email", "Send Email"),
    _history("opened email", 'opened email "Invite"',
             "Qualifies people who opened an email, optionally within a recent period.",
             "email", "Open Email"),
    _history("clicked link in email", 'clicked link in email "Invite"',
             "Qualifies people who clicked a link in an email, optionally within a recent period.",
             "email", "Click Email"),
    _history("campaign was run", 'campaign was run "Ops"."Route Lead"',
             "Qualifies people a campaign has run for, optionally within a recent period.",
             "campaign"),
)

BY_WORDS: dict[str, Phrase] = {p.words: p for p in FILTERS}

#: the entry of every field filter (``lead.F OPERATOR OPERANDS``: the grammar's, not a phrase)
FIELD_FILTER = Phrase("lead", (), ast.FieldFilter, usage='lead.Country is "US"',
                      doc="Qualifies people whose field the operator holds for (OPERATORS, OPS_BY_TYPE).",
                      predicate=_field_predicate, query=_field_query)

#: node class -> its entry (the membership filters; a history filter's is by its words)
_BY_NODE: dict[type, Phrase] = {}
for _p in FILTERS:
    _BY_NODE.setdefault(_p.node, _p)
_BY_NODE[ast.FieldFilter] = FIELD_FILTER


def filter_entry(f: ast.Node) -> Phrase | None:
    """The vocabulary entry that runs filter node ``f`` (None: not a filter)."""
    if f.__class__ is ast.HistoryFilter:
        return BY_WORDS.get(f.kind)  # type: ignore[attr-defined]
    return _BY_NODE.get(f.__class__)
