"""The loader of the set-based engine: the store's rows a plan needs, as
Arrow tables, handed to a backend under the names of ``INPUTS``.

The relations mirror the store's tables with the store's column names
(docs/scale.md, "The set-based engine"): ``people`` (``id``, ``deleted``, the
field columns a plan reads, each in its stored encoding -- text, email,
decimal, date and datetime as text; integer, score and boolean as BIGINT --
and ``cf__C``, Python's ``str.casefold`` of text column C, computed once per
distinct value, NULL kept NULL, so every backend compares text exactly as
the per-person engine does), ``list_members``, ``program_members``, ``runs``
and ``activities``, each cut to the lists, programs, campaigns and activity
types the plan names. Imports pyarrow, ``store`` and ``sets.backend``.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable

from attrs import define, field

if TYPE_CHECKING:  # pragma: no cover
    from ..store import Store
    from .backend import Backend

#: the relations a plan reads (what ``load`` makes available)
PEOPLE = "people"
LIST_MEMBERS = "list_members"
PROGRAM_MEMBERS = "program_members"
RUNS = "runs"
ACTIVITIES = "activities"
INPUTS = (PEOPLE, LIST_MEMBERS, PROGRAM_MEMBERS, RUNS, ACTIVITIES)

#: prefix of a casefolded text column (``cf__`` + the store's column name)
CASEFOLD = "cf__"

#: people read from the store at a time
CHUNK = 100_000

#: field type -> Arrow type of its stored encoding
_INT_TYPES = ("integer", "score", "boolean")


class Unsupported(Exception):
    """What the set-based engine cannot do (yet); the message says why."""


def decimal_fits(value: Any) -> bool:
    """Whether a decimal (stored text or literal) is exact as ``DECIMAL(38, 18)``."""
    try:
        d = Decimal(str(value))
    except ArithmeticError:
        return False
    if not d.is_finite():
        return False
    sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    return -exponent <= 18 and abs(d) < Decimal(10) ** 20


@define
class Needs:
    """What a plan reads of the store: field keys (and which of them are
    compared case-folded), lists, programs, campaigns, (activity type,
    asset) pairs."""

    fields: set[str] = field(factory=set)
    folded: set[str] = field(factory=set)
    decimals: set[str] = field(factory=set)
    lists: set[str] = field(factory=set)
    programs: set[str] = field(factory=set)
    campaigns: set[str] = field(factory=set)
    activities: set[tuple[str, str]] = field(factory=set)


@define
class Loaded:
    """What ``load`` moved: rows per relation and seconds spent reading the
    store and handing Arrow to the backend (docs/scale.md's figures)."""

    rows: dict[str, int] = field(factory=dict)
    read_seconds: float = 0.0
    load_seconds: float = 0.0


def _casefolded(values: list[Any], cache: dict[str, str]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        f = cache.get(v)
        if f is None:
            f = cache[v] = v.casefold() if isinstance(v, str) else str(v).casefold()
        out.append(f)
    return out


def _in(column: str, values: Iterable[Any]) -> tuple[str, list[Any]]:
    vals = sorted(values)
    return f"{column} IN ({', '.join('?' * len(vals))})", vals


def load(store: "Store", backend: "Backend", needs: Needs) -> Loaded:
    """Read what ``needs`` names from ``store`` and load it into ``backend``."""
    import pyarrow as pa

    store.flush()
    done = Loaded()
    db = store.db
    t0 = time.perf_counter()
    keys = sorted(needs.fields)
    cols = [store.columns[k] for k in keys]
    select = ", ".join(["id", "deleted"] + [f'"{c}"' for c in cols])
    cur = db.execute(f"SELECT {select} FROM people WHERE deleted = 0 ORDER BY id")
    folds: dict[str, dict[str, str]] = {}
    batches: list[Any] = []
    while True:   # a chunk at a time: Arrow holds the people compactly, Python rows do not
        rows = cur.fetchmany(CHUNK)
        if not rows and batches:
            break
        columns = list(zip(*rows)) if rows else [()] * (2 + len(cols))
        arrays: dict[str, Any] = {"id": pa.array(columns[0], pa.int64()),
                                  "deleted": pa.array(columns[1], pa.int64())}
        for i, (key, col) in enumerate(zip(keys, cols)):
            values = list(columns[2 + i])
            ftype = store.field_types[key]
            arrays[col] = pa.array(values, pa.int64() if ftype in _INT_TYPES else pa.string())
            if key in needs.decimals:
                for v in set(values):
                    if v is not None and not decimal_fits(v):
                        raise Unsupported(f"{store.field_names.get(key, key)} holds {str(v)[:40]}, past what "
                                          f"DECIMAL(38, 18) compares exactly")
            if key in needs.folded:
                arrays[CASEFOLD + col] = pa.array(_casefolded(values, folds.setdefault(col, {})), pa.string())
        batches.append(pa.record_batch(arrays))
        if not rows:
            break
    tables = {PEOPLE: pa.Table.from_batches(batches)}
    del rows, columns, batches

    def table(sql: str, params: list[Any], names: list[str], types: list[Any]) -> Any:
        got = db.execute(sql, params).fetchall() if params else []
        cols_ = list(zip(*got)) if got else [()] * len(names)
        return pa.table({n: pa.array(list(c), t) for n, c, t in zip(names, cols_, types)})

    s, p = pa.string(), pa.int64()
    where, params = _in("list", needs.lists)
    tables[LIST_MEMBERS] = table(f"SELECT list, person, added_at FROM list_members WHERE {where}", params,
                                 ["list", "person", "added_at"], [s, p, s])
    where, params = _in("program", needs.programs)
    tables[PROGRAM_MEMBERS] = table(
        f"SELECT program, person, status, data, since FROM program_members WHERE {where}", params,
        ["program", "person", "status", "data", "since"], [s, p, s, s, s])
    where, params = _in("campaign", needs.campaigns)
    tables[RUNS] = table(f"SELECT person, campaign, at, run FROM runs WHERE {where}", params,
                         ["person", "campaign", "at", "run"], [p, s, s, p])
    got: list[Any] = []
    for type_, asset in sorted(needs.activities):
        got += db.execute("SELECT person, type, campaign, asset, at FROM activities WHERE type = ? AND asset = ?",
                          (type_, asset)).fetchall()
    cols_ = list(zip(*got)) if got else [()] * 5
    tables[ACTIVITIES] = pa.table({n: pa.array(list(c), t) for n, c, t in
                                   zip(["person", "type", "campaign", "asset", "at"], cols_, [p, s, s, s, s])})
    done.read_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    for name, tab in tables.items():
        backend.load(name, tab)
        done.rows[name] = tab.num_rows
    done.load_seconds = time.perf_counter() - t1
    return done
