"""The JSON the set-based writer builds in SQL (sets.rows, issue 16) is
``values.dumps`` byte for byte: a text of any characters (quotes,
backslashes, control characters, non-ASCII, U+2028/U+2029, astral
characters), NULL, integers, booleans, and objects of texts and lists of
texts with sorted keys, on DuckDB and on Spark. Lone surrogates cannot
reach it: the store cannot hold them (SQLite's text is UTF-8) and Arrow
refuses them.
"""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

pa = pytest.importorskip("pyarrow")
pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from campaignlang.sets import rows  # noqa: E402
from campaignlang.sets.backend import DuckDBBackend  # noqa: E402
from campaignlang.sets.plan import Slot, Text  # noqa: E402
from campaignlang.sets.spark import SparkBackend  # noqa: E402
from campaignlang.values import dumps  # noqa: E402

#: every character class json.dumps treats apart, and some it does not
EDGES = ["", "plain", 'q"uote', "back\\slash", "\\\"", "nl\nline", "\r\t\b\f", "\x00\x01\x1f\x7f", "ß straße",
         "Zoë", "\u2028\u2029", "\U0001f600 astral", "\ufeffbom", "a/b", "{\"k\":[1]}", "\u0085\u00a0", "'single'"]

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


def _backend(kind: str, request):
    if kind == "duckdb":
        return DuckDBBackend(threads=1)
    return SparkBackend(request.getfixturevalue("spark_session"))


def _moment(items) -> Slot:
    return Slot(0, "moment", "Interesting Moment", '"P"."B"', None, "x:1", 0, {"items": items})


def _built(backend, values: list[list[str | None]]) -> list[tuple[str, str | None, str | None, str | None]]:
    """For each row (three texts): the JSON of the first (``dumps`` of a text),
    of the first as a stored text field's ``old`` (NULL stays NULL), and the
    attributes of a moment holding the texts and a list of them."""
    backend.load("result", pa.table({"id": pa.array(range(len(values)), pa.int64()),
                                     "t0_0": pa.array([v[0] for v in values], pa.string()),
                                     "t0_1": pa.array([v[1] for v in values], pa.string()),
                                     "t0_2": pa.array([v[2] for v in values], pa.string())}))
    slot = _moment([("type", Text(column="t0_0")), ("description", Text(const="d \"é\"")),
                    ("to", [Text(column="t0_1"), Text(const="x@y"), Text(column="t0_2")])])
    query = rows._parse(f"SELECT r.id, {rows._json_text('t0_0')} AS j, {rows._stored_json('t0_0', 'text')} AS s, "
                        f"{rows._attributes(slot)} AS a FROM result AS r ORDER BY r.id")
    return [(r["j"], r["s"], r["a"]) for r in backend.fetch(query).to_pylist()]


def _want(values):
    return [(dumps(v[0]), None if v[0] is None else dumps(v[0]),
             dumps({"type": v[0], "description": "d \"é\"", "to": [v[1], "x@y", v[2]]})) for v in values]


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_json_of_texts_is_values_dumps(kind, request) -> None:
    values = [[e, EDGES[(i + 3) % len(EDGES)], None if i % 4 == 0 else EDGES[(i + 7) % len(EDGES)]]
              for i, e in enumerate(EDGES)] + [[None, None, None]]
    backend = _backend(kind, request)
    try:
        assert _built(backend, values) == _want(values)
    finally:
        backend.close()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT, st.none() | TEXT), min_size=1, max_size=20))
def test_json_of_generated_texts_is_values_dumps(values) -> None:
    values = [list(v) for v in values]
    backend = DuckDBBackend(threads=1)
    try:
        assert _built(backend, values) == _want(values)
    finally:
        backend.close()


@pytest.mark.parametrize("ftype, raw, want", [
    ("integer", 0, "0"), ("integer", -9_223_372_036_854_775_807, "-9223372036854775807"), ("score", 12, "12"),
    ("boolean", 1, "true"), ("boolean", 0, "false"), ("integer", None, None), ("boolean", None, None),
])
def test_stored_values_as_json(ftype, raw, want) -> None:
    backend = DuckDBBackend(threads=1)
    try:
        backend.load("result", pa.table({"o0": pa.array([raw], pa.int64())}))
        got = backend.fetch(rows._parse(f"SELECT {rows._stored_json('o0', ftype)} AS j FROM result AS r"))
    finally:
        backend.close()
    assert got.column("j").to_pylist() == [want]
    if want is not None:
        from campaignlang.values import decode
        assert want == dumps(decode(ftype, raw))


def test_lone_surrogates_cannot_reach_the_writer() -> None:
    db = sqlite3.connect(":memory:")
    with pytest.raises(UnicodeEncodeError):
        db.execute("SELECT ?", ("a\ud800b",))
    with pytest.raises(Exception):
        pa.array(["a\ud800b"], pa.string())


CHECKED = """
fields { "Region": text }
program "P" {
    campaign "B" batch {
        smart list { filter lead.Country is "US" }
        flow {
            interesting moment milestone "first"
            change data value lead.Region to "{{lead.First Name}}{{lead.First Name}}"
            change score lead."Lead Score" by -1
        }
    }
}
"""


@pytest.mark.parametrize("slice_people", [None, "1"])
@pytest.mark.parametrize("first, score, message", [
    ("x" * 600_000, 5, "a rendered value longer than 1,000,000 characters at"),
    ("Ann", -9_223_372_036_854_775_807, "a score past 64 bits at"),
])
def test_the_writers_checks_stop_the_run_before_anything_is_written(first, score, message, slice_people,
                                                                    monkeypatch) -> None:
    """What the per-person engine fails a step on (a rendered text past the
    renderer's cap, a score past 64 bits) stops a set-based run, found by
    the aggregate over the result before a row is written: nothing kept --
    also when the run goes a person a slice and the failing person is in
    the second slice, after the first was written (the action's
    transaction takes it back)."""
    if slice_people:
        monkeypatch.setenv("CAMPAIGN_SETS_SLICE", slice_people)
    from campaignlang.api import compile_text
    from campaignlang.engine import Engine
    from campaignlang.errors import RunError

    engine = Engine(compile_text(CHECKED))
    engine.add_person("ok@x.com", {"Country": "US", "First Name": "Bo", "Lead Score": 3})
    engine.add_person("bad@x.com", {"Country": "US", "First Name": first, "Lead Score": score})
    before = engine.store.activity_log_jsonl()
    with pytest.raises(RunError, match=message):
        engine.run_batch("P/B", engine="duckdb")
    assert engine.store.activity_log_jsonl() == before
    assert engine.store.counts()["runs"] == 0
