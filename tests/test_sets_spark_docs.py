"""docs/scale.md, "On Spark, Parquet and warehouses": the worked example
runs as written (its program, its Python writing the Parquet, its command)
and prints what the page says; with --engine spark too, and the people it
writes back are the ones the page describes."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("duckdb")

from campaignlang.cli import main  # noqa: E402

DOC = Path(__file__).resolve().parent.parent / "docs" / "scale.md"


def _example() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## On Spark, Parquet and warehouses"):]
    section = section[:section.index("\n## ")] if "\n## " in section else section
    example = section[section.index("### Worked example"):section.index("### On a cluster")]
    blocks = re.findall(r"```(\w+)\n(.*?)```", example, re.S)
    assert [lang for lang, _ in blocks] == ["campaign", "python", "sh", "text"]
    return dict(blocks)


def _prepare(tmp_path: Path) -> tuple[list[str], str]:
    blocks = _example()
    (tmp_path / "warehouse.campaign").write_text(blocks["campaign"])
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(blocks["python"], "docs/scale.md", "exec"), {})
    finally:
        os.chdir(cwd)
    command = shlex.split(blocks["sh"])
    assert command[0] == "campaign"
    return command[1:], blocks["text"]


PEOPLE = [{"id": 1, "Email Address": "ann@example.com", "Country": "US", "Lead Score": 17, "Region": "NA"},
          {"id": 2, "Email Address": "BOB@example.com", "Country": "ca", "Lead Score": 45, "Region": "NA"}]


def test_worked_example_on_duckdb(tmp_path) -> None:
    args, want = _prepare(tmp_path)
    got = subprocess.run([sys.executable, "-m", "campaignlang.cli", *args], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert got.returncode == 0, got.stderr
    assert got.stderr + got.stdout == want
    assert pq.read_table(tmp_path / "results" / "people").to_pylist() == PEOPLE


@pytest.mark.spark
def test_worked_example_on_spark(tmp_path) -> None:
    args, want = _prepare(tmp_path)
    args[args.index("duckdb")] = "spark"
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        got = CliRunner().invoke(main, args, catch_exceptions=False)
    finally:
        os.chdir(cwd)
    assert got.exit_code == 0, got.output
    assert got.output == want
    files = sorted((tmp_path / "results" / "people").glob("*.parquet"))
    assert pa.concat_tables([pq.read_table(f) for f in files]).to_pylist() == PEOPLE
