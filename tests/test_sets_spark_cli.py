"""campaign run over people in Parquet, results as Parquet (issue 16;
docs/scale.md, "On Spark, Parquet and warehouses"), through the real
command: on DuckDB and on Spark the activity log, runs and memberships
written to --out are the rows the per-person engine writes into a store
into which a CSV of the same people was imported (activity ids aside: the
store's count on past its New Person activities), and the people written
back hold the fields as the store does. The misuses are one line, exit 2.
"""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from campaignlang.cli import main  # noqa: E402

#: the batch of bench/bench_engine.py: three filters, six steps with a
#: choice, an execute of a two-step child in the parent's context
PROGRAM = """
fields {
    "Region": text
    "Behavior Score": score
}
program "Bench" {
    tokens { my.Score = +5 }
    list "Processed"
    email "Hello" { subject "Hi {{lead.First Name:default=there}}" }
    campaign "Child" executable {
        flow {
            change score lead."Lead Score" by {{my.Score}}
            change score lead."Behavior Score" by +1
        }
        qualify every time
    }
    campaign "Batch" batch {
        smart list {
            filter lead.Country is "US", "CA", "DE"
            filter lead."Lead Score" >= 10
            filter lead.Unsubscribed is false
        }
        flow {
            change data value lead.Region {
                if lead.Country is "US", "CA" then to "NA"
                else to "EMEA"
            }
            execute campaign "Child" use parent token context
            add to list "Processed"
            send email "Hello"
            interesting moment milestone "processed {{lead.Country}}"
            change data value lead."Lead Status" to "Touched"
        }
    }
}
"""

COUNTRIES = ["US", "us", "CA", "DE", "de", "FR", None, "Ca"]
NAMES = ["Ann", None, "Zoë", "O'Brien \"Bo\"", "back\\slash", "  ", "ẞen"]


def _people(n: int = 40) -> list[dict]:
    return [{"Email Address": f"Person{(i * 7) % n}@Example.com", "First Name": NAMES[i % len(NAMES)],
             "Country": COUNTRIES[i % len(COUNTRIES)], "Lead Score": None if i % 9 == 0 else (i * 13) % 40,
             "Unsubscribed": i % 5 == 0} for i in range(n)]


def _write(tmp: Path, people: list[dict]) -> tuple[Path, Path]:
    """The people as a folder of two Parquet files, and as a CSV in the
    order of their casefolded address (the order Parquet people get ids in)."""
    folder = tmp / "people"
    folder.mkdir()
    types = {"Email Address": pa.string(), "First Name": pa.string(), "Country": pa.string(),
             "Lead Score": pa.int64(), "Unsubscribed": pa.bool_()}
    half = len(people) // 2
    for i, part in enumerate([people[:half], people[half:]]):
        pq.write_table(pa.table({k: pa.array([p[k] for p in part], t) for k, t in types.items()}),
                       folder / f"part-{i}.parquet")
    path = tmp / "people.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(list(types))
        for p in sorted(people, key=lambda p: p["Email Address"].casefold()):
            w.writerow(["" if p[k] is None else ("true" if p[k] is True else "false" if p[k] is False else p[k])
                        for k in types])
    return folder, path


def _rows(folder: Path) -> list[dict]:
    files = sorted(folder.glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pylist() if files else []


def _invoke(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_parquet_run_writes_the_stores_rows(tmp_path, engine) -> None:
    program = tmp_path / "bench.campaign"
    program.write_text(PROGRAM)
    folder, people_csv = _write(tmp_path, _people())
    ref = _invoke(["run", str(program), "Bench/Batch", "--db", str(tmp_path / "ref.db"),
                   "--people", str(people_csv)])
    assert ref.exit_code == 0, ref.output
    got = _invoke(["run", str(program), "Bench/Batch", "--engine", engine, "--people", f"parquet:{folder}",
                   "--out", str(tmp_path / "out")])
    assert got.exit_code == 0, got.output
    assert "40 people read from" in got.output
    def summary(output: str) -> list[str]:
        lines = output.splitlines()
        return lines[next(i for i, line in enumerate(lines) if line.startswith("ran ")):]
    assert summary(got.output) == summary(ref.output)   # the same summary

    db = sqlite3.connect(tmp_path / "ref.db")
    db.row_factory = sqlite3.Row
    acts = [dict(r) for r in db.execute("SELECT * FROM activities WHERE type != 'New Person' ORDER BY id")]
    out_acts = _rows(tmp_path / "out" / "activities")
    assert len(out_acts) == len(acts) > 40
    assert [{k: v for k, v in a.items() if k != "id"} for a in out_acts] == \
        [{k: v for k, v in a.items() if k != "id"} for a in acts]
    assert [a["id"] for a in out_acts] == list(range(1, len(acts) + 1))
    for table in ("runs", "list_members", "program_members"):
        want = [dict(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY 1, 2")]
        assert sorted(_rows(tmp_path / "out" / table), key=lambda r: tuple(r.values())[:2]) == want, table

    fields = {"Region": "f_region", "Lead Score": "f_lead_score", "Behavior Score": "f_behavior_score",
              "Lead Status": "f_lead_status", "Email Address": "f_email_address"}
    written = _rows(tmp_path / "out" / "people")
    entered = {r["person"] for r in db.execute("SELECT person FROM runs")}
    assert [r["id"] for r in written] == sorted(entered)
    for r in written:
        row = db.execute(f"SELECT {', '.join(fields.values())} FROM people WHERE id = ?", (r["id"],)).fetchone()
        assert {k: r[k] for k in fields if k in r} == {k: row[c] for k, c in fields.items() if k in r}
        assert {"Region", "Lead Score", "Behavior Score", "Lead Status", "Email Address"} <= set(r)


@pytest.mark.parametrize("args, message", [
    (["--people", "parquet:{people}", "--out", "{out}"], "--people parquet:SOURCE needs --engine duckdb or --engine spark"),
    (["--engine", "duckdb", "--people", "parquet:{people}"], "--people parquet:SOURCE needs --out DIR"),
    (["--engine", "duckdb", "--out", "{out}"], "--out goes with --people parquet:SOURCE"),
    (["--engine", "duckdb", "--people", "parquet:{people}", "--out", "{out}", "--db", "{tmp}/x.db"],
     "--db does not go with --people parquet:SOURCE"),
    (["--engine", "duckdb", "--people", "parquet:{tmp}/nowhere", "--out", "{out}"], "no such file or folder"),
    (["--engine", "duckdb", "--people", "parquet:{people}", "--out", "{people}"], "is not an empty folder"),
    (["--engine", "duckdb", "--spark-master", "local[1]"], "--spark-master and --spark-conf go with --engine spark"),
    (["--engine", "spark", "--spark-conf", "novalue"], "--spark-conf takes key=value, not 'novalue'"),
])
def test_misuse_is_one_line(tmp_path, args, message) -> None:
    program = tmp_path / "bench.campaign"
    program.write_text(PROGRAM)
    folder, _ = _write(tmp_path, _people(4))
    args = [a.format(people=folder, out=tmp_path / "out", tmp=tmp_path) for a in args]
    got = CliRunner().invoke(main, ["run", str(program), "Bench/Batch", *args])
    assert got.exit_code == 2, got.output
    assert message in got.output
    assert len(got.output.strip().splitlines()) == 1, got.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("step, message", [
    ("wait 2 days", "a wait needs a store to resume from"),
    ('request campaign "T"', "a request campaign needs a store to run them from"),
    ("delete person", "delete person needs a store to delete from, and a run over Parquet people has none "
                      "(DeletePerson at "),
])
def test_a_flow_that_hands_people_on_is_refused_over_parquet(tmp_path, step, message) -> None:
    """A wait or a request hands people to later runs, which need a store: a
    run over Parquet people refuses it in one line and writes nothing."""
    program = tmp_path / "p.campaign"
    program.write_text(f"""
program "P" {{
    campaign "T" trigger {{
        smart list {{ trigger campaign is requested }}
        flow {{ interesting moment milestone "t" }}
    }}
    campaign "B" batch {{
        smart list {{ filter lead.Country is "US" }}
        flow {{
            interesting moment milestone "before"
            {step}
            interesting moment milestone "after"
        }}
    }}
}}
""")
    folder, _ = _write(tmp_path, _people(8))
    got = CliRunner().invoke(main, ["run", str(program), "P/B", "--engine", "duckdb", "--people",
                                    f"parquet:{folder}", "--out", str(tmp_path / "out")])
    assert got.exit_code == 2, got.output
    assert message in got.output and len(got.output.strip().splitlines()) == 1, got.output
    assert not list((tmp_path / "out").rglob("*.parquet"))


TRIGGERED = """
fields {
    "Region": text
}
program "P" {
    list "L"
    campaign "X" trigger {
        smart list {
            trigger data value changes lead.Region to "NA"
            trigger added to list "L"
            filter lead.Country is "US"
        }
        flow { interesting moment milestone "x {{trigger.Trigger Name}} {{trigger.Old Value}}>{{trigger.New Value}}" }
        qualify every time
    }
    campaign "Y" trigger {
        smart list { trigger score is changed lead."Lead Score" }
        flow { change data value lead."Lead Status" to "Scored" }
    }
    campaign "B" batch {
        smart list { filter lead.Country is "US", "DE" }
        flow {
            change data value lead.Region to "NA"
            change score lead."Lead Score" by +5
            remove from flow { if lead.Country is "DE" then "Y" }
            add to list "L"
        }
    }
}
"""


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_fired_triggers_and_remove_from_flow_leave_the_per_person_store(tmp_path, engine) -> None:
    program = tmp_path / "t.campaign"
    program.write_text(TRIGGERED)
    people = tmp_path / "people.csv"
    people.write_text("email,country,region\na@x.com,US,na\nb@x.com,DE,\nc@x.com,FR,\n")
    dumps = []
    for name in ("python", engine):
        db = tmp_path / f"{name}.db"
        got = _invoke(["run", str(program), "P/B", "--db", str(db), "--people", str(people), "--engine", name])
        assert got.exit_code == 0, got.output
        con = sqlite3.connect(db)
        dumps.append([con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                      for t in ("activities", "people", "runs", "list_members", "queue")])
        con.close()
    assert dumps[0] == dumps[1]
    log = str(dumps[0][0])
    assert "x Data Value Changes na>NA" in log and "x Added to List >" in log and "Remove from Flow" in log


def test_the_backend_running_out_of_memory_is_one_line(tmp_path, monkeypatch) -> None:
    # DuckDB's own error (here: out of memory under a cap far too small) is the run's one-line
    # error, exit 2, not a traceback; nothing is written to --out
    program = tmp_path / "bench.campaign"
    program.write_text(PROGRAM, encoding="utf-8")
    folder, _csv = _write(tmp_path, _people(40_000))
    monkeypatch.setenv("CAMPAIGN_DUCKDB_MEMORY_LIMIT", "2MB")
    got = CliRunner().invoke(main, ["run", str(program), "Bench/Batch", "--engine", "duckdb", "--people",
                                    f"parquet:{folder}", "--out", str(tmp_path / "out")])
    assert got.exit_code == 2, got.output
    assert got.exception is None or isinstance(got.exception, SystemExit)
    lines = [line for line in got.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "the backend failed" in lines[0] and "Out of Memory" in lines[0], got.output
    assert not list((tmp_path / "out").rglob("*.parquet"))
