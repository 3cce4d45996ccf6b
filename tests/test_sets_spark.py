"""The Spark backend on its own (issue 16): a corpus of sqlglot queries of
the kinds the set-based plan writes (joins, anti-joins, row_number over an
explicit order, CASE, concatenation, COALESCE, casefolded columns, JSON
text) runs on DuckDBBackend and SparkBackend and must give the same rows,
types and order; the builders of ``sets.spark`` that paper over the
dialects' differences are checked against the Python rules they copy
(``values.dumps``, ``values.encode``); relations, Parquet in and out, and
the session's errors.

One SparkSession for the whole test session (conftest.py ``spark_session``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pa = pytest.importorskip("pyarrow")
sqlglot = pytest.importorskip("sqlglot")
pytest.importorskip("duckdb")

from sqlglot import exp, parse_one  # noqa: E402

from campaignlang import values  # noqa: E402
from campaignlang.sets.backend import DuckDBBackend  # noqa: E402
from campaignlang.sets.spark import (  # noqa: E402
    SparkBackend,
    SparkUnavailable,
    iso_text,
    json_string,
    like,
    like_pattern,
    parse_conf,
)

pytestmark = pytest.mark.spark

#: text that tells the dialects apart: NULL, case, accents, a sharp s, a
#: capital sharp s, emoji, quotes, backslashes, LIKE's wildcards, control
#: characters, DEL and a line separator
TEXTS = ["Ann", "ann", None, "Émile", "straße", "STRASSE", "ẞ", "😀 smile", "O'Brien", 'say "hi"',
         "back\\slash", "50%_off", "tab\there", "new\nline", "\x01\x1f", "\x7f", "\u2028", "", "z"]


def _people() -> "pa.Table":
    n = len(TEXTS)
    return pa.table({
        "id": pa.array(range(1, n + 1), pa.int64()),
        "deleted": pa.array([0] * n, pa.int64()),
        "f_first_name": pa.array(TEXTS, pa.string()),
        "cf__f_first_name": pa.array([t.casefold() if t is not None else None for t in TEXTS], pa.string()),
        "f_score": pa.array([(i * 37) % 11 - 5 if i % 4 else None for i in range(n)], pa.int64()),
        "f_vip": pa.array([i % 3 if i % 5 else None for i in range(n)], pa.int64()),
        "f_signed_up": pa.array([f"2026-0{1 + i % 9}-1{i % 10}T0{i % 10}:30:00" if i % 6 else None
                                 for i in range(n)], pa.string()),
    })


def _relations() -> dict[str, "pa.Table"]:
    s, p = pa.string(), pa.int64()
    return {
        "people": _people(),
        "list_members": pa.table({"list": pa.array(["VIP", "VIP", "Newsletter", "VIP"], s),
                                  "person": pa.array([1, 4, 4, 9], p),
                                  "added_at": pa.array(["2026-01-01T00:00:00"] * 4, s)}),
        "runs": pa.table({"person": pa.array([2, 4, 4, 7], p), "campaign": pa.array(["P.Nurture"] * 4, s),
                          "at": pa.array(["2026-11-01T10:00:00", "2026-10-01T10:00:00", "2026-11-20T10:00:00",
                                          "2026-12-01T08:00:00"], s),
                          "run": pa.array([1, 2, 3, 4], p)}),
        "activities": pa.table({"person": pa.array([1, 1, 3, 5], p),
                                "type": pa.array(["Visit Web Page", "Fill Out Form", "Visit Web Page",
                                                  "Visit Web Page"], s),
                                "campaign": pa.array([None, None, "P.C", None], s),
                                "asset": pa.array(["/pricing", "Signup", "/pricing", "/docs"], s),
                                "at": pa.array(["2026-11-30T00:00:00", "2026-11-01T00:00:00",
                                                "2026-06-01T00:00:00", "2026-11-29T12:00:00"], s)}),
        "empty": pa.table({"person": pa.array([], p), "note": pa.array([], pa.null())}),
    }


def d(sql: str) -> exp.Expression:
    """A query as the plan writes it: parsed once, from DuckDB's dialect."""
    return parse_one(sql, read="duckdb")


#: name -> query; each must give the same Arrow table on both backends
CORPUS: dict[str, exp.Expression] = {
    "field filter, explicit order": d("SELECT id FROM people WHERE deleted = 0 AND f_score > 0 ORDER BY id"),
    "casefolded equality": d("SELECT id FROM people WHERE cf__f_first_name IN ('ann', 'strasse', 'ss') ORDER BY id"),
    "casefold starts with (escaped LIKE)": exp.select("id").from_("people").where(
        like(exp.column("cf__f_first_name"), like_pattern("50%_", suffix=True))).order_by("id"),
    "contains, backslash in pattern": exp.select("id").from_("people").where(
        like(exp.column("f_first_name"), like_pattern("k\\s", prefix=True, suffix=True))).order_by("id"),
    "is empty (Marketo: NULL or '')": d("SELECT id FROM people WHERE f_first_name IS NULL OR f_first_name = '' "
                                        "ORDER BY id"),
    "semi-join on a list": d("SELECT p.id FROM people AS p WHERE EXISTS (SELECT 1 FROM list_members AS m "
                             "WHERE m.person = p.id AND m.list = 'VIP') ORDER BY p.id"),
    "anti-join on a list": d("SELECT p.id FROM people AS p WHERE NOT EXISTS (SELECT 1 FROM list_members AS m "
                             "WHERE m.person = p.id AND m.list = 'VIP') ORDER BY p.id"),
    "anti-join as LEFT JOIN IS NULL": d("SELECT p.id FROM people AS p LEFT JOIN (SELECT DISTINCT person FROM runs "
                                        "WHERE at >= '2026-11-15T00:00:00') AS r ON r.person = p.id "
                                        "WHERE r.person IS NULL ORDER BY p.id"),
    "history semi-join with a time window": d(
        "SELECT p.id, COUNT(a.person) AS n FROM people AS p JOIN activities AS a ON a.person = p.id "
        "WHERE a.type = 'Visit Web Page' AND a.asset = '/pricing' AND a.at >= '2026-11-01T00:00:00' "
        "GROUP BY p.id ORDER BY p.id"),
    "qualification: last run per person": d("SELECT person, MAX(at) AS last, COUNT(*) AS n FROM runs "
                                            "GROUP BY person ORDER BY person"),
    "row_number over an explicit order": d(
        "SELECT id, ROW_NUMBER() OVER (ORDER BY f_score DESC, id) AS rn FROM people ORDER BY id"),
    "row_number partitioned, NULLs in the order": d(
        "SELECT id, ROW_NUMBER() OVER (PARTITION BY f_vip ORDER BY f_signed_up, id) AS rn FROM people ORDER BY id"),
    "order by a nullable text column": d("SELECT id, f_first_name FROM people ORDER BY f_first_name, id"),
    "order by text descending": d("SELECT id FROM people ORDER BY f_first_name DESC, id"),
    "binary collation comparisons": d("SELECT id, f_first_name < 'a' AS lt, f_first_name > 'Z' AS gt "
                                      "FROM people ORDER BY id"),
    "CASE choice over state": d("SELECT id, CASE WHEN f_score > 3 THEN 'hot' WHEN f_score IS NULL THEN 'none' "
                                "WHEN f_vip = 1 THEN 'vip' ELSE 'cold' END AS branch FROM people ORDER BY id"),
    "concatenation with NULL (||)": d("SELECT id, 'Hi ' || f_first_name || '!' AS t FROM people ORDER BY id"),
    "concat() skips NULL": d("SELECT id, concat('Hi ', f_first_name, '!') AS t FROM people ORDER BY id"),
    "coalesce as a token default": d("SELECT id, 'Hi ' || COALESCE(f_first_name, 'friend') AS t "
                                     "FROM people ORDER BY id"),
    "integer arithmetic, truncating division": d("SELECT id, f_score + 10 AS a, f_score * 3 AS m, f_score // 2 AS q, "
                                                 "f_score % 3 AS r FROM people ORDER BY id"),
    "score change with NULL as 0": d("SELECT id, COALESCE(f_score, 0) + 5 AS s FROM people ORDER BY id"),
    "boolean as BIGINT": d("SELECT id, CAST(f_vip = 1 AS BIGINT) AS b FROM people ORDER BY id"),
    "integer as text": d("SELECT id, CAST(f_score AS VARCHAR) AS s FROM people ORDER BY id"),
    "datetime text comparison": d("SELECT id FROM people WHERE f_signed_up < '2026-05-01' ORDER BY id"),
    "datetime text through TIMESTAMP": exp.select("id", iso_text(exp.cast(exp.column("f_signed_up"), "timestamp"))
                                                  .as_("t")).from_("people").order_by("id"),
    "timestamp cast to text": d("SELECT id, CAST(CAST(f_signed_up AS TIMESTAMP) AS VARCHAR) AS t FROM people "
                                "ORDER BY id"),
    "JSON text of a value": exp.select("id", json_string(exp.column("f_first_name")).as_("j"))
                               .from_("people").order_by("id"),
    "union all, then order": d("SELECT person AS id, 'run' AS kind FROM runs UNION ALL SELECT person, 'act' "
                               "FROM activities ORDER BY id, kind"),
    "count over an empty relation": d("SELECT COUNT(*) AS n FROM empty"),
    "join an empty relation": d("SELECT p.id, e.note FROM people AS p LEFT JOIN empty AS e ON e.person = p.id "
                                "ORDER BY p.id"),
    "greatest and least skip NULL": d("SELECT id, GREATEST(f_score, 0) AS g, LEAST(f_score, 0) AS l FROM people "
                                      "ORDER BY id"),
    "length counts characters": d("SELECT id, LENGTH(f_first_name) AS n FROM people ORDER BY id"),
}


@pytest.fixture(scope="module")
def backends(spark_session):  # type: ignore[no-untyped-def]
    duck, spark = DuckDBBackend(threads=1), SparkBackend(spark_session)
    for name, table in _relations().items():
        duck.load(name, table)
        spark.load(name, table)
    yield duck, spark
    duck.close()
    spark.close()


def _spark_sql(query: exp.Expression) -> str:
    return query.sql(dialect="spark")


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_same_on_duckdb_and_spark(backends, name: str) -> None:  # type: ignore[no-untyped-def]
    duck, spark = backends
    query = CORPUS[name]
    want = duck.fetch(query)
    got = spark.fetch(query)
    assert got.column_names == want.column_names, _spark_sql(query)
    assert got.to_pylist() == want.to_pylist(), _spark_sql(query)
    # types too (the writer reads Arrow): DuckDB's and widened Spark's agree,
    # except that Spark's NULL-only text column of the empty relation is text
    want_types = [t if not pa.types.is_null(t) else pa.string() for t in want.schema.types]
    assert got.schema.types == want_types, _spark_sql(query)


def test_corpus_is_not_trivial(backends) -> None:  # type: ignore[no-untyped-def]
    """Every query of the corpus returns rows, most of them several: a
    corpus of empty answers would agree vacuously."""
    duck, _ = backends
    sizes = {name: duck.fetch(q).num_rows for name, q in CORPUS.items()}
    assert all(n >= 1 for n in sizes.values()), sizes
    assert sum(1 for n in sizes.values() if n > 1) >= len(CORPUS) - 5, sizes


def test_json_string_is_values_dumps(backends) -> None:  # type: ignore[no-untyped-def]
    duck, spark = backends
    query = exp.select("f_first_name", json_string(exp.column("f_first_name")).as_("j")).from_("people") \
        .order_by("id")
    for backend in (duck, spark):
        rows = backend.fetch(query).to_pylist()
        assert [r["j"] for r in rows] == [values.dumps(r["f_first_name"]) for r in rows], backend.dialect
        assert all(json.loads(r["j"]) == r["f_first_name"] for r in rows)


def test_iso_text_is_the_stored_encoding(backends) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    query = exp.select("f_signed_up", iso_text(exp.cast(exp.column("f_signed_up"), "timestamp")).as_("t")) \
        .from_("people").order_by("id")
    for backend in backends:
        for r in backend.fetch(query).to_pylist():
            want = None if r["f_signed_up"] is None else values.encode(
                "datetime", dt.datetime.fromisoformat(r["f_signed_up"]))
            assert r["t"] == want, backend.dialect


def test_like_pattern_matches_literally(backends) -> None:  # type: ignore[no-untyped-def]
    """The text of a `contains` filter is literal: %, _, ! and backslash
    match themselves on both backends, as Python's ``in`` does."""
    for needle in ["%", "_", "\\", "!", "50%_", "'", "ß"]:
        query = exp.select("id").from_("people").where(
            like(exp.column("f_first_name"), like_pattern(needle, prefix=True, suffix=True))).order_by("id")
        want = [i + 1 for i, t in enumerate(TEXTS) if t is not None and needle in t]
        for backend in backends:
            assert [r["id"] for r in backend.fetch(query).to_pylist()] == want, (needle, backend.dialect)


def test_create_replaces_a_relation_reading_itself(backends) -> None:  # type: ignore[no-untyped-def]
    duck, spark = backends
    for backend in (duck, spark):
        backend.create("step", d("SELECT id, 0 AS n FROM people WHERE id <= 3"))
        backend.create("step", d("SELECT id, n + 1 AS n FROM step"))
        backend.create("step", d("SELECT id, n + 1 AS n FROM step WHERE id > 1"))
        assert backend.fetch(d("SELECT id, n FROM step ORDER BY id")).to_pylist() == [
            {"id": 2, "n": 2}, {"id": 3, "n": 2}], backend.dialect


def test_parquet_round_trip(backends, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """write_parquet from the executors, load_parquet back: same rows, in
    the query's order across the files."""
    import pyarrow.parquet as pq

    _, spark = backends
    query = d("SELECT id, f_first_name, f_score FROM people ORDER BY f_score DESC, id")
    spark.write_parquet(query, str(tmp_path / "out"))
    files = sorted((tmp_path / "out").glob("*.parquet"))
    assert files
    read = pa.concat_tables([pq.read_table(f) for f in files])
    assert read.to_pylist() == spark.fetch(query).to_pylist()
    spark.load_parquet("back", [str(tmp_path / "out")])
    assert spark.fetch(d("SELECT id, f_first_name, f_score FROM back ORDER BY f_score DESC, id")).to_pylist() \
        == spark.fetch(query).to_pylist()


def test_close_drops_views_but_not_a_callers_session(spark_session) -> None:  # type: ignore[no-untyped-def]
    backend = SparkBackend(spark_session)
    backend.load("mine", pa.table({"x": pa.array([1], pa.int64())}))
    assert spark_session.catalog.tableExists("mine")
    backend.close()
    assert not spark_session.catalog.tableExists("mine")
    assert spark_session.sql("SELECT 1 AS one").collect()[0]["one"] == 1   # still running


def test_parse_conf() -> None:
    assert parse_conf(["spark.executor.memory=4g", " a.b = c=d "]) == {"spark.executor.memory": "4g", "a.b": "c=d"}
    with pytest.raises(SparkUnavailable, match="key=value"):
        parse_conf(["spark.executor.memory"])


def test_missing_java_is_one_line(tmp_path) -> None:
    """Without Java on PATH (and no JAVA_HOME), the error names what to install."""
    code = ("from campaignlang.sets.spark import session, SparkUnavailable\n"
            "try:\n    session()\nexcept SparkUnavailable as e:\n    print(e)\n")
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.strip() == ("--engine spark needs Java 17 or later: install a JRE (Debian: "
                                  "apt-get install openjdk-17-jre-headless) or set JAVA_HOME"), out.stderr


def test_missing_pyspark_is_one_line(tmp_path) -> None:
    """Without pyspark, `campaign run --engine spark` says what to install, exit 2."""
    program = tmp_path / "p.campaign"
    program.write_text('program "P" {\n    campaign "B" batch {\n        smart list { filter lead."Lead Score" > 1 }\n'
                       '        flow { interesting moment milestone "x" }\n    }\n}\n')
    code = ("import sys; sys.modules['pyspark'] = None\n"   # import pyspark now fails, as when it is not installed
            "from campaignlang.cli import main\n"
            f"main(['run', {str(program)!r}, 'P/B', '--engine', 'spark'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1] == \
        "error: --engine spark needs pyspark: pip install 'campaignlang[spark]'", out.stderr
