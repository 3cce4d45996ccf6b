"""People that live in Parquet files (or a warehouse table exported to
them): the set-based engine's ``people`` relation built from Parquet, on
whichever backend runs the plan (issue 16; docs/scale.md, "On Spark,
Parquet and warehouses").

``register`` makes the files a relation of the backend without passing
them through this process (Spark: ``spark.read.parquet`` on the
executors; DuckDB: ``read_parquet``, streamed). ``load_people`` then builds
``people`` from it with one query, written once as sqlglot and run on
either backend, in the shape ``sets.loader`` gives the store's people: the
store's column names, the stored encoding of each field type, ``cf__C``
casefolded columns, ``deleted`` = 0.

The rules are the people-file rules of ``datafiles`` (LANGUAGE.md §11), so
that a CSV and a Parquet file of the same people give the same relation:

* each column names a field, case-insensitively (``Email`` is ``Email
  Address``); a column naming no field, or two columns naming one, is
  refused with the fields' names (``datafiles.field_columns``, the one
  mapping);
* a blank value (NULL, or text of whitespace only) leaves the field empty;
  an email address is stripped and must look like ``something@something``
  (the same pattern as ``datafiles``; the test compares them);
* Parquet is typed, so each field type takes the Parquet types that hold
  it without guessing (``ACCEPTS``): text takes text, whole numbers and
  booleans; integer and score whole numbers; boolean booleans and whole
  numbers (0 is false); decimal decimals and whole numbers; date dates and
  timestamps (the date part); datetime timestamps (seconds, as the store
  keeps them) and dates (midnight); a timestamp with a time zone is
  refused (its text would depend on the engine's zone). Anything else is
  refused, naming the column, its type and what the field takes;
* a Parquet file has no row order a cluster keeps, so duplicate addresses
  (case-insensitive) are refused rather than merged, and people are
  numbered 1, 2, ... in the order of their casefolded address.

Casefolding is Python's ``str.casefold`` (what the per-person engine
compares with): SQL ``lower`` where the value is ASCII (the same there);
the distinct non-ASCII values (few, in practice) come to this process,
are casefolded by Python and go back as a relation the query joins, so no
Python runs on a cluster's executors and every backend folds the same.

Imports pyarrow and sqlglot (the ``sets`` extra), ``datafiles``,
``sets.loader`` and ``sets.spark`` (its builders); pyspark only through the
backend it is handed.
"""

from __future__ import annotations

import glob
import os
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..datafiles import DataFileError
from ..datafiles import _columns as field_columns
from .loader import CASEFOLD, PEOPLE

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow
    from sqlglot import exp

    from ..model import Model
    from .backend import Backend

#: the relation the raw files become
RAW = "people_parquet"
#: the field key of the address (``ast.name_key("Email Address")``)
EMAIL_KEY = "email address"
#: the converted rows (one column a field), made once
CONVERTED = "people_parquet_values"
#: prefix of the relations mapping a column's non-ASCII values to their casefold
FOLDS = "people_parquet_folds_"

#: the characters Python's ``str.strip`` and the ``\\s`` of ``datafiles``'
#: email pattern take for whitespace, spelled out: RE2 (DuckDB) and Java
#: (Spark) each have their own ``\\s``
WHITESPACE = " \t\n\r\f\v\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: ``datafiles._EMAIL`` (``^[^@\\s]+@[^@\\s]+$``) with that whitespace
EMAIL_PATTERN = f"^[^@{WHITESPACE}]+@[^@{WHITESPACE}]+$"

#: field type -> the Parquet (Arrow) kinds it takes, in words for the error
ACCEPTS = {
    "text": "text, whole numbers or booleans",
    "email": "text",
    "integer": "whole numbers",
    "score": "whole numbers",
    "boolean": "booleans or whole numbers",
    "decimal": "decimals or whole numbers",
    "date": "dates or timestamps without a time zone",
    "datetime": "timestamps without a time zone, or dates",
}


class ParquetError(DataFileError):
    """Parquet people that cannot be read; one line naming the column or rule."""


def parquet_paths(source: str) -> list[str]:
    """``source`` (a folder, a file, or a glob) -> the paths to read; a
    local path that names nothing is refused. A URL (``s3a://``,
    ``hdfs://``...) is passed on as it is: only Spark can read those."""
    if "://" in source:
        return [source]
    # absolute: a Spark session resolves a relative path against the directory it started in
    source = os.path.abspath(source)
    if any(c in source for c in "*?["):
        found = sorted(glob.glob(source))
        if not found:
            raise ParquetError(f"no Parquet files match {source}")
        return found
    if os.path.isdir(source):
        found = sorted(glob.glob(os.path.join(source, "**", "*.parquet"), recursive=True))
        if not found:
            raise ParquetError(f"{source} holds no .parquet files")
        return [source]
    if not os.path.exists(source):
        raise ParquetError(f"no such file or folder: {source}")
    return [source]


def register(backend: "Backend", paths: Sequence[str], name: str = RAW) -> None:
    """Make the Parquet files at ``paths`` relation ``name`` of ``backend``."""
    loader = getattr(backend, "load_parquet", None)
    if loader is not None:   # Spark: the executors read
        try:
            loader(name, list(paths))
        except Exception as exc:   # AnalysisException: unreadable, not Parquet, no schema
            raise ParquetError(f"cannot read Parquet {', '.join(paths)}: {_first_line(exc)}") from None
        return
    con = getattr(backend, "con", None)
    if con is None:
        raise ParquetError(f"the {backend.dialect} backend cannot read Parquet")
    files: list[str] = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "**", "*.parquet"), recursive=True)) if os.path.isdir(p) else [p]
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    try:
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM read_parquet([{listed}])')
    except Exception as exc:   # duckdb.Error: not Parquet, unreadable
        raise ParquetError(f"cannot read Parquet {', '.join(paths)}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


# --------------------------------------------------------------------------
# The query


def _kind(t: "pyarrow.DataType") -> str:
    import pyarrow as pa

    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_signed_integer(t) or (pa.types.is_unsigned_integer(t) and t.bit_width < 64):
        return "whole"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        # with a zone, the text would depend on the engine's zone setting: refused (docs/scale.md)
        return "timestamp" if t.tz is None else "other"
    return "other"


def _trimmed(col: "exp.Expression") -> "exp.Expression":
    """``col`` without leading and trailing whitespace (Python's ``strip``)."""
    from sqlglot import exp

    def rr(e: exp.Expression, pattern: str) -> exp.Expression:
        return exp.RegexpReplace(this=e, expression=exp.Literal.string(pattern),
                                 replacement=exp.Literal.string(""))

    return rr(rr(col, f"^[{WHITESPACE}]+"), f"[{WHITESPACE}]+$")


def _blank_is_null(col: "exp.Expression", value: "exp.Expression") -> "exp.Expression":
    """NULL where ``col`` is blank (nothing but whitespace: what ``strip``
    leaves empty), else ``value``: one match, not two replacements and a
    comparison (a tenth of a second a million people a column)."""
    from sqlglot import exp

    blank = exp.RegexpLike(this=col, expression=exp.Literal.string(f"^[{WHITESPACE}]*$"))
    return exp.case().when(blank, exp.null()).else_(value)


def _value(col: "exp.Expression", kind: str, ftype: str) -> "exp.Expression | None":
    """The stored encoding of Parquet column ``col`` (of ``kind``) for a
    field of ``ftype``; None when the kind does not hold that type."""
    from sqlglot import exp

    from .spark import iso_text

    def date_text(e: exp.Expression) -> exp.Expression:
        return exp.TimeToStr(this=exp.cast(e, "date"), format=exp.Literal.string("%Y-%m-%d"))

    if ftype == "text":
        if kind == "text":
            return _blank_is_null(col, col)
        if kind == "whole":
            return exp.cast(col, "varchar")
        if kind == "boolean":
            return exp.case().when(col, exp.Literal.string("true")).when(exp.not_(col), exp.Literal.string("false"))
    elif ftype == "email":
        if kind == "text":
            return _blank_is_null(col, _trimmed(col))
    elif ftype in ("integer", "score"):
        if kind == "whole":
            return exp.cast(col, "bigint")
    elif ftype == "boolean":
        if kind == "boolean":
            return exp.cast(exp.case().when(col, exp.Literal.number(1)).when(exp.not_(col), exp.Literal.number(0)),
                            "bigint")
        if kind == "whole":
            return exp.cast(exp.case().when(exp.NEQ(this=col, expression=exp.Literal.number(0)), exp.Literal.number(1))
                            .when(exp.EQ(this=col, expression=exp.Literal.number(0)), exp.Literal.number(0)), "bigint")
    elif ftype == "decimal":
        if kind in ("decimal", "whole"):
            return exp.cast(col, "varchar")
    elif ftype == "date":
        if kind in ("date", "timestamp"):
            return date_text(col)
    elif ftype == "datetime":
        if kind == "timestamp":
            return iso_text(exp.cast(col, "timestamp"))
        if kind == "date":
            return iso_text(exp.cast(exp.cast(col, "date"), "timestamp"))
    return None


#: a character beyond ASCII (RE2 and Java both read ``\x{...}``)
NON_ASCII = r"[\x{80}-\x{10FFFF}]"


def _non_ascii(col: "exp.Expression") -> "exp.Expression":
    from sqlglot import exp

    return exp.RegexpLike(this=col, expression=exp.Literal.string(NON_ASCII))


def casefolded(col: "exp.Expression", folds: "exp.Expression") -> "exp.Expression":
    """Python's ``str.casefold`` of ``col``: SQL ``lower`` where the value is
    ASCII (the same there), else the ``f`` of the row of relation ``folds``
    (``v``, ``f``) joined on it, which Python casefolded (``load_folds``)."""
    from sqlglot import exp

    return exp.case().when(col.is_(exp.null()), exp.null()) \
        .when(exp.not_(_non_ascii(col)), exp.Lower(this=col)) \
        .else_(exp.column("f", table=folds.alias_or_name))


def load_folds(backend: "Backend", column: str, name: str) -> None:
    """Relation ``name`` (``v``, ``f``): each distinct non-ASCII value of
    ``column`` of the converted rows and its ``str.casefold``. Python folds
    only those (few) values; ASCII is folded by SQL."""
    import pyarrow as pa
    from sqlglot import exp

    col = exp.column(column)
    got = backend.fetch(exp.select(col.as_("v")).distinct().from_(CONVERTED).where(_non_ascii(col))
                        .order_by("v")).column("v").to_pylist()
    backend.load(name, pa.table({"v": pa.array(got, pa.string()),
                                 "f": pa.array([v.casefold() for v in got], pa.string())}))


#: the column of ``people`` (from Parquet) that ranks the addresses: fewer ranks than rows, a doubled one
RANK = "rank__"
#: the numbers of the people by address, each with its row of the converted rows (``people_query``'s ``row``)
NUMBERS = "people_parquet_numbers"
#: the column holding a converted row's identifier there
ROW = "row__"


def people_query(schema: "pyarrow.Schema", model: "Model", columns: Mapping[str, str],
                 field_types: Mapping[str, str], keys: Sequence[str], folded: Sequence[str],
                 source: str, defaults: Mapping[str, Any] | None = None,
                 raw: str = RAW, row: str | None = None) -> tuple["exp.Expression", dict[str, str], "exp.Expression",
                                                                  list[tuple[str, "exp.Expression"]], "exp.Expression"]:
    """The queries that make ``people`` from relation ``raw``, whose Arrow
    ``schema`` is the files': (the converted rows, to be made as
    ``CONVERTED``; the columns of it to casefold, slot -> fold relation; the
    check of rows without or with a bad address; the relations to make,
    in order, the last of them ``people`` with ``RANK``; the doubled
    address, asked only when the ranks say there is one).

    People are numbered in the order of their casefolded addresses. With
    ``row``, the backend's stable identifier of a row of a table
    (DuckDB's ``rowid``), the sort that numbers them carries only the
    address and the row (``NUMBERS``), and the people are that joined back
    to their rows: a sort that carried every column spilled past memory
    at ten million people (13.1 s there against 5.2 s). Without it (Spark,
    whose own sort is distributed) one window numbers the whole rows.
    ``columns`` and ``field_types`` are the store's
    (field key -> column, type); ``keys`` the fields the plan reads,
    ``folded`` those it compares casefolded; ``defaults`` the stored value
    of a field a row leaves blank (``created at``, ``updated at``: the
    clock's now, as the engine gives a new person)."""
    from sqlglot import exp

    from ..ast import name_key

    defaults = defaults or {}

    try:
        mapped = field_columns(source, schema.names, model, "the schema")
    except DataFileError as exc:
        raise ParquetError(str(exc)) from None
    by_key: dict[str, tuple[str, Any]] = {}
    for (name, _type), f in zip(mapped, schema):
        by_key[name_key(name)] = (f.name, f.type)
    email_key = name_key("Email Address")
    if email_key not in by_key:
        raise ParquetError(f"{source}: no Email Address column; every person needs one")
    values: dict[str, Any] = {}   # sqlglot expressions (its builders' return types vary by version)
    for key, (colname, atype) in by_key.items():
        ftype = field_types[key]
        value = _value(exp.column(colname, quoted=True), _kind(atype), ftype)
        if value is None:
            raise ParquetError(f"{source}: the column '{colname}' holds {atype}, but the field "
                               f"'{model.fields[key][0]}' is {ftype}, which takes {ACCEPTS[ftype]}")
        values[key] = value if key not in defaults else exp.Coalesce(
            this=value, expressions=[exp.convert(defaults[key])])
    for key in keys:
        if key not in values and key in defaults:
            values[key] = exp.convert(defaults[key])
    slot = {key: f"v__{i}" for i, key in enumerate(values)}
    converted = exp.select(*[v.as_(slot[k]) for k, v in values.items()]).from_(raw)
    fold_of = {slot[k]: f"{FOLDS}{i}" for i, k in enumerate(values) if k == email_key or k in folded}

    def folded_col(key: str) -> exp.Expression:
        return casefolded(exp.column(slot[key], table="c"), exp.to_identifier(fold_of[slot[key]]))

    def with_folds(query: exp.Select) -> exp.Select:
        for s_, rel in fold_of.items():
            query = query.join(exp.to_table(rel), on=exp.EQ(this=exp.column("v", table=rel),
                                                            expression=exp.column(s_, table="c")), join_type="left")
        return query

    email_col = exp.column(slot[email_key], table="c")
    inner_cols: list[Any] = [folded_col(email_key).as_("email_key")]
    key_order = exp.Order(expressions=[exp.Ordered(this=exp.column("email_key"))])
    outputs: list[Any] = [
        exp.cast(exp.Window(this=exp.RowNumber(), order=key_order), "bigint").as_("id"),
        exp.cast(exp.Literal.number(0), "bigint").as_("deleted"),
        # the same order again, so the same sort: fewer ranks than rows is a doubled address,
        # found without a pass of its own over every address (``load_people``)
        exp.cast(exp.Window(this=exp.Anonymous(this="DENSE_RANK"), order=key_order.copy()), "bigint").as_(RANK),
    ]
    for key in keys:
        col = columns[key]
        if key in slot:
            inner_cols.append(exp.column(slot[key], table="c").as_(col))
        else:   # a field the files do not have: empty for everyone
            inner_cols.append(exp.cast(exp.null(), "bigint" if field_types[key] in ("integer", "score", "boolean")
                                       else "varchar").as_(col))
        outputs.append(exp.column(col))
        if key in folded:
            inner_cols.append((folded_col(key) if key in slot else exp.cast(exp.null(), "varchar"))
                              .as_(CASEFOLD + col))
            outputs.append(exp.column(CASEFOLD + col))
    inner = with_folds(exp.select(*inner_cols).from_(exp.to_table(CONVERTED).as_("c")))
    made: list[tuple[str, Any]]
    if row is None:
        made = [(PEOPLE, exp.select(*outputs).from_(inner.subquery("p")))]
    else:   # number the addresses alone, then join each row to its number
        # the numbers read the address and the row of ``rows`` alone: the backend's optimizer
        # drops the other columns before the sort
        rows = inner.select(exp.column(row, table="c").as_(ROW))
        numbers = exp.select(exp.column(ROW), *outputs[:3]).from_(rows.subquery("k"))
        joined = exp.select(exp.column("id", table="n"), exp.column("deleted", table="n"),
                            exp.column(RANK, table="n"), *[exp.column(o.alias_or_name, table="p")
                                                           for o in outputs[3:]]) \
            .from_(exp.to_table(NUMBERS).as_("n")) \
            .join(rows.subquery("p"), on=exp.EQ(this=exp.column(ROW, table="p"), expression=exp.column(ROW, table="n")))
        made = [(NUMBERS, numbers), (PEOPLE, joined)]
    # the check: rows without an address, addresses that are not one, doubled addresses
    bad = exp.not_(exp.RegexpLike(this=email_col, expression=exp.Literal.string(EMAIL_PATTERN)))
    keyed = with_folds(exp.select(folded_col(email_key).as_("k")).from_(exp.to_table(CONVERTED).as_("c"))
                       .where(email_col.is_(exp.not_(exp.null()))))
    dup = exp.select(exp.column("k")).from_(keyed.subquery("k1")).group_by("k") \
        .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
    check = exp.select(
        exp.Count(this=exp.Star()).as_("rows"),
        exp.Sum(this=exp.case().when(email_col.is_(exp.null()), exp.Literal.number(1))
                .else_(exp.Literal.number(0))).as_("missing"),
        exp.Min(this=exp.case().when(exp.and_(email_col.is_(exp.not_(exp.null())), bad), email_col)).as_("bad"),
    ).from_(exp.to_table(CONVERTED).as_("c"))
    doubled = exp.select(exp.Min(this=exp.column("k")).as_("dup")).from_(dup.subquery("d"))
    return converted, fold_of, check, made, doubled


def new_person_defaults(now: str) -> dict[str, str]:
    """What the engine gives a new person whose row leaves them blank
    (``Engine._upsert``): created and updated now (``now``: ISO text)."""
    return {"created at": now, "updated at": now}


def load_people(backend: "Backend", source: str, model: "Model", columns: Mapping[str, str],
                field_types: Mapping[str, str], keys: Sequence[str], folded: Sequence[str],
                defaults: Mapping[str, Any] | None = None) -> int:
    """Build relation ``people`` of ``backend`` from the Parquet at
    ``source`` (``parquet_paths``); the number of people. ``people`` is not
    kept when a row breaks a rule (``ParquetError``, one line).
    ``defaults``: as ``people_query`` (``new_person_defaults``)."""
    paths = parquet_paths(source)
    register(backend, paths)
    from sqlglot import exp

    schema = backend.fetch(exp.select("*").from_(RAW).limit(0)).schema
    converted, fold_of, check, made, doubled = people_query(schema, model, columns, field_types, keys, folded,
                                                            source, defaults, row=getattr(backend, "row_id", None))
    backend.create(CONVERTED, converted)
    for column, relation in fold_of.items():
        load_folds(backend, column, relation)
    row = backend.fetch(check).to_pylist()[0]
    if row["missing"]:
        raise ParquetError(f"{source}: {row['missing']} row{'s' if row['missing'] != 1 else ''} without an "
                           f"Email Address; every person needs one")
    if row["bad"] is not None:
        raise ParquetError(f"{source}: column Email Address: {row['bad']!r} is not an email address")
    for name, query in made:
        backend.create(name, query)
    drop = getattr(backend, "drop", None)
    if drop is not None and len(made) > 1:
        drop(NUMBERS)
    ranks = backend.fetch(exp.select(exp.Max(this=exp.column(RANK)).as_("n")).from_(PEOPLE)).column(0)[0].as_py()
    if ranks is not None and ranks < row["rows"]:   # a doubled address: which one, said by a query of its own
        dup = backend.fetch(doubled).column(0)[0].as_py()
        if drop is not None:
            drop(PEOPLE)
        raise ParquetError(f"{source}: the Email Address {dup!r} is on more than one row; a Parquet "
                           f"source has no row order to say which is later, so each person needs one row")
    if drop is not None:   # the converted rows are in ``people`` now: their memory goes back to the run
        drop(CONVERTED)
    return int(row["rows"])


# --------------------------------------------------------------------------
# A run over Parquet people, and its results as Parquet


class ParquetPeople:
    """A backend whose ``people`` come from Parquet: everything is
    ``inner``'s, except that the loader's ``people`` (read from the store,
    which holds none) is built from the files at ``source`` instead, with
    the same columns (``load_people``). The other input relations (lists,
    programs, runs, activities) are the store's: empty for a fresh store."""

    def __init__(self, inner: "Backend", source: str, model: "Model", columns: Mapping[str, str],
                 field_types: Mapping[str, str], now: str, out: str | None = None):
        self.inner = inner
        #: the folder the run's rows go to, written by the backend (``sets.writer.write_parquet``);
        #: None: into the store, as any run
        self.out = out
        self.dialect = inner.dialect
        self.source = source
        self.model = model
        self.columns = columns
        self.field_types = field_types
        self.now = now
        #: how many people the files hold (after ``load``)
        self.people = 0

    def load(self, name: str, table: "pyarrow.Table") -> None:
        if name != PEOPLE:
            self.inner.load(name, table)
            return
        key_of = {col: key for key, col in self.columns.items()}
        keys = [key_of[c] for c in table.column_names if c in key_of]
        if EMAIL_KEY not in keys:   # the results name people by address too
            keys.append(EMAIL_KEY)
        folded = [key_of[c[len(CASEFOLD):]] for c in table.column_names
                  if c.startswith(CASEFOLD) and c[len(CASEFOLD):] in key_of]
        self.people = load_people(self.inner, self.source, self.model, self.columns, self.field_types,
                                  keys, folded, new_person_defaults(self.now))

    def create(self, name: str, query: "exp.Expression") -> None:
        self.inner.create(name, query)

    def fetch(self, query: "exp.Expression") -> "pyarrow.Table":
        return self.inner.fetch(query)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:   # statements, sql, con, spark...: the inner backend's
        return getattr(self.inner, name)


def write_query(backend: "Backend", query: "exp.Expression", folder: str, part: int = 0) -> None:
    """The rows of ``query`` as Parquet in ``folder`` (Spark: written by
    the executors, the whole folder; DuckDB: ``COPY``, streamed, to file
    ``part-NNNNN.parquet``, NNNNN ``part``: a run in slices writes one file
    a slice, their names in id order)."""
    folder = os.path.abspath(folder)   # as parquet_paths: not the Spark session's start directory
    writer = getattr(backend, "write_parquet", None)
    if writer is not None:
        writer(query, folder)
        return
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, f"part-{part:05d}.parquet").replace("'", "''")
    # ``sql``: rendered once a run, though each slice writes with it
    backend.con.execute(f"COPY ({backend.sql(query)}) TO '{target}' (FORMAT parquet)")  # type: ignore[attr-defined]


def people_query_of(backend: "Backend", store: Any, model: "Model") -> "exp.Expression":
    """The rows of ``out/people`` of a run over Parquet people, from the
    backend's ``result``: the people who entered (``id``, ``Email
    Address``, and each field the plan read or wrote, by its name, as the
    run left it), by id."""
    from sqlglot import exp

    from .query import parse

    have = set(backend.fetch(exp.select("*").from_("result").limit(0)).column_names)
    email = store.columns[EMAIL_KEY]
    fields = [(col, model.fields[key][0] if key in model.fields else store.field_names.get(key, key))
              for key, col in sorted(store.columns.items()) if col in have and key != EMAIL_KEY]
    query = exp.select(exp.column("id", table="r"),
                       exp.column(email, table="r" if email in have else "p", quoted=True)
                       .as_("Email Address", quoted=True),
                       *[exp.column(c, table="r", quoted=True).as_(n, quoted=True) for c, n in fields]) \
        .from_(exp.to_table("result").as_("r"))
    if email in have:   # ``result`` carries the address (``sets.run``: a run with --out)
        return query.order_by(exp.column("id", table="r"))
    return query \
        .join(exp.to_table(PEOPLE).as_("p"), on=exp.EQ(this=exp.column("id", table="p"),
                                                        expression=exp.column("id", table="r"))) \
        .where(parse("p.id BETWEEN (SELECT MIN(id) FROM result) AND (SELECT MAX(id) FROM result)")) \
        .order_by(exp.column("id", table="r"))   # the range: a slice's people, the rest of the table skipped


def read_activities(out: str) -> list[Any]:
    """The activity log a run wrote under ``out/activities``, as the store's
    ``Activity`` records (``--trace``); people have no address in it."""
    import json

    import pyarrow.parquet as pq

    from ..store import Activity

    files = sorted(glob.glob(os.path.join(out, "activities", "**", "*.parquet"), recursive=True))
    rows: list[dict] = []
    for f in files:
        rows += pq.read_table(f).to_pylist()
    rows.sort(key=lambda r: r["id"])
    return [Activity(r["id"], r["person"], None, r["type"], r["campaign"], r["run"], r["at"], r["asset"],
                     json.loads(r["attributes"]), None if r["old"] is None else json.loads(r["old"]),
                     None if r["new"] is None else json.loads(r["new"])) for r in rows]
