"""Store-neutral queries (``storage.Query``) as sqlglot conditions, for the
set-based engine: a smart list, a qualification rule, a choice's condition
or an executed child's smart list, on a relation aliased ``people``.

A field test is the store's own rule: ``store.field_sql`` says it in
SQLite's SQL (tests/test_pushdown.py proves that equal to the evaluator's
Python predicate), and it is read here with sqlglot's SQLite reader, with
three rewrites: ``cf(C)`` becomes the loader's column ``cf__C`` (Python's
casefold, computed in Python), ``dcmp(C, 'n') OP 0`` an exact comparison of
``DECIMAL(38, 18)`` values (the loader refuses a value that does not fit), and
SQLite's 1 and 0 where a condition stands become TRUE and FALSE. Memberships
and history are semi-joins (``EXISTS``) on the loader's relations, or, inside
a flow, the state columns earlier steps left (``State``).
tests/test_sets_query.py proves the translation equal to the Python predicate.

Imports ``storage``, ``logic``, ``store`` (the field rule), sqlglot.
"""

from __future__ import annotations

import re
from typing import Any, cast

import sqlglot
from sqlglot import exp

from ..logic import FilterRef, Logic
from ..logic import Not as LogicNot
from ..storage import AllOf, AnyOf, FieldTest, HasActivity, InList, InProgram, LogicOf, NotQ, Query, RanCampaign
from ..store import _field_sql
from .loader import CASEFOLD, Needs, Unsupported, decimal_fits

#: the decimal type a decimal column is compared in (the loader checks each value fits)
DECIMAL = "DECIMAL(38, 18)"


def lit(value: Any) -> exp.Expression:
    """A Python value as an SQL literal."""
    if value is None:
        return exp.null()
    if value is True or value is False:
        return exp.true() if value else exp.false()
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise Unsupported(f"a value of type {type(value).__name__} in a query")


def parse(sql: str) -> exp.Expression:
    """SQL in DuckDB's dialect as a sqlglot expression (the plan's own SQL
    is written in it and rendered per backend)."""
    return cast(exp.Expression, sqlglot.parse_one(sql, read="duckdb"))


_CF = re.compile(r'cf\(people\."([^"]+)"\)')
_DCMP = re.compile(r'dcmp\((people\."[^"]+"), \?\) (=|>=|<=|>|<) 0')


def _booleans(node: exp.Expression) -> exp.Expression:
    """SQLite's 1 and 0 standing as conditions, as TRUE and FALSE."""
    def fix(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Literal) and n.is_number and n.this in ("0", "1"):
            parent = n.parent
            while isinstance(parent, exp.Paren):
                parent = parent.parent
            if parent is None or isinstance(parent, (exp.And, exp.Or, exp.Not, exp.Where)):
                return exp.true() if n.this == "1" else exp.false()
        return n
    if isinstance(node, exp.Literal):
        return fix(node)
    return node.transform(fix)


def field_condition(col: str, q: FieldTest, needs: Needs, key: str) -> exp.Expression:
    """``store.field_sql`` of a field test, read as sqlglot."""
    try:
        said = _field_sql(col, q)
    except ValueError:
        said = None
    if said is None:
        raise Unsupported(f"the filter on {q.key!r} ({q.op}) has no SQL form")
    sql, params = said
    if "cf(" in sql:
        needs.folded.add(key)
        sql = _CF.sub(lambda m: f'people."{CASEFOLD}{m.group(1)}"', sql)
    if "dcmp(" in sql:
        for p in params:
            if not decimal_fits(p):
                raise Unsupported(f"the decimal {p} is past what DECIMAL(38, 18) holds exactly")
        sql = _DCMP.sub(lambda m: f"CAST({m.group(1)} AS {DECIMAL}) {m.group(2)} CAST(? AS {DECIMAL})", sql)
        if "dcmp(" in sql:   # pragma: no cover - every dcmp the store writes has that form
            raise Unsupported(f"the decimal filter on {q.key!r}")
    pieces = sql.split("?")
    if len(pieces) != len(params) + 1:   # pragma: no cover - the store's SQL holds no '?' but its parameters
        raise Unsupported(f"the filter on {q.key!r}")
    text = pieces[0] + "".join(lit(p).sql(dialect="sqlite") + rest for p, rest in zip(params, pieces[1:]))
    return _booleans(cast(exp.Expression, sqlglot.parse_one(text, read="sqlite")))


class State:
    """Inside a flow: the state columns earlier steps left, which a
    condition reads instead of the store's relations (``None`` for a column
    the flow does not track: the relation is read)."""

    def __init__(self) -> None:
        self.lists: dict[str, str] = {}
        self.programs: dict[str, tuple[str, str]] = {}
        self.ran: dict[str, str] = {}
        self.activities: dict[tuple[str, str], str] = {}

    def list_column(self, key: str) -> str:
        col = self.lists.get(key)
        if col is None:
            col = self.lists[key] = f"l{len(self.lists)}"
        return col

    def program_columns(self, key: str) -> tuple[str, str]:
        cols = self.programs.get(key)
        if cols is None:
            n = len(self.programs)
            cols = self.programs[key] = (f"pm{n}", f"ps{n}")
        return cols

    def activity_column(self, type_: str, asset: str) -> str:
        """Whether this run wrote an activity of ``type_`` on ``asset`` so far."""
        col = self.activities.get((type_, asset))
        if col is None:
            col = self.activities[(type_, asset)] = f"h{len(self.activities)}"
        return col

    def ran_column(self, key: str) -> str:
        col = self.ran.get(key)
        if col is None:
            col = self.ran[key] = f"r{len(self.ran)}"
        return col


def exists(table: str, alias: str, conds: list[str]) -> str:
    return f"EXISTS (SELECT 1 FROM {table} AS {alias} WHERE {' AND '.join(conds)})"


def q(value: Any) -> str:
    """A literal as DuckDB SQL text."""
    return lit(value).sql(dialect="duckdb")


def condition(query: Query, store: Any, needs: Needs, state: State | None = None) -> exp.Expression:
    """``query`` as a condition on ``people`` (the person relation or a
    flow's state under that alias)."""
    if isinstance(query, FieldTest):
        col = store.columns.get(query.key)
        if col is None:
            raise Unsupported(f"no column for the field {query.key!r}")
        needs.fields.add(query.key)
        if store.field_types.get(query.key) == "decimal":
            needs.decimals.add(query.key)
        return field_condition(col, query, needs, query.key)
    if isinstance(query, InList):
        needs.lists.add(query.list)
        if state is not None:
            sql = f"people.{state.list_column(query.list)}"
        else:
            sql = exists("list_members", "lm", [f"lm.list = {q(query.list)}", "lm.person = people.id"])
        return parse(f"NOT ({sql})" if query.negated else sql)
    if isinstance(query, InProgram):
        needs.programs.add(query.program)
        if state is not None:
            member, status = state.program_columns(query.program)
            if query.negated:
                return parse(f"NOT people.{member}")
            if query.status is not None:
                return parse(f"(people.{member} AND people.{status} = {q(query.status)})")
            return parse(f"people.{member}")
        conds = [f"pm.program = {q(query.program)}", "pm.person = people.id"]
        if query.status is not None and not query.negated:
            conds.append(f"pm.status = {q(query.status)}")
        sql = exists("program_members", "pm", conds)
        return parse(f"NOT {sql}" if query.negated else sql)
    if isinstance(query, RanCampaign):
        needs.campaigns.add(query.campaign)
        conds = ["r.person = people.id", f"r.campaign = {q(query.campaign)}"]
        if query.since is not None:
            conds.append(f"r.at >= {q(query.since)}")
        sql = exists("runs", "r", conds)
        if state is not None and query.campaign in state.ran:
            sql = f"(people.{state.ran[query.campaign]} OR {sql})"   # ran earlier in this run (now >= since)
        return parse(sql)
    if isinstance(query, HasActivity):
        needs.activities.add((query.type, query.asset))
        conds = ["a.person = people.id", f"a.type = {q(query.type)}", f"a.asset = {q(query.asset)}"]
        if query.since is not None:
            conds.append(f"a.at >= {q(query.since)}")
        sql = exists("activities", "a", conds)
        if state is not None:   # written earlier in this run (at now >= since)
            sql = f"(people.{state.activity_column(query.type, query.asset)} OR {sql})"
        return parse(sql)
    if isinstance(query, NotQ):
        return exp.Not(this=exp.Paren(this=condition(query.part, store, needs, state)))
    if isinstance(query, (AllOf, AnyOf)):
        parts = [condition(p, store, needs, state) for p in query.parts]
        if not parts:
            return exp.true() if isinstance(query, AllOf) else exp.false()
        joined = exp.and_(*[exp.Paren(this=p) for p in parts]) if isinstance(query, AllOf) else \
            exp.or_(*[exp.Paren(this=p) for p in parts])
        return exp.Paren(this=joined)
    if isinstance(query, LogicOf):
        said = [condition(p, store, needs, state) for p in query.parts]

        def visit(node: Logic) -> exp.Expression:
            if isinstance(node, FilterRef):
                return exp.Paren(this=said[node.index].copy())
            if isinstance(node, LogicNot):
                return exp.Not(this=exp.Paren(this=visit(node.operand)))
            parts = [visit(x) for x in node.operands]
            return exp.Paren(this=exp.and_(*parts) if node.op == "and" else exp.or_(*parts))
        return visit(query.tree)
    raise Unsupported(f"a query of kind {type(query).__name__}")
