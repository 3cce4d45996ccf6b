"""The parser's recovery scanners read each character once (issue 14, item 3).

``program "P" { description "`` followed by N escaped quotes took 3.7 s at
10,000 and 58.6 s at 40,000: the scanners' string pattern failed on the
unclosed string and was retried from every quote inside it. A string that
is never closed now runs to the end of its line, so a scan is one pass. The
properties: over any text of quotes, backslashes, braces, ``#``, ``{{`` and
newlines, the one-pass scan finds exactly what the quadratic pattern found
(so recovery is unchanged), and the parse of growing pathological inputs
ends with diagnostics only. Times, N against 4N, are in bench/bench_hardening.py.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignlang.parse import _openers, parse

PIECES = ['"', '\\"', "\\", "{", "}", "{{", "}}", "#", "a", " ", "\n", "\\\\"]

# the scanner's pattern before issue 14: retried from every quote of an unclosed string
QUADRATIC = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\{\{[^{}\n]*\}?\}?|[{}]')


@settings(max_examples=500, deadline=None, database=None)
@given(st.lists(st.sampled_from(PIECES), max_size=120).map("".join))
def test_the_one_pass_scan_finds_what_the_quadratic_one_found(text):
    assert [m.span() for m in _openers(text)] == [m.span() for m in QUADRATIC.finditer(text)]


PATHOLOGICAL = {
    "escaped quotes": lambda n: 'program "P" { description "' + '\\"' * n,
    "bare quotes": lambda n: '"' * n,
    "unclosed tokens": lambda n: 'program "P" { description "' + "{{" * n,
    "backslashes": lambda n: 'program "P" { description "' + "\\" * n,
    "open strings, one a line": lambda n: 'program "P" {\n' + 'description "a\\"\n' * (n // 8),
    "quote then braces": lambda n: 'program "P" { x "' + "{" * n,
}


@settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(PATHOLOGICAL)), st.sampled_from([1_000, 4_000, 16_000, 64_000]))
def test_growing_pathological_inputs_give_diagnostics(kind, n):
    result = parse(PATHOLOGICAL[kind](n), "x.campaign")
    assert result.diagnostics and all(d.code == "CL001" for d in result.diagnostics)
