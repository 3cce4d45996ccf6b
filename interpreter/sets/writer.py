"""The writer of the set-based engine: ``result`` (``sets.plan``), read in
id order a batch of rows at a time, written into the store as the
per-person engine would have written it -- the same runs, field values,
memberships, statuses and activities, with the same ids, in the same order,
with the same JSON.

Constant JSON was built at plan time with ``values.dumps``; what varies (old
and new values, rendered texts) is encoded here with ``dumps`` too, once per
distinct value. Rows go to the store in bulk (``Store.write_bulk``,
``update_field``'s buffer) inside the caller's transaction: a failure leaves
the store as it was. Imports ``values`` and ``sets.plan``; the store only
through the object it is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..values import decode, dumps
from .loader import Unsupported
from .plan import Plan, Slot, check_rendered

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

    from ..store import Store

_MIN_INT = -2 ** 63
#: rows of ``result`` turned into Python objects at a time (bounds the writer's memory)
BATCH_ROWS = 20_000


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


class _Out:
    """What one batch of rows writes, in order."""

    def __init__(self, store: "Store", now: str):
        self.store = store
        self.now = now
        self.acts: list[tuple] = []
        self.runs: list[tuple] = []
        self.members: list[tuple] = []
        self.next_id = 0

    def flush(self) -> None:
        self.store.write_bulk(self.acts, self.runs, self.members)
        self.acts, self.runs, self.members = [], [], []


def write(store: "Store", plan: Plan, table: "pyarrow.Table", first_run: int) -> list[int]:
    """Write ``result`` (ordered by id) into ``store``; returns the ids who entered, in order."""
    import pyarrow.compute as pc

    total = sum(pc.sum(table.column(f"e{s.index}").cast("int64")).as_py() or 0 for s in plan.slots)
    out = _Out(store, plan.now)
    out.next_id = store.reserve_activity_ids(total) if total else 0
    ids: list[int] = []
    state: dict[str, Any] = {}
    run = first_run
    for batch in table.to_batches(BATCH_ROWS):
        columns = batch.to_pydict()
        writers = [_slot_writer(store, s, columns, out, state) for s in plan.slots]
        pairs = list(zip([columns[f"e{s.index}"] for s in plan.slots], writers))
        runs = out.runs
        batch_ids = columns["id"]
        now, campaign = plan.now, plan.campaign
        for i, pid in enumerate(batch_ids):
            runs.append((pid, campaign, now, run))
            for flag, w in pairs:
                if flag[i]:
                    w(i, pid, run)
            run += 1
        ids.extend(batch_ids)
        out.flush()
    if total and out.next_id != store.reserve_activity_ids(0):   # pragma: no cover - a slot miscounted
        raise AssertionError("the set-based writer wrote another number of activities than it reserved")
    return ids


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


def _slot_writer(store: "Store", s: Slot, columns: dict[str, list[Any]], out: _Out, state: dict[str, Any]
                 ) -> Callable[[int, int, int], None]:
    """``write(i, pid, run)`` for row i of this batch, where the slot writes."""
    acts = out.acts
    now = out.now
    type_, campaign, asset = s.type, s.campaign, s.asset
    info = s.info
    cached = state.setdefault(s.index, {})   # this slot's caches, kept across batches

    def act(pid: int, run: int, attrs: str, old: str | None = None, new: str | None = None) -> None:
        acts.append((out.next_id, pid, type_, campaign, run, now, asset, attrs, old, new))
        out.next_id += 1

    if s.kind in ("field", "score"):
        olds, news = columns[f"o{s.index}"], columns[f"n{s.index}"]
        col, attrs = info["column"], info["attrs"]
        enc = cached.get("enc") or cached.setdefault("enc", _encoder(info["ftype"]))
        update = store.update_field
        score = s.kind == "score"
        text = info["ftype"] in ("text", "email")

        def field(i: int, pid: int, run: int) -> None:
            old, new = olds[i], news[i]
            if score:
                if new == _MIN_INT:
                    raise Unsupported(f"a score past 64 bits at {s.where}")
                if new != old:
                    update(pid, col, new)
            else:
                if text and new is not None:
                    check_rendered(new, s.where)
                update(pid, col, new)
            act(pid, run, attrs, enc(old), enc(new))
        return field
    if s.kind == "list":
        lkey, attrs = info["list"], info["attrs"]
        adding = info["adding"]
        members = out.members

        def list_write(i: int, pid: int, run: int) -> None:
            members.append(("+", lkey, pid, now) if adding else ("-", lkey, pid))
            act(pid, run, attrs)
        return list_write
    if s.kind == "status":
        olds = columns[f"o{s.index}"]
        pkey, status, attrs, new_json = info["program"], info["status"], info["attrs"], info["new"]
        set_status = store.set_status

        def status_write(i: int, pid: int, run: int) -> None:
            old = olds[i]
            set_status(pkey, pid, status, now)
            act(pid, run, attrs, None if old is None else dumps(old), new_json)
        return status_write
    if s.kind == "execute":
        qualified = columns[f"x{s.index}"]
        yes, no = info["attrs"][True], info["attrs"][False]
        child = info["child"]
        runs = out.runs

        def execute(i: int, pid: int, run: int) -> None:
            if qualified[i]:
                act(pid, run, yes)
                runs.append((pid, child, now, run))
            else:
                act(pid, run, no)
        return execute
    # email, alert, moment: an activity with rendered attributes
    fixed = info.get("attrs")
    if fixed is not None:
        def constant(i: int, pid: int, run: int) -> None:
            act(pid, run, fixed)
        return constant
    attrs_of = _texts(s, columns, cached.setdefault("texts", {}))

    def rendered(i: int, pid: int, run: int) -> None:
        act(pid, run, attrs_of(i))
    return rendered
