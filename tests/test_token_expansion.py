"""Nested My Tokens are bounded (issue 14, item 2).

A chain of My Tokens each repeating the previous one multiplies: the checker
computes the expansion and refuses a token past ``MAX_RENDERED_CHARS``
(CL405); a program that passes (its tokens' sizes depend on a person's data,
or the checker is bypassed) stops at the cap with an ``Error`` activity at
run time instead of building the text; a token that refers back to itself is
CL404 (a warning). The property draws chains of every shape and compares the
checker's verdict with the true size, and the engine's outcome with both.
"""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignlang.api import check_text
from campaignlang.environment import MAX_RENDERED_CHARS, MAX_TOKEN_EXPANSIONS

from engine_helpers import acts, make, make_unchecked


def chain(levels: int, fan: int, base: str) -> tuple[str, int]:
    """Program text whose ``my.T{levels}`` repeats ``my.T{levels-1}`` ``fan``
    times, down to ``my.T0 = base``, used by a batch's change data value;
    and the true length of ``my.T{levels}``."""
    decls = [f'my.T0 = "{base}"']
    size = len(base)
    for i in range(1, levels + 1):
        decls.append(f'my.T{i} = "-' + "{{my.T%d}}" % (i - 1) * fan + '"')
        size = 1 + fan * size
    text = f"""
program "P" {{
    tokens {{
        {chr(10).join(decls)}
    }}
    campaign "C" batch {{
        smart list {{ filter lead.Country is "US" }}
        flow {{ change data value lead."Job Title" to "{{{{my.T{levels}}}}}" }}
        qualify every time
    }}
}}
"""
    return text, size


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(levels=st.integers(1, 8), fan=st.integers(1, 14), base=st.text("abcxyz", max_size=20))
def test_nested_tokens_are_refused_statically_and_stopped_at_run_time(levels, fan, base):
    text, size = chain(levels, fan, base)
    expansions = sum(fan ** k for k in range(1, levels + 1))   # My Tokens inside my.T{levels}
    too_big = size > MAX_RENDERED_CHARS or expansions > MAX_TOKEN_EXPANSIONS
    codes = [d.code for d in check_text(text).diagnostics]
    assert ("CL405" in codes) == too_big
    e = make_unchecked(text)
    e.add_person("ann@example.com", {"Country": "US"})
    start = time.monotonic()
    e.run_batch("P/C")
    assert time.monotonic() - start < 10
    errors = acts(e, "ann@example.com", "Error")
    if too_big:
        assert len(errors) == 1, (size, expansions)
        assert "1,000,000 characters" in errors[0].attributes["message"] or "10,000" in errors[0].attributes["message"]
        assert e.person("ann@example.com").get("job title") in (None, "")   # nothing half-written
    else:
        assert not errors
        assert len(e.person("ann@example.com").get("job title") or "") == size


def test_deep_nesting_of_short_tokens_stops_quickly():
    """Twelve levels, each repeating the last twelve times: the text stays
    short (a reference nine levels down renders blank) but the expansions
    multiply; the run stops at the expansion cap."""
    text, _ = chain(12, 12, "")
    e = make_unchecked(text)
    e.add_person("ann@example.com", {"Country": "US"})
    start = time.monotonic()
    e.run_batch("P/C")
    assert time.monotonic() - start < 10
    (error,) = acts(e, "ann@example.com", "Error")
    assert "expand more than 10,000 times" in error.attributes["message"]


def test_person_data_repeated_past_the_cap_is_an_error_activity():
    text = """
fields { "Notes": text }
program "P" {
    tokens { my.Ten = "{{lead.Notes}}{{lead.Notes}}{{lead.Notes}}{{lead.Notes}}{{lead.Notes}}" }
    campaign "C" batch {
        smart list { filter lead.Country is "US" }
        flow {
            change data value lead."Job Title" to "{{my.Ten}}{{my.Ten}}"
            interesting moment web "after"
        }
        qualify every time
    }
}
"""
    assert check_text(text).ok
    e = make(text)
    e.add_person("ann@example.com", {"Country": "US", "Notes": "n" * 100_001})
    e.add_person("bob@example.com", {"Country": "US", "Notes": "short"})
    e.run_batch("P/C")
    assert [a.type for a in acts(e, "ann@example.com")][-1] == "Error"
    assert e.person("bob@example.com").get("job title") == "short" * 10


def test_a_token_referring_to_itself_is_a_warning():
    text = """
program "P" {
    tokens {
        my.A = "x{{my.A}}"
        my.B = "{{my.C}}"
        my.C = "{{my.B}}"
        my.D = "fine {{my.E}}"
        my.E = "end"
    }
}
"""
    found = [(d.code, d.message) for d in check_text(text).diagnostics]
    assert ("CL404", "My Token 'my.A' refers to itself") in found
    assert any(c == "CL404" and "my.B -> my.C -> my.B" in m or "my.C -> my.B -> my.C" in m for c, m in found)
    assert not any("my.D" in m or "my.E" in m for _, m in found)
