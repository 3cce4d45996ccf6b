"""Backends of the set-based engine: where a plan's relations live and its
queries run. ``Backend`` is the protocol; ``DuckDBBackend`` runs in this
process (columnar, spills to disk past memory). The Spark backend is
``sets.spark``.

A plan is sqlglot expressions; a backend renders them in its dialect
(``expr.sql(dialect=backend.dialect)``), so no backend-specific SQL lives in
the plan. Imports duckdb, sqlglot and pyarrow (the ``sets`` extra); nothing
of the package but ``errors``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterator, Protocol

from ..errors import CampaignError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow
    from sqlglot import exp


#: the environment variables that cap DuckDB's memory and name its spill folder
MEMORY_ENV = "CAMPAIGN_DUCKDB_MEMORY_LIMIT"
TEMP_ENV = "CAMPAIGN_DUCKDB_TEMP"
#: the environment variable that sets the people of a slice (``DuckDBBackend.slice_people``)
SLICE_ENV = "CAMPAIGN_SETS_SLICE"
#: people a slice holds by default: a slice's result and its activities' sort stay a few
#: hundred megabytes, and the per-slice work (a few small queries) stays under 2 % of it
SLICE_PEOPLE = 500_000


#: rendered queries a backend keeps (a slice runs about ten)
_RENDERED = 64


def _int_env(name: str) -> int | None:
    """A positive whole number from the environment; a bad one is one line."""
    said = os.environ.get(name)
    if not said:
        return None
    if not said.strip().isdigit() or int(said) < 1:
        raise CampaignError(f"{name} must be a positive whole number of people, not {said!r}")
    return int(said)


class Backend(Protocol):
    """Where a plan runs. ``dialect`` is sqlglot's name for its SQL."""

    dialect: str

    def load(self, name: str, table: "pyarrow.Table") -> None:
        """Make an Arrow table available as relation ``name`` (replacing an older one)."""

    def create(self, name: str, query: "exp.Expression") -> None:
        """Materialise ``query`` as relation ``name`` (replacing an older one)."""

    def fetch(self, query: "exp.Expression") -> "pyarrow.Table":
        """The rows of ``query``, as Arrow."""

    def close(self) -> None:
        """Release what the backend holds."""


class DuckDBBackend:
    """DuckDB in this process: relations are temporary tables of one
    in-memory connection (``threads`` defaults to the machine's cores).
    ``memory_limit`` (else ``$CAMPAIGN_DUCKDB_MEMORY_LIMIT``, e.g. ``3GB``;
    else DuckDB's default, 80 % of the machine's memory) caps what DuckDB
    holds: past it, it spills to a temporary folder (``temp_directory``,
    else ``$CAMPAIGN_DUCKDB_TEMP``, else DuckDB's ``.tmp``)."""

    dialect = "duckdb"
    #: a table's stable row identifier (``sets.parquet`` numbers people by address on it and the address alone)
    row_id = "rowid"

    def __init__(self, threads: int | None = None, memory_limit: str | None = None,
                 temp_directory: str | None = None, slice_people: int | None = None):
        import duckdb

        config: dict[str, Any] = {}
        if threads is not None:
            config["threads"] = threads
        memory_limit = memory_limit or os.environ.get(MEMORY_ENV) or None
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        temp_directory = temp_directory or os.environ.get(TEMP_ENV) or None
        if temp_directory is not None:
            config["temp_directory"] = temp_directory
        try:
            self.con = duckdb.connect(":memory:", config=config)
            self.con.execute("SET enable_progress_bar = false")   # the command line has its own
        except duckdb.Error as exc:   # a limit DuckDB cannot read: one line naming the setting
            raise CampaignError(f"DuckDB refused the setting ({MEMORY_ENV} or {TEMP_ENV}): "
                                f"{str(exc).splitlines()[0][:200]}") from None
        #: every statement run, in its SQL (``campaign plan --engine duckdb`` shows them)
        self.statements: list[str] = []
        self._n = 0
        self._rendered: dict[int, tuple["exp.Expression", str]] = {}
        #: people a slice of a batch holds (``sets.run.slices``): memory holds one slice's rows
        self.slice_people = slice_people or _int_env(SLICE_ENV) or SLICE_PEOPLE

    def sql(self, query: "exp.Expression") -> str:
        """``query`` in DuckDB's SQL, rendered once (a run in slices runs the same queries on each)."""
        got = self._rendered.get(id(query))
        if got is None or got[0] is not query:
            got = self._rendered[id(query)] = (query, query.sql(dialect=self.dialect))
            while len(self._rendered) > _RENDERED:   # the oldest first: a backend may run many plans
                del self._rendered[next(iter(self._rendered))]
        return got[1]

    def load(self, name: str, table: "pyarrow.Table") -> None:
        self._n += 1
        view = f"__arrow_{self._n}"
        self.con.register(view, table)
        try:
            self.con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT * FROM "{view}"')
        finally:
            self.con.unregister(view)

    def create(self, name: str, query: "exp.Expression") -> None:
        sql = self.sql(query)
        self.statements.append(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')
        self.con.execute(self.statements[-1])

    def fetch(self, query: "exp.Expression") -> "pyarrow.Table":
        sql = self.sql(query)
        self.statements.append(sql)
        rel = self.con.sql(sql)
        fetch = getattr(rel, "to_arrow_table", None) or rel.arrow   # duckdb 2 / 1
        return fetch()

    def drop(self, name: str) -> None:
        """Release relation ``name`` (a table no later query reads)."""
        self.con.execute(f'DROP TABLE IF EXISTS "{name}"')

    def stream(self, query: "exp.Expression", rows: int) -> Iterator[tuple]:
        """The rows of ``query`` as tuples, in its order, ``rows`` at a time:
        DuckDB streams the result as Arrow record batches, each made Python
        a column at a time (1.6x ``fetchmany``'s speed on the writer's
        rows), so memory holds a batch. (A thread making the next batch
        while SQLite inserts this one gained nothing measurable on the
        shared two cores: not done.) Nothing else may run on the connection
        until the iterator is exhausted."""
        sql = self.sql(query)
        self.statements.append(sql)
        rel = self.con.sql(sql)
        reader = getattr(rel, "to_arrow_reader", None) or rel.fetch_arrow_reader   # duckdb 2 / 1
        for batch in reader(rows):
            yield from zip(*(column.to_pylist() for column in batch.columns))

    def close(self) -> None:
        self.con.close()


def default_threads() -> int:
    return os.cpu_count() or 1
