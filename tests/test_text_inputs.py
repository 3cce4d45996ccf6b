"""Text that is not Unicode, and times with offsets (issue 14, items 5 and 12).

A lone surrogate (JSON can write ``"\\ud800"``; UTF-8 cannot hold it) in any
key or value of a people file or an events file is refused with the file,
the person or line, and the key; nothing is kept. A command-line argument
that is not UTF-8 (Python hands it over as ``\\udcff``) is one line, exit 2,
whichever argument it is. An event time with a time-zone offset is refused
(the virtual clock has none) instead of silently dropping the offset.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignlang.cli import main
from campaignlang.datafiles import DataFileError, import_people, replay

from engine_helpers import make

PROGRAM = """
fields { "Notes": text }
program "P" {
    form "F"
    tokens { my.Name = "n" }
    campaign "C" batch {
        smart list { filter lead.Country is "US" }
        flow { change data value lead."Job Title" to "x {{my.Name}}" }
    }
    campaign "T" trigger {
        smart list { trigger fills out form "F" }
        flow { interesting moment web "hi {{trigger.Web Page}}" }
    }
    campaign "R" trigger {
        smart list { trigger campaign is requested from api }
        flow { interesting moment web "requested" }
    }
}
"""

CI = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))
SURROGATES = st.sampled_from(["\ud800", "\udc00", "\udfff", "\udcff"])


def dump(e) -> list[str]:
    e.store.flush()
    return list(e.store.db.iterdump())


def base_engine():
    e = make(PROGRAM)
    e.add_person("ann@example.com", {"Country": "US", "Notes": "kept"})
    return e


PERSON = {"Email Address": "bob@example.com", "Country": "US", "Notes": "fine", "First Name": "Bob"}
EVENT = {"at": "2026-01-02T10:00", "person": "ann@example.com", "trigger": "fills out form", "name": "F",
         "attributes": {"Web Page": "/lp", "Referrer": "x"}}


def _spoil(obj: dict, where: str, pos: int, bad: str) -> dict:
    """``obj`` with ``bad`` put into the key or the value ``where``."""
    out = json.loads(json.dumps(obj))
    target, name = (out["attributes"], where[6:]) if where.startswith("attrs:") else (out, where)
    value = target.pop(name)
    if pos < 0:
        target[name[:1] + bad + name[1:]] = value
    else:
        text = str(value)
        target[name] = text[:pos] + bad + text[pos:]
    return out


@settings(max_examples=40, **CI)
@given(st.sampled_from(sorted(PERSON)), st.integers(-1, 5), SURROGATES, st.booleans())
def test_people_files_with_a_lone_surrogate_are_refused_whole(tmp_path_factory, key, pos, bad, as_list):
    folder = tmp_path_factory.mktemp("p")
    people = [{"Email Address": "cat@example.com"}, _spoil(PERSON, key, pos, bad)]
    path = folder / "people.json"
    path.write_text(json.dumps(people if as_list else {"people": people}), encoding="ascii")
    e = base_engine()
    before = dump(e)
    with pytest.raises(DataFileError) as err:
        import_people(e, path)
    assert "person 2, key '" in str(err.value) and "lone surrogate" in str(err.value)
    str(err.value).encode("utf-8")       # the message itself can be printed
    assert dump(e) == before


@settings(max_examples=40, **CI)
@given(st.sampled_from(["person", "name", "attrs:Web Page", "attrs:Referrer"]), st.integers(-1, 5), SURROGATES)
def test_events_with_a_lone_surrogate_are_refused_whole(tmp_path_factory, key, pos, bad):
    folder = tmp_path_factory.mktemp("e")
    good = dict(EVENT, at="2026-01-02T09:00")
    path = folder / "events.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(_spoil(EVENT, key, pos, bad)) + "\n", encoding="ascii")
    e = base_engine()
    before = dump(e)
    with pytest.raises(DataFileError) as err:
        replay(e, path)
    assert "line 2, key '" in str(err.value) and "lone surrogate" in str(err.value)
    assert dump(e) == before


COMMANDS = [
    ["run", "{prog}", "P/C", "--token", "my.Name={bad}"],
    ["plan", "{prog}", "P/C", "--token", "my.Name={bad}"],
    ["request", "{prog}", "P/R", "--person", "{bad}@example.com"],
    ["explain", "{prog}", "P/C", "--person", "{bad}@example.com"],
    ["run", "{prog}", "P/{bad}"],
    ["check", "{prog}{bad}"],
]


@settings(max_examples=30, **CI)
@given(st.sampled_from(range(len(COMMANDS))), st.sampled_from(["\udcff", "\udc80", "\udcc3"]))
def test_arguments_that_are_not_utf8_are_one_line_exit_2(tmp_path_factory, which, bad):
    prog = tmp_path_factory.mktemp("a") / "p.campaign"
    prog.write_text(PROGRAM)
    args = [a.format(prog=prog, bad=bad) for a in COMMANDS[which]]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 2, out.output
    assert out.exception is None or isinstance(out.exception, SystemExit)
    assert out.output.count("\n") == 1 and "is not UTF-8 text" in out.output


@pytest.mark.parametrize("at", ["2026-01-02T10:00+02:00", "2026-01-02T10:00Z", "2026-01-02T10:00:00-05:30"])
def test_an_event_time_with_an_offset_is_refused(tmp_path, at):
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(dict(EVENT, at=at)) + "\n")
    e = base_engine()
    before = dump(e)
    with pytest.raises(DataFileError, match="time-zone offset"):
        replay(e, path)
    assert dump(e) == before


# -- item 12: the whole range of SQLite's integers ------------------------------------------------

@given(st.integers(-(2 ** 63) - 3, -(2 ** 63) + 3) | st.integers(2 ** 63 - 3, 2 ** 63 + 3))
@settings(max_examples=20, **CI)
def test_scores_hold_every_64_bit_number_and_refuse_the_rest(tmp_path_factory, n):
    path = tmp_path_factory.mktemp("s") / "people.csv"
    path.write_text(f"Email Address,Lead Score\nann@example.com,{n}\n")
    e = make(PROGRAM)
    if -(2 ** 63) <= n < 2 ** 63:
        import_people(e, path)
        assert e.person("ann@example.com").get("lead score") == n
    else:
        with pytest.raises(DataFileError, match="too large"):
            import_people(e, path)
