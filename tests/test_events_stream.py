"""Events files stream (issue 14, item 7): replaying an events file keeps
no list that grows with the file. Its two passes (validate every line, then
apply in one transaction) read the file line by line, and the result holds
counts. The store buffers at most a few thousand activities and runs before
writing them, so past that the peak of Python's memory is flat in the file's
length. The figures for 10k, 100k and 1M events are bench/bench_hardening.py's."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from click.testing import CliRunner

from campaignlang.api import compile_text
from campaignlang.cli import main
from campaignlang.datafiles import DataFileError, replay
from campaignlang.engine import Engine
from campaignlang.store import Store

PROGRAM = """
program "P" {
    form "Contact Us"
    list "L"
    campaign "On Form" trigger {
        smart list { trigger fills out form "Contact Us" }
        flow { add to list "L" }
        qualify every time
    }
}
"""


def write_events(path, n: int, bad_line: int | None = None) -> None:
    """``n`` events over a minute each, 100 people; every fifth a form fill
    that starts a run; ``bad_line``: that line names a form that does not exist."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            minute = i
            at = f"2026-01-{2 + minute // 1440:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}"
            if i % 5 == 0:
                ev = {"at": at, "person": f"p{i % 100}@example.com", "trigger": "fills out form",
                      "name": "Contact Us" if i + 1 != bad_line else "No Such Form"}
            else:
                ev = {"at": at, "person": f"p{i % 100}@example.com", "trigger": "visits web page",
                      "name": f"/page/{i % 7}"}
            f.write(json.dumps(ev) + "\n")


def peak_of_replay(tmp_path, n: int) -> tuple[int, object]:
    events = tmp_path / f"ev{n}.jsonl"
    write_events(events, n)
    engine = Engine(compile_text(PROGRAM), Store(str(tmp_path / f"s{n}.db")))
    tracemalloc.start()
    try:
        done = replay(engine, events)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    engine.store.close()
    return peak, done


def test_the_peak_memory_of_a_replay_does_not_grow_with_the_file(tmp_path):
    small, done_small = peak_of_replay(tmp_path, 4_000)
    large, done_large = peak_of_replay(tmp_path, 16_000)
    assert (done_small.events, done_small.runs) == (4_000, 800)
    assert (done_large.events, done_large.runs) == (16_000, 3_200)
    # four times the events; a list of them (about 1 kB each) would add ~30 MB
    assert large - small < 400_000, (small, large)


def test_a_bad_line_late_in_a_long_file_leaves_the_store_as_it_was(tmp_path):
    events = tmp_path / "ev.jsonl"
    write_events(events, 3_000, bad_line=2_996)
    engine = Engine(compile_text(PROGRAM), Store(str(tmp_path / "s.db")))
    now = engine.now
    with pytest.raises(DataFileError) as info:
        replay(engine, events)
    assert str(info.value).startswith(f"{events}: line 2996: ")
    assert str(info.value).endswith("; nothing from the file was kept")
    assert engine.now == now and engine.store.activities() == []
    assert engine.store.db.execute("SELECT count(*) FROM people").fetchone()[0] == 0


def test_a_malformed_line_late_in_the_file_is_refused_before_anything_runs(tmp_path):
    events = tmp_path / "ev.jsonl"
    write_events(events, 1_000)
    with open(events, "a", encoding="utf-8") as f:
        f.write('{"at": "2026-01-09T10:00", "person": "a@example.com", "trigger": "fills out form"}\n')
    engine = Engine(compile_text(PROGRAM), Store(str(tmp_path / "s.db")))
    progress: list[tuple[int, int]] = []
    engine.progress = lambda done, total: progress.append((done, total))
    with pytest.raises(DataFileError, match=r"line 1001, key 'name': 'fills out form' needs the name of a form"):
        replay(engine, events)
    assert progress == []   # refused by the first pass: no event was applied
    assert engine.store.activities() == []


def test_an_encoding_error_is_reported_before_an_earlier_malformed_line(tmp_path):
    # as when the file was read whole: not UTF-8 first, then a NUL byte, then the first bad line
    events = tmp_path / "ev.jsonl"
    good = json.dumps({"at": "2026-01-02T10:00", "person": "a@example.com", "trigger": "visits web page",
                       "name": "/x"}).encode()
    events.write_bytes(b"\xef\xbb\xbf" + good + b"\nnot json\n" + good + b"\x00\n" + good + b"\xff\n")
    engine = Engine(compile_text(PROGRAM))
    with pytest.raises(DataFileError) as info:
        replay(engine, events)
    offset = 2 * len(good) + len(b"\nnot json\n") + len(b"\x00\n") + len(good)
    assert str(info.value) == f"{events}: line 4: not UTF-8 text (byte {offset}); save the file as UTF-8"
    events.write_bytes(good + b"\nnot json\n" + good + b"\x00\n")
    with pytest.raises(DataFileError, match="line 3: a NUL byte"):
        replay(engine, events)


def test_the_events_command_reports_counts(tmp_path):
    events = tmp_path / "ev.jsonl"
    write_events(events, 500)
    src = tmp_path / "p.campaign"
    src.write_text(PROGRAM, encoding="utf-8")
    db = tmp_path / "s.db"
    result = CliRunner().invoke(main, ["events", str(src), str(events), "--db", str(db), "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["events"], summary["runs"], summary["errors"], summary["entered"]) == (500, 100, 0, [])
    assert summary["activity_counts"] == {"Add to List": 20, "Fill Out Form": 100, "New Person": 100,
                                          "Visit Web Page": 400}
