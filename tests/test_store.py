"""The SQLite store (LANGUAGE.md §8): schema version, people, transactions,
and an interrupted ``campaign run`` leaving the store exactly as before."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campaignlang.errors import StoreError
from campaignlang.store import SCHEMA_VERSION, Store
from campaignlang.values import convert

FIELDS = {"email address": ("Email Address", "email"), "country": ("Country", "text"),
          "lead score": ("Lead Score", "score")}


def test_a_new_store_records_its_schema_version(tmp_path):
    db = tmp_path / "s.db"
    Store(str(db)).close()
    con = sqlite3.connect(db)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)


def test_opening_a_store_of_another_version_says_so(tmp_path):
    db = tmp_path / "s.db"
    Store(str(db)).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="schema version 99, but this campaignlang reads version 1"):
        Store(str(db))


def test_opening_something_else_is_a_clear_error(tmp_path):
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a campaign store"):
        Store(str(other))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a campaign store"):
        Store(str(junk))


def test_people_ids_follow_creation_and_emails_are_unique_case_insensitively():
    s = Store()
    s.ensure_fields(FIELDS)
    with s.transaction():
        a = s.add_person({"email address": "Ann@Example.com"})
        b = s.add_person({"email address": "bob@example.com", "lead score": 3})
    assert (a, b) == (1, 2)
    assert s.find_person("ANN@example.COM") == 1
    with pytest.raises(StoreError, match="already exists"):
        with s.transaction():
            s.add_person({"email address": "ann@example.com"})
    assert s.person(2).get("lead score") == 3
    assert [p.email for p in s.people()] == ["Ann@Example.com", "bob@example.com"]


def test_a_field_stored_with_another_type_is_refused():
    s = Store()
    s.ensure_fields(FIELDS)
    with pytest.raises(StoreError, match="stored as text"):
        s.ensure_fields({"country": ("Country", "date")})


@pytest.mark.parametrize("exc", [ValueError, KeyboardInterrupt])
def test_a_transaction_rolls_back_on_any_exception(exc):
    s = Store()
    s.ensure_fields(FIELDS)
    with s.transaction():
        s.add_person({"email address": "ann@example.com"})
    with pytest.raises(exc):
        with s.transaction():
            s.add_person({"email address": "bob@example.com"})
            s.add_activity(2, "New Person", None, None, "2026-01-01T00:00:00", {})
            s.set_field(1, "country", "US")
            raise exc()
    assert s.counts()["people"] == 1 and s.counts()["activities"] == 0
    assert s.person(1).get("country") is None


def test_a_copy_in_memory_is_independent(tmp_path):
    db = tmp_path / "s.db"
    s = Store(str(db))
    s.ensure_fields(FIELDS)
    with s.transaction():
        s.add_person({"email address": "ann@example.com"})
    mem = s.copy_to_memory()
    with mem.transaction():
        mem.add_person({"email address": "bob@example.com"})
    assert s.counts()["people"] == 1 and mem.counts()["people"] == 2


@pytest.mark.parametrize("type_, raw, value", [
    ("integer", "1,200", 1200), ("integer", "12.0", 12), ("score", 7, 7), ("boolean", "Yes", True),
    ("boolean", "0", False), ("date", "2026-03-01", __import__("datetime").date(2026, 3, 1)),
    ("datetime", "2026-03-01 09:30", __import__("datetime").datetime(2026, 3, 1, 9, 30)),
    ("decimal", "3.50", __import__("decimal").Decimal("3.50")), ("text", 5, "5"), ("integer", "", None),
])
def test_conversions(type_, raw, value):
    assert convert(type_, raw) == value


@pytest.mark.parametrize("type_, raw", [("integer", "1.5"), ("integer", "abc"), ("boolean", "maybe"),
                                        ("date", "03/01/2026"), ("score", True)])
def test_conversion_errors(type_, raw):
    with pytest.raises(ValueError, match="is not a"):
        convert(type_, raw)


# -- an interrupted campaign run leaves the store exactly as before ----------------------------

def _snapshot(db: Path) -> str:
    con = sqlite3.connect(db)
    h = hashlib.sha256()
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
        for row in con.execute(f'SELECT * FROM "{name}" ORDER BY 1'):
            h.update(repr(row).encode())
    con.close()
    return h.hexdigest()


def test_sigint_mid_batch_leaves_the_store_as_before(tmp_path):
    bench = Path(__file__).resolve().parent.parent / "bench"
    sys.path.insert(0, str(bench))
    try:
        import bench_engine
    finally:
        sys.path.remove(str(bench))
    program_file = tmp_path / "bench.campaign"
    program_file.write_text(bench_engine.PROGRAM)
    db = tmp_path / "big.db"
    from campaignlang.api import compile_text as program_from_text
    from campaignlang.engine import Engine
    store = Store(str(db))
    Engine(program_from_text(bench_engine.PROGRAM), store)
    bench_engine.populate(store, 60_000)
    store.close()
    before = _snapshot(db)

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-c", "from campaignlang.cli import main; main()",
                             "run", str(program_file), "Bench/Batch", "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    # wait until the batch is under way: the store's write lock is held for a
    # while (the short transactions of start-up release it within milliseconds)
    deadline = time.monotonic() + 30
    locked_since = None
    while time.monotonic() < deadline and proc.poll() is None:
        probe = sqlite3.connect(db, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            locked_since = None
        except sqlite3.OperationalError:
            locked_since = locked_since or time.monotonic()
        finally:
            probe.close()
        if locked_since is not None and time.monotonic() - locked_since > 0.2:
            break
        time.sleep(0.02)
    assert locked_since is not None and proc.poll() is None, "the batch never started writing"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert b"rolled back" in err
    assert _snapshot(db) == before
    # and the store still works: the same run now completes
    done = subprocess.run([sys.executable, "-c", "from campaignlang.cli import main; main()",
                           "run", str(program_file), "Bench/Batch", "--db", str(db), "--format", "json"],
                          capture_output=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _snapshot(db) != before


def test_a_file_store_keeps_a_write_ahead_log_and_folds_it_back_on_close(tmp_path):
    db = tmp_path / "s.db"
    plain = Store(str(db))   # the default: SQLite's rollback journal
    assert plain.db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    plain.close()
    store = Store(str(db), write_ahead=True)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 1   # NORMAL: the log syncs at checkpoints
    with store.transaction():
        store.set_meta("clock", "2026-02-01T00:00:00")
    assert (tmp_path / "s.db-wal").exists()
    store.close()
    assert not (tmp_path / "s.db-wal").exists()
    con = sqlite3.connect(db)   # what a copy of the closed file holds
    assert con.execute("SELECT value FROM meta WHERE key='clock'").fetchone()[0] == "2026-02-01T00:00:00"
    con.close()
    assert Store(str(db)).db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"   # the file keeps it
    assert Store(":memory:", write_ahead=True).db.execute("PRAGMA journal_mode").fetchone()[0] == "memory"


def test_none_still_binds_as_null_with_the_store_loaded():
    # the store registers an adapter for None (binding NULL was an adapter miss
    # per value); it must change nothing of what SQLite receives
    import campaignlang.store  # noqa: F401

    con = sqlite3.connect(":memory:")
    assert con.execute("SELECT ? IS NULL, typeof(?)", (None, None)).fetchone() == (1, "null")
    con.execute("CREATE TABLE t (a TEXT NOT NULL)")
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("INSERT INTO t VALUES (?)", (None,))
    con.close()
