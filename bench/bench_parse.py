"""Parse and start-up benchmarks (issue 2). Run by hand: python bench/bench_parse.py

* parse to AST with spans of a generated 50,000-line program, against Lark's
  bare LALR parse (no positions, no transformer, no callbacks) of the same
  text in the same run; medians of several runs, and the ratio.
* start-up: `campaign check` on a one-campaign file, median of 10 fresh
  processes, against `python -c "import lark, attrs, click"`.

Prints a table and writes bench/results/parse.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lark import Lark

from campaignlang.parse import grammar_text, parse

HERE = Path(__file__).resolve().parent

PROGRAM = '''program "Program {n}" {{
    description "Generated program {n}"
    tokens {{
        my.Score = +{n}
        my."Event Name" = "Event {n}"
    }}
    list "Attendees {n}"
    email "Invite {n}" {{
        subject "Join {{{{my.Event Name}}}}"
        body "Hi {{{{lead.First Name:default=there}}}}"
    }}
    campaign "Route {n}" executable {{
        smart list {{
            filter lead."Lead Status" is not "Disqualified"
        }}
        flow {{
            change data value lead.Country {{
                if lead.Country is "USA", "United States" then to "US"
                else if lead.Country is "Deutschland" then to "DE"
                else do nothing
            }}
            change score lead."Lead Score" by {{{{my.Score}}}}
        }}
        qualify every time
    }}
    campaign "Invite {n}" batch {{
        smart list any {{
            filter lead."Lead Score" >= 50   # warm
            filter member of list "Attendees {n}"
        }}
        flow {{
            send email "Invite {n}"
            execute campaign "Program {n}"."Route {n}" use parent token context
            add to list "Attendees {n}"
        }}
    }}
}}
'''


def generate(lines: int) -> str:
    out, n = [], 0
    total = 0
    while total < lines:
        block = PROGRAM.format(n=n)
        out.append(block)
        total += block.count("\n")
        n += 1
    return "".join(out)


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def parse_times(text: str, runs: int) -> tuple[float, float]:
    """(ours, bare Lark) medians of ``runs`` parses of ``text``."""
    bare = Lark(grammar_text(), parser="lalr", lexer="contextual")
    parse(text, "warm.campaign")  # build and cache the parser
    bare.parse(text)
    t_bare = median_time(lambda: bare.parse(text), runs)
    t_ours = median_time(lambda: parse(text, "gen.campaign"), runs)
    result = parse(text, "gen.campaign")
    assert result.ok, result.diagnostics[:3]
    return t_ours, t_bare


def startup_times(runs: int = 10) -> tuple[float, float]:
    """(``campaign check`` of a one-campaign file, ``python -c "import lark,
    attrs, click"``): medians over ``runs`` fresh processes each."""
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "one.campaign"
        f.write_text('program "P" {\n    campaign "C" batch {\n        smart list { filter lead.Country is "US" }\n'
                     '        flow { change score lead."Lead Score" by +1 }\n    }\n}\n')
        exe = [str(Path(sys.executable).parent / "campaign")]
        if not Path(exe[0]).exists():
            exe = [sys.executable, "-c", "from campaignlang.cli import main; main()"]

        # Users run with bytecode caches (pip compiles them at install); this
        # machine sets PYTHONDONTWRITEBYTECODE, which would make every process
        # recompile campaignlang from source while lark, attrs and click load
        # their installed .pyc files. Measure as users run.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

        def proc(cmd):
            def run():
                subprocess.run(cmd, check=False, capture_output=True, env=env)
            return run

        for _ in range(2):  # write the bytecode and the grammar caches
            subprocess.run(exe + ["check", str(f)], check=True, capture_output=True, env=env)
        t_floor = median_time(proc([sys.executable, "-c", "import lark, attrs, click"]), runs)
        t_check = median_time(proc(exe + ["check", str(f)]), runs)
    return t_check, t_floor


def main() -> None:
    text = generate(50_000)
    lines = text.count("\n")
    runs = 5
    t_ours, t_bare = parse_times(text, runs)
    t_check, t_floor = startup_times(10)

    rows = [
        ("parse 50k lines (AST + spans)", t_ours, "lark bare LALR parse", t_bare),
        ("start-up: campaign check, 1 campaign", t_check, "python -c 'import lark, attrs, click'", t_floor),
    ]
    print(f"{'measure':40} {'ours':>9} {'baseline':>9} {'ratio':>6}  baseline")
    for name, ours, bname, base in rows:
        print(f"{name:40} {ours:9.3f}s {base:9.3f}s {ours / base:6.2f}x  {bname}")
    print(f"({lines} lines, {len(text):,} characters; medians of {runs} runs / 10 processes)")
    out = {
        "lines": lines,
        "parse_seconds": t_ours, "bare_parse_seconds": t_bare, "parse_ratio": t_ours / t_bare,
        "check_startup_seconds": t_check, "import_floor_seconds": t_floor,
        "startup_ratio": t_check / t_floor,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "parse.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
