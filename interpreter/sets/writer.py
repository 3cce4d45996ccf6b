"""The writer of the set-based engine: ``result`` (``sets.plan``) written
into the store -- or, for a run over Parquet people, to Parquet -- as the
per-person engine would have written it: the same runs, field values,
memberships, statuses and activities, with the same ids, in the same
order, with the same JSON.

The backend makes every row (``sets.rows``: one query per kind, JSON in
SQL); nothing is built row by row in Python. First one aggregate row says
how many activities and runs there are and whether a check the
per-person engine makes fails (a rendered text past the renderer's cap, a
score past 64 bits): ``Unsupported`` before anything is written. Then:

* ``write`` (a store): each query's rows stream from the backend in id
  order, ``STREAM_ROWS`` at a time, straight into one ``executemany``
  (``Store.write_rows`` / ``update_people``) inside the caller's
  transaction: memory holds one batch, and a failure leaves the store as
  it was.
* ``write_parquet`` (``--out``): the backend writes each query's rows
  itself (DuckDB ``COPY``, Spark's executors); no row comes to Python.

Imports ``sets.rows``, ``sets.plan``, ``sets.loader``; the store only
through the object it is given, a backend through ``sets.backend``'s
protocol (``stream`` when it has one, else ``fetch``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

from . import rows as R
from .loader import Unsupported
from .plan import Plan

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow
    from sqlglot import exp

    from ..store import Store
    from .backend import Backend

T = TypeVar("T")

#: rows a batch from the backend holds (bounds the writer's memory)
STREAM_ROWS = 100_000


def made(plan: Plan, make: Callable[..., T], *args: Any) -> T:
    """``make(plan, *args)`` (a ``sets.rows`` query), made once a run: a run
    in slices writes each slice with the same queries (parsing a big flow's
    costs tens of milliseconds; a backend renders each once)."""
    key = (make.__name__,) + args
    if key not in plan.made:
        plan.made[key] = make(plan, *args)
    return plan.made[key]  # type: ignore[no-any-return]


def stream(backend: "Backend", query: "exp.Expression", rows: int = STREAM_ROWS) -> Iterator[tuple]:
    """The rows of ``query`` as tuples, in its order, a batch at a time
    (the backend's ``stream``; else its Arrow, fetched whole now -- not
    from inside the caller's ``executemany``: a Spark collect started there
    once hung -- and made Python batch by batch)."""
    own = getattr(backend, "stream", None)
    if own is not None:
        return own(query, rows)
    table = backend.fetch(query)
    return (row for batch in table.to_batches(rows) for row in zip(*(c.to_pylist() for c in batch.columns)))


class Summary:
    """The aggregate row of ``sets.rows.summary``: counts, and the checks
    raised as ``Unsupported`` (the first failing slot in flow order)."""

    def __init__(self, backend: "Backend", plan: Plan):
        query, meaning = made(plan, R.summary)
        try:
            row = backend.fetch(query).to_pylist()[0]
        except Exception as exc:   # the backend's own error (an overflow) is this run's
            raise Unsupported(f"the backend failed: {str(exc).splitlines()[0][:200]}") from None
        values = [row[f"s{i}"] or 0 for i in range(len(meaning))]
        self.people = 0
        self.runs = 0
        #: (campaign, type) -> activities, in flow order
        self.by_step: dict[tuple[str, str], int] = {}
        self.activities = 0
        self.lists = 0
        self.programs = 0
        for (what, it), n in zip(meaning, values):
            if what == "people":
                self.people = self.runs = n
            elif what == "slot":
                self.activities += n
                if n:
                    self.by_step[(it.campaign, it.type)] = self.by_step.get((it.campaign, it.type), 0) + n
            elif what == "runs":
                self.runs += n
            elif what == "list":
                self.lists += n
            elif what == "program":
                self.programs += n
            elif n and what == "score":
                raise Unsupported(f"a score past 64 bits at {it.where}")
            elif n and what == "long":
                raise Unsupported(f"a rendered value longer than {R.MAX_RENDERED_CHARS:,} characters at {it.where}")


class Totals:
    """The sums of the slices' ``Summary``: what the whole run wrote."""

    def __init__(self) -> None:
        self.people = self.runs = self.activities = self.lists = self.programs = 0
        self.by_step: dict[tuple[str, str], int] = {}

    def add(self, done: Summary) -> None:
        self.people += done.people
        self.runs += done.runs
        self.activities += done.activities
        self.lists += done.lists
        self.programs += done.programs
        for key, n in done.by_step.items():
            self.by_step[key] = self.by_step.get(key, 0) + n


class Slice:
    """Where a slice of a batch's people starts (``sets.run.slices``): its
    place, and the activities, people and ``runs`` rows the slices before it
    wrote -- the one-row relation ``slice__`` (``a0``, ``p0``, ``r0``) the
    plan and the row queries number on from."""

    def __init__(self) -> None:
        self.index = 0
        self.activities = self.people = self.runs = 0

    def table(self) -> "pyarrow.Table":
        import pyarrow as pa

        return pa.table({"a0": pa.array([self.activities], pa.int64()), "p0": pa.array([self.people], pa.int64()),
                         "r0": pa.array([self.runs], pa.int64())})

    def advance(self, done: Summary) -> None:
        self.activities += done.activities
        self.people += done.people
        self.runs += done.runs


def entered(backend: "Backend") -> list[int]:
    """The ids of the people who entered, in order."""
    from .query import parse

    return backend.fetch(parse("SELECT id FROM result ORDER BY id")).column(0).to_pylist()


def write(store: "Store", plan: Plan, backend: "Backend", first_run: int,
          summary: Summary | None = None, before: Slice | None = None) -> list[int]:
    """Write ``result`` into ``store`` (inside the caller's transaction);
    returns the ids who entered, in order. The work the batch leaves
    (requested and triggered runs, removals from flow) is ``sets.rounds``'.
    ``summary``: ``Summary(backend, plan)`` when the caller made it already;
    ``before``: the slices of the run written before this one (their
    activities' ids are reserved: this slice's follow)."""
    done = summary if summary is not None else Summary(backend, plan)
    local = None
    if getattr(backend, "stream", None) is None:
        # a backend that cannot stream (Spark): its result comes here once, as Arrow, and
        # the row queries run on it in a DuckDB of this process -- the same SQL; each query
        # over a cluster's cached result would plan the whole flow again (and a big flow's
        # plan ran a 1 GB driver out of memory in the differential test)
        from .backend import DuckDBBackend
        from .query import parse

        local = DuckDBBackend()
        local.load("result", backend.fetch(parse("SELECT * FROM result")))
        backend = local
    try:
        return _write(store, plan, backend, first_run, done, before.activities if before is not None else 0)
    finally:
        if local is not None:
            local.close()


def _write(store: "Store", plan: Plan, backend: "Backend", first_run: int, done: Summary,
           earlier: int) -> list[int]:
    # the run's first activity id: ``result``'s places count on from the slices before (``earlier``)
    first_id = (store.reserve_activity_ids(done.activities) if done.activities else 1) - earlier
    written = made(plan, R.written_fields)
    query = made(plan, R.updates)
    if query is not None:
        store.update_people(list(written), stream(backend, query))
    store.write_rows("runs", stream(backend, made(plan, R.runs, first_run)))
    for lkey, query in made(plan, R.lists):
        # the people a slot changed: in the list when the flow ended (added now), else out
        got = list(stream(backend, query))
        store.write_rows("list out", ((lkey, pid) for pid, member in got if not member))
        store.write_rows("list in", ((lkey, pid, plan.now) for pid, member in got if member))
    for pkey, query in made(plan, R.statuses):
        store.write_rows("status", ((pkey, pid, status, plan.now) for pid, status in stream(backend, query)))
    query = made(plan, R.activities, first_id, first_run)
    if query is not None and done.activities:
        store.write_rows("activities", stream(backend, query))
    query = made(plan, R.waits, first_run)
    if query is not None:
        store.write_rows("queue", stream(backend, query))
    query = made(plan, R.deleted)
    if query is not None:   # last: what the run wrote for them before is theirs until deleted
        store.delete_people([pid for (pid,) in stream(backend, query)])
    if done.activities and first_id + earlier + done.activities != store.reserve_activity_ids(0):  # pragma: no cover
        raise AssertionError("the set-based writer wrote another number of activities than it reserved")
    return entered(backend)


#: the folders of ``--out`` the writer fills from the store's tables, in the order it writes them
OUT_TABLES = ("activities", "runs", "list_members", "program_members")
#: every folder a run over Parquet people makes under ``--out``
OUT_FOLDERS = OUT_TABLES + ("people",)


def write_parquet(backend: "Backend", plan: Plan, out: str, first_id: int, first_run: int,
                  first_run_row: int = 1, summary: Summary | None = None, part: int = 0,
                  people: "exp.Expression | None" = None) -> Summary:
    """Write a run's rows under ``out`` as Parquet, one folder a table
    (``activities``, ``runs``, ``list_members``, ``program_members``, and
    ``people`` when its query is given: ``sets.parquet.people_query_of``),
    by the backend itself (``sets.parquet.write_query``: file ``part`` of
    each folder), for a run that started with an empty store (``--people
    parquet:``): activity ids from ``first_id``, runs rows from
    ``first_run_row`` (each counted on from ``slice__``). The summary."""
    from .parquet import write_query
    from .query import parse

    if any(s.kind in ("wait", "request") for s in plan.slots):
        kind = next(s for s in plan.slots if s.kind in ("wait", "request"))
        raise Unsupported(f"a {'wait' if kind.kind == 'wait' else 'request campaign'} needs a store to resume "
                          f"from, and a run over Parquet people has none ({kind.type} at {kind.where})")
    done = summary if summary is not None else Summary(backend, plan)
    empty = {
        "activities": "SELECT CAST(NULL AS BIGINT) AS id, CAST(NULL AS BIGINT) AS person, "
                      "CAST(NULL AS VARCHAR) AS type, CAST(NULL AS VARCHAR) AS campaign, "
                      "CAST(NULL AS BIGINT) AS run, CAST(NULL AS VARCHAR) AS at, CAST(NULL AS VARCHAR) AS asset, "
                      "CAST(NULL AS VARCHAR) AS attributes, CAST(NULL AS VARCHAR) AS old, "
                      "CAST(NULL AS VARCHAR) AS new WHERE FALSE",
        "list_members": "SELECT CAST(NULL AS VARCHAR) AS list, CAST(NULL AS BIGINT) AS person, "
                        "CAST(NULL AS VARCHAR) AS added_at WHERE FALSE",
        "program_members": "SELECT CAST(NULL AS VARCHAR) AS program, CAST(NULL AS BIGINT) AS person, "
                           "CAST(NULL AS VARCHAR) AS status, CAST(NULL AS VARCHAR) AS data, "
                           "CAST(NULL AS VARCHAR) AS since WHERE FALSE",
    }
    acts = made(plan, R.activities, first_id, first_run)
    lists, programs = made(plan, R.members)
    queries = {
        "activities": acts if acts is not None else parse(empty["activities"]),
        "runs": made(plan, R.runs, first_run, first_run_row),
        "list_members": lists if lists is not None else parse(empty["list_members"]),
        "program_members": programs if programs is not None else parse(empty["program_members"]),
    }
    if people is not None:
        queries["people"] = people
    for name in OUT_FOLDERS:
        if name in queries:
            write_query(backend, queries[name], os.path.join(out, name), part)
    return done
