"""People imported in bulk (issue 16): ``import_people`` streams a CSV,
JSON or Parquet file into the store a chunk at a time, and leaves the store
exactly as the person-by-person import (``Engine.import_people`` of the
merged records) does: same people, same activity log byte for byte, same
counts; a bad row anywhere imports nothing; memory does not grow with the
length of the file."""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignlang import datafiles
from campaignlang.api import compile_text
from campaignlang.cli import main
from campaignlang.datafiles import DataFileError, _cell, _column, _convert, import_people, read_people
from campaignlang.engine import Engine
from campaignlang.stdlib.types import TYPES
from campaignlang.store import Store
from campaignlang.values import encode

FIELDS = """
fields {
    "Renewal": date
    "Seen": datetime
    "Seats": integer
    "Ratio": decimal
    "Points": score
    "VIP": boolean
    "Backup Email": email
}
"""

CREATED_TRIGGER = FIELDS + """
program "P" {
    list "New"
    campaign "Welcome" trigger {
        smart list { trigger person is created }
        flow { add to list "New" }
    }
}
"""


def _engine(path: Path, source: str = FIELDS) -> Engine:
    return Engine(compile_text(source), Store(str(path)))


def _dump(e: Engine) -> list[str]:
    e.store.flush()
    return list(e.store.db.iterdump())


def _reference(e: Engine, path: Path) -> tuple[int, int, int, int]:
    """The person-by-person import: the whole file read and merged, then
    ``Engine.import_people`` one record at a time."""
    people = read_people(path, e.model)
    created, updated = e.import_people(people.records)
    return created, updated, people.merged, people.rows


def _both(tmp_path: Path, text: str | bytes, name: str = "p.csv", setup=None,
          source: str = FIELDS) -> tuple[Engine, Engine]:
    """Import ``text`` into two stores set up alike, in bulk and one by one;
    both must end identical (tables, activity log, report)."""
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    bulk, ref = _engine(tmp_path / "bulk.db", source), _engine(tmp_path / "ref.db", source)
    for e in (bulk, ref):
        if setup is not None:
            setup(e)
    report = import_people(bulk, path)
    expected = _reference(ref, path)
    assert (report.created, report.updated, report.merged, report.rows) == expected
    assert _dump(bulk) == _dump(ref)
    assert bulk.store.activity_log_jsonl() == ref.store.activity_log_jsonl()
    return bulk, ref


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 3 rows, so that a short file spans several."""
    monkeypatch.setattr(datafiles, "CHUNK", 3)


# -- the short paths convert exactly as _convert does ---------------------------------------

CELLS = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="0123456789-+,. eE_", max_size=25),
    st.text(alphabet="0123456789-T: Z+.", max_size=22),
    st.sampled_from(["2026-03-01", "2026-02-30", "2026-W01-1", "2026-03-01T09:30", "2026-03-01 09:30:05",
                     "2026-03-01T09:30:05.123", "2026-03-01T09:30+02:00", "20260301", " 2026-03-01",
                     "true", "FALSE", "Yes", " no", "t", "1", "0", "2", "9" * 19, "-9223372036854775808",
                     "9223372036854775808", "1,200", "1_000", "١٢", "12.0", "3.50", "ann@example.com",
                     " ann@example.com ", "a b@x", "@x", ""]),
)


def _outcome(fn, value):
    try:
        return ("ok", fn(value))
    except ValueError as exc:
        return ("error", str(exc))


def _reference_cell(type_: str, value):
    if datafiles._empty(value):
        return None
    return encode(type_, _convert(type_, value))


@settings(max_examples=400, deadline=None)
@given(type_=st.sampled_from(sorted(TYPES)), value=st.one_of(CELLS, st.integers(), st.booleans(),
                                                             st.floats(allow_nan=False), st.none()))
def test_cell_converters_agree_with_convert(type_, value):
    assert _outcome(_cell(type_), value) == _outcome(lambda v: _reference_cell(type_, v), value)


@settings(max_examples=300, deadline=None)
@given(type_=st.sampled_from(sorted(TYPES)), values=st.lists(CELLS.filter(lambda v: v.strip() != ""),
                                                              min_size=1, max_size=6))
def test_whole_columns_agree_with_cell_by_cell(type_, values):
    column = _column(type_, values)
    if column is not None:   # None: the column goes cell by cell
        assert list(column) == [_reference_cell(type_, v) for v in values]


# -- the bulk import leaves the store as the person-by-person import does -------------------

ROWS = ("Email,First Name,Renewal,Seen,Seats,Ratio,Points,VIP,Backup Email,Created At\n"
        "ann@example.com,Ann,2026-03-01,2026-03-01T09:30,\"1,200\",3.50,-7,yes,b@x.io,\n"
        "bob@example.com,,,2026-03-01 10:00:05,12.0,,,FALSE,,2025-01-01\n"
        "cy@example.com,Cy Ö \"q\",,,,,,,,\n")


def test_new_people_in_bulk_match_one_by_one(tmp_path):
    bulk, _ = _both(tmp_path, ROWS)
    assert [a.type for a in bulk.activities()] == ["New Person"] * 3


def test_many_chunks_of_new_people_match(tmp_path, small_chunks):
    text = "Email,Seats,VIP\n" + "".join(f"p{i}@example.com,{i},{'yes' if i % 3 else ''}\n" for i in range(20))
    _both(tmp_path, text)


def test_updates_and_new_people_interleaved_match(tmp_path, small_chunks):
    def setup(e):
        e.add_person("bob@example.com", {"Seats": 1, "City": "Lima"})
        e.add_person("dee@example.com", {"VIP": True})
        e.advance("1 day")
    text = ("Email,City,Seats,VIP\nann@example.com,Rome,1,\nBOB@example.com,Oslo,,no\nx@example.com,,5,\n"
            "y@example.com,Kyiv,,\ndee@example.com,,2,yes\nz@example.com,,,\n")
    bulk, _ = _both(tmp_path, text, setup=setup)
    changed = [a for a in bulk.activities() if a.type == "Change Data Value"]
    assert len(changed) == 3   # Bob: City and VIP (an empty cell leaves Seats); Dee: Seats (VIP was true)


def test_duplicates_within_and_across_chunks_match(tmp_path, small_chunks):
    def setup(e):
        e.add_person("old@example.com", {"City": "Lima"})
    text = ("Email,City,Seats\nann@example.com,Rome,1\nbob@example.com,Oslo,2\nANN@example.com,,3\n"
            "cy@example.com,Cusco,\nann@example.com,Milan,\nbob@example.com,,9\nold@example.com,Bonn,4\n"
            "old@example.com,,5\n")
    _both(tmp_path, text, setup=setup)


def test_a_person_of_the_store_in_two_chunks_matches(tmp_path, small_chunks):
    def setup(e):
        e.add_person("old@example.com", {"City": "Lima", "Seats": 1})
    text = ("Email,City,Seats\nold@example.com,Bonn,\na@example.com,,\nb@example.com,,\n"
            "c@example.com,,\nold@example.com,Lima,7\n")
    bulk, _ = _both(tmp_path, text, setup=setup)
    assert [(a.old, a.new) for a in bulk.activities("old@example.com", "Change Data Value")] == [(1, 7)]


def test_a_later_chunk_spelling_an_address_differently_matches(tmp_path, small_chunks):
    text = "Email,Seats\nann@example.com,1\na@example.com,\nb@example.com,\nAnn@Example.com,2\n"
    bulk, _ = _both(tmp_path, text)
    assert bulk.people()[0].email == "Ann@Example.com"


def test_json_people_match(tmp_path, small_chunks):
    def setup(e):
        e.add_person("bob@example.com", {"Seats": 1})
    people = [{"Email": "ann@example.com", "Seats": 3.0, "VIP": True, "Renewal": "2026-05-01", "City": None},
              {"VIP": False, "email address": "bob@example.com", "Seats": 2},
              {"email": "A@example.com", "Ratio": 0.5}, {"Email": "c@example.com"}, {"Email": "d@example.com"}]
    _both(tmp_path, json.dumps(people), "p.json", setup=setup)


@pytest.mark.parametrize("wrapped", [False, True])
def test_json_streams_across_blocks(tmp_path, monkeypatch, wrapped):
    monkeypatch.setattr(datafiles, "BLOCK", 7)   # every item, key and number crosses blocks
    monkeypatch.setattr(datafiles, "CHUNK", 4)
    people = [{"Email": f"p{i}@example.com", "Seats": 10 ** (i % 12), "Ratio": i / 4, "City": "Zürich" * (i % 3),
               "VIP": None} for i in range(15)]
    body = json.dumps(people, indent=1 if wrapped else None)
    _both(tmp_path, ('{ "people" :\n' + body + "\n}\n") if wrapped else body, "p.json")


@pytest.mark.parametrize("text, message", [
    ('[{"email": "a@example.com"}] x', "FILE: line 1: not JSON: Extra data (column 30)"),
    ('[{"email": "a@example.com"}, ]', "FILE: line 1: not JSON: Expecting value (column 30)"),
    ('{"people": [{"email": "a@example.com"}], "more": 1}',
     'FILE: expected a list of objects, one per person (or {"people": [...]})'),
    ('{"people": 3}', 'FILE: expected a list of objects, one per person (or {"people": [...]})'),
    ('[{"email": "a@example.com"}\n{"email": "b@example.com"}]',
     "FILE: line 2: not JSON: Expecting ',' delimiter (column 1)"),
    ("", "FILE: line 1: not JSON: Expecting value (column 1)"),
])
def test_json_errors_are_those_of_the_whole_file(tmp_path, monkeypatch, text, message):
    monkeypatch.setattr(datafiles, "BLOCK", 5)
    e = _engine(tmp_path / "s.db")
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(DataFileError) as info:
        import_people(e, path)
    assert str(info.value) == message.replace("FILE", str(path))
    assert e.store.count_people() == 0


def test_a_trigger_on_person_is_created_runs_as_before(tmp_path, small_chunks):
    text = "Email,Seats\n" + "".join(f"p{i}@example.com,{i}\n" for i in range(7))
    bulk, _ = _both(tmp_path, text, source=CREATED_TRIGGER)
    assert [a.type for a in bulk.activities()].count("Add to List") == 7


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["", "Rome", "Oslo"]),
                               st.sampled_from(["", "1", "2", "x"]), st.booleans()), max_size=12),
       existing=st.sets(st.integers(0, 6), max_size=3))
def test_generated_files_match(tmp_path_factory, monkeypatch, rows, existing):
    monkeypatch.setattr(datafiles, "CHUNK", 4)
    tmp = tmp_path_factory.mktemp("gen")
    text = "Email,City,Seats\n" + "".join(
        f"{'P' if upper else 'p'}{n}@example.com,{city},{seats}\n" for n, city, seats, upper in rows)

    def setup(e):
        for n in sorted(existing):
            e.add_person(f"p{n}@example.com", {"City": "Lima", "Seats": n})

    path = tmp / "p.csv"
    path.write_text(text)
    bulk, ref = _engine(tmp / "bulk.db"), _engine(tmp / "ref.db")
    setup(bulk)
    setup(ref)
    try:
        expected = _reference(ref, path)
    except DataFileError as exc:   # "x" is not an integer: both refuse, alike, and keep nothing
        before = _dump(bulk)
        with pytest.raises(DataFileError) as info:
            import_people(bulk, path)
        assert str(info.value) == str(exc) and _dump(bulk) == before
        return
    report = import_people(bulk, path)
    assert (report.created, report.updated, report.merged, report.rows) == expected
    assert _dump(bulk) == _dump(ref)


# -- all or nothing ----------------------------------------------------------------------------

def test_a_bad_row_late_in_a_file_leaves_the_store_as_it_was(tmp_path, small_chunks):
    e = _engine(tmp_path / "s.db")
    e.add_person("old@example.com", {"Seats": 1})
    before, now = _dump(e), e.now
    path = tmp_path / "p.csv"
    path.write_text("Email,Seats\n" + "".join(f"p{i}@example.com,{i}\n" for i in range(20))
                    + "old@example.com,2\n" + "late@example.com,many\n")
    with pytest.raises(DataFileError) as info:
        import_people(e, path)
    assert str(info.value) == (f"{path}: line 23, column 'Seats': 'many' is not an integer "
                               f"(expected a whole number)")
    assert _dump(e) == before and e.now == now


@pytest.mark.parametrize("text, message", [
    ("Email,City\na@example.com,Rome\n\nb@example.com,\"two\nlines\"\nc@example.com\n",
     "FILE: line 6: 1 value but the header has 2 columns"),
    ("Email,Seats\na@example.com,1\nb@example.com,2\nc@example.com,2\n\nd@example.com,two\n",
     "FILE: line 6, column 'Seats': 'two' is not an integer (expected a whole number)"),
    ("Email,Seats\na@example.com,1\nb@example.com,x\nc@example.com\n",
     "FILE: line 3, column 'Seats': 'x' is not an integer (expected a whole number)"),
    ("Email,Seats\na@example.com,1\nb@example.com,2\nc@example.com,3\n,4\n",
     "FILE: line 5: no Email Address; every person needs one"),
])
def test_errors_name_the_first_bad_line_across_chunks(tmp_path, small_chunks, text, message):
    e = _engine(tmp_path / "s.db")
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(DataFileError) as info:
        import_people(e, path)
    assert str(info.value) == message.replace("FILE", str(path))
    assert e.store.count_people() == 0


def test_a_bad_byte_far_into_a_file_is_found_with_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(datafiles, "CHUNK", 100)
    head = "Email\n" + "".join(f"p{i}@example.com\n" for i in range(100_000))
    raw = b"\xef\xbb\xbf" + head.encode() + b"bad\xff@example.com\n"
    path = tmp_path / "p.csv"
    path.write_bytes(raw)
    with pytest.raises(DataFileError) as info:
        import_people(_engine(tmp_path / "s.db"), path)
    assert str(info.value) == (f"{path}: line 100002: not UTF-8 text (byte {len(head.encode()) + 3}); "
                               f"save the file as UTF-8")


@pytest.mark.parametrize("name, raw, message", [
    ("p.csv", b"Email,Seats\na@example.com,x\n" + b"b@example.com,1\n" * 3000 + b"c@exa\x00mple.com,2\n",
     "FILE: line 3003: a NUL byte; this is not a text file"),
    ("p.csv", b"Email,Seats\na@ex\x00ample.com,1\n" + b"b@example.com,1\n" * 3000 + b"\xff\n",
     "FILE: line 3003: not UTF-8 text (byte 48029); save the file as UTF-8"),
    ("p.json", b'[{"Email": "a@example.com", "Seats": "x"},\n' + b'{"Email": "b@example.com"},\n' * 3000
     + b'{"Email": "\xff@example.com"}]', "FILE: line 3002: not UTF-8 text (byte 84054); save the file as UTF-8"),
    ("p.json", b'[{"Email": "a@example.com", "Seats": "x"},\n' + b'{"Email": "b@example.com"},\n' * 3000 + b"]]",
     "FILE: line 3002: not JSON: Expecting value (column 1)"),
])
def test_the_error_is_the_one_a_whole_read_names(tmp_path, monkeypatch, name, raw, message):
    monkeypatch.setattr(datafiles, "BLOCK", 4096)   # the problems are blocks apart
    path = tmp_path / name
    path.write_bytes(raw)
    with pytest.raises(DataFileError) as info:
        import_people(_engine(tmp_path / "s.db"), path)
    assert str(info.value) == message.replace("FILE", str(path))


# -- memory: one chunk, whatever the length of the file -----------------------------------------

def _peak(tmp_path: Path, n: int, kind: str) -> int:
    path = tmp_path / f"p{n}.{kind}"
    with path.open("w") as f:
        if kind == "csv":
            f.write("Email,First Name,Seats,Renewal\n")
            for i in range(n):
                f.write(f"person{i}@example.com,Name {i % 100},{i},2026-01-{1 + i % 28:02d}\n")
        else:
            f.write("[" + ",\n".join(json.dumps({"Email": f"person{i}@example.com", "First Name": f"Name {i % 100}",
                                                   "Seats": i, "Renewal": f"2026-01-{1 + i % 28:02d}"})
                                       for i in range(n)) + "]")
    e = _engine(tmp_path / f"s{n}{kind}.db")
    gc.collect()
    tracemalloc.start()
    try:
        report = import_people(e, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.created == n
    e.store.close()
    return peak


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_memory_does_not_grow_with_the_length_of_the_file(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(datafiles, "CHUNK", 1000)
    monkeypatch.setattr(datafiles, "BLOCK", 1 << 14)   # both files span many blocks
    small, large = _peak(tmp_path, 10_000, kind), _peak(tmp_path, 60_000, kind)
    # six times the rows: the peak is one chunk's (plus a block of the file), not six times it
    assert large < small * 1.3, (small, large)


# -- Parquet -------------------------------------------------------------------------------------

def _parquet(path: Path, columns: dict) -> Path:
    pa = pytest.importorskip("pyarrow")   # the parquet extra (in dev)
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table(columns), str(path), row_group_size=4)
    return path


def test_parquet_people_match_the_same_csv(tmp_path, small_chunks):
    import datetime as dt
    from decimal import Decimal
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    _parquet(tmp_path / "p.parquet", {
        "Email Address": ["ann@example.com", "bob@example.com", "ANN@example.com", "cy@example.com", None],
        "seats": pa.array([1, None, 3, 4, 5], pa.int64()),
        "Renewal": [dt.date(2026, 3, 1), None, None, dt.date(2026, 1, 2), None],
        "Seen": [dt.datetime(2026, 3, 1, 9, 30), None, None, None, None],
        "Ratio": pa.array([Decimal("3.50"), None, None, None, None], pa.decimal128(5, 2)),
        "VIP": [True, False, None, None, None],
        "City": ["Rome", "", None, "Oslo", None],
    })
    e = _engine(tmp_path / "s.db")
    with pytest.raises(DataFileError) as info:   # the fifth row has no address
        import_people(e, tmp_path / "p.parquet")
    assert str(info.value) == f"{tmp_path / 'p.parquet'}: row 5: no Email Address; every person needs one"
    assert e.store.count_people() == 0

    table = pq.read_table(str(tmp_path / "p.parquet")).slice(0, 4)
    pq.write_table(table, str(tmp_path / "good.parquet"), row_group_size=2)
    csv_text = ("Email Address,seats,Renewal,Seen,Ratio,VIP,City\n"
                "ann@example.com,1,2026-03-01,2026-03-01T09:30,3.50,true,Rome\n"
                "bob@example.com,,,,,false,\nANN@example.com,3,,,,,\ncy@example.com,4,2026-01-02,,,,Oslo\n")
    (tmp_path / "same.csv").write_text(csv_text)
    from_parquet, from_csv = _engine(tmp_path / "a.db"), _engine(tmp_path / "b.db")
    r1 = import_people(from_parquet, tmp_path / "good.parquet")
    r2 = import_people(from_csv, tmp_path / "same.csv")
    assert (r1.created, r1.merged, r1.rows) == (r2.created, r2.merged, r2.rows) == (3, 1, 4)
    assert _dump(from_parquet) == _dump(from_csv)


@pytest.mark.parametrize("columns, message", [
    ({"Emial": ["a@example.com"]}, "FILE: columns: the column 'Emial' names no field; did you mean 'Email'? "
                                   "the fields are: ALL"),
    ({"Email": ["a@example.com", "b@example.com"], "Seats": ["1", "lots"]},
     "FILE: row 2, column 'Seats': 'lots' is not an integer (expected a whole number)"),
    ({"Email": ["a@example.com"], "VIP": [2.5]},
     "FILE: row 1, column 'VIP': 2.5 is not a boolean (expected true or false (yes/no and 1/0 are "
     "accepted too))"),
    ({"City": ["Rome"]}, "FILE: no Email Address column; every person needs one"),
])
def test_parquet_errors_say_what_csv_says(tmp_path, columns, message):
    path = _parquet(tmp_path / "p.parquet", columns)
    e = _engine(tmp_path / "s.db")
    with pytest.raises(DataFileError) as info:
        import_people(e, path)
    assert str(info.value) == message.replace("FILE", str(path)).replace(
        "ALL", ", ".join(e.model.field_names()))


def test_a_file_that_is_not_parquet_is_refused(tmp_path):
    path = tmp_path / "p.parquet"
    path.write_text("Email\na@example.com\n")
    with pytest.raises(DataFileError, match=r"p\.parquet: not a Parquet file"):
        import_people(_engine(tmp_path / "s.db"), path)


def test_cli_imports_parquet_and_without_pyarrow_says_which_extra(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _parquet(tmp_path / "people.parquet", {"Email": [f"p{i}@example.com" for i in range(10)],
                                           "Lead Score": list(range(10))})
    r = CliRunner().invoke(main, ["people", "import", "people.parquet", "--db", "s.db"])
    assert r.exit_code == 0, r.output
    assert r.stdout == "imported 10 people (10 new, 0 updated) into s.db\n"
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)   # as if pyarrow were not installed
    r = CliRunner().invoke(main, ["people", "import", "people.parquet", "--db", "s.db"])
    assert r.exit_code == 2
    assert r.stderr == ("error: reading Parquet files needs pyarrow, which is not installed: "
                        "pip install 'campaignlang[parquet]'\n")
