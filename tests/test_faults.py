"""The store under faults (issue 7, item 4).

* SIGKILL and SIGINT at random points of ``campaign run ... --db FILE`` over
  a store of a few thousand people: afterwards ``PRAGMA integrity_check`` is
  ``ok`` and the contents equal either the store before the run or, when the
  run had committed, the store after a complete run. CI tries 8 random kill
  points; ``CAMPAIGN_KILL_POINTS=50 python -m pytest tests/test_faults.py -k
  kill`` tries 50 (``CAMPAIGN_KILL_SEED`` repeats a sequence,
  ``CAMPAIGN_KILL_PEOPLE`` sizes the store).
* A store of another schema version, a damaged file, a file that is not a
  store, a folder: one line from the command line, exit 2, the file untouched.
* Two processes on one store: the second waits (``CAMPAIGNLANG_BUSY_TIMEOUT``)
  and then says the store is busy; two writers both succeed, one after the
  other, and the store stays whole.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campaignlang import ast
from campaignlang.api import compile_text as program_from_text
from campaignlang.engine import Engine
from campaignlang.errors import RunError
from campaignlang.store import Store

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
import bench_engine  # noqa: E402

sys.path.remove(str(BENCH))

CLI = [sys.executable, "-c", "from campaignlang.cli import main; main()"]
PEOPLE = int(os.environ.get("CAMPAIGN_KILL_PEOPLE", "3000"))
POINTS = int(os.environ.get("CAMPAIGN_KILL_POINTS", "8"))


def snapshot(db: Path) -> str:
    """The contents of every table (opening the file rolls back a hot journal)."""
    con = sqlite3.connect(db)
    try:
        h = hashlib.sha256()
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            for row in con.execute(f'SELECT * FROM "{name}" ORDER BY 1'):
                h.update(repr(row).encode())
        return h.hexdigest()
    finally:
        con.close()


def integrity(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute("PRAGMA integrity_check")]
    finally:
        con.close()


def cli(*args, env=None, **kw):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **(env or {})), **kw)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A store of PEOPLE people, the program file, and the run's after state."""
    folder = tmp_path_factory.mktemp("faults")
    program = folder / "bench.campaign"
    program.write_text(bench_engine.PROGRAM)
    db = folder / "pristine.db"
    store = Store(str(db))
    Engine(program_from_text(bench_engine.PROGRAM), store)
    bench_engine.populate(store, PEOPLE)
    store.close()
    done = folder / "done.db"
    shutil.copy(db, done)
    start = time.monotonic()
    proc = subprocess.Popen([*CLI, "run", str(program), "Bench/Batch", "--db", str(done)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=folder)
    _wait_for_write_lock(done, proc)
    locked = time.monotonic()
    _, err = proc.communicate(timeout=300)
    end = time.monotonic()
    assert proc.returncode == 0, err
    return {"folder": folder, "program": program, "db": db, "before": snapshot(db),
            "after": snapshot(done), "took": end - start, "action": end - locked}


def test_kill_at_random_points_leaves_the_store_before_or_after(pristine, tmp_path):
    seed = int(os.environ.get("CAMPAIGN_KILL_SEED", str(random.SystemRandom().randrange(10**6))))
    rng = random.Random(seed)
    outcomes = {"before": 0, "after": 0, "mid-action": 0}
    work = tmp_path / "work.db"
    for point in range(POINTS):
        shutil.copy(pristine["db"], work)
        for extra in ("-journal", "-wal", "-shm"):
            Path(str(work) + extra).unlink(missing_ok=True)
        sig = rng.choice([signal.SIGKILL, signal.SIGKILL, signal.SIGINT])
        proc = subprocess.Popen([*CLI, "run", str(pristine["program"]), "Bench/Batch", "--db", str(work)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
        if point % 2:   # anywhere in the process's life, start-up included
            delay = rng.uniform(0.1, 1.05) * pristine["took"]
            time.sleep(delay)
        else:           # inside the action: once it holds the write lock
            _wait_for_write_lock(work, proc)
            delay = rng.uniform(0.0, 1.1) * pristine["action"]
            time.sleep(delay)
        mid_action = _locked(work)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        outcomes["mid-action"] += mid_action
        where = f"seed {seed}, point {point}: {signal.Signals(sig).name} after {delay:.2f} s"
        assert integrity(work) == ["ok"], where
        state = snapshot(work)
        assert state in (pristine["before"], pristine["after"]), where
        outcomes["before" if state == pristine["before"] else "after"] += 1
        if sig == signal.SIGINT and proc.returncode == 130:   # the message tells the truth
            if b"rolled back" in err:
                assert state == pristine["before"], where
            else:
                assert b"after the action was saved" in err and state == pristine["after"], (where, err)
    print(f"kill test: {POINTS} points passed (seed {seed}): {outcomes}")


def test_a_killed_run_leaves_a_store_the_next_run_completes(pristine, tmp_path):
    work = tmp_path / "w.db"
    shutil.copy(pristine["db"], work)
    proc = subprocess.Popen([*CLI, "run", str(pristine["program"]), "Bench/Batch", "--db", str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    _wait_for_write_lock(work, proc)
    proc.kill()
    proc.wait(60)
    assert snapshot(work) == pristine["before"]
    r = cli("run", pristine["program"], "Bench/Batch", "--db", work, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert snapshot(work) == pristine["after"] and integrity(work) == ["ok"]


def _locked(db: Path) -> bool:
    """Whether another process holds the store's write lock (is inside an action)."""
    probe = sqlite3.connect(db, timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


def _wait_for_write_lock(db: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if _locked(db):
            return
        time.sleep(0.01)
    raise AssertionError("the run never took the store's write lock")


# -- two processes on one store --------------------------------------------------------------

def test_a_second_process_waits_then_says_the_store_is_busy(pristine, tmp_path):
    work = tmp_path / "w.db"
    shutil.copy(pristine["db"], work)
    (tmp_path / "more.csv").write_text("Email,Country\nnew@example.com,US\n")
    # the first process is in the middle of an action: it holds the write lock for 20 s
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from campaignlang.store import Store; "
         "s = Store(sys.argv[1]); t = s.transaction(); t.__enter__(); "
         "s.db.execute(\"UPDATE meta SET value='x' WHERE key='clock'\"); print('locked', flush=True); "
         "time.sleep(20)", str(work)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    try:
        for args in (["people", "import", "more.csv", "--db", work, "--fields", pristine["program"]],
                     ["run", pristine["program"], "Bench/Batch", "--db", work]):
            start = time.monotonic()
            second = cli(*args, env={"CAMPAIGNLANG_BUSY_TIMEOUT": "0.5"}, cwd=tmp_path)
            waited = time.monotonic() - start
            assert second.returncode == 2, second.stderr
            assert second.stderr == (f"error: the store {work} is busy: another campaign command is using it "
                                     f"(waited 0.5 s); try again when it has finished\n")
            assert waited >= 0.5
    finally:
        holder.kill()
        holder.wait(30)
    assert integrity(work) == ["ok"] and snapshot(work) == pristine["before"]


def test_two_writers_take_turns_and_both_land(pristine, tmp_path):
    work = tmp_path / "w.db"
    shutil.copy(pristine["db"], work)
    (tmp_path / "more.csv").write_text("Email,Country,Lead Score\n" +
                                       "".join(f"extra{i}@example.com,US,50\n" for i in range(200)))
    env = {"CAMPAIGNLANG_BUSY_TIMEOUT": "120"}
    procs = [subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                              env=dict(os.environ, **env))
             for args in (["run", str(pristine["program"]), "Bench/Batch", "--db", str(work)],
                          ["people", "import", "more.csv", "--db", str(work), "--fields",
                           str(pristine["program"])])]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    assert integrity(work) == ["ok"]
    con = sqlite3.connect(work)
    assert con.execute("SELECT count(*) FROM people").fetchone()[0] == PEOPLE + 200
    assert con.execute("SELECT count(*) FROM activities WHERE type='New Person'").fetchone()[0] == 200
    ids = [r[0] for r in con.execute("SELECT id FROM activities ORDER BY id")]
    assert ids == list(range(1, len(ids) + 1))        # no activity lost or numbered twice
    con.close()


def test_the_second_engine_in_one_process_sees_the_first_ones_writes(tmp_path):
    """Cached ids and the clock are re-read at each action: two engines (as two
    processes would) interleave without clashing activity ids or moving the
    clock back."""
    db = tmp_path / "s.db"
    text = 'program "P" { form "F"\n list "L" }\n'
    a = Engine(program_from_text(text), Store(str(db)))
    b = Engine(program_from_text(text), Store(str(db)))
    a.add_person("ann@example.com")
    b.add_person("bob@example.com")
    a.advance("3 days")
    b.add_person("cy@example.com")
    a.add_person("dee@example.com")
    assert b.now == a.now
    con = sqlite3.connect(db)
    assert con.execute("SELECT value FROM meta WHERE key='clock'").fetchone()[0] == "2026-01-04T00:00:00"
    assert [r[0] for r in con.execute("SELECT id FROM activities ORDER BY id")] == [1, 2, 3, 4]


# -- files that are not (good) stores: one line, exit 2, nothing changed ----------------------

def _refused(tmp_path, db: Path, message: str) -> None:
    (tmp_path / "p.campaign").write_text('program "P" {\n campaign "B" batch {\n'
                                         '  smart list { filter lead."Lead Score" >= 0 }\n'
                                         '  flow { change score lead."Lead Score" by +1 }\n }\n}\n')
    before = db.read_bytes() if db.is_file() else None
    for args in (["run", "p.campaign", "P/B", "--db", db], ["people", "import", "x.csv", "--db", db],
                 ["events", "p.campaign", "x.jsonl", "--db", db]):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr == f"error: {message.replace('DB', str(db))}\n", args
        assert r.stdout == ""
    if before is not None:
        assert db.read_bytes() == before


def test_a_store_of_another_schema_version(tmp_path):
    db = tmp_path / "s.db"
    Store(str(db)).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    con.commit()
    con.close()
    _refused(tmp_path, db, "the store DB has schema version 2, but this campaignlang reads version 1; "
                           "use a new --db file or the campaignlang release that wrote it")


def test_a_file_that_is_not_sqlite(tmp_path):
    db = tmp_path / "notes.db"
    db.write_text("Email,Country\nann@example.com,US\n")
    _refused(tmp_path, db, "DB is not a campaign store (not an SQLite file)")


def test_an_sqlite_file_of_another_program(tmp_path):
    db = tmp_path / "other.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    _refused(tmp_path, db, "DB is an SQLite file but not a campaign store")


def test_a_folder(tmp_path):
    (tmp_path / "dir.db").mkdir()
    r = cli("run", "p.campaign", "P/B", "--db", "dir.db", cwd=tmp_path)
    assert r.returncode == 2


@pytest.mark.parametrize("damage", ["zeroed page", "garbage page", "truncated", "header"])
def test_a_damaged_store(pristine, tmp_path, damage):
    db = tmp_path / "s.db"
    data = pristine["db"].read_bytes()
    size = len(data)
    if damage == "zeroed page":
        data = data[:size // 2] + b"\0" * 8192 + data[size // 2 + 8192:]
    elif damage == "garbage page":
        data = data[:size // 3] + random.Random(3).randbytes(4096) + data[size // 3 + 4096:]
    elif damage == "truncated":
        data = data[:size // 2]
    else:
        data = data[:100] + b"\xff" * 100 + data[200:]
    db.write_bytes(data)
    (tmp_path / "p.campaign").write_text(bench_engine.PROGRAM)
    r = cli("run", "p.campaign", "Bench/Batch", "--db", db, cwd=tmp_path)
    assert r.returncode == 2
    [line] = r.stderr.splitlines()
    assert line.startswith(f"error: the store {db} is damaged (")
    assert line.endswith("); restore it from a copy or start a new --db file")
    assert db.read_bytes() == data


def test_a_store_missing_one_of_its_tables(tmp_path):
    db = tmp_path / "s.db"
    Store(str(db)).close()
    con = sqlite3.connect(db)
    con.execute("DROP TABLE queue")
    con.commit()
    con.close()
    _refused(tmp_path, db, "the store DB is damaged: it has no table queue; restore it from a copy or "
                           "start a new --db file")


def test_two_processes_creating_one_new_store(tmp_path):
    db = tmp_path / "new.db"
    script = ("import sys; from campaignlang.store import Store; "
              "[Store(sys.argv[1]).close() for _ in range(20)]")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(db)], stderr=subprocess.PIPE) for _ in range(3)]
    errs = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errs
    assert integrity(db) == ["ok"]


_TRIGGERED = '''program "P" {
 form "F"
 list "L"
 campaign "T" trigger {
  smart list { trigger fills out form "F" }
  flow { change score lead."Lead Score" by +1 }
  qualify every time
 }
}
'''


def _run_ids(db):
    con = sqlite3.connect(db)
    try:
        runs = [r[0] for r in con.execute("SELECT run FROM runs ORDER BY id")]
        logged = [r[0] for r in con.execute("SELECT DISTINCT run FROM activities WHERE run IS NOT NULL "
                                            "ORDER BY id")]
        return runs, logged
    finally:
        con.close()


def test_run_ids_never_repeat_across_engines_reopening_and_setup_steps(tmp_path):
    """An event does not write the run counter: the next id is past the last
    run recorded and past meta.next_run (written only by ids no run records,
    a test's setup steps). Interleaved engines, setup steps and a reopened
    store must still never give an id twice."""
    db = tmp_path / "s.db"
    a = Engine(program_from_text(_TRIGGERED), Store(str(db)))
    b = Engine(program_from_text(_TRIGGERED), Store(str(db)))
    a.add_person("ann@example.com")
    a.fire("fills out form", ["ann@example.com"], "F")
    b.fire("fills out form", ["ann@example.com"], "F")
    steps = [ast.AddToList(ast.Ref("P", "L"))]
    b.run_steps("ann@example.com", steps)          # an id the run history does not hold
    a.fire("fills out form", ["ann@example.com"], "F")
    a.store.close()
    b.store.close()
    c = Engine(program_from_text(_TRIGGERED), Store(str(db)))
    c.run_steps("ann@example.com", [ast.RemoveFromList(ast.Ref("P", "L"))])
    c.fire("fills out form", ["ann@example.com"], "F")
    c.store.close()
    runs, logged = _run_ids(db)
    assert runs == [1, 2, 4, 6]
    assert logged == [1, 2, 3, 4, 5, 6]
    e = Engine(program_from_text(_TRIGGERED), Store(str(db)))
    assert e.get("ann@example.com", "Lead Score") == 4
    assert [a.type for a in e.activities("ann@example.com") if a.run in (3, 5)] == ["Add to List", "Remove from List"]


def test_a_rolled_back_event_gives_its_run_id_again(tmp_path):
    db = tmp_path / "s.db"
    e = Engine(program_from_text(_TRIGGERED), Store(str(db)), max_steps=0)
    e.add_person("ann@example.com")
    with pytest.raises(RunError):
        e.fire("fills out form", ["ann@example.com"], "F")
    e.max_steps = None
    e.fire("fills out form", ["ann@example.com"], "F")
    e.store.close()
    assert _run_ids(db) == ([1], [1])
