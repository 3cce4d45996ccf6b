"""The rows a set-based run writes, as queries over ``result`` (``sets.plan``):
every activity, run, membership, status, field value and queue item made
by the backend, in SQL, never row by row in Python.

Each query is built once as SQL in DuckDB's dialect, parsed into sqlglot
(``sets.query.parse``) and rendered per backend, as the plan is; the
writer (``sets.writer``) streams them into the store, or has the backend
write them to Parquet itself (``--out``).

* ``activities``: each slot's activity rows (``plan.Slot``) for the people
  where it writes (``e{k}``), all slots ``UNION ALL``, ordered by id: ``id =
  first id + a{k}`` (the per-person order), ``run = first run + p__``
  (people in id order), the constant JSON the planner made with
  ``values.dumps``, and what varies (old and new values, rendered texts)
  as JSON built in SQL by ``sets.spark.json_string`` -- the one SQL
  spelling of ``values.dumps`` of a text (``tests/test_sets_rows.py``
  compares them on every character class).
* ``runs``: the batch's run of each person, then their executed children's
  runs in slot order.
* ``lists`` / ``statuses`` / ``updates``: for the people a slot touched,
  the state the flow left (a list membership, a program status, a field's
  final value).
* ``summary``: one aggregate row: people, activities per slot, runs,
  memberships, and the checks the per-person engine would fail a step on
  (a rendered text past the renderer's cap, a score past 64 bits), so that
  ``Unsupported`` is raised before anything is written.

Imports ``values``, ``environment`` (the cap) and ``sets`` (plan, query,
spark builders); sqlglot. No backend: the writer runs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..environment import MAX_RENDERED_CHARS
from ..values import dumps
from .query import parse, q

if TYPE_CHECKING:  # pragma: no cover
    from sqlglot import exp

    from .plan import Plan, Slot, Text

#: the store's ``activities`` columns, in order
ACTIVITY_COLUMNS = ("id", "person", "type", "campaign", "run", "at", "asset", "attributes", "old", "new")
#: the smallest BIGINT: the per-person engine keeps scores within 64 bits, past -2**63 + 1
_MIN_SCORE = -(2 ** 63) + 1


#: a column that stands for ``json_string`` of a ``result`` column until ``_parse`` puts it in
_JSON = "json__"


def _json_text(column: str) -> str:
    """``values.dumps`` of text column ``r.<column>`` of ``result`` (``null``
    for NULL), as SQL text: a placeholder ``_parse`` replaces with
    ``sets.spark.json_string`` (parsing its nested REPLACEs back would be deep)."""
    return f"r.{_JSON}{column}"


def _parse(sql: str) -> "exp.Expression":
    """``parse``, with ``_json_text``'s placeholders made ``json_string``."""
    from sqlglot import exp

    from .spark import json_string

    def put(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name.startswith(_JSON):
            return json_string(exp.column(node.name[len(_JSON):], table="r"))
        return node

    return parse(sql).transform(put)


def _stored_json(column: str, ftype: str) -> str:
    """``dumps(decode(ftype, value))`` of stored value ``r.<column>``; NULL
    stays NULL (the store's ``old``/``new`` columns: no value, not JSON ``null``)."""
    sql = f"r.{column}"
    if ftype in ("integer", "score"):
        return f"CAST({sql} AS VARCHAR)"
    if ftype == "boolean":
        return f"(CASE WHEN {sql} IS NULL THEN NULL WHEN {sql} <> 0 THEN 'true' ELSE 'false' END)"
    # text, email (the only other types a slot writes): the JSON string
    return f"(CASE WHEN r.{column} IS NULL THEN NULL ELSE {_json_text(column)} END)"


def _text_sql(t: "Text") -> str:
    """One rendered value of an activity's attributes, as JSON in SQL."""
    if t.column is None:
        return q(dumps(t.const))
    return _json_text(t.column)


def _attributes(s: "Slot") -> str:
    """The attributes JSON of an email, alert or moment whose texts vary:
    ``values.dumps`` of the object (keys sorted), built by concatenation."""
    parts: list[str] = []
    for key, value in sorted(s.info["items"], key=lambda kv: kv[0]):
        if isinstance(value, list):
            inner = " || ',' || ".join(_text_sql(t) for t in value) if value else "''"
            said = f"'[' || {inner} || ']'"
        else:
            said = _text_sql(value)
        parts.append(f"{q(dumps(key) + ':')} || {said}")
    return "'{' || " + " || ',' || ".join(parts) + " || '}'"


def _slot_row(s: "Slot", now: str, first_id: int, first_run: int) -> str:
    """One slot's activity rows over ``result AS r``."""
    k, info = s.index, s.info
    old = new = "CAST(NULL AS VARCHAR)"
    if s.kind in ("field", "score"):
        attrs = q(info["attrs"])
        old, new = _stored_json(f"o{k}", info["ftype"]), _stored_json(f"n{k}", info["ftype"])
    elif s.kind == "status":
        attrs = q(info["attrs"])
        old = _stored_json(f"o{k}", "text")
        new = q(info["new"])
    elif s.kind == "execute":
        attrs = f"(CASE WHEN r.x{k} THEN {q(info['attrs'][True])} ELSE {q(info['attrs'][False])} END)"
    elif info.get("attrs") is not None:   # list, wait, request; an email, alert or moment of fixed texts
        attrs = q(info["attrs"])
    else:
        attrs = _attributes(s)
    asset = "CAST(NULL AS VARCHAR)" if s.asset is None else q(s.asset)
    return (f"SELECT CAST({first_id} + r.a{k} AS BIGINT) AS id, r.id AS person, {q(s.type)} AS type, "
            f"{q(s.campaign)} AS campaign, CAST({first_run} + r.p__ AS BIGINT) AS run, {q(now)} AS at, "
            f"{asset} AS asset, CAST({attrs} AS VARCHAR) AS attributes, CAST({old} AS VARCHAR) AS old, "
            f"CAST({new} AS VARCHAR) AS new FROM result AS r WHERE r.e{k}")


def activities(plan: "Plan", first_id: int, first_run: int) -> "exp.Expression | None":
    """Every activity of the run, in id order (the store's columns); None
    when the flow has no slot."""
    if not plan.slots:
        return None
    from sqlglot import exp

    parts = [_parse(_slot_row(s, plan.now, first_id, first_run)) for s in plan.slots]
    union: Any = exp.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
    return exp.select("*").from_(union.subquery("u")).order_by("id")


def _runs_source(plan: "Plan", first_run: int) -> str:
    run = f"CAST({first_run} + r.p__ AS BIGINT)"
    parts = [f"SELECT r.id AS person, -1 AS k, {q(plan.campaign)} AS campaign, {run} AS run FROM result AS r"]
    for s in plan.slots:
        if s.kind == "execute":
            parts.append(f"SELECT r.id, {s.index}, {q(s.info['child'])}, {run} FROM result AS r "
                         f"WHERE r.e{s.index} AND r.x{s.index}")
    return " UNION ALL ".join(parts)


def runs(plan: "Plan", first_run: int, first_row: int | None = None) -> "exp.Expression":
    """The run history rows ``(person, campaign, at, run)`` in the order the
    per-person engine records them: a person's batch run, then their
    executed children's (the child qualified), in slot order. With
    ``first_row``, an ``id`` column first: the rows' ids in the store's
    ``runs`` table, counted from it."""
    if first_row is None:
        return parse(f"SELECT person, campaign, {q(plan.now)} AS at, run FROM ({_runs_source(plan, first_run)}) "
                     f"AS u ORDER BY person, k")
    # counted on from the rows of the slices before (``slice__.r0``; ``sets.run``)
    return parse(f"SELECT CAST({first_row - 1} + sl.r0 + ROW_NUMBER() OVER (ORDER BY u.person, u.k) AS BIGINT) "
                 f"AS id, u.person, u.campaign, {q(plan.now)} AS at, u.run FROM ({_runs_source(plan, first_run)}) "
                 f"AS u CROSS JOIN slice__ AS sl ORDER BY u.person, u.k")


def _touched(plan: "Plan", kind: str, key: str, key_info: str) -> str:
    flags = [f"r.e{s.index}" for s in plan.slots if s.kind == kind and s.info.get(key_info) == key]
    return " OR ".join(flags)


def lists(plan: "Plan") -> list[tuple[str, "exp.Expression"]]:
    """For each list a slot adds to or removes from: ``(person, member)`` of
    the people a slot changed, by id; ``member``: in the list when the flow
    ended (added now, or removed)."""
    out = []
    assert plan.state is not None
    for lkey, col in plan.state.lists.items():
        touched = _touched(plan, "list", lkey, "list")
        if touched:
            out.append((lkey, parse(f"SELECT r.id AS person, r.{col} AS member FROM result AS r "
                                    f"WHERE {touched} ORDER BY r.id")))
    return out


def statuses(plan: "Plan") -> list[tuple[str, "exp.Expression"]]:
    """For each program a slot changes the status in: ``(person, status)``,
    the status the flow left, of the people whose status it changed."""
    out = []
    assert plan.state is not None
    for pkey, (_member, col) in plan.state.programs.items():
        touched = _touched(plan, "status", pkey, "program")
        if touched:
            out.append((pkey, parse(f"SELECT r.id AS person, r.{col} AS status FROM result AS r "
                                    f"WHERE {touched} ORDER BY r.id")))
    return out


def deleted(plan: "Plan") -> "exp.Expression | None":
    """The people ``delete person`` deleted, by id (None: the flow deletes nobody)."""
    if plan.deleted is None:
        return None
    return parse(f"SELECT r.id AS person FROM result AS r WHERE r.{plan.deleted} ORDER BY r.id")


def written_fields(plan: "Plan") -> dict[str, list[str]]:
    """The store columns the flow writes -> the flags of the slots that write them."""
    out: dict[str, list[str]] = {}
    for s in plan.slots:
        if s.kind in ("field", "score"):
            out.setdefault(s.info["column"], []).append(f"r.e{s.index}")
    return out


def updates(plan: "Plan") -> "exp.Expression | None":
    """One row per person whose fields a slot wrote: for each written column
    (``written_fields`` order) whether a slot wrote it and its final value,
    then the id; by id. None when no slot writes a field."""
    written = written_fields(plan)
    if not written:
        return None
    cols: list[str] = []
    for col, flags in written.items():
        cols += [f"({' OR '.join(flags)}) AS w__{len(cols) // 2}", f'r."{col}" AS v__{len(cols) // 2}']
    anyone = " OR ".join(f for flags in written.values() for f in flags)
    return parse(f"SELECT {', '.join(cols)}, r.id FROM result AS r WHERE {anyone} ORDER BY r.id")


def waits(plan: "Plan", first_run: int) -> "exp.Expression | None":
    """The queue items of a wait at the top of the flow, by id."""
    for s in plan.slots:
        if s.kind == "wait":
            i = s.info
            return parse(f"SELECT 'wait' AS kind, r.id AS person, {q(plan.campaign)} AS campaign, "
                         f"{q(i['due'])} AS due, {int(i['step'])} AS step, CAST({first_run} + r.p__ AS BIGINT) "
                         f"AS run, {q(i['context'])} AS context FROM result AS r WHERE r.e{s.index} ORDER BY r.id")
    return None


def requested(plan: "Plan", s: "Slot") -> "exp.Expression":
    """A request slot's ``(place, person, qualified)`` rows."""
    return parse(f"SELECT r.a{s.index} AS place, r.id AS person, r.x{s.index} AS qualified FROM result AS r "
                 f"WHERE r.e{s.index}")


def _flag(cond: str) -> str:
    return f"CAST(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS BIGINT)"


def summary(plan: "Plan") -> tuple["exp.Expression", list[tuple[str, Any]]]:
    """One aggregate row over ``result``, and what its columns mean:
    ``("people", None)``, ``("slot", s)`` (its activities), ``("runs", None)``
    (children's runs), ``("list", key)`` / ``("program", key)`` (members when
    the flow ended), ``("long", s)`` / ``("score", s)`` (rows failing a check)."""
    cols = ["CAST(COUNT(*) AS BIGINT)"]
    meaning: list[tuple[str, Any]] = [("people", None)]
    cap = MAX_RENDERED_CHARS
    for s in plan.slots:
        k = s.index
        cols.append(_flag(f"r.e{k}"))
        meaning.append(("slot", s))
        if s.kind == "execute":
            cols.append(_flag(f"r.e{k} AND r.x{k}"))
            meaning.append(("runs", None))
        long: list[str] = []
        if s.kind == "field" and s.info["ftype"] in ("text", "email"):
            long.append(f"LENGTH(r.n{k}) > {cap}")
        elif s.kind == "score":
            cols.append(_flag(f"r.e{k} AND r.n{k} < {_MIN_SCORE}"))
            meaning.append(("score", s))
        for _key, value in s.info.get("items", ()):
            for t in (value if isinstance(value, list) else [value]):
                if t.column is not None:
                    long.append(f"LENGTH(r.{t.column}) > {cap}")
                elif len(t.const) > cap:
                    long.append("TRUE")
        if long:
            cols.append(_flag(f"r.e{k} AND ({' OR '.join(long)})"))
            meaning.append(("long", s))
    assert plan.state is not None
    for lkey, col in plan.state.lists.items():
        cols.append(_flag(f"r.{col}"))
        meaning.append(("list", lkey))
    for pkey, (member, _col) in plan.state.programs.items():
        cols.append(_flag(f"r.{member}"))
        meaning.append(("program", pkey))
    return parse("SELECT " + ", ".join(f"{c} AS s{i}" for i, c in enumerate(cols)) + " FROM result AS r"), meaning


def members(plan: "Plan") -> tuple["exp.Expression | None", "exp.Expression | None"]:
    """``list_members`` and ``program_members`` rows of a run that started
    with none (``--people parquet:``): the memberships when the flow ended,
    made now, ordered as the store orders them."""
    assert plan.state is not None
    now = q(plan.now)
    lparts = [f"SELECT {q(k)} AS list, r.id AS person, {now} AS added_at FROM result AS r WHERE r.{c}"
              for k, c in plan.state.lists.items()]
    pparts = [f"SELECT {q(k)} AS program, r.id AS person, r.{c} AS status, '{{}}' AS data, {now} AS since "
              f"FROM result AS r WHERE r.{m}" for k, (m, c) in plan.state.programs.items()]
    lq = parse(f"SELECT * FROM ({' UNION ALL '.join(lparts)}) AS u ORDER BY list, person") if lparts else None
    pq = parse(f"SELECT * FROM ({' UNION ALL '.join(pparts)}) AS u ORDER BY program, person") if pparts else None
    return lq, pq
