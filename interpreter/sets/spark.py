"""The Spark backend of the set-based engine (issue 16): the same plan as
DuckDB's, run on Apache Spark for people who outgrow one machine.

``SparkBackend`` implements ``sets.backend.Backend`` (dialect ``"spark"``)
over a ``pyspark.sql.SparkSession`` the caller configures: ``local[2]`` in
tests, a cluster's master URL in production. Arrow in
(``createDataFrame`` of a pyarrow Table), Arrow out (``DataFrame.toArrow``),
relations as temporary views of cached DataFrames (computed once, when
first read: no Spark job of their own; a view keeps the plan it was made
with, so a relation never changes when one it was made from is replaced),
SQL rendered by sqlglot in the ``spark`` dialect. ``load_parquet`` reads files with ``spark.read.parquet``
(the data never passes through this process) and ``write_parquet`` writes a
query's rows from the executors.

``session`` builds the session the command line asks for (``--engine spark
--spark-master URL --spark-conf key=value``, or ``$CAMPAIGN_SPARK_MASTER``
and ``$CAMPAIGN_SPARK_CONF``); a missing pyspark or Java is one
``SparkUnavailable`` line naming what to install.

The dialect differences that matter between DuckDB and Spark, found by
tests/test_sets_spark.py's corpus, and how a plan stays on the safe side
(docs/scale.md, "On Spark, Parquet and warehouses"):

* ``LIKE`` treats ``\\`` as an escape on Spark, not on DuckDB: write
  ``like`` (below), which always says ``ESCAPE``.
* ``strftime`` with a literal letter (``%Y-%m-%dT%H:%M:%S``) becomes an
  invalid Spark pattern: write ``iso_text`` (below).
* ``json_object`` does not exist on Spark and ``to_json`` of a struct drops
  NULL members there: write ``json_string`` (below) and build objects by
  concatenation, keys sorted, as ``values.dumps`` writes them.
* ``CAST(x AS DECIMAL)`` is DECIMAL(18,3) on both (sqlglot spells DuckDB's
  default for Spark): three places, rounded; a decimal field compares as
  DOUBLE or an explicit DECIMAL(38, s).
* Numbers as text differ (``CAST(1.0/3 AS VARCHAR)``: 16 digits on DuckDB,
  6 on Spark, whose ``1.0`` is a decimal), as do ``printf`` of NULL and
  types (``row_number()`` is INT on Spark, BIGINT on DuckDB; ``fetch``
  widens every integer column to int64).
* The same on both (checked, no care needed): ``||`` with NULL is NULL
  (sqlglot keeps ``concat``'s NULL-skipping too), ``//`` truncates toward
  zero on both (Python's ``//`` floors: -7 // 2 is -4 in Python, -3 here),
  NULLs sort last ascending (sqlglot writes ``NULLS LAST`` for Spark),
  strings compare by code point (UTF-8 bytes, binary collation), ``CAST``
  of a timestamp to text is ``YYYY-MM-DD HH:MM:SS``, backslashes and quotes
  in literals survive.

Imports pyspark (lazily), pyarrow, sqlglot; of the package only ``errors``.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..errors import CampaignError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow
    from pyspark.sql import DataFrame, SparkSession
    from sqlglot import exp

#: the master URL when none is given (two local cores: tests, a laptop)
DEFAULT_MASTER = "local[2]"
MASTER_ENV = "CAMPAIGN_SPARK_MASTER"
#: ``key=value`` pairs, separated by whitespace (``--spark-conf`` is repeatable)
CONF_ENV = "CAMPAIGN_SPARK_CONF"

#: conf every session of ours gets unless the caller says otherwise: Arrow
#: transfers; UTC, so time text never depends on the machine's zone
DEFAULT_CONF: dict[str, str] = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
}
#: and a local master's: few shuffle partitions (the data fits two cores), no web UI
LOCAL_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
}


#: what ``SparkBackend()`` builds a session with when none is running (``configure``)
_CONFIGURED: dict[str, Any] = {}


def configure(master: str | None = None, conf: Mapping[str, str] | None = None) -> None:
    """The master and conf of the session a ``SparkBackend()`` made without
    one builds (``campaign run --engine spark --spark-master URL
    --spark-conf k=v``): the command line says them once, the engine makes
    the backend."""
    _CONFIGURED.clear()
    _CONFIGURED.update(master=master, conf=dict(conf or {}))


class SparkUnavailable(CampaignError):
    """pyspark or Java is missing, or the session cannot start: one line
    naming what to install or fix."""


def require_pyspark() -> None:
    """Refuse (one line) when pyspark or a Java runtime is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailable("--engine spark needs pyspark: pip install 'campaignlang[spark]'") from None
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))) and not shutil.which("java"):
        raise SparkUnavailable("--engine spark needs Java 17 or later: install a JRE (Debian: "
                               "apt-get install openjdk-17-jre-headless) or set JAVA_HOME")


def parse_conf(pairs: Iterable[str]) -> dict[str, str]:
    """``key=value`` strings -> a dict; a pair without ``=`` is refused."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SparkUnavailable(f"--spark-conf takes key=value, not {pair!r}")
        out[key.strip()] = value.strip()
    return out


def session(master: str | None = None, conf: Mapping[str, str] | None = None,
            app_name: str = "campaignlang") -> "SparkSession":
    """A SparkSession for ``master`` (else ``$CAMPAIGN_SPARK_MASTER``, else
    ``local[2]``) with ``conf`` over ``$CAMPAIGN_SPARK_CONF`` over the
    defaults. An existing session of this process is reused (Spark allows
    one per process), with the conf applied where Spark allows it."""
    require_pyspark()
    from pyspark.sql import SparkSession

    master = master or os.environ.get(MASTER_ENV) or DEFAULT_MASTER
    settings = dict(DEFAULT_CONF)
    if master.startswith("local"):
        settings.update(LOCAL_CONF)
    settings.update(parse_conf(os.environ.get(CONF_ENV, "").split()))
    settings.update(conf or {})
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:   # py4j / PySparkRuntimeError: the JVM did not start
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SparkUnavailable(f"cannot start Spark (master {master}): {first}") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _widened(table: "pyarrow.Table") -> "pyarrow.Table":
    """Integers as int64 and text as string, whatever width Spark chose
    (``row_number()`` is INT, a large batch may come as large_string)."""
    import pyarrow as pa

    fields = []
    changed = False
    for f in table.schema:
        t = f.type
        if pa.types.is_integer(t) and t != pa.int64():
            t, changed = pa.int64(), True
        elif pa.types.is_large_string(t):
            t, changed = pa.string(), True
        fields.append(pa.field(f.name, t, f.nullable))
    return table.cast(pa.schema(fields)) if changed else table


def _spark_ready(table: "pyarrow.Table") -> "pyarrow.Table":
    """A column of Arrow's null type (every value NULL, no type) as text:
    Spark's NullType cannot be unioned or compared with a typed column."""
    import pyarrow as pa

    if not any(pa.types.is_null(f.type) for f in table.schema):
        return table
    return table.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type)
                                 for f in table.schema]))


class SparkBackend:
    """A plan's relations as temporary views of one SparkSession: the one
    given; else the session running in this process; else one built from
    ``configure`` (and the environment), which ``close`` stops.

    ``owns_session``: stop the session on ``close``; a session the caller
    passed in, or found running, is theirs to stop."""

    dialect = "spark"

    def __init__(self, spark: "SparkSession | None" = None, owns_session: bool = False):
        if spark is None:   # the session of this process, else one built as ``configure`` said
            require_pyspark()
            from pyspark.sql import SparkSession

            spark = SparkSession.getActiveSession()
            if spark is None:
                spark, owns_session = session(**_CONFIGURED), True
        self.spark = spark
        self.owns_session = owns_session
        #: every statement run, in its SQL (as DuckDBBackend keeps them)
        self.statements: list[str] = []
        self._frames: dict[str, "DataFrame"] = {}

    def sql(self, query: "exp.Expression") -> str:
        return query.sql(dialect=self.dialect)

    def _keep(self, name: str, frame: "DataFrame", cache: bool = True) -> None:
        """Name ``frame`` (cached when first computed: no job of its own);
        the older relation of that name is released only after, so a query
        may read the relation it replaces. A view holds the plan it was
        made with, so replacing a relation never changes one made from it."""
        if cache:
            frame = frame.persist()
        frame.createOrReplaceTempView(name)
        old = self._frames.pop(name, None)
        if old is not None:
            old.unpersist()
        self._frames[name] = frame

    def drop(self, name: str) -> None:
        """Release relation ``name`` (no later query reads it; a relation made
        from it keeps the plan it was made with)."""
        frame = self._frames.pop(name, None)
        self.spark.catalog.dropTempView(name)
        if frame is not None:
            frame.unpersist()

    def load(self, name: str, table: "pyarrow.Table") -> None:
        # the rows are this process's Arrow table: nothing to compute, nothing to cache
        self._keep(name, self.spark.createDataFrame(_spark_ready(table)), cache=False)

    def load_parquet(self, name: str, paths: list[str]) -> None:
        """Parquet files (or folders of them) as relation ``name``, read by
        the executors; not materialised (a reader selects from it)."""
        frame = self.spark.read.parquet(*paths)
        frame.createOrReplaceTempView(name)
        self._frames[name] = frame   # dropped by close

    def create(self, name: str, query: "exp.Expression") -> None:
        sql = self.sql(query)
        self.statements.append(f"CREATE OR REPLACE TEMP VIEW `{name}` AS {sql}")
        self._keep(name, self.spark.sql(sql))

    def fetch(self, query: "exp.Expression") -> "pyarrow.Table":
        sql = self.sql(query)
        self.statements.append(sql)
        return _widened(self.spark.sql(sql).toArrow())

    def write_parquet(self, query: "exp.Expression", path: str) -> None:
        """The rows of ``query`` as a folder of Parquet files at ``path``
        (replaced), written by the executors. Row order is the query's
        ORDER BY across the files, in their names' order (Spark writes a
        sorted result's partitions in order)."""
        sql = self.sql(query)
        self.statements.append(f"-- parquet {path}\n{sql}")
        self.spark.sql(sql).write.mode("overwrite").parquet(path)

    def close(self) -> None:
        for name, frame in self._frames.items():
            self.spark.catalog.dropTempView(name)
            frame.unpersist()
        self._frames.clear()
        if self.owns_session:
            self.spark.stop()


# --------------------------------------------------------------------------
# Builders that write the same thing on every backend (the plan's helpers
# for the differences above; they are sqlglot expressions, dialect-free)


def like(value: "exp.Expression", pattern: str) -> "exp.Expression":
    """``value LIKE pattern ESCAPE '!'``, ``pattern`` in LIKE syntax with
    ``!`` as its escape character (``like_pattern`` makes one from text)."""
    from sqlglot import exp

    return exp.Escape(this=exp.Like(this=value, expression=exp.Literal.string(pattern)),
                      expression=exp.Literal.string("!"))


def like_pattern(text: str, prefix: bool = False, suffix: bool = False) -> str:
    """``text`` as a LIKE pattern matching it literally (``%`` before when
    ``prefix``, after when ``suffix``), escaped with ``!``."""
    body = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return ("%" if prefix else "") + body + ("%" if suffix else "")


def iso_text(timestamp: "exp.Expression") -> "exp.Expression":
    """A TIMESTAMP as the store's text, ``YYYY-MM-DDTHH:MM:SS`` (seconds,
    no zone): two formats joined by a literal ``T``, since a ``T`` inside
    one Spark pattern would have to be quoted and sqlglot does not."""
    from sqlglot import exp

    def fmt(f: str) -> exp.Expression:
        return exp.TimeToStr(this=timestamp, format=exp.Literal.string(f))

    return exp.DPipe(this=exp.DPipe(this=fmt("%Y-%m-%d"), expression=exp.Literal.string("T")),
                     expression=fmt("%H:%M:%S"))


#: what ``json.dumps(..., ensure_ascii=False)`` writes for each character it escapes
_JSON_ESCAPES: list[tuple[str, str]] = [("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"),
                                        ("\t", "\\t"), ("\b", "\\b"), ("\f", "\\f")] + [
    (chr(c), f"\\u{c:04x}") for c in range(0x20) if chr(c) not in "\n\r\t\b\f"]


#: a character ``json.dumps`` escapes: a quote, a backslash, a control character
_JSON_SPECIAL = r'["\\\x{00}-\x{1F}]'


def json_string(text: "exp.Expression") -> "exp.Expression":
    """Text as a JSON string literal exactly as ``values.dumps`` writes it
    (``json.dumps``, ``ensure_ascii=False``: quotes, backslash and control
    characters escaped, everything else kept); NULL as ``null``."""
    from sqlglot import exp

    out: exp.Expression = text
    for char, escaped in _JSON_ESCAPES:   # the backslash first, so later escapes are not doubled
        out = exp.Anonymous(this="REPLACE", expressions=[out, exp.Literal.string(char),
                                                          exp.Literal.string(escaped)])
    # most texts hold nothing to escape: one regex pass instead of 33 REPLACE passes
    # (RE2 and Java read the same class)
    needs = exp.RegexpLike(this=text.copy(), expression=exp.Literal.string(_JSON_SPECIAL))
    out = exp.case().when(needs, out).else_(text.copy())
    quoted = exp.DPipe(this=exp.DPipe(this=exp.Literal.string('"'), expression=out),
                       expression=exp.Literal.string('"'))
    return exp.Coalesce(this=quoted, expressions=[exp.Literal.string("null")])
