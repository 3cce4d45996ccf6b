"""The set-based engine's user surface (issue 16): ``campaign run`` and
``campaign plan`` with ``--engine duckdb`` and ``--fallback``,
``Engine.run_batch(engine=...)``, the one-line refusals, and the lazy import
(``campaign --version`` and the core never load duckdb)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("duckdb")

from campaignlang.api import compile_text  # noqa: E402
from campaignlang.cli import main  # noqa: E402
from campaignlang.engine import Engine  # noqa: E402
from campaignlang.errors import RunError  # noqa: E402
from campaignlang.store import Store  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))
from bench_engine import PROGRAM  # noqa: E402

WEBHOOK = """
program "P" {
    member fields "Code"
    webhook "W" { url "https://example.com/{{lead.Email Address}}" }
    campaign "T" trigger {
        smart list { trigger campaign is requested }
        flow { call webhook "W" }
        qualify every time
    }
    campaign "B" batch {
        smart list { filter lead.Country is "US" }
        flow {
            interesting moment milestone "before"
            change program member data "P" "Code" to "x"
        }
    }
}
"""

PEOPLE = "email,first name,country,lead score\na@x.com,Ann,US,20\nb@x.com,Zoë,DE,50\nc@x.com,,FR,90\n"


def _run(args, cwd):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_run_with_duckdb_leaves_the_store_the_per_person_run_leaves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bench.campaign").write_text(PROGRAM)
    Path("people.csv").write_text(PEOPLE)
    outs = {}
    for engine in ("python", "duckdb"):
        r = _run(["run", "bench.campaign", "Bench/Batch", "--db", f"{engine}.db", "--people", "people.csv",
                  "--engine", engine], tmp_path)
        assert r.exit_code == 0, r.output
        outs[engine] = r.stdout
        store = Store(f"{engine}.db")
        outs[engine + " log"] = store.activity_log_jsonl()
        outs[engine + " people"] = store.db.execute("SELECT * FROM people ORDER BY id").fetchall()
        store.close()
    assert outs["python"] == outs["duckdb"]
    assert outs["python log"] == outs["duckdb log"] and outs["python log"]
    assert outs["python people"] == outs["duckdb people"]
    r = _run(["plan", "bench.campaign", "Bench/Batch", "--db", "duckdb.db", "--engine", "duckdb",
              "--token", "my.Score=+7"], tmp_path)
    assert r.exit_code == 0 and "plan for" in r.output


def test_what_it_cannot_do_is_one_line_before_it_runs_or_a_fallback_said_in_the_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("w.campaign").write_text(WEBHOOK)
    Path("people.csv").write_text(PEOPLE)
    r = CliRunner().invoke(main, ["people", "import", "people.csv", "--db", "s.db"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["run", "w.campaign", "P/B", "--db", "s.db", "--engine", "duckdb"])
    assert r.exit_code == 2
    assert r.output.count("\n") == 1 and '"P"."B": --engine duckdb cannot run it: change program member data' in r.output
    store = Store("s.db")
    assert "Interesting Moment" not in store.activity_log_jsonl() and store.run_history() == []   # nothing ran
    store.close()
    r = CliRunner().invoke(main, ["run", "w.campaign", "P/B", "--db", "s.db", "--engine", "duckdb", "--fallback"])
    assert r.exit_code == 0, r.output
    assert "ran per person: --engine duckdb cannot run it: change program member data" in r.output
    assert "1 person entered" in r.output
    r = CliRunner().invoke(main, ["run", "w.campaign", "P/B", "--db", "s.db", "--fallback"])
    assert r.exit_code == 2 and "--fallback goes with --engine" in r.output


def test_the_api_takes_an_engine_and_refuses_an_unknown_one():
    e = Engine(compile_text(WEBHOOK))
    e.add_person("a@x.com", {"Country": "US"})
    with pytest.raises(RunError, match="unknown engine 'ibis'"):
        e.run_batch("P/B", engine="ibis")
    with pytest.raises(RunError, match=r"cannot run it: change program member data is not set-based yet \(ChangeMemberData at <input>:14\)"):
        e.run_batch("P/B", engine="duckdb")
    result = e.run_batch("P/B", engine="duckdb", fallback=True)
    assert result.entered and result.note.startswith("ran per person")


def test_the_core_and_version_never_import_duckdb():
    code = ("import sys; from campaignlang.cli import main; import campaignlang.engine, campaignlang.api\n"
            "assert not {'duckdb', 'sqlglot', 'pyarrow', 'campaignlang.sets.run'} & set(sys.modules), "
            "sorted(m for m in sys.modules if 'duck' in m or 'sqlglot' in m)")
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run([sys.executable, "-m", "campaignlang.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "version" in out.stdout


def test_a_missing_extra_is_one_line_naming_it(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_duckdb(name, *args, **kwargs):
        if name == "duckdb" or name.startswith("sqlglot"):
            raise ImportError(f"No module named {name!r}", name=name)
        return real(name, *args, **kwargs)
    for mod in [m for m in sys.modules if m.startswith("campaignlang.sets")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", no_duckdb)
    e = Engine(compile_text(PROGRAM))
    with pytest.raises(RunError, match=r"needs the 'sets' extra .*pip install 'campaignlang\[sets\]'"):
        e.run_batch("Bench/Batch", engine="duckdb")


TRIGGERED = """
fields {
    "Region": text
}
program "P" {
    campaign "X" trigger {
        smart list { trigger data value changes lead.Region }
        flow { interesting moment milestone "x {{trigger.New Value}}" }
    }
    campaign "B" batch {
        smart list { filter lead.Country is "US" }
        flow { change data value lead.Region to "NA" }
    }
}
"""


def test_triggered_runs_over_parquet_people_are_refused_in_one_line_and_write_nothing(tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    monkeypatch.chdir(tmp_path)
    Path("t.campaign").write_text(TRIGGERED)
    Path("people").mkdir()
    pq.write_table(pa.table({"Email Address": ["a@x.com", "b@x.com"], "Country": ["US", "DE"]}),
                   "people/part-0.parquet")
    r = CliRunner().invoke(main, ["run", "t.campaign", "P/B", "--engine", "duckdb", "--people", "parquet:people",
                                  "--out", "out"])
    assert r.exit_code == 2, r.output
    assert r.output.count("\n") == 1 and "a step whose event starts trigger campaigns needs a store" in r.output
    assert not Path("out").exists() or not any(Path("out").iterdir())
    # with a store, the same batch fires the trigger set-based, as the per-person engine does
    Path("people.csv").write_text("email,country\na@x.com,US\nb@x.com,DE\n")
    logs = []
    for engine in ("python", "duckdb"):
        r = _run(["run", "t.campaign", "P/B", "--db", f"{engine}.db", "--people", "people.csv",
                  "--engine", engine], tmp_path)
        assert r.exit_code == 0, r.output
        store = Store(f"{engine}.db")
        logs.append(store.activity_log_jsonl())
        store.close()
    assert logs[0] == logs[1] and '"x NA"' in logs[0]


def _parquet_people(path: Path, rows: list[dict]) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.Table.from_pylist(rows), str(path))


def _read_out(out: Path) -> dict:
    """Every folder of ``--out``: its part files' names, and its rows as the files hold them, file by file."""
    import duckdb

    got = {}
    for folder in sorted(out.iterdir()):
        parts = sorted(p.name for p in folder.glob("*.parquet"))
        con = duckdb.connect()
        rows = []
        for part in parts:
            rows += con.execute(f"SELECT * FROM read_parquet('{folder / part}')").fetchall()
        got[folder.name] = (parts, rows)
    return got


BENCH_PEOPLE = [{"Email Address": f"p{i}@x.com", "First Name": ["Ann", None, "Zoë"][i % 3],
                 "Country": ["US", "de", "CA", "FR"][i % 4], "Lead Score": 10 + i,
                 "Lead Status": ["New", None, "Touched"][i % 3]} for i in range(11)]


def test_a_run_over_parquet_in_slices_writes_the_rows_one_slice_writes(tmp_path, monkeypatch):
    """``CAMPAIGN_SETS_SLICE=2``: the people who entered run two at a time,
    each slice a file of each folder (named in id order), every row
    numbered on from the slices before: read in the files' order, the same
    rows, in the same order, as one slice writes in one file."""
    monkeypatch.chdir(tmp_path)
    Path("bench.campaign").write_text(PROGRAM)
    _parquet_people(tmp_path / "people.parquet", BENCH_PEOPLE)
    outs = {}
    for slice_people in ("1000", "2"):
        monkeypatch.setenv("CAMPAIGN_SETS_SLICE", slice_people)
        r = _run(["run", "bench.campaign", "Bench/Batch", "--engine", "duckdb", "--people", "parquet:people.parquet",
                  "--out", f"out{slice_people}", "--format", "json"], tmp_path)
        assert r.exit_code == 0, r.output
        outs[slice_people] = _read_out(tmp_path / f"out{slice_people}")
    one, sliced = outs["1000"], outs["2"]
    assert set(one) == set(sliced) == {"activities", "runs", "list_members", "program_members", "people"}
    entered = len(one["people"][1])
    assert entered >= 5
    assert len(sliced["activities"][0]) == (entered + 1) // 2 and len(one["activities"][0]) == 1
    import duckdb
    sizes = [duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{tmp_path / 'out2' / 'people' / part}')")
             .fetchall()[0][0] for part in sliced["people"][0]]
    assert sizes == [2] * (entered // 2) + [1] * (entered % 2)   # every slice full but the last
    for folder in one:
        assert sliced[folder][1] == one[folder][1], folder
    ids = [row[0] for row in sliced["activities"][1]]
    assert ids == list(range(1, len(ids) + 1))
    assert [row[0] for row in sliced["runs"][1]] == list(range(1, len(sliced["runs"][1]) + 1))


def test_a_failure_in_a_later_slice_leaves_out_as_it_was(tmp_path, monkeypatch):
    """A score that overflows in the second slice (the backend fails), after
    the first slice was written to ``--out``: one line, exit 2, and the
    folders the run made are gone."""
    monkeypatch.chdir(tmp_path)
    Path("bench.campaign").write_text(PROGRAM)
    people = [dict(p) for p in BENCH_PEOPLE]
    people[-1].update({"Country": "US", "Lead Score": 2 ** 63 - 3})   # +5 overflows, in the last slice
    _parquet_people(tmp_path / "people.parquet", people)
    Path("out").mkdir()
    monkeypatch.setenv("CAMPAIGN_SETS_SLICE", "2")
    r = CliRunner().invoke(main, ["run", "bench.campaign", "Bench/Batch", "--engine", "duckdb", "--people",
                                  "parquet:people.parquet", "--out", "out"])
    assert r.exit_code == 2, r.output
    assert r.output.count("\n") == 1 and "Overflow" in r.output and "nothing was kept" in r.output
    assert list(Path("out").iterdir()) == []


def test_a_bad_slice_size_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bench.campaign").write_text(PROGRAM)
    Path("people.csv").write_text(PEOPLE)
    monkeypatch.setenv("CAMPAIGN_SETS_SLICE", "lots")
    r = CliRunner().invoke(main, ["run", "bench.campaign", "Bench/Batch", "--db", "s.db", "--people", "people.csv",
                                  "--engine", "duckdb"])
    assert r.exit_code == 2, r.output
    assert r.output.splitlines()[-1] == "error: CAMPAIGN_SETS_SLICE must be a positive whole number of people, " \
                                        "not 'lots'"
