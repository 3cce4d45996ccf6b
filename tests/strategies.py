"""Hypothesis strategies: random valid syntax trees, and comments to put in them.

``modules()`` builds ``ast.Module`` values directly (no text): programs with
assets, tokens and campaigns of all three kinds, smart lists with every filter
and trigger, flows with every step and choices over them, workspaces, folders,
imports, fields and test blocks with every statement. Steps, filters and
triggers are drawn from the vocabulary tables themselves (``stdlib``), so a new
entry is generated as soon as it exists.

Every tree is one ``parse`` can produce, so that
``parse(format_module(m, [])).module == m`` is a fair property. That rules out
a few shapes the AST could hold but no text yields (each noted where it is
avoided): a template without a token or with two adjacent texts, a score
change ``ScoreChange("-", n)`` (``-5`` reads as the number -5), a bare-name
reference as an assignment value (it reads as a string), ``{``/``}`` in string
values, and a choice head that ``parse`` would split elsewhere.

``with_comments(text)`` inserts ``#`` comments on lines of their own (and, for
``trailing=True``, at the end of lines) into a formatted program.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from typing import Any, Sequence

from hypothesis import strategies as st

from campaignlang import ast
from campaignlang.stdlib import filters as _filters
from campaignlang.stdlib import steps as _steps
from campaignlang.stdlib import triggers as _triggers
from campaignlang.stdlib.types import FIELD_TYPES
from campaignlang.stdlib.vocabulary import Alt, Opt, Phrase, Slot

FILE = "<input>"

# --------------------------------------------------------------------------
# Names and text

#: letters, digits, spaces, a few non-ASCII letters, and what needs escaping
NAME_CHARS = "abcXYZ09 _-./@'éßΩ日\"\\\t\n#"
#: what a {{token}} name may hold (inside a string, too: no quote, backslash, braces)
TOKEN_CHARS = "abcXYZ09 _-éßΩ日"

IDENTIFIERS = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,8}\Z")
NAMES = st.text(NAME_CHARS, min_size=1, max_size=10)
#: a name that is often an identifier (written bare) and sometimes not (quoted)
FIELD_NAMES = st.one_of(IDENTIFIERS, NAMES, st.sampled_from(["Lead Score", "country", "then", "Email"]))
#: string values: no braces, which would start a token reference
VALUE_TEXT = st.text(NAME_CHARS, max_size=12)


def _token_name() -> st.SearchStrategy[str]:
    return st.text(TOKEN_CHARS, min_size=1, max_size=10).map(str.strip).filter(bool)


TOKEN_REFS = st.builds(
    ast.TokenRef,
    st.sampled_from(["my", "lead", "campaign", "program", "member", "trigger", "system"]),
    _token_name(),
    st.none() | st.text(TOKEN_CHARS + ",.!", max_size=8),
)


@st.composite
def templates(draw: Any) -> ast.Template:
    """Texts and tokens alternating, at least one token, no two texts adjacent."""
    tokens = draw(st.lists(TOKEN_REFS, min_size=1, max_size=3))
    texts = draw(st.lists(st.text(NAME_CHARS, min_size=1, max_size=6),
                          min_size=len(tokens) + 1, max_size=len(tokens) + 1))
    keep = draw(st.lists(st.booleans(), min_size=len(texts), max_size=len(texts)))
    parts: list[Any] = []
    for i, tok in enumerate(tokens):
        if keep[i]:
            parts.append(texts[i])
        parts.append(tok)
    if keep[-1]:
        parts.append(texts[-1])
    return ast.Template(parts)


DECIMALS = st.builds(lambda i, f: Decimal(f"{i}.{f}"), st.integers(-999, 999),
                     st.from_regex(r"\A[0-9]{1,3}\Z"))
DATETIMES = st.datetimes(min_value=_dt.datetime(1000, 1, 1), max_value=_dt.datetime(9999, 12, 31)
                         ).map(lambda d: d.replace(microsecond=0))
DURATIONS = st.builds(ast.Duration, st.integers(0, 500), st.sampled_from(ast.DURATION_UNITS))

#: every kind of value; `-5` is a Number (the parser's reading), never ScoreChange("-", 5)
VALUES = st.one_of(
    st.builds(ast.String, VALUE_TEXT),
    templates(),
    TOKEN_REFS,
    st.builds(ast.Number, st.integers(-10**6, 10**6)),
    st.builds(ast.Number, DECIMALS),
    st.builds(ast.Boolean, st.booleans()),
    st.builds(ast.Null),
    st.builds(ast.Date, st.dates(min_value=_dt.date(1000, 1, 1))),
    st.builds(ast.DateTime, DATETIMES),
    DURATIONS,
    st.builds(ast.ScoreChange, st.just("+"), st.integers(0, 1000)),
    st.builds(ast.ScoreChange, st.just("="), st.integers(-1000, 1000)),
)

REFS = st.builds(ast.Ref, st.none() | NAMES, NAMES)
FIELD_REFS = st.builds(ast.FieldRef, FIELD_NAMES)


# --------------------------------------------------------------------------
# Phrases, generated from their vocabulary entries


def _slot_value(slot: Slot) -> st.SearchStrategy[Any]:
    kind = slot.kind
    if kind == "field":
        return FIELD_REFS
    if kind == "ref":
        return REFS
    if kind == "name":
        return NAMES
    if kind == "names":
        return st.lists(NAMES, min_size=1, max_size=3).map(tuple)
    if kind == "value":
        return VALUES
    if kind == "values":
        return st.lists(VALUES, min_size=1, max_size=3).map(tuple)
    if kind == "duration":
        return DURATIONS
    if kind == "int":
        return st.integers(0, 99)
    if kind == "word":
        return st.sampled_from(slot.choices)
    if kind == "targets":
        return st.lists(REFS | st.builds(ast.ThisCampaign), min_size=1, max_size=3).map(tuple)
    raise AssertionError(f"no strategy for slot kind {kind!r}")


def _draw_pattern(draw: Any, items: Sequence[Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        if isinstance(item, Slot):
            values[item.name] = draw(_slot_value(item))
        elif isinstance(item, Opt):
            if draw(st.booleans()):
                if item.flag:
                    values[item.flag] = True
                values.update(_draw_pattern(draw, item.items))
        elif isinstance(item, Alt):
            values.update(_draw_pattern(draw, draw(st.sampled_from(item.options))))
    return values


@st.composite
def phrase_nodes(draw: Any, table: Sequence[Phrase]) -> ast.Node:
    entry = draw(st.sampled_from(table))
    return entry.node(**entry.fixed, **_draw_pattern(draw, entry.pattern))


@st.composite
def field_filters(draw: Any) -> ast.FieldFilter:
    op = draw(st.sampled_from(sorted({op for op, _ in _filters.OPERATORS.values()})))
    operands = dict(_filters.OPERATORS.values())[op]
    if operands == "values":
        values = draw(st.lists(VALUES, min_size=1, max_size=3))
    elif operands == "value":
        values = [draw(VALUES)]
    elif operands == "range":
        values = draw(st.lists(VALUES, min_size=2, max_size=2))
    elif operands == "duration":
        values = [draw(DURATIONS)]
    else:
        values = []
    return ast.FieldFilter(draw(FIELD_REFS), op, values)


FILTERS = st.one_of(field_filters(), phrase_nodes(_filters.FILTERS))
TRIGGERS = phrase_nodes(_triggers.TRIGGERS)
SIMPLE_STEPS = phrase_nodes(_steps.STEPS)


def _slots(items: Sequence[Any]) -> list[Slot]:
    out: list[Slot] = []
    for item in items:
        if isinstance(item, Slot):
            out.append(item)
        elif isinstance(item, Opt):
            out += _slots(item.items)
        elif isinstance(item, Alt):
            for option in item.options:
                out += _slots(option)
    return out


def _matches_nothing(item: Any) -> bool:
    if isinstance(item, Opt):
        return True
    if isinstance(item, Alt):
        return any(all(_matches_nothing(x) for x in o) for o in item.options)
    return False


@st.composite
def choices(draw: Any) -> ast.Choice:
    """A choice as parse builds it: a head (the leading pattern items written
    before ``{``; parse splits after any trailing Opt, so the split never
    stops in front of one) and branches holding whole steps."""
    entry = draw(st.sampled_from(_steps.STEPS))
    pattern = entry.pattern
    splits = [k for k in range(len(pattern) + 1)
              if k == len(pattern) or not _matches_nothing(pattern[k])]
    split = draw(st.sampled_from(splits))
    head = _draw_pattern(draw, pattern[:split])
    pairs = []
    for slot in _slots(pattern[:split]):
        if slot.name in head and slot.name not in dict(pairs):
            pairs.append((slot.name, head[slot.name]))
    pairs += [(o.flag, True) for o in pattern[:split]
              if isinstance(o, Opt) and o.flag and head.get(o.flag)]

    def branch_step() -> ast.Node | None:
        if draw(st.integers(0, 5)) == 0:
            return None  # do nothing
        return entry.node(**entry.fixed, **head, **_draw_pattern(draw, pattern[split:]))

    branches = [ast.Branch(draw(FILTERS), branch_step())
                for _ in range(draw(st.integers(0, 3)))]
    if not branches or draw(st.booleans()):
        branches.append(ast.Branch(None, branch_step()))
    return ast.Choice(entry.words, tuple(pairs), branches)


STEPS = st.one_of(SIMPLE_STEPS, SIMPLE_STEPS, choices())


# --------------------------------------------------------------------------
# Declarations

TOKEN_DECLS = st.builds(ast.TokenDecl, FIELD_NAMES, VALUES)
TOKENS = st.builds(ast.Tokens, st.lists(TOKEN_DECLS, max_size=3))
FIELDS = st.builds(ast.Fields, st.lists(st.builds(ast.FieldDecl, FIELD_NAMES, st.sampled_from(FIELD_TYPES)),
                                        max_size=3))
SMART_LIST_MEMBERS = st.lists(st.one_of(FILTERS, TRIGGERS), max_size=4)


@st.composite
def smart_lists(draw: Any, named: bool = False) -> ast.SmartList:
    logic = draw(st.sampled_from(["all", "any", "advanced"]))
    expression = draw(st.text("123 ()andor", max_size=12)) if logic == "advanced" else None
    return ast.SmartList(draw(NAMES) if named else None, logic, expression, draw(SMART_LIST_MEMBERS))


QUALIFY = st.one_of(st.builds(ast.Qualify, st.just("once")),
                    st.builds(ast.Qualify, st.just("every time")),
                    st.builds(ast.Qualify, st.just("once every"), DURATIONS))
SCHEDULES = st.builds(ast.Schedule, st.builds(ast.DateTime, DATETIMES), st.none() | DURATIONS)


@st.composite
def campaigns(draw: Any) -> ast.Campaign:
    kind = draw(st.sampled_from(ast.CAMPAIGN_KINDS))
    parts = {
        "description": st.builds(ast.Description, VALUE_TEXT),
        "smart list": smart_lists(),
        "flow": st.builds(ast.Flow, st.lists(STEPS, max_size=4)),
        "qualify": QUALIFY,
        "schedule": SCHEDULES,
    }
    chosen = draw(st.lists(st.sampled_from(sorted(parts)), unique=True, max_size=5))
    items = [draw(parts[p]) for p in chosen]
    if draw(st.integers(0, 3)) == 0:
        items.insert(0, ast.Clone(draw(REFS)))
    active = draw(st.booleans()) if kind == "trigger" else True
    return ast.Campaign(draw(NAMES), kind, active, items)


EMAILS = st.builds(ast.Email, NAMES, st.none() | VALUES, st.none() | VALUES, st.none() | VALUES)
WEBHOOKS = st.builds(
    ast.Webhook, NAMES, st.none() | VALUES, st.sampled_from(["get", "post", "put", "patch", "delete"]),
    st.none() | VALUES, st.lists(st.builds(ast.ResponseMapping, NAMES, FIELD_REFS), max_size=2))

PROGRAM_ITEMS = st.one_of(
    st.builds(ast.Description, VALUE_TEXT),
    st.builds(ast.Statuses, st.lists(NAMES, min_size=1, max_size=3)),
    st.builds(ast.MemberFields, st.lists(NAMES, min_size=1, max_size=3)),
    TOKENS,
    st.builds(ast.StaticList, NAMES),
    smart_lists(named=True),
    st.builds(ast.Form, NAMES),
    EMAILS,
    WEBHOOKS,
    campaigns(),
    campaigns(),
)
PROGRAMS = st.builds(ast.Program, NAMES, st.lists(PROGRAM_ITEMS, max_size=5))


def _containers() -> st.SearchStrategy[ast.Node]:
    """A workspace or a folder; folders nest, workspaces do not."""
    folders = st.recursive(
        st.builds(ast.Folder, NAMES, st.lists(st.one_of(TOKENS, PROGRAMS), max_size=2)),
        lambda inner: st.builds(ast.Folder, NAMES, st.lists(st.one_of(TOKENS, PROGRAMS, inner), max_size=3)),
        max_leaves=3)
    workspaces = st.builds(ast.Workspace, NAMES, st.lists(st.one_of(TOKENS, PROGRAMS, folders), max_size=3))
    return st.one_of(folders, workspaces)


# --------------------------------------------------------------------------
# Tests (§9)

#: an assignment's value: a value, or a "Program"."Campaign" reference (a bare
#: "Name" would read back as a string)
ASSIGN_VALUES = st.one_of(VALUES, st.builds(ast.Ref, NAMES, NAMES))
ASSIGNS = st.lists(st.builds(ast.Assign, FIELD_NAMES, ASSIGN_VALUES), max_size=3)
PEOPLE = st.lists(NAMES, min_size=1, max_size=2)

STATEMENTS = st.one_of(
    st.builds(ast.PersonStmt, NAMES, ASSIGNS),
    st.builds(ast.ForStmt, NAMES, st.lists(STEPS, max_size=2)),
    st.builds(ast.RunStmt, REFS, st.lists(TOKEN_DECLS, max_size=2)),
    st.builds(ast.RequestStmt, REFS, PEOPLE, st.lists(TOKEN_DECLS, max_size=2)),
    st.builds(ast.FireStmt, TRIGGERS, PEOPLE, ASSIGNS),
    st.builds(ast.AdvanceStmt, DURATIONS),
    st.builds(ast.ExpectField, NAMES, FIELD_NAMES, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), VALUES),
    st.builds(ast.ExpectField, NAMES, FIELD_NAMES, st.sampled_from(["is empty", "is not empty"]), st.none()),
    st.builds(ast.ExpectList, NAMES, REFS, st.booleans()),
    st.builds(ast.ExpectStatus, NAMES, NAMES, NAMES),
    st.builds(ast.ExpectActivity, NAMES, st.none() | NAMES, ASSIGNS, st.none() | st.integers(0, 9)),
)
TESTS = st.builds(ast.Test, NAMES, st.none() | st.builds(ast.DateTime, DATETIMES),
                  st.lists(STATEMENTS, max_size=5))

TOP_LEVEL = st.one_of(
    st.builds(ast.Import, NAMES, st.booleans()),
    FIELDS,
    TOKENS,
    PROGRAMS,
    PROGRAMS,
    _containers(),
    TESTS,
)


def modules() -> st.SearchStrategy[ast.Module]:
    """A whole file's tree (``file`` is ``parse``'s default, ``<input>``)."""
    return st.builds(ast.Module, st.just(FILE), st.lists(TOP_LEVEL, max_size=4))


# --------------------------------------------------------------------------
# Comments

COMMENT_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=16
                       ).map(lambda s: ("#" + s).rstrip())


@st.composite
def with_comments(draw: Any, text: str, trailing: bool = False,
                  blank_lines: bool = False) -> tuple[str, list[str]]:
    """``text`` (a formatted program) with comments on lines of their own at
    random places, indented at random; with ``trailing``, also at the end of
    random lines; with ``blank_lines``, blank lines inserted at random too.
    Returns the new text and the comments' texts."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if blank_lines:
        for _ in range(draw(st.integers(0, 6))):
            lines.insert(draw(st.integers(0, len(lines))), " " * draw(st.integers(0, 2)))
    count = draw(st.integers(1, 8))
    inserted: list[str] = []
    for _ in range(count):
        comment = draw(COMMENT_TEXT)
        at = draw(st.integers(0, len(lines)))
        candidates = [i for i, line in enumerate(lines) if line.strip()]
        if trailing and candidates and draw(st.booleans()):
            i = draw(st.sampled_from(candidates))
            if "#" not in lines[i]:  # one comment per line: a second would join the first
                lines[i] += " " * draw(st.integers(1, 3)) + comment
                inserted.append(comment)
                continue
        lines.insert(at, " " * draw(st.integers(0, 9)) + comment)
        inserted.append(comment)
    return "\n".join(lines) + "\n", inserted
