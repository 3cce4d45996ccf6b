"""The rounds after a set-based batch: the work its people's runs leave --
requested runs, runs of the trigger campaigns its events fired -- and what
its ``remove from flow`` steps end, handed to the per-person engine, which
drains them as it drains the work of its own batches (``Engine._drain``:
first in, first out; each started run may add more at the end, until
nothing is due).

The per-person engine appends a work item when a run's step makes it (a
``request campaign``: ``Engine._queue_request``; an event some trigger
campaign listens to: ``Engine.emit``), person by person in id order, and in
the order the events happened within a person's run; a ``remove from flow``
drops the person's items of the campaigns it names that are already there
(``Engine.remove_from_flow``). ``collect`` builds the same items, in the
same order, from the columns of ``result`` (``sets.plan``) that say them:
``e{k}`` (the slot's event happened), ``x{k}`` (a request: the target's
filters held at the step), ``o{k}``/``n{k}`` (old and new value of the
event) and ``g{k}_{j}`` (trigger campaign j's smart list, judged on the
person as the event left them). Which triggers an event matches (``to`` and
``from`` values, several triggers of one campaign) is the engine's own
``_hits`` on the event made from the slot's decoded old and new values, and
a fired run's token context is the engine's ``_trigger_tokens`` and
``own_context``: one implementation for both engines.

A started run reads its person again from the store (``stamp`` None: the
writer has written the batch's fields by then). Imports ``values``,
``sets.plan``, ``sets.query``, ``sets.loader`` (``Unsupported``) and, when it
runs, ``sets.parquet``; the engine only through the object given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..values import decode
from .loader import Unsupported
from .plan import Plan, Slot
from .query import parse

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import Engine
    from .backend import Backend

#: rows of ``result`` turned into Python objects at a time
BATCH_ROWS = 50_000


def _columns(s: Slot) -> list[str]:
    """The columns of ``result`` slot ``s``'s work needs ([] when it makes none)."""
    k = s.index
    if s.kind == "request":
        return [f"e{k}", f"x{k}"]
    if s.kind == "remove":
        return [f"e{k}"]
    fires = s.info.get("fires")
    if fires is None:
        return []
    cols = [f"e{k}"] + [col for _c, col in fires["columns"]]
    if not fires["planned"]:   # the event's values decide which triggers match, and their tokens
        cols += [f"o{k}"] + ([f"n{k}"] if s.kind in ("field", "score") else [])
    return cols


def _due(s: Slot) -> str:
    """SQL: slot ``s`` may leave work for the person (a fired trigger: only where
    some campaign's smart list held at the event), to read only those rows."""
    fires = s.info.get("fires")
    if s.kind in ("request", "remove") or fires is None:
        return f"COALESCE(e{s.index}, FALSE)"
    return f"COALESCE(e{s.index} AND ({' OR '.join(col for _c, col in fires['columns'])}), FALSE)"


def collect(engine: "Engine", plan: Plan, backend: "Backend",
            ) -> tuple[list[tuple], list[tuple[int, str]]]:
    """The work items the batch leaves, in the per-person engine's order, and
    the (person, campaign) pairs whose queued waits ``remove from flow`` ends."""
    slots = [s for s in plan.slots if _columns(s)]
    if not slots:
        return [], []
    from .parquet import ParquetPeople
    starts = next((s for s in slots if s.kind != "remove"), None)
    if starts is not None and isinstance(backend, ParquetPeople):
        # the runs it would start read their person from the store, and a run over Parquet people has none
        what = "a request campaign" if starts.kind == "request" else "a step whose event starts trigger campaigns"
        raise Unsupported(f"{what} needs a store to run them from, and a run over Parquet people has none "
                          f"({starts.type} at {starts.where})")
    cols: list[str] = []
    for s in slots:
        cols += [c for c in _columns(s) if c not in cols]
    flags = " OR ".join(_due(s) for s in slots)
    try:
        table = backend.fetch(parse(f"SELECT id, {', '.join(cols)} FROM result WHERE {flags} ORDER BY id"))
    except Exception as exc:   # the backend's own error is this run's
        raise Unsupported(f"the backend failed: {str(exc).splitlines()[0][:200]}") from None
    work: list[tuple] = []
    removed: list[tuple[int, str]] = []
    cause = (plan.campaign,)
    makers = [(s, _maker(engine, s, cause)) for s in slots]
    for batch in table.to_batches(BATCH_ROWS):
        columns = batch.to_pydict()
        for i, pid in enumerate(columns["id"]):
            mine: list[tuple] = []
            for s, make in makers:
                if columns[f"e{s.index}"][i]:
                    make(columns, i, pid, mine, removed)
            work += mine
    return work, removed


def _maker(engine: "Engine", s: Slot, cause: tuple[str, ...]) -> Any:
    """``make(columns, i, pid, mine, removed)``: what slot ``s`` does to person
    ``pid``'s work (``mine``, in order) when its event happened for them."""
    info, k = s.info, s.index
    if s.kind == "request":
        target, ctx, requester = info["target"], info["ctx"], info["requester"]

        def request(columns: dict[str, list[Any]], i: int, pid: int, mine: list[tuple],
                    removed: list[tuple[int, str]]) -> None:
            mine.append(("request", target, pid, ctx, cause, "flow action", requester, bool(columns[f"x{k}"][i])))
        return request
    if s.kind == "remove":
        target = info["target"]
        qualname = target.qualname

        def remove(columns: dict[str, list[Any]], i: int, pid: int, mine: list[tuple],
                   removed: list[tuple[int, str]]) -> None:
            mine[:] = [item for item in mine if item[1] is not target]   # Engine.remove_from_flow
            removed.append((pid, qualname))
        return remove
    fires = info["fires"]
    kind, judged = fires["kind"], fires["columns"]
    if fires["planned"]:   # a list event: the engine's emit plan, (campaign, context) pairs
        planned = [(c, ctx, col) for (c, ctx), (_c, col) in zip(fires["planned"], judged)]

        def indexed(columns: dict[str, list[Any]], i: int, pid: int, mine: list[tuple],
                    removed: list[tuple[int, str]]) -> None:
            for c, ctx, col in planned:
                if columns[col][i]:
                    mine.append(("start", c, pid, ctx, cause, "trigger", None, None))
        return indexed
    column_of = {id(c): col for c, col in judged}
    candidates = fires["candidates"]
    own_context, tokens_of, hits = engine.evaluator.own_context, engine._trigger_tokens, engine._hits
    if s.kind == "status":
        fixed = {"program": info["program"], "program_name": info["program_name"], "new": info["status"]}
    else:
        ftype = info["ftype"]
        fixed = {"field": info["key"], "field_name": info["field_name"]}
        if s.kind == "score":
            fixed["change"] = info["change"]

    def fired(columns: dict[str, list[Any]], i: int, pid: int, mine: list[tuple],
              removed: list[tuple[int, str]]) -> None:
        event = dict(fixed)
        if s.kind == "status":
            event["old"] = columns[f"o{k}"][i]
        else:
            old, new = decode(ftype, columns[f"o{k}"][i]), decode(ftype, columns[f"n{k}"][i])
            if s.kind == "score" and new == old:
                return   # change score always logs; it fires only when the value changed (§12.7)
            event["old"], event["new"] = old, new
        tokens = None
        for c in hits(kind, event, candidates):
            if not columns[column_of[id(c)]][i]:
                continue
            if tokens is None:
                tokens = tokens_of(kind, event)
            mine.append(("start", c, pid, own_context(c, None, tokens), cause, "trigger", None, None))
    return fired
