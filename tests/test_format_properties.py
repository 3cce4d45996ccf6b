"""Property tests of ``campaign fmt`` over generated programs (tests/strategies.py).

For every generated tree: its formatted text parses without a diagnostic and
back to the same tree, and formatting that text changes nothing. For a
formatted program with comments inserted: every comment survives (the same
multiset of texts), the tree is unchanged, and formatting is idempotent.

The main properties run 500 examples each (the CI requirement); the file
stays within about a minute on two cores.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignlang.format import format_module, format_source
from campaignlang.parse import parse

from strategies import modules, with_comments

MAIN = settings(max_examples=500, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _parse_clean(text: str):
    result = parse(text)
    assert result.diagnostics == (), (text, [d.message for d in result.diagnostics])
    return result


@MAIN
@given(modules())
def test_generated_programs_format_to_a_fixed_point_with_the_same_tree(module):
    text = format_module(module, [])
    result = _parse_clean(text)
    assert result.module == module, text
    assert result.comments == ()
    assert format_source(text) == text


@MAIN
@given(st.data())
def test_inserted_comments_are_kept_and_formatting_is_idempotent(data):
    module = data.draw(modules())
    clean = format_module(module, [])
    text, inserted = data.draw(with_comments(clean, trailing=True, blank_lines=True))
    result = _parse_clean(text)
    assert Counter(c.text for c in result.comments) == Counter(inserted)
    once = format_source(text)
    again = _parse_clean(once)
    assert Counter(c.text for c in again.comments) == Counter(inserted), once
    assert again.module == module, once
    assert format_source(once) == once


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_own_line_comments_keep_their_order(data):
    """Comments on lines of their own come out in the order they went in."""
    clean = format_module(data.draw(modules()), [])
    text, _ = data.draw(with_comments(clean))
    before = [c.text for c in parse(text).comments]
    after = [c.text for c in parse(format_source(text)).comments]
    assert after == before
