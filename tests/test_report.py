"""``campaign report PATH --out DIR`` without a browser: what the page holds
(every campaign, edge and count, escaped), that it refers to nothing
outside itself, and the command's errors. tests/test_report_browser.py
renders the same pages in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from campaignlang.check import check
from campaignlang.cli import main
from campaignlang.loader import load_paths
from campaignlang.report import edges_of
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
LIFECYCLE = ROOT / "examples" / "lead_lifecycle.campaign"

PEOPLE = ("Email Address,First Name,Country,Company Size\n"
          "ann@acme.example,Ann,US,\njo@brasil.example,Jo,BR,\nbob@tiny.example,Bob,DE,\n"
          "dee@known.example,Dee,US,250\n")
EVENTS = (
    '{"at": "2026-01-02T10:00", "person": "ann@acme.example", "trigger": "fills out form", "name": "Register"}\n'
    '{"at": "2026-01-02T10:05", "person": "jo@brasil.example", "trigger": "fills out form", "name": "Register"}\n'
    '{"at": "2026-01-02T11:00", "person": "bob@tiny.example", "trigger": "visits web page", "name": "/pricing",'
    ' "attributes": {"Web Page": "/pricing"}}\n'
    '{"at": "2026-01-03T12:00", "person": "dee@known.example", "trigger": "fills out form", "name": "Contact Us"}\n'
)

#: runs the scenario above starts, worked out by hand from the example:
#: ann and jo register (Registration, Route, Score, Drip each twice), bob
#: looks at pricing (Visited Pricing, Score), dee fills out the contact form
EXPECTED_RUNS = {
    '"Webinar 2026"."Registration"': 2, '"Ops Routing"."Route"': 2, '"Ops Scoring"."Score"': 3,
    '"Pricing Interest"."Visited Pricing"': 1, '"Nurture"."Drip"': 2, '"Enrichment"."Enrich on Contact"': 1,
}


def make_report(out: Path, *extra: str, path: Path = LIFECYCLE) -> str:
    out.mkdir(parents=True, exist_ok=True)
    (out / "people.csv").write_text(PEOPLE, encoding="utf-8")
    (out / "events.jsonl").write_text(EVENTS, encoding="utf-8")
    args = ["report", str(path), "--out", str(out / "site"), *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote {out / 'site' / 'index.html'}"
    return (out / "site" / "index.html").read_text(encoding="utf-8")


def full_args(out: Path) -> list[str]:
    return ["--people", str(out / "people.csv"), "--events", str(out / "events.jsonl"), "--until", "1 week",
            "--coverage", "--title", "Lead lifecycle"]


def test_page_shows_every_campaign_edge_and_count(tmp_path: Path) -> None:
    page = make_report(tmp_path, *full_args(tmp_path))
    result = check(load_paths([LIFECYCLE]))
    for c in result.model.campaigns:
        q = c.qualname.replace('"', "&quot;")
        assert f'<g class="node {c.kind}' in page
        assert f'data-campaign="{q}"' in page
        assert f'<section class="campaign" id="c{c.id}"' in page
    for caller, target, kind in edges_of(result):
        assert (f'data-from="{caller.replace(chr(34), "&quot;")}" data-to="{target.replace(chr(34), "&quot;")}" '
                f'data-kind="{kind}"') in page
    assert len(edges_of(result)) == 4
    for q, n in EXPECTED_RUNS.items():
        assert f"{n} run{'s' if n != 1 else ''} in the scenario" in page, q
    assert "4 passed, 0 failed" in page
    assert "not reached by tests" in page             # the EMEA branch no test takes


def test_page_is_self_contained(tmp_path: Path) -> None:
    page = make_report(tmp_path, *full_args(tmp_path))
    assert "default-src 'none'" in page
    assert not re.search(r'\s(src|srcset)=', page)
    assert not re.search(r'href="(?!#)', page)         # only links inside the page
    assert "@import" not in page and "url(" not in page.replace('url(#arrow', "")
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


def test_text_from_the_program_is_escaped(tmp_path: Path) -> None:
    src = tmp_path / "evil.campaign"
    src.write_text('program "<b>P</b>" {\n    campaign "</script><img src=x>" batch {\n'
                   '        smart list { filter lead.Country is "<i>US</i>" }\n'
                   '        flow { change data value lead.City to "a & b" }\n    }\n}\n', encoding="utf-8")
    page = make_report(tmp_path / "out", path=src)
    assert "<img" not in page and "<b>P" not in page and "<i>US" not in page
    assert "&lt;/script&gt;&lt;img src=x&gt;" in page
    assert "a &amp; b" in page


def test_depth_limit_and_cycles_are_marked(tmp_path: Path) -> None:
    deep = make_report(tmp_path / "deep", path=ROOT / "tests/diagnostics/CL205-execute-too-deep.campaign")
    assert 'class="depth-limit"' in deep and "level 4: too deep" in deep
    assert 'class="edge execute too-deep"' in deep
    loop = make_report(tmp_path / "loop", path=ROOT / "tests/diagnostics/CL206-execution-cycle.campaign")
    assert loop.count('class="edge execute cycle"') == 3     # A > B > A, and Self > Self
    assert "error[CL206]" in loop


def test_without_measures_no_counts(tmp_path: Path) -> None:
    page = make_report(tmp_path)
    assert "in the scenario" not in page and "tests:" not in page and 'class="badge' not in page


@pytest.mark.parametrize("args,code,message", [
    (["--events", "e.jsonl"], 2, "--events and --until need --db or --people"),
    (["--db", "missing.db"], 2, "no store missing.db"),
    (["--people", "nobody.csv"], 2, "nobody.csv"),
])
def test_errors_are_one_line(tmp_path: Path, monkeypatch, args: list[str], code: int, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["report", str(LIFECYCLE), "--out", "site", *args])
    assert result.exit_code == code, result.output
    err = result.stderr.strip().splitlines()[-1]
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "site").exists()


def test_a_program_with_errors_is_drawn_but_not_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    bad = ROOT / "tests/diagnostics/CL401-undefined-token.campaign"
    ok = CliRunner().invoke(main, ["report", str(bad), "--out", "a"])
    assert ok.exit_code == 0 and "error[CL401]" in (tmp_path / "a/index.html").read_text(encoding="utf-8")
    refused = CliRunner().invoke(main, ["report", str(bad), "--out", "b", "--coverage"])
    assert refused.exit_code == 1 and "has errors" in refused.stderr
    (tmp_path / "syntax.campaign").write_text('program "P" {\n', encoding="utf-8")
    broken = CliRunner().invoke(main, ["report", "syntax.campaign", "--out", "c"])
    assert broken.exit_code == 1 and not (tmp_path / "c").exists()


def test_counts_from_a_store_leave_it_as_it_was(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "people.csv").write_text(PEOPLE, encoding="utf-8")
    (tmp_path / "events.jsonl").write_text(EVENTS, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["people", "import", "people.csv", "--db", "s.db", "--fields",
                                str(LIFECYCLE)]).exit_code == 0
    before = (tmp_path / "s.db").read_bytes()
    result = runner.invoke(main, ["report", str(LIFECYCLE), "--out", "site", "--db", "s.db",
                                  "--events", "events.jsonl"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.db").read_bytes() == before
    page = (tmp_path / "site/index.html").read_text(encoding="utf-8")
    assert "4 people from s.db" in page and "2 runs in the scenario" in page


def _box_x(page: str, qualname: str) -> float:
    q = re.escape(qualname.replace('"', "&quot;"))
    m = re.search(rf'data-campaign="{q}"><title>.*?</title><rect x="([0-9.]+)"', page)
    assert m, qualname
    return float(m.group(1))


def test_campaigns_stand_in_the_column_of_their_level(tmp_path: Path) -> None:
    loop = make_report(tmp_path / "loop", path=ROOT / "tests/diagnostics/CL206-execution-cycle.campaign")
    start, a, b = (_box_x(loop, f'"Loop"."{n}"') for n in ("Start", "A", "B"))
    assert start < a < b                                  # Start > A > B (> A again)
    assert _box_x(loop, '"Loop"."Self"') == a             # a self-loop nothing else runs: column 1
    many = make_report(tmp_path / "many", path=ROOT / "tests/diagnostics/thirty_campaigns.campaign")
    ping, pong = _box_x(many, '"Chain"."Ping"'), _box_x(many, '"Chain"."Pong"')
    level1 = _box_x(many, '"Chain"."Level 1"')
    assert {ping, pong} == {level1, _box_x(many, '"Chain"."Level 2"')}   # columns 1 and 2, side by side
    assert "Diagnostics: 24 errors, 6 warnings (click to show)" in many   # CL404, CL405, CL505 added (issue 14)
