"""The shortcuts the parse takes for speed (issue 14, item 7: checking at
least 1 MB of source a second) give what the plain way gives, on any text:

* the nesting pre-pass reads the braces with one ``findall`` (``_BRACES``)
  and asks ``_openers`` only when a string is left open;
* comments are scanned only on the lines that hold a '#';
* ``SourceFile.span`` clamps only when an offset is out of range;
* the grammar's separator takes the spaces before a line end possessively.

Each is compared with the plain form, written out here."""

from __future__ import annotations

import importlib
import re
from bisect import bisect_right
from importlib import resources

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignlang.source import SourceFile, Span

P = importlib.import_module("campaignlang.parse")
CI = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))

# pieces that meet every branch of the scanners: quotes (closed, open,
# escaped), braces, '{{' tokens, comments, line ends, separators
PIECES = st.sampled_from(['"', '{', '}', '{{', '}}', '\\', '\\"', '#', '# a;', '\n', '\r\n', ';', ' ', '\t',
                          'x', '"a b"', '"{"', '{{my.A}}', '{\n' * 5, '}' * 3, '\f', 'é'])
TEXTS = st.lists(PIECES, max_size=60).map("".join)


def too_deep_plain(text: str) -> tuple[int | None, bool]:
    depth = 0
    for m in P._openers(text):
        tok = m.group(0)
        if tok == "{":
            depth += 1
            if depth > P.MAX_NESTING:
                return m.start(), False
        elif tok == "}" and depth:
            depth -= 1
    return None, depth == 0


@settings(max_examples=3000, **CI)
@given(TEXTS)
def test_the_nesting_prepass_reads_the_braces_openers_reads(text: str) -> None:
    assert P._too_deep(text) == too_deep_plain(text)


def test_the_nesting_limit_is_found_where_it_was() -> None:
    for depth in (P.MAX_NESTING - 1, P.MAX_NESTING, P.MAX_NESTING + 1, P.MAX_NESTING + 5):
        for text in ("{\n" * depth + "}\n" * depth, '"open\n' + "{\n" * depth, "{ # {\n" * depth):
            assert P._too_deep(text) == too_deep_plain(text)


@settings(max_examples=2000, **CI)
@given(TEXTS)
def test_comments_are_scanned_as_a_whole_text_scan_finds_them(text: str) -> None:
    whole = [(m.group(0), m.start()) for m in P._COMMENT_SCAN.finditer(text) if m.group(0)[0] == "#"]
    assert P._scan_comments(text) == whole


def span_plain(src: SourceFile, start: int, end: int) -> Span:
    starts = src._line_starts
    size = len(src.text)
    start = max(0, min(start, size))
    end = max(start, min(end, size))
    i = bisect_right(starts, start) - 1
    j = bisect_right(starts, end) - 1
    return Span(src.name, start, end, i + 1, start - starts[i] + 1, j + 1, end - starts[j] + 1)


@settings(max_examples=2000, **CI)
@given(TEXTS, st.integers(-5, 80), st.integers(-5, 80))
def test_a_span_is_the_clamped_one(text: str, start: int, end: int) -> None:
    src = SourceFile("x.campaign", text)
    assert src.span(start, end) == span_plain(src, start, end)


def _separator() -> str:
    grammar = resources.files("campaignlang.grammar").joinpath("campaign.lark").read_text("utf-8")
    found = re.search(r"^_SEP: /(.*)/$", grammar, re.M)
    assert found is not None
    return found.group(1)


@settings(max_examples=3000, **CI)
@given(st.lists(st.sampled_from([" ", "\t", "#", ";", "\r", "\n", "x", "# a;"]), max_size=16).map("".join),
       st.integers(0, 20))
def test_the_separator_matches_what_it_matched_without_the_possessive(text: str, at: int) -> None:
    possessive = re.compile(_separator())
    plain = re.compile(_separator().replace("*+", "*"))
    assert possessive.pattern != plain.pattern
    at = min(at, len(text))
    a, b = possessive.match(text, at), plain.match(text, at)
    assert (a and a.span()) == (b and b.span())
