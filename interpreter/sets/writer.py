"""The writer of the set-based engine: ``result`` (``sets.plan``), read in
id order, written into the store as the per-person engine would have
written it -- the same runs, field values, memberships, statuses and
activities, with the same ids, in the same order, with the same JSON.

Constant JSON was built at plan time with ``values.dumps``; what varies (old
and new values, rendered texts) is encoded here with ``dumps`` too, once per
distinct value. Everything goes through the store's buffered writers
(``add_activity_json``, ``record_run``, ``update_field`` flush with
``executemany``) inside the caller's transaction: a failure leaves the store
as it was. Imports ``values``, ``store`` (through the object it is given) and
``sets.plan``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..values import decode, dumps
from .loader import Unsupported
from .plan import Plan, Slot, check_rendered

if TYPE_CHECKING:  # pragma: no cover
    from ..store import Store

_MIN_INT = -2 ** 63


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


def _texts(s: Slot, columns: dict[str, list[Any]]) -> Callable[[int], str]:
    """The attributes JSON of a slot whose texts vary: ``dumps`` of the object, cached per texts."""
    items = s.info["items"]
    sources: list[Any] = []
    for _k, v in items:
        for t in (v if isinstance(v, list) else [v]):
            sources.append(t.const if t.column is None else columns[t.column])
    cache: dict[tuple, str] = {}

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


def write(store: "Store", plan: Plan, columns: dict[str, list[Any]], first_run: int) -> list[int]:
    """Write ``result`` (as columns) into ``store``; returns the ids who entered, in order."""
    ids: list[int] = columns["id"]
    now, batch = plan.now, plan.campaign
    add = store.add_activity_json
    record = store.record_run
    update = store.update_field
    writers: list[Callable[[int, int, int], None]] = []
    for s in plan.slots:
        writers.append(_slot_writer(store, s, columns, now))
    flags = [columns[f"e{s.index}"] for s in plan.slots]
    pairs = list(zip(flags, writers))
    del add, update
    for i, pid in enumerate(ids):
        run = first_run + i
        record(pid, batch, now, run)
        for flag, w in pairs:
            if flag[i]:
                w(i, pid, run)
    return ids


def _slot_writer(store: "Store", s: Slot, columns: dict[str, list[Any]], now: str
                 ) -> Callable[[int, int, int], None]:
    add = store.add_activity_json
    type_, campaign, asset = s.type, s.campaign, s.asset
    info = s.info
    if s.kind in ("field", "score"):
        olds, news = columns[f"o{s.index}"], columns[f"n{s.index}"]
        col, attrs, enc = info["column"], info["attrs"], _encoder(info["ftype"])
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
            add(pid, type_, campaign, run, now, attrs, asset, enc(old), enc(new))
        return field
    if s.kind == "list":
        lkey, attrs = info["list"], info["attrs"]
        member = store.list_add if info["adding"] else None
        remove = store.list_remove

        def list_write(i: int, pid: int, run: int) -> None:
            if member is not None:
                member(lkey, pid, now)
            else:
                remove(lkey, pid)
            add(pid, type_, campaign, run, now, attrs, asset)
        return list_write
    if s.kind == "status":
        olds = columns[f"o{s.index}"]
        pkey, status, attrs, new_json = info["program"], info["status"], info["attrs"], info["new"]
        set_status = store.set_status

        def status_write(i: int, pid: int, run: int) -> None:
            old = olds[i]
            set_status(pkey, pid, status, now)
            add(pid, type_, campaign, run, now, attrs, asset, None if old is None else dumps(old), new_json)
        return status_write
    if s.kind == "execute":
        qualified = columns[f"x{s.index}"]
        yes, no = info["attrs"][True], info["attrs"][False]
        child = info["child"]
        record = store.record_run

        def execute(i: int, pid: int, run: int) -> None:
            if qualified[i]:
                add(pid, type_, campaign, run, now, yes, asset)
                record(pid, child, now, run)
            else:
                add(pid, type_, campaign, run, now, no, asset)
        return execute
    # email, alert, moment: an activity with rendered attributes
    fixed = info.get("attrs")
    if fixed is not None:
        def constant(i: int, pid: int, run: int) -> None:
            add(pid, type_, campaign, run, now, fixed, asset)
        return constant
    attrs_of = _texts(s, columns)

    def rendered(i: int, pid: int, run: int) -> None:
        add(pid, type_, campaign, run, now, attrs_of(i), asset)
    return rendered
