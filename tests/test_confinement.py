"""Folder scans stay inside the project root (issue 14, item 1).

``campaign check|fmt|test|graph FOLDER`` and the REPL's ``:load FOLDER`` read
only regular ``*.campaign`` files inside the folder's project root. A
symbolic link out of the root, a link loop, a FIFO, a dangling link get one
CL002 each (``not read: PATH is ...``) and every other file is still checked;
a folder named ``x.campaign`` is scanned as a folder; ``fmt`` never writes
outside the root. The property builds random project trees of these entries.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignlang.cli import main
from campaignlang.loader import load_paths, scan_folder

SECRET = "TOP-SECRET-LINE"
GOOD = 'program   "P{n}" {{ }}\n'          # checks clean; fmt would change it
OUTSIDE = f'program "Out" {{ description "{SECRET}" }}\n'

KINDS = ["file", "link_out", "link_out_dir", "link_in", "loop", "dangling", "fifo", "dir_campaign"]


def cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def build(base: Path, kinds: list[str]) -> tuple[Path, Path, dict[str, str]]:
    """A project ``base/proj`` with one entry per kind; returns the project,
    the outside folder, and the expected reason word per bad entry."""
    proj, outside = base / "proj", base / "outside"
    proj.mkdir()
    outside.mkdir()
    (proj / "campaign.toml").write_text("")
    (outside / "o.campaign").write_text(OUTSIDE)
    (outside / "secret.txt").write_text(SECRET + "\n")
    bad: dict[str, str] = {}
    (proj / "anchor.campaign").write_text(GOOD.format(n="anchor"))
    for i, kind in enumerate(kinds):
        name = proj / f"e{i}.campaign"
        if kind == "file":
            name.write_text(GOOD.format(n=i))
        elif kind == "link_out":
            name.symlink_to(outside / ("o.campaign" if i % 2 else "secret.txt"))
            bad[name.name] = "outside the project root"
        elif kind == "link_out_dir":
            name.symlink_to(outside)   # a linked folder: never entered; out of the root, so named
            bad[name.name] = "outside the project root"
        elif kind == "link_in":
            name.symlink_to(proj / "anchor.campaign")
        elif kind == "loop":
            name.symlink_to(name.name)
            bad[name.name] = "loop"
        elif kind == "dangling":
            name.symlink_to(proj / "nowhere")
            bad[name.name] = "link to nothing"
        elif kind == "fifo":
            os.mkfifo(name)
            bad[name.name] = "not a regular file"
        elif kind == "dir_campaign":
            name.mkdir()
            (name / "inner.campaign").write_text(GOOD.format(n=f"inner{i}"))
    return proj, outside, bad


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symbolic links")
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(KINDS), min_size=1, max_size=8))
def test_folder_scans_never_leave_the_root(kinds):
    base = Path(tempfile.mkdtemp())
    try:
        proj, outside, bad = build(base, kinds)
        before = {p.name: p.read_bytes() for p in outside.iterdir()}
        loaded = load_paths([proj])
        refused = {Path(d.span.file).name: d.message for d in loaded.diagnostics if d.code == "CL002"}
        assert set(refused) == set(bad)
        for name, word in bad.items():
            assert word in refused[name]
        assert all(SECRET not in r.source.text for r in loaded.results)
        # every good file is read
        want = 1 + sum(k in ("file", "dir_campaign") for k in kinds)
        assert len(loaded.results) == want
        for command in (["check", str(proj)], ["test", str(proj)], ["fmt", str(proj)]):
            out = cli(*command)
            assert out.exit_code in (0, 1) or "no tests in" in out.output, (command, out.output)
            assert SECRET not in out.output
        assert {p.name: p.read_bytes() for p in outside.iterdir()} == before
        assert (proj / "anchor.campaign").read_text() == 'program "Panchor" {}\n'   # fmt ran on the rest
    finally:
        shutil.rmtree(base)


def test_one_message_per_bad_path_and_the_rest_checked(tmp_path):
    proj, outside, bad = build(tmp_path, ["link_out", "loop", "fifo", "dir_campaign", "file"])
    out = cli("check", str(proj))
    assert out.exit_code == 1
    assert "e0.campaign is a symbolic link leading outside the project root" in out.output
    assert "e1.campaign is a symbolic link loop" in out.output
    assert "e2.campaign is not a regular file" in out.output
    assert "checked 3 files: 3 errors" in out.output   # anchor, e3/inner, e4


def test_fmt_never_writes_through_a_link_out_of_the_root(tmp_path):
    proj, outside, _ = build(tmp_path, [])
    (outside / "o.campaign").write_text('program   "Out" { }\n')
    link = proj / "x.campaign"
    link.symlink_to(outside / "o.campaign")
    out = cli("fmt", str(link))            # named directly: read, but not written
    assert out.exit_code == 1
    assert "not written" in out.output
    assert (outside / "o.campaign").read_text() == 'program   "Out" { }\n'


def test_named_link_loop_and_fifo_are_one_line_exit_2(tmp_path):
    loop = tmp_path / "loop.campaign"
    loop.symlink_to("loop.campaign")
    fifo = tmp_path / "f.campaign"
    os.mkfifo(fifo)
    for path in (loop, fifo):
        out = cli("check", str(path))
        assert out.exit_code == 2
        assert out.output.startswith("error: ") and out.output.count("\n") == 1


def test_scan_does_not_enter_linked_folders(tmp_path):
    (tmp_path / "campaign.toml").write_text("")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.campaign").write_text(GOOD.format(n=1))
    (tmp_path / "a" / "up").symlink_to(tmp_path)   # a folder loop
    scan = scan_folder(tmp_path)
    assert [p.name for p in scan.files] == ["x.campaign"]
    assert scan.skipped == ()
