"""The writer of the set-based engine: ``result`` (``sets.plan``), read in
id order a batch of rows at a time, written into the store as the
per-person engine would have written it -- the same runs, field values,
memberships, statuses and activities, with the same ids, in the same order,
with the same JSON.

Column by column: each slot's activities are made for the rows where it
writes (``e{k}``), numbered by the plan (``a{k}``: the per-person order),
and all of a batch's rows go to the store sorted by id; a field the flow
wrote gets its final value (the state column) in one UPDATE per person.
Constant JSON was built at plan time with ``values.dumps``; what varies (old
and new values, rendered texts) is encoded with ``dumps`` too, once per
distinct value. Everything goes through ``Store.write_bulk`` inside the
caller's transaction: a failure leaves the store as it was. Imports
``values`` and ``sets.plan``; the store only through the object it is given.
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any, Callable

from ..values import decode, dumps
from .loader import Unsupported
from .plan import Plan, Slot, check_rendered

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

    from ..store import Store

_MIN_INT = -2 ** 63
#: rows of ``result`` turned into Python objects at a time (bounds the writer's memory)
BATCH_ROWS = 50_000
_FIRST = itemgetter(0)


def _encoder(ftype: str) -> Callable[[Any], str | None]:
    """dumps of a stored value, decoded, once per distinct value."""
    cache: dict[Any, str | None] = {None: None}

    def enc(raw: Any) -> str | None:
        hit = cache.get(raw, cache)
        if hit is not cache:
            return hit  # type: ignore[return-value]
        out = dumps(decode(ftype, raw))
        if len(cache) < 65536:
            cache[raw] = out
        return out
    return enc


def _texts(s: Slot, columns: dict[str, list[Any]], cache: dict[tuple, str]) -> Callable[[int], str]:
    """The attributes JSON of a slot whose texts vary: ``dumps`` of the object, cached per texts."""
    items = s.info["items"]
    sources: list[Any] = []
    for _k, v in items:
        for t in (v if isinstance(v, list) else [v]):
            sources.append(t.const if t.column is None else columns[t.column])

    def attrs(i: int) -> str:
        texts = tuple(x if x.__class__ is str else x[i] for x in sources)
        hit = cache.get(texts)
        if hit is None:
            for t in texts:
                check_rendered(t, s.where)
            values: dict[str, Any] = {}
            n = 0
            for k, v in items:
                if isinstance(v, list):
                    values[k] = list(texts[n:n + len(v)])
                    n += len(v)
                else:
                    values[k] = texts[n]
                    n += 1
            hit = dumps(values)
            if len(cache) < 65536:
                cache[texts] = hit
        return hit
    return attrs


def write(store: "Store", plan: Plan, table: "pyarrow.Table", first_run: int) -> list[int]:
    """Write ``result`` (ordered by id) into ``store``; returns the ids who entered, in
    order. The work the batch leaves (requested and triggered runs, removals from
    flow) is ``sets.rounds``'."""
    import pyarrow.compute as pc

    total = sum(pc.sum(table.column(f"e{s.index}").cast("int64")).as_py() or 0 for s in plan.slots)
    first_id = store.reserve_activity_ids(total) if total else 1
    ids: list[int] = []
    caches: dict[int, dict[str, Any]] = {}
    done = 0
    # the columns each field the flow writes is written by (their final value is the state column)
    written: dict[str, list[str]] = {}
    for s in plan.slots:
        if s.kind in ("field", "score"):
            written.setdefault(s.info["column"], []).append(f"e{s.index}")
    for batch in table.to_batches(BATCH_ROWS):
        columns = batch.to_pydict()
        batch_ids: list[int] = columns["id"]
        n = len(batch_ids)
        runs_of = list(range(first_run + done, first_run + done + n))
        acts: list[tuple] = []
        runs: list[tuple] = [(i, -1, (pid, plan.campaign, plan.now, run))
                             for i, (pid, run) in enumerate(zip(batch_ids, runs_of))]
        members: list[tuple] = []
        statuses: list[tuple] = []
        queue: list[tuple] = []
        for s in plan.slots:
            _slot_rows(s, columns, runs_of, plan.now, first_id, acts, runs, members, statuses,
                       caches.setdefault(s.index, {}))
            if s.kind == "wait":   # every person who entered pauses here, in id order
                queue += [("wait", pid, plan.campaign, s.info["due"], s.info["step"], run, s.info["context"])
                          for pid, run, e in zip(batch_ids, runs_of, columns[f"e{s.index}"]) if e]
        updates = {}
        for col, flags in written.items():
            values = columns[col]
            if len(flags) == 1:
                any_write = columns[flags[0]]
            else:
                any_write = [any(t) for t in zip(*(columns[f] for f in flags))]
            updates[col] = [(v, pid) for v, pid, w in zip(values, batch_ids, any_write) if w]
        acts.sort(key=_FIRST)
        runs.sort(key=lambda r: (r[0], r[1]))
        members.sort(key=_FIRST)
        statuses.sort(key=_FIRST)
        for _a, pkey, pid, status in statuses:
            store.set_status(pkey, pid, status, plan.now)
        store.write_bulk(acts, [r[2] for r in runs], [m[1] for m in members], updates, queue)
        ids.extend(batch_ids)
        done += n
    if total and first_id + total != store.reserve_activity_ids(0):   # pragma: no cover - a miscount
        raise AssertionError("the set-based writer wrote another number of activities than it reserved")
    return ids


def _slot_rows(s: Slot, columns: dict[str, list[Any]], runs_of: list[int], now: str, first_id: int,
               acts: list[tuple], runs: list[tuple], members: list[tuple], statuses: list[tuple],
               cache: dict[str, Any]) -> None:
    """One slot's rows of a batch, each keyed by its activity's place."""
    k = s.index
    flags, places, ids = columns[f"e{k}"], columns[f"a{k}"], columns["id"]
    type_, campaign, asset, info = s.type, s.campaign, s.asset, s.info
    base = first_id
    rows = [(i, a, pid, run) for i, (e, a, pid, run) in enumerate(zip(flags, places, ids, runs_of)) if e]
    if not rows:
        return
    if s.kind in ("field", "score"):
        olds, news = columns[f"o{k}"], columns[f"n{k}"]
        enc = cache.get("enc") or cache.setdefault("enc", _encoder(info["ftype"]))
        attrs = info["attrs"]
        if s.kind == "score" and any(news[i] == _MIN_INT for i, *_ in rows):
            raise Unsupported(f"a score past 64 bits at {s.where}")
        if info["ftype"] in ("text", "email"):
            for i, *_ in rows:
                if news[i] is not None:
                    check_rendered(news[i], s.where)
        acts += [(base + a, pid, type_, campaign, run, now, asset, attrs, enc(olds[i]), enc(news[i]))
                 for i, a, pid, run in rows]
    elif s.kind == "list":
        attrs, lkey = info["attrs"], info["list"]
        acts += [(base + a, pid, type_, campaign, run, now, asset, attrs, None, None) for i, a, pid, run in rows]
        if info["adding"]:
            members += [(a, ("+", lkey, pid, now)) for i, a, pid, run in rows]
        else:
            members += [(a, ("-", lkey, pid)) for i, a, pid, run in rows]
    elif s.kind == "status":
        olds = columns[f"o{k}"]
        attrs, new_json, pkey, status = info["attrs"], info["new"], info["program"], info["status"]
        acts += [(base + a, pid, type_, campaign, run, now, asset, attrs,
                  None if olds[i] is None else dumps(olds[i]), new_json) for i, a, pid, run in rows]
        statuses += [(a, pkey, pid, status) for i, a, pid, run in rows]
    elif s.kind == "execute":
        qualified = columns[f"x{k}"]
        yes, no, child = info["attrs"][True], info["attrs"][False], info["child"]
        acts += [(base + a, pid, type_, campaign, run, now, asset, yes if qualified[i] else no, None, None)
                 for i, a, pid, run in rows]
        runs += [(i, k, (pid, child, now, run)) for i, a, pid, run in rows if qualified[i]]
    elif s.kind in ("wait", "request", "remove"):
        attrs = info["attrs"]
        acts += [(base + a, pid, type_, campaign, run, now, asset, attrs, None, None) for i, a, pid, run in rows]
    else:   # email, alert, moment: an activity with rendered attributes
        fixed = info.get("attrs")
        if fixed is not None:
            acts += [(base + a, pid, type_, campaign, run, now, asset, fixed, None, None)
                     for i, a, pid, run in rows]
        else:
            attrs_of = _texts(s, columns, cache.setdefault("texts", {}))
            acts += [(base + a, pid, type_, campaign, run, now, asset, attrs_of(i), None, None)
                     for i, a, pid, run in rows]
