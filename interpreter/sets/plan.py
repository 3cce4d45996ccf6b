"""A checked batch campaign compiled to a plan of relational operations:
the set-based form of ``Engine._batch`` (issue 16).

* ``entered``: the smart list as one query (``sets.query``) and the
  qualification rule as an anti-join on ``runs``;
* ``result``: the flow flattened into *slots* (``Slot``: one step, a
  choice's branch, an inlined child's step) and said as one projection per
  slot over the people who reach the flow, each reading the state the
  earlier slots left: field columns, list and program membership, the
  campaigns run so far in this run. A choice is a per-person CASE on that
  state; ``execute campaign`` is inlined (the checker's depth limit makes it
  finite) with the child's smart list and rule judged at that point and the
  token context of the link (``TokenContext.for_child``, computed here once
  per link); a token is folded at plan time by the evaluator's one renderer
  (``Evaluator.bind``) when the context fixes it, else said as SQL over the
  person's state (``{{lead.F}}`` as concatenation). A slot whose event a
  trigger campaign listens to adds, for each campaign that can fire, its
  smart list judged on the person as the event left them
  (``Planner.fires``); the runs it starts, with requests and ``remove from
  flow``, are handed to the engine's queue by ``sets.rounds``.

What the plan cannot say yet raises ``Unsupported`` before anything runs,
naming the step and why (docs/scale.md lists it). Every slot writes at most
one activity per person, so the writer (``sets.writer``) gives the ids in the
per-person order by walking a person's slots in order.

Imports ``ast``, ``evaluate`` (public methods), ``storage``, ``values``,
``sets.query``, ``sets.loader``; sqlglot. Never duckdb: a backend runs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrs import define, evolve, field

from .. import ast
from ..clock import iso
from ..evaluate import (
    MAX_EXECUTE_DEPTH,
    PARENT_CONTEXT,
    InvalidSmartList,
    StepError,
    TokenContext,
    literal_text,
    parse_score_change,
    trigger_tokens,
)
from ..storage import AllOf
from ..values import convert, dumps, encode
from .loader import Needs, Unsupported, decimal_fits
from .query import DECIMAL, State, condition, parse, q

if TYPE_CHECKING:  # pragma: no cover
    from sqlglot import exp

    from ..engine import Engine
    from ..model import CampaignInfo, ProgramInfo

#: field types whose values a slot writes and renders in SQL (a date or date-time is stored as its
#: ISO text, one text a value: equal texts are equal values, as the per-person engine compares them)
_PLAIN = ("text", "email", "integer", "score", "boolean", "date", "datetime", "decimal")


@define
class Text:
    """A rendered value: ``const`` when the token context fixes it, else
    ``sql`` (an SQL expression over the state; ``column``: the result
    column the writer reads it from)."""

    const: str | None = None
    sql: str | None = None
    column: str | None = None


@define
class Slot:
    """One place in the flattened flow that writes at most one activity per
    person. ``kind``: field (``change data value``, ``change lead
    partition``), score, list, email, alert, moment, execute, status,
    request, remove, delete, wait. The result has ``e{index}`` (it writes), and per kind ``o``/``n``
    (old and new value) or ``x`` (the child qualified) and the texts."""

    index: int
    kind: str
    type: str
    campaign: str
    asset: str | None
    where: str
    layer: int
    info: dict[str, Any] = field(factory=dict)


@define
class Layer:
    """One projection: state columns it sets and result columns it adds."""

    sets: dict[str, str] = field(factory=dict)
    outs: dict[str, str] = field(factory=dict)


@define
class Plan:
    """A compiled batch: the relations' queries and what the writer needs."""

    campaign: str
    now: str
    entered: "exp.Expression"
    reached: "exp.Expression | None"
    result: "exp.Expression"
    slots: list[Slot]
    needs: Needs
    columns: dict[str, tuple[str, str]]   # field key -> (column, type) the flow writes
    #: the state columns of ``result`` (lists ``l{i}``, programs ``pm{i}``/``ps{i}``...): ``sets.rows`` reads them
    state: State | None = None
    #: the row queries made for this plan (``sets.writer``): a run in slices writes each slice with the same ones
    made: dict[tuple, Any] = field(factory=dict)
    #: the state column saying ``delete person`` deleted the person (None: the flow deletes nobody)
    deleted: str | None = None


def _where(step: ast.Node) -> str:
    return f"{step.span.file}:{step.span.line}" if step.span is not None else "?"


_STEP_NAMES = {
    ast.Wait: "a wait inside a choice", ast.CallWebhook: "call webhook",
    ast.ChangeMemberData: "change program member data",
}


class Planner:
    """Compiles one batch campaign (``plan()``); ``Unsupported`` for what
    the set-based engine cannot do."""

    def __init__(self, engine: "Engine", campaign: "CampaignInfo", api: dict[str, str] | None,
                 carry: tuple[str, ...] = ()):
        self.engine = engine
        self.ev = engine.evaluator
        self.store = engine.store
        self.c = campaign
        self.api = api
        self.now = iso(engine.clock.now)
        self.needs = Needs()
        #: fields ``result`` carries though the flow neither reads nor writes them (a run over
        #: Parquet people writes each person's address to ``--out``: from ``result``, no join)
        self.needs.fields.update(carry)
        self.state = State()
        self.layers: list[Layer] = []
        self.slots: list[Slot] = []
        self.outs: list[str] = []
        self.columns: dict[str, tuple[str, str]] = {}
        self.initial_ran: set[str] = set()
        #: a frame's key (the campaign's qualified name) -> the campaign's name (a requester)
        self.frame_names: dict[str, str] = {}
        #: text fields a condition inside the flow compares case-folded
        self.flow_folded: set[str] = set()
        #: the frames running at the step being planned (the batch, then each inlined child)
        self.chain: list[str] = []
        #: the state column saying a person's run ended (``remove from flow`` of a running campaign,
        #: ``delete person``)
        self.ended: str | None = None
        #: the state column saying ``delete person`` deleted the person
        self.deleted: str | None = None

    # -- the batch ---------------------------------------------------------------------

    def plan(self) -> Plan:
        c, ev = self.c, self.ev
        sl = c.smart_list
        if sl is None or not sl.filters:
            sel_sql = "FALSE"   # a batch without filters runs for nobody (CL502)
            reached = None
        else:
            try:
                query, rest = ev.pushdown(sl, c.program)
            except InvalidSmartList:
                query, rest = None, []
                sel_sql = "FALSE"
            if rest:
                raise Unsupported("its smart list has a filter the set-based engine cannot say "
                                  f"({type(rest[0]).__name__} at {_where(rest[0])})")
            sel_sql = "FALSE" if query is None else condition(query, self.store, self.needs).sql("duckdb")
            reached = parse(f"SELECT count(*) AS n FROM people WHERE people.deleted = 0 AND ({sel_sql})")
        rule = self.engine._rule_query(c)
        rule_sql = "TRUE" if rule is None else condition(rule, self.store, self.needs).sql("duckdb")
        self.needs.campaigns.add(c.qualname)
        entered = parse(f"SELECT people.id FROM people WHERE people.deleted = 0 AND ({sel_sql}) "
                        f"AND ({rule_sql})")
        ctx = ev.own_context(c, self.api)
        self.state.ran_column(c.qualname)
        self.initial_ran.add(c.qualname)
        self.top_ctx = ctx
        self.frame_names[c.qualname] = c.name
        self.chain.append(c.qualname)
        self.walk(c.steps, c.program, c.qualname, ctx, "TRUE", 1)
        return Plan(c.qualname, self.now, entered, reached if sl is not None and sl.filters else None,
                    _result_query_of(self), self.slots, self.needs, self.columns, self.state,
                    deleted=self.deleted)

    def cond(self, query: Any) -> str:
        """A condition inside the flow, on the state earlier slots left."""
        sub = Needs()
        said = condition(query, self.store, sub, self.state).sql("duckdb")
        for name in ("fields", "folded", "decimals", "lists", "programs", "campaigns", "activities"):
            getattr(self.needs, name).update(getattr(sub, name))
        self.flow_folded |= sub.folded
        return f"COALESCE(({said}), FALSE)"

    # -- the flow ----------------------------------------------------------------------

    def walk(self, steps: Any, here: "ProgramInfo | None", frame: str, ctx: TokenContext, guard: str,
             depth: int) -> None:
        for index, step in enumerate(steps):
            if isinstance(step, ast.Wait) and depth == 1 and guard == "TRUE":
                if self.wait(step, index, frame, ctx):
                    return   # the rest of the flow resumes per person from the queue
                continue
            self.step(step, here, frame, ctx, guard, depth)

    def wait(self, step: ast.Wait, index: int, frame: str, ctx: TokenContext) -> bool:
        """A wait at the top of the flow: everyone who reaches it pauses until the
        same moment, and the run resumes from the store's queue as a per-person run
        does (the per-person engine runs the rest). Whether the run pauses."""
        now = self.engine.clock.now
        try:
            due = self.ev.fixed_wait_due(step)   # the evaluator's rule, per-person runs' too
        except OverflowError:
            raise self.refuse(step, "a wait past the last date the clock holds") from None
        if due is None:
            raise self.refuse(step, "a wait until a token is not set-based yet")
        if due <= now:
            return False   # already past: the wait does nothing
        s, _layer = self.slot("wait", "Wait", frame, None, step,
                              "TRUE" if self.ended is None else f"NOT people.{self.ended}")
        s.info.update(attrs=dumps({"until": iso(due)}), due=iso(due), step=index + 1,
                      context=dumps({"api": ctx.api, "trigger": ctx.trigger, "cause": [frame],
                                     "source": "batch"}))
        return True

    def end_run(self, guard: str) -> Layer:
        """A layer ending the run of the people ``guard`` holds for (``ended``:
        every later slot's guard excludes them); the caller may add to it."""
        if self.ended is None:
            self.ended = "z__ended"
        layer = Layer()
        layer.sets[self.ended] = f"people.{self.ended} OR ({guard})"
        self.layers.append(layer)
        return layer

    def refuse(self, step: ast.Node, why: str) -> Unsupported:
        return Unsupported(f"{why} ({type(step).__name__} at {_where(step)})")

    def step(self, step: ast.Node, here: "ProgramInfo | None", frame: str, ctx: TokenContext, guard: str,
             depth: int) -> None:
        name = _STEP_NAMES.get(type(step))
        if name is not None:
            raise self.refuse(step, f"{name} is not set-based yet")
        maker = _SLOTS.get(type(step))
        if maker is None:
            raise self.refuse(step, "this step is not set-based yet")
        if self.ended is not None:   # a run that `remove from flow` ended takes no later step
            guard = f"({guard}) AND NOT people.{self.ended}"
        try:
            maker(self, step, here, frame, ctx, guard, depth)
        except (InvalidSmartList, StepError) as exc:
            # the per-person engine would log an Error for each person who reaches it
            raise self.refuse(step, f"it fails for each person ({exc})") from None

    def judged(self, c: "CampaignInfo", step: ast.Node) -> str:
        """SQL for ``Evaluator.matches(c.smart_list, ...)`` at this point of the
        flow, on the state the earlier slots left (a requested or triggered
        campaign's filters, judged at the step or event, §12.1)."""
        sl = c.smart_list
        if sl is None or not sl.filters:
            return "TRUE"
        query, rest = self.ev.pushdown(sl, c.program)
        if rest:
            raise self.refuse(step, f"the smart list of {c.qualname} has a filter the set-based engine "
                                    f"cannot say")
        return "TRUE" if query is None else self.cond(query)

    def fires(self, s: Slot, kind: str, key: str, step: ast.Node) -> None:
        """The trigger campaigns slot ``s``'s event (``kind`` on ``key``) can
        start, from the engine's own trigger index (``Engine._trigger_index``,
        campaign order), and for each the column ``g{k}_{j}``: its smart list
        judged on the person as the event left them (a layer after the slot's).
        Which triggers match a person's event (``to``/``from`` values) is
        decided per person by the engine's ``_hits`` (``sets.rounds``), on the
        slot's old and new values. Lists (the index alone decides) keep the
        engine's emit plan: (campaign, token context) pairs."""
        engine = self.engine
        if not engine.listens(kind):
            return
        if kind in ("added to list", "removed from list"):
            planned = list(engine._emit_plan(kind, key, ""))
            campaigns = [c for c, _ctx in planned]
            candidates: list[Any] = []
        else:
            planned = []
            candidates = list(engine._trigger_index(kind).get(key) or [])
            campaigns = []
            for c, _trig in candidates:
                if all(c is not x for x in campaigns):
                    campaigns.append(c)
        if not campaigns:
            return
        layer = Layer()
        columns = []
        for j, c in enumerate(campaigns):
            column = f"g{s.index}_{j}"
            layer.outs[column] = self.judged(c, step)
            columns.append((c, column))
        self.layers.append(layer)
        s.info["fires"] = {"kind": kind, "key": key, "candidates": candidates, "planned": planned,
                           "columns": columns}

    def slot(self, kind: str, type_: str, frame: str, asset: str | None, step: ast.Node, guard: str,
             **info: Any) -> tuple[Slot, Layer]:
        s = Slot(len(self.slots), kind, type_, frame, asset, _where(step), len(self.layers), dict(info))
        self.slots.append(s)
        layer = Layer()
        layer.outs[f"e{s.index}"] = guard
        self.layers.append(layer)
        return s, layer

    def field_column(self, key: str) -> str:
        self.needs.fields.add(key)
        return '"' + self.store.columns[key] + '"'

    # -- tokens ------------------------------------------------------------------------

    def render(self, node: Any, ctx: TokenContext) -> Text:
        """A value node rendered for a person: folded by ``Evaluator.bind``
        when the context fixes it, else SQL over the state."""
        if isinstance(node, str):
            return Text(const=node)
        bound = self.ev.bind(node, ctx)
        if isinstance(bound, str):
            return Text(const=bound)
        if isinstance(node, ast.TokenRef) and node.namespace == "system":   # the clock: fixed while it runs
            return Text(const=bound(None))  # type: ignore[operator]
        return Text(sql=self._render_sql(node, ctx, 0))

    def folded(self, node: Any, ctx: TokenContext) -> str:
        """SQL for ``str.casefold`` of the rendered value: Python's case folding maps
        each character alone, so the fold of a concatenation is the concatenation of
        the folds (a lead text field's fold is the loader's ``cf__`` column)."""
        return self._render_sql(node, ctx, 0, fold=True)

    def _render_sql(self, node: Any, ctx: TokenContext, depth: int, fold: bool = False) -> str:
        def text(t: str) -> str:
            return q(t.casefold() if fold else t)
        if isinstance(node, ast.Template):
            parts = [text(p) if isinstance(p, str) else self._token_sql(p, ctx, depth, fold) for p in node.parts]
            return "(" + " || ".join(parts) + ")" if parts else "''"
        if isinstance(node, ast.TokenRef):
            return self._token_sql(node, ctx, depth, fold)
        return text(literal_text(node))

    def _token_sql(self, ref: ast.TokenRef, ctx: TokenContext, depth: int, fold: bool = False) -> str:
        def text(t: str) -> str:
            return q(t.casefold() if fold else t)
        ns = ref.namespace
        if ns == "lead":
            try:
                key, _name, ftype = self.ev.field_spec(ref.name)
            except InvalidSmartList:
                inner = "''"
            else:
                col = "people." + self.field_column(key)
                if ftype in ("text", "email") and fold:
                    self.needs.folded.add(key)
                    inner = f"COALESCE(people.\"cf__{self.store.columns[key]}\", '')"
                elif ftype in ("text", "email"):
                    inner = f"COALESCE({col}, '')"
                elif ftype in ("integer", "score"):
                    inner = f"COALESCE(CAST({col} AS VARCHAR), '')"
                elif ftype == "boolean":
                    inner = f"(CASE WHEN {col} IS NULL THEN '' WHEN {col} <> 0 THEN 'true' ELSE 'false' END)"
                elif ftype == "date":   # stored as ISO text, which is how the token renders it
                    inner = f"COALESCE({col}, '')"
                elif ftype == "datetime":   # ISO text with a 'T'; rendered with a space (values.format_value)
                    inner = f"COALESCE(REPLACE({col}, 'T', ' '), '')"
                else:
                    raise Unsupported(f"a {{{{lead.{ref.name}}}}} token of a {ftype} field is not set-based yet")
        elif ns == "my":
            found = ctx.lookup(ref.name)
            if found is None:
                inner = "''"
            else:
                value = found[0].value
                if isinstance(value, (ast.Template, ast.TokenRef)):
                    inner = "''" if depth > 8 else self._render_sql(value, ctx, depth + 1, fold)
                else:
                    inner = text(literal_text(value))
        else:
            bare = evolve(ref, default=None)
            bound = self.ev.bind(bare, ctx)
            if isinstance(bound, str):
                inner = text(bound)
            elif ns == "system":   # the clock: fixed while the batch runs
                inner = text(bound(None))  # type: ignore[arg-type]
            else:
                raise Unsupported(f"a {{{{{ns}.{ref.name}}}}} token is not set-based yet")
        if ref.default is None:
            return inner
        return f"COALESCE(NULLIF({inner}, ''), {text(ref.default)})"

    def text_out(self, layer: Layer, slot: Slot, text: Text, j: int) -> Text:
        if text.sql is not None:
            text.column = f"t{slot.index}_{j}"
            layer.outs[text.column] = text.sql
        return text


# -- slots: one function per step type (the set-based form beside the evaluator's
# per-person compiler; keyed by AST node class until the step entries carry it) ------------


def _change_data_value(p: Planner, step: ast.ChangeDataValue, here: Any, frame: str, ctx: TokenContext,
                       guard: str, depth: int) -> None:
    key, name, ftype = p.ev.field_spec(step.field.name)
    if key == "email address" or ftype not in _PLAIN or key not in p.store.columns:
        raise p.refuse(step, f"writing a {ftype} field ({name}) is not set-based yet")
    node = step.value
    raw: Any = None   # the value as stored, when it is the same for everyone
    said: tuple[str, str] | None = None   # else SQL over the person's state: the value and its casefold
    if not isinstance(node, (ast.Template, ast.TokenRef)):
        raw = encode(ftype, p.ev.value(node, ftype, None, None))
    elif (text := p.render(node, ctx)).const is None:   # depends on the person
        if ftype not in ("text", "email"):
            raise p.refuse(step, f"a rendered value that depends on the person, converted to {ftype}, "
                                 f"is not set-based yet")
        said = (f"({text.sql})", f"({p.folded(node, ctx)})")
    elif ftype in ("text", "email"):   # the context fixes the text: a text field takes it as it is
        raw = text.const
    else:   # converted once, as per person
        try:
            raw = encode(ftype, convert(ftype, text.const))
        except (ValueError, TypeError) as exc:
            raise StepError(f"cannot set a {ftype} field: {exc}") from None
    new, folded = said if said is not None else (q(raw), q(raw.casefold() if isinstance(raw, str) else None))
    if ftype == "decimal":   # compared as numbers (1.5 is 1.50), as the per-person engine compares them
        if raw is not None and not decimal_fits(raw):
            raise p.refuse(step, f"the decimal {raw} is past what {DECIMAL} holds exactly")
        p.needs.decimals.add(key)
    s = _field_slot(p, step, "Change Data Value", frame, key, name, ftype, new, folded, guard, {"field": name})
    p.fires(s, "data value changes", key, step)


def _field_slot(p: Planner, step: ast.Node, type_: str, frame: str, key: str, name: str, ftype: str, new: str,
                folded: str, guard: str, attrs: dict[str, Any]) -> Slot:
    """A slot writing SQL value ``new`` (its casefold ``folded``) to field
    ``key`` where it differs (an equal value writes and logs nothing)."""
    col = p.field_column(key)
    s, layer = p.slot("field", type_, frame, key, step, "")
    if ftype == "decimal":   # a value has many texts: compared as numbers (the loader checks each fits)
        changed = f"({guard}) AND (CAST(people.{col} AS {DECIMAL}) IS DISTINCT FROM CAST({new} AS {DECIMAL}))"
    else:   # one text a value: compared as stored
        changed = f"({guard}) AND (people.{col} IS DISTINCT FROM {new})"
    layer.outs[f"e{s.index}"] = changed
    layer.outs[f"o{s.index}"] = f"people.{col}"
    layer.outs[f"n{s.index}"] = new
    layer.sets[col] = f"CASE WHEN {changed} THEN {new} ELSE people.{col} END"
    s.info.update(column=col.strip('"'), key=key, ftype=ftype, attrs=dumps(attrs), folded=folded, field_name=name)
    p.columns[key] = (col.strip('"'), ftype)
    return s


def _change_lead_partition(p: Planner, step: ast.ChangeLeadPartition, here: Any, frame: str, ctx: TokenContext,
                           guard: str, depth: int) -> None:
    """The ``Lead Partition`` field, as ``change data value`` writes a text,
    logged as ``Change Lead Partition`` {partition}; it fires no trigger
    (Marketo's Data Value Changes does not see it)."""
    key, name, ftype = p.ev.field_spec("Lead Partition")
    if key not in p.store.columns or ftype not in ("text", "email"):
        raise p.refuse(step, f"writing a {ftype} field ({name}) is not set-based yet")
    partition = step.partition
    _field_slot(p, step, "Change Lead Partition", frame, key, name, ftype, q(partition), q(partition.casefold()),
                guard, {"partition": partition})


def _change_score(p: Planner, step: ast.ChangeScore, here: Any, frame: str, ctx: TokenContext,
                  guard: str, depth: int) -> None:
    key, name, ftype = p.ev.field_spec(step.field.name)
    node = step.change
    if isinstance(node, ast.ScoreChange):
        op, amount = node.op, node.amount
    elif isinstance(node, ast.Number) and isinstance(node.value, int) and node.value < 0:
        op, amount = "-", -node.value
    elif isinstance(node, (ast.TokenRef, ast.Template)):
        text = p.render(node, ctx)
        if text.const is None:
            raise p.refuse(step, "a score change that depends on the person is not set-based yet")
        parsed = parse_score_change(text.const)
        if parsed is None:
            raise p.refuse(step, f"it fails for each person ({text.const!r} is not a score change)")
        op, amount = parsed
    else:
        raise p.refuse(step, "it fails for each person (not a score change)")
    if ftype not in ("integer", "score") or key not in p.store.columns:
        raise p.refuse(step, f"a score change of a {ftype} field is not set-based yet")
    col = p.field_column(key)
    base = f"COALESCE(people.{col}, 0)"
    new = f"({base} + {amount})" if op == "+" else f"({base} - {amount})" if op == "-" else q(amount)
    s, layer = p.slot("score", "Change Score", frame, key, step, guard)
    layer.outs[f"o{s.index}"] = f"people.{col}"
    layer.outs[f"n{s.index}"] = new
    layer.sets[col] = f"CASE WHEN {guard} THEN {new} ELSE people.{col} END"
    s.info.update(column=col.strip('"'), key=key, ftype=ftype, attrs=dumps({"field": name, "change": f"{op}{amount}"}))
    p.columns[key] = (col.strip('"'), ftype)
    s.info.update(field_name=name, change=f"{op}{amount}")
    p.fires(s, "score is changed", key, step)


def _list_step(p: Planner, step: ast.AddToList | ast.RemoveFromList, here: Any, frame: str, ctx: TokenContext,
               guard: str, depth: int) -> None:
    adding = isinstance(step, ast.AddToList)
    lkey = p.ev.asset_key("list", step.list, here)
    p.needs.lists.add(lkey)
    col = p.state.list_column(lkey)
    s, layer = p.slot("list", "Add to List" if adding else "Remove from List", frame, lkey, step, "")
    if adding:
        layer.outs[f"e{s.index}"] = f"({guard}) AND NOT people.{col}"
        layer.sets[col] = f"people.{col} OR ({guard})"
    else:
        layer.outs[f"e{s.index}"] = f"({guard}) AND people.{col}"
        layer.sets[col] = f"people.{col} AND NOT ({guard})"
    s.info.update(list=lkey, adding=adding, attrs=dumps({"list": lkey}))
    p.fires(s, "added to list" if adding else "removed from list", lkey, step)


def _object(p: Planner, s: Slot, layer: Layer, items: list[tuple[str, Any]], ctx: TokenContext) -> None:
    """An activity's attributes from (key, value) items: the values rendered (a list: each)."""
    rendered: list[tuple[str, Any]] = []
    j = 0
    for k, v in items:
        if isinstance(v, list):
            texts = []
            for node in v:
                texts.append(p.text_out(layer, s, p.render(node, ctx), j))
                j += 1
            rendered.append((k, texts))
        else:
            rendered.append((k, p.text_out(layer, s, p.render(v, ctx), j)))
            j += 1
    s.info["items"] = rendered
    if all(t.const is not None for _k, v in rendered for t in (v if isinstance(v, list) else [v])):
        s.info["attrs"] = dumps({k: ([t.const for t in v] if isinstance(v, list) else v.const)
                                 for k, v in rendered})


def _send_email(p: Planner, step: ast.SendEmail, here: Any, frame: str, ctx: TokenContext,
                guard: str, depth: int) -> None:
    email = p.ev.resolve("email", step.email, here)
    key = p.ev.asset_key("email", step.email, here)
    items: list[tuple[str, Any]] = [("email", key)]
    for part in ("subject", "sender", "body"):
        node = getattr(email, part)
        if node is not None:
            items.append(("from" if part == "sender" else part, node))
    s, layer = p.slot("email", "Send Email", frame, key, step, guard)
    _object(p, s, layer, items, ctx)


def _send_alert(p: Planner, step: ast.SendAlert, here: Any, frame: str, ctx: TokenContext,
                guard: str, depth: int) -> None:
    email = p.ev.resolve("email", step.email, here)
    key = p.ev.asset_key("email", step.email, here)
    items: list[tuple[str, Any]] = [("email", key), ("to", list(step.recipients))]
    if email.subject is not None:
        items.append(("subject", email.subject))
    s, layer = p.slot("alert", "Send Alert", frame, key, step, guard)
    _object(p, s, layer, items, ctx)


def _interesting_moment(p: Planner, step: ast.InterestingMoment, here: Any, frame: str, ctx: TokenContext,
                        guard: str, depth: int) -> None:
    s, layer = p.slot("moment", "Interesting Moment", frame, None, step, guard)
    _object(p, s, layer, [("type", step.type), ("description", step.description)], ctx)


def _change_program_status(p: Planner, step: ast.ChangeProgramStatus, here: Any, frame: str,
                           ctx: TokenContext, guard: str, depth: int) -> None:
    program = p.ev.find_program(step.program, here)
    statuses = list(program.statuses)
    status = step.status
    if statuses and status not in statuses:
        raise StepError(f'program "{program.name}" has no status "{status}"')
    pkey = p.ev.program_key(program)
    p.needs.programs.add(pkey)
    member, col = p.state.program_columns(pkey)
    s, layer = p.slot("status", "Change Program Status", frame, pkey, step, "")
    later = [x for x in statuses if statuses.index(x) >= statuses.index(status)] if statuses else [status]
    changes = f"({guard}) AND NOT COALESCE(people.{col} IN ({', '.join(q(x) for x in later)}), FALSE)"
    layer.outs[f"e{s.index}"] = changes
    layer.outs[f"o{s.index}"] = f"people.{col}"
    layer.sets[member] = f"people.{member} OR ({changes})"
    layer.sets[col] = f"CASE WHEN {changes} THEN {q(status)} ELSE people.{col} END"
    s.info.update(program=pkey, status=status, attrs=dumps({"program": program.name}), new=dumps(status))
    s.info["program_name"] = program.name
    p.fires(s, "program status is changed", pkey, step)


def _execute_campaign(p: Planner, step: ast.ExecuteCampaign, here: Any, frame: str, ctx: TokenContext,
                      guard: str, depth: int) -> None:
    child = p.ev.resolve("campaign", step.campaign, here)
    if child.kind != "executable":
        raise StepError(f"{child.qualname} is not an executable campaign")
    if depth > MAX_EXECUTE_DEPTH:
        raise StepError("execute campaign chain too deep")
    use_parent = step.parent_context
    cq = child.qualname
    sl = child.smart_list
    if sl is None:
        qualifies = "TRUE"
    else:
        query, rest = p.ev.pushdown(sl, child.program)
        if rest:
            raise p.refuse(step, f"the smart list of {cq} has a filter the set-based engine cannot say")
        qualifies = "TRUE" if query is None else p.cond(query if query is not None else AllOf(()))
    if child.rule.rule != "every time":
        rule = p.engine._rule_query(child)
        if rule is not None:
            p.needs.campaigns.add(cq)
            qualifies = f"({qualifies}) AND {p.cond(rule)}"
    s, layer = p.slot("execute", "Executed Campaign", frame, cq, step, guard)
    ran = p.state.ran_column(cq)
    layer.outs[f"x{s.index}"] = f"({guard}) AND ({qualifies})"
    layer.sets[ran] = f"people.{ran} OR (({guard}) AND ({qualifies}))"
    s.info.update(child=cq, attrs={qual: dumps({"campaign": cq, "parent": frame, "qualified": qual,
                                                PARENT_CONTEXT: use_parent}) for qual in (True, False)})
    child_ctx = ctx.for_child(child, use_parent, p.ev.program_env(child.program))
    p.frame_names[cq] = child.name
    p.chain.append(cq)
    p.walk(child.steps, child.program, cq, child_ctx, f"people.x{s.index}", depth + 1)
    p.chain.pop()


def _choice(p: Planner, step: ast.Choice, here: Any, frame: str, ctx: TokenContext, guard: str,
            depth: int) -> None:
    whens = []
    for number, branch in enumerate(step.branches, 1):
        if branch.condition is None:
            whens.append(f"WHEN TRUE THEN {number}")
            continue
        try:
            query = p.ev.pushdown_filter(branch.condition, here)
        except InvalidSmartList:
            continue   # a condition that cannot be evaluated matches nobody
        if query is None:
            raise p.refuse(step, f"the condition of branch {number} has no set-based form")
        whens.append(f"WHEN {p.cond(query)} THEN {number}")
    layer = Layer()
    column = f"c{len(p.layers)}"
    layer.outs[column] = f"CASE {' '.join(whens)} ELSE 0 END" if whens else "0"
    p.layers.append(layer)
    for number, branch in enumerate(step.branches, 1):
        if branch.step is None:
            continue
        if isinstance(branch.step, ast.Wait):
            raise p.refuse(step, "it fails for each person (a choice cannot wait)")
        p.step(branch.step, here, frame, ctx, f"({guard}) AND people.{column} = {number}", depth)


def _request_campaign(p: Planner, step: ast.RequestCampaign, here: Any, frame: str, ctx: TokenContext,
                      guard: str, depth: int) -> None:
    """The request is logged here and queued for the per-person engine, which
    runs requested campaigns after the batch (first in, first out) exactly as
    it does after its own batches; the target's filters are judged here, on
    the state the earlier slots left."""
    target = p.ev.resolve("campaign", step.campaign, here)
    judged = p.judged(target, step)
    s, layer = p.slot("request", "Request Campaign", frame, target.qualname, step, guard)
    layer.outs[f"x{s.index}"] = judged
    requester = p.frame_names[frame]   # the name of the campaign whose step requests (Engine.request_campaign)
    trig = trigger_tokens("campaign is requested", requester, {"Source": "flow action"})
    s.info.update(attrs=dumps({"campaign": target.qualname}), target=target, requester=requester,
                  ctx=p.ev.own_context(target, None, trig))


def _remove_from_flow(p: Planner, step: ast.RemoveFromFlow, here: Any, frame: str, ctx: TokenContext,
                      guard: str, depth: int) -> None:
    """One slot per campaign named (each logs its ``Remove from Flow``); the
    queued waits and not-yet-started runs it ends are removed by ``sets.rounds``
    at this place of the person's order. Naming a campaign running at this
    point (the batch, or an inlined child of the chain) ends the person's run
    after the step: a state column every later slot's guard excludes."""
    targets = []
    ref: Any
    for ref in step.campaigns:
        if isinstance(ref, ast.ThisCampaign):
            targets.append(p.engine.campaigns[frame])
        else:
            targets.append(p.ev.resolve("campaign", ref, here))   # InvalidSmartList: fails for each person
    ends = False
    for target in targets:
        s, _layer = p.slot("remove", "Remove from Flow", frame, target.qualname, step, guard)
        s.info.update(attrs=dumps({"campaign": target.qualname}), target=target)
        ends = ends or target.qualname in p.chain
    if ends:
        p.end_run(guard)


def _delete_person(p: Planner, step: ast.DeletePerson, here: Any, frame: str, ctx: TokenContext,
                   guard: str, depth: int) -> None:
    """``delete person``: its ``Delete Person`` activity, and the end of the
    person's run (the whole run, from an executed child too: no later slot
    writes for them, and they reach no later wait). The writer deletes them
    from the store after the slice's other writes (``Store.delete_people``,
    the per-person engine's ``delete_person``): the state deleting at the
    step leaves, since nothing later in the run touches them."""
    s, _layer = p.slot("delete", "Delete Person", frame, None, step, guard)
    s.info.update(attrs=dumps({}))
    if p.deleted is None:
        p.deleted = "z__deleted"
    p.end_run(guard).sets[p.deleted] = f"people.{p.deleted} OR ({guard})"


_SLOTS: dict[type, Any] = {
    ast.DeletePerson: _delete_person,
    ast.ChangeLeadPartition: _change_lead_partition,
    ast.RemoveFromFlow: _remove_from_flow,
    ast.RequestCampaign: _request_campaign,
    ast.ChangeDataValue: _change_data_value,
    ast.ChangeScore: _change_score,
    ast.AddToList: _list_step,
    ast.RemoveFromList: _list_step,
    ast.SendEmail: _send_email,
    ast.SendAlert: _send_alert,
    ast.InterestingMoment: _interesting_moment,
    ast.ChangeProgramStatus: _change_program_status,
    ast.ExecuteCampaign: _execute_campaign,
    ast.Choice: _choice,
}


def _result_query_of(p: Planner) -> "exp.Expression":
    """``result``: the state of the people who entered, one projection per layer."""
    fields = sorted(p.needs.fields)
    state: list[tuple[str, str]] = [("id", "people.id")]
    for key in fields:
        col = '"' + p.store.columns[key] + '"'
        state.append((col, f"people.{col}"))
        if key in p.needs.folded:
            cf = '"cf__' + p.store.columns[key] + '"'
            state.append((cf, f"people.{cf}"))
    for lkey, col in p.state.lists.items():
        state.append((col, f"EXISTS (SELECT 1 FROM list_members AS lm WHERE lm.list = {q(lkey)} "
                           f"AND lm.person = people.id)"))
    for pkey, (member, col) in p.state.programs.items():
        state.append((member, f"EXISTS (SELECT 1 FROM program_members AS pm WHERE pm.program = {q(pkey)} "
                              f"AND pm.person = people.id)"))
        state.append((col, f"(SELECT MAX(pm.status) FROM program_members AS pm WHERE pm.program = {q(pkey)} "
                           f"AND pm.person = people.id)"))
    for ckey, col in p.state.ran.items():
        state.append((col, "TRUE" if ckey in p.initial_ran else "FALSE"))
    for col in p.state.activities.values():
        state.append((col, "FALSE"))
    for col in (p.ended, p.deleted):
        if col is not None:
            state.append((col, "FALSE"))
    names = [n for n, _ in state]
    ctes = ["s0 AS (SELECT " + ", ".join(f"{sql} AS {n}" for n, sql in state)
            # the range as well: a slice's ids (``sets.run``) are a range of the people's, and
            # the scan skips the rest of the table by it (the semi-join alone read all of it)
            + " FROM people WHERE people.id IN (SELECT id FROM entered) AND people.id BETWEEN "
              "(SELECT MIN(id) FROM entered) AND (SELECT MAX(id) FROM entered))"]
    outs: list[str] = []
    folded_cols = {'"' + p.store.columns[k] + '"': '"cf__' + p.store.columns[k] + '"'
                   for k in fields if k in p.needs.folded}
    slot_of_layer = {s.layer: s for s in p.slots}
    for i, layer in enumerate(p.layers, 1):
        sets = dict(layer.sets)
        s = slot_of_layer.get(i - 1)
        flag = None if s is None or s.asset is None else p.state.activities.get((s.type, s.asset))
        if flag is not None:   # a history filter later in the flow sees this slot's activity
            sets[flag] = f"people.{flag} OR ({layer.outs[f'e{s.index}']})"
        for col, cf in folded_cols.items():   # a constant written to a compared text field: its casefold too
            if col in sets:
                s = next(x for x in p.slots if x.kind == "field" and '"' + x.info["column"] + '"' == col
                         and f"e{x.index}" in layer.outs)
                changed = layer.outs[f"e{s.index}"]
                sets[cf] = f"CASE WHEN {changed} THEN {s.info['folded']} ELSE people.{cf} END"
        cols = [f"{sets[n]} AS {n}" if n in sets else f"people.{n}" for n in names]
        cols += [f"people.{o}" for o in outs]
        cols += [f"{sql} AS {o}" for o, sql in layer.outs.items()]
        outs += list(layer.outs)
        ctes.append(f"s{i} AS (SELECT {', '.join(cols)} FROM s{i - 1} AS people)")
    last = f"s{len(p.layers)}"
    # a{k}: the person's activities before slot k's, counted from the first activity of the
    # run (ids in the per-person order: people in id order, slots in flow order); p__: the
    # person's place in id order, counted from 0 (their run is the first run's number + p__).
    # Both continue from the slices before (``slice__``: one row, ``a0`` activities and ``p0``
    # people written by them; ``sets.run`` runs a big batch a slice of people at a time). The
    # running sums are a window over two numbers a person, joined back by id: a window over
    # the whole row sorted every column of it (1.5 s a million people, most of the plan).
    flags = [f"CAST(people.e{s.index} AS BIGINT)" for s in p.slots]
    count = " + ".join(flags) if flags else "0"
    ctes.append(f"counted AS (SELECT w.id AS id__, CAST(SUM(w.n__) OVER (ORDER BY w.id ROWS BETWEEN "
                f"UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) - w.n__ + sl.a0 AS a__, "
                f"CAST(ROW_NUMBER() OVER (ORDER BY w.id) AS BIGINT) - 1 + sl.p0 AS p__ "
                f"FROM (SELECT people.id, {count} AS n__ FROM {last} AS people) AS w CROSS JOIN slice__ AS sl)")
    slots = [f"c.a__ + {' + '.join(flags[:k]) if k else '0'} AS a{s.index}" for k, s in enumerate(p.slots)]
    return parse("WITH " + ", ".join(ctes) + f" SELECT people.*, c.a__, c.p__{''.join(', ' + x for x in slots)} "
                 f"FROM {last} AS people JOIN counted AS c ON c.id__ = people.id")
