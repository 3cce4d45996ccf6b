"""People from Parquet (issue 16, sets.parquet): the ``people`` relation a
plan reads, built from Parquet files on DuckDB and on Spark, is the one
``sets.loader`` builds from a store into which a CSV of the same people
was imported (same columns, encodings, casefolding, ids); the people-file
rules refuse the same things, in one line, and make nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from sqlglot import exp  # noqa: E402

from campaignlang.api import compile_text  # noqa: E402
from campaignlang.clock import iso  # noqa: E402
from campaignlang.datafiles import _EMAIL, import_people  # noqa: E402
from campaignlang.engine import Engine  # noqa: E402
from campaignlang.sets import loader  # noqa: E402
from campaignlang.sets.backend import DuckDBBackend  # noqa: E402
from campaignlang.sets.parquet import EMAIL_PATTERN, ParquetError, load_people, new_person_defaults  # noqa: E402
from campaignlang.sets.spark import SparkBackend  # noqa: E402

PROGRAM = """
fields {
    "Region": text
    "Employees": integer
    "Behavior Score": score
    "Is VIP": boolean
    "Revenue": decimal
    "Last Webinar": date
    "Signed Up": datetime
}
program "P" {
    campaign "Batch" batch {
        smart list { filter lead.Region is "NA" }
        flow { change data value lead.Region to "EMEA" }
    }
}
"""

#: the people, as Python values (None: blank); emails in mixed case, with spaces
PEOPLE = [
    {"Email Address": " Zoë@Example.com", "First Name": "Zoë", "Region": "NA", "Employees": 12,
     "Behavior Score": -3, "Is VIP": True, "Revenue": Decimal("1200.50"), "Last Webinar": dt.date(2026, 11, 3),
     "Signed Up": dt.datetime(2026, 1, 2, 3, 4, 5)},
    {"Email Address": "ann@example.com", "First Name": "  ", "Region": "STRASSE", "Employees": None,
     "Behavior Score": 0, "Is VIP": False, "Revenue": Decimal("0.10"), "Last Webinar": None,
     "Signed Up": dt.datetime(2026, 12, 31, 23, 59, 59)},
    {"Email Address": "BOB@example.com", "First Name": "Bob \"the\" back\\slash", "Region": "straße",
     "Employees": 9_000_000_000, "Behavior Score": None, "Is VIP": None, "Revenue": None,
     "Last Webinar": dt.date(2025, 2, 28), "Signed Up": None},
    {"Email Address": "ẞig@example.com", "First Name": "  padded  ", "Region": "ÉMEA", "Employees": 0,
     "Behavior Score": 7, "Is VIP": True, "Revenue": Decimal("-5.00"), "Last Webinar": dt.date(2026, 1, 1),
     "Signed Up": dt.datetime(2026, 6, 1, 0, 0, 0)},
]
TYPES = {"Email Address": pa.string(), "First Name": pa.string(), "Region": pa.string(), "Employees": pa.int64(),
         "Behavior Score": pa.int32(), "Is VIP": pa.bool_(), "Revenue": pa.decimal128(12, 2),
         "Last Webinar": pa.date32(), "Signed Up": pa.timestamp("us")}


def _write_parquet(path, people=PEOPLE, types=TYPES, split: bool = True) -> None:
    """The people as Parquet: a folder of two files (a warehouse export)."""
    path.mkdir()
    halves = [people[:2], people[2:]] if split else [people]
    for i, part in enumerate(halves):
        table = pa.table({k: pa.array([float(p[k]) if pa.types.is_floating(t) and p.get(k) is not None
                                       else p.get(k) for p in part], t) for k, t in types.items()})
        pq.write_table(table, path / f"part-{i}.parquet")


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.isoformat(timespec="seconds")
    return str(v)


def _store_people(tmp_path, engine: Engine, needs: loader.Needs):
    """The loader's people after importing the same people from a CSV
    written in the order of their casefolded address (the Parquet rule)."""
    ordered = sorted(PEOPLE, key=lambda p: p["Email Address"].strip().casefold())
    path = tmp_path / "people.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(list(TYPES))
        for p in ordered:
            w.writerow([_cell(p[k]) for k in TYPES])
    import_people(engine, path)
    duck = DuckDBBackend(threads=1)
    try:
        loader.load(engine.store, duck, needs)
        return duck.fetch(exp.select("*").from_("people").order_by("id"))
    finally:
        duck.close()


def _needs(engine: Engine) -> loader.Needs:
    keys = set(engine.store.columns)
    text = {k for k in keys if engine.store.field_types[k] in ("text", "email")}
    return loader.Needs(fields=keys, folded=text)


@pytest.fixture
def engine():
    return Engine(compile_text(PROGRAM))


def _backend(kind: str, request):
    if kind == "duckdb":
        return DuckDBBackend(threads=1)
    return SparkBackend(request.getfixturevalue("spark_session"))


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_parquet_people_are_the_stores_people(tmp_path, engine, kind, request) -> None:
    needs = _needs(engine)
    want = _store_people(tmp_path, engine, needs)
    _write_parquet(tmp_path / "people")
    backend = _backend(kind, request)
    try:
        n = load_people(backend, str(tmp_path / "people"), engine.model, engine.store.columns,
                        engine.store.field_types, sorted(needs.fields), sorted(needs.folded),
                        new_person_defaults(iso(engine.clock.now)))
        got = backend.fetch(exp.select(*want.column_names).from_("people").order_by("id"))
    finally:
        backend.close()
    assert n == len(PEOPLE)
    for g, w in zip(got.to_pylist(), want.to_pylist()):
        assert {k: v for k, v in g.items() if w[k] != v} == {k: v for k, v in w.items() if g[k] != v}
    assert got.to_pylist() == want.to_pylist()
    assert got.schema.types == want.schema.types
    assert set(got.column_names) == set(want.column_names)


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
@pytest.mark.parametrize("change, message", [
    ({"Email Address": None}, r"1 row without an Email Address; every person needs one"),
    ({"Email Address": "not an address"}, r"'not an address' is not an email address"),
    ({"Email Address": "ANN@example.com "}, r"the Email Address 'ann@example.com' is on more than one row"),
])
def test_rows_that_break_the_rules(tmp_path, engine, kind, change, message, request) -> None:
    people = [dict(p) for p in PEOPLE]
    people[3].update(change)
    _write_parquet(tmp_path / "people", people)
    backend = _backend(kind, request)
    try:
        with pytest.raises(ParquetError, match=message):
            load_people(backend, str(tmp_path / "people"), engine.model, engine.store.columns,
                        engine.store.field_types, sorted(engine.store.columns), [])
        with pytest.raises(Exception):   # nothing was made
            backend.fetch(exp.select("id").from_("people"))
    finally:
        backend.close()


@pytest.mark.parametrize("types, message", [
    ({**TYPES, "Revenue": pa.float64()}, r"the column 'Revenue' holds double, but the field 'Revenue' is decimal, "
                                         r"which takes decimals or whole numbers"),
    ({**TYPES, "Signed Up": pa.timestamp("us", tz="UTC")}, r"the column 'Signed Up' holds timestamp\[us, tz=[^]]*\], "
                                                           r"but the field 'Signed Up' is datetime"),
    ({**TYPES, "Nickname": pa.string()}, r"the column 'Nickname' names no field"),
    ({**TYPES, "Email": pa.string()}, r"the columns 'Email Address' and 'Email' both name the field"),
])
def test_columns_that_break_the_rules(tmp_path, engine, types, message) -> None:
    people = [{**p, "Nickname": "x", "Email": p["Email Address"]} for p in PEOPLE]
    _write_parquet(tmp_path / "people", people, types)
    backend = DuckDBBackend(threads=1)
    try:
        with pytest.raises(ParquetError, match=message):
            load_people(backend, str(tmp_path / "people"), engine.model, engine.store.columns,
                        engine.store.field_types, sorted(engine.store.columns), [])
    finally:
        backend.close()


def test_missing_source_is_one_line(tmp_path, engine) -> None:
    backend = DuckDBBackend(threads=1)
    (tmp_path / "empty").mkdir()
    try:
        for source, message in [(tmp_path / "nowhere", "no such file or folder"),
                                (tmp_path / "empty", "holds no .parquet files"),
                                (tmp_path / "*.parquet", "no Parquet files match")]:
            with pytest.raises(ParquetError, match=message):
                load_people(backend, str(source), engine.model, engine.store.columns,
                            engine.store.field_types, [], [])
    finally:
        backend.close()


ADDRESSES = [a.strip() for a in ["a@b", "a@b.c", "a b@c", "a@b c", "@b", "a@", "a@@b", "a@b@c", "a\u00a0@b", "a@b\u2003", "a\tb@c",
             "a@b\x0b", "ü@ñ.de", "a\x1c@b", "a\u3000b@c", "a@b\u0085", "x@y\u200b", "a\u2028b@c"]]


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_email_pattern_is_datafiles_pattern(kind, request) -> None:
    """The SQL spelling of the address rule says what ``datafiles._EMAIL``
    says, on each backend (whose regex engines differ on ``\\s``), of an
    address stripped first, as both strip it (Java's ``$`` also matches
    before a final U+0085 or U+2028, which stripping removes)."""
    backend = _backend(kind, request)
    try:
        backend.load("addresses", pa.table({"a": pa.array(ADDRESSES, pa.string())}))
        got = backend.fetch(exp.select("a", exp.RegexpLike(this=exp.column("a"),
                                                           expression=exp.Literal.string(EMAIL_PATTERN)).as_("ok"))
                            .from_("addresses")).to_pylist()
    finally:
        backend.close()
    assert {r["a"]: r["ok"] for r in got} == {a: bool(_EMAIL.match(a)) for a in ADDRESSES}
    assert re.fullmatch(EMAIL_PATTERN, "a@b")


#: texts blank or not by Python's ``str.strip`` (every whitespace character it strips, and texts
#: ending in the line terminators Java's ``$`` matches before)
BLANKS = ["", " ", "\t\n", "\u3000", "\x1c\x1f", "\u0085", "\u2028", " \u2029 ", "\xa0\u1680\u200a\u202f\u205f",
          "x", " x ", "x\u2028", "x\n", "\u2028x", "\u200b", "a\u3000b", "\u0085 \u0085"]


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_a_blank_value_is_what_strip_leaves_empty(kind, request) -> None:
    """A Parquet text is blank (no value) where Python's ``strip`` leaves
    it empty, on each backend, as a people file's cell is."""
    from campaignlang.sets.parquet import _blank_is_null

    backend = _backend(kind, request)
    try:
        backend.load("texts", pa.table({"t": pa.array(BLANKS, pa.string())}))
        got = backend.fetch(exp.select("t", _blank_is_null(exp.column("t"), exp.column("t")).as_("v"))
                            .from_("texts")).to_pylist()
    finally:
        backend.close()
    assert {r["t"]: r["v"] for r in got} == {t: (None if t.strip() == "" else t) for t in BLANKS}


_ADDRESS = st.text(alphabet="aAbBßẞİıΣσς😀", min_size=1, max_size=3).map(lambda s: f"{s}@x.com")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(addresses=st.one_of(st.lists(_ADDRESS, min_size=1, max_size=25, unique_by=str.casefold),
                           st.lists(_ADDRESS, min_size=1, max_size=25)), names=st.lists(st.sampled_from([None, "Ann", "Zoë"]),
                                                                             min_size=25, max_size=25))
def test_numbering_by_the_address_alone_is_the_one_window(tmp_path, engine, addresses, names) -> None:
    """DuckDB numbers people by a sort of the address and the row alone, then
    joins the rows back (``people_query``'s ``row``); the one window over the
    whole rows (Spark's plan) is the reference: the same people, ids and
    ranks, or the same doubled address refused."""
    import tempfile

    folder = tempfile.mkdtemp(dir=tmp_path)
    pq.write_table(pa.table({"Email Address": addresses, "First Name": names[:len(addresses)]}),
                   f"{folder}/people.parquet")
    needs = _needs(engine)
    got = {}
    for way in ("narrow", "one window"):
        backend = DuckDBBackend(threads=1)
        if way == "one window":
            backend.row_id = None   # type: ignore[misc]
        try:
            load_people(backend, folder, engine.model, engine.store.columns, engine.store.field_types,
                        sorted(needs.fields), sorted(needs.folded), new_person_defaults(iso(dt.datetime(2026, 1, 1))))
            got[way] = backend.fetch(exp.select("*").from_("people").order_by("id")).to_pylist()
        except ParquetError as exc:
            got[way] = str(exc)
        finally:
            backend.close()
    assert got["narrow"] == got["one window"]
    event("a doubled address, refused" if isinstance(got["narrow"], str) else "numbered")
