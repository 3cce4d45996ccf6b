"""Marketo's Change Lead Partition step: ``change lead partition to "P"``
sets the person's ``Lead Partition`` standard field and logs ``Change Lead
Partition`` (docs/language.md, "Lead partitions"). The step is one entry of
the vocabulary (stdlib/steps.py), its node (ast.py) and its compiler
(evaluate.py): the parser, the formatter and the checker know it from the
entry."""

from __future__ import annotations

from campaignlang import ast
from campaignlang.api import check_text
from campaignlang.check import ACTIVITY_TYPES
from campaignlang.format import format_source
from campaignlang.parse import parse
from engine_helpers import make

PROGRAM = """
program "P" {
    campaign "Move" batch {
        smart list { filter lead.Country is "US" }
        flow {
            change lead partition to "Partner Leads"
            execute campaign "Again"
        }
    }
    campaign "Again" executable { flow { change lead partition to "Partner Leads" } }
    campaign "Watch" trigger {
        smart list { trigger data value changes lead."Lead Partition" }
        flow { interesting moment milestone "moved" }
    }
}
"""


def test_it_parses_to_its_node_and_formats_back():
    src = 'program "P" {\n    campaign "C" batch {\n        flow {\n            change lead partition to "EMEA"\n' \
          '        }\n    }\n}\n'
    result = parse(src, "p.campaign")
    assert not result.diagnostics
    [step] = [n for n in ast.walk(result.module) if isinstance(n, ast.ChangeLeadPartition)]
    assert step == ast.ChangeLeadPartition("EMEA")
    out = format_source(src, "p.campaign")
    assert 'change lead partition to "EMEA"' in out and format_source(out, "p.campaign") == out


def test_the_checker_knows_it_from_the_vocabulary():
    assert "Change Lead Partition" in ACTIVITY_TYPES
    assert check_text(PROGRAM, "p.campaign").ok
    bad = check_text('program "P" { campaign "C" batch { flow { change lead partition "EMEA" } } }', "p.campaign")
    assert [d.code for d in bad.diagnostics] == ["CL001"]
    assert "change lead partition to" in (bad.diagnostics[0].hint or bad.diagnostics[0].message)


def test_a_move_sets_the_field_and_logs_once():
    e = make(PROGRAM)
    e.add_person("ann@example.com", {"Country": "US"})
    e.add_person("bob@example.com", {"Country": "DE"})
    e.run_batch("P/Move")
    assert e.get("ann@example.com", "Lead Partition") == "Partner Leads"
    assert e.get("bob@example.com", "Lead Partition") is None
    moves = e.activities("ann@example.com", "Change Lead Partition")
    assert len(moves) == 1   # the executable's second move to the same partition changes nothing
    [a] = moves
    assert (a.campaign, a.attributes, a.old, a.new) == ('"P"."Move"', {"partition": "Partner Leads"}, None,
                                                        "Partner Leads")
    # a partition move is not a data value change (as in Marketo): the trigger campaign did not run
    assert e.activities("ann@example.com", "Interesting Moment") == []
    assert e.activities("ann@example.com", "Change Data Value") == []


def test_a_later_move_records_the_old_partition():
    e = make(PROGRAM.replace('change lead partition to "Partner Leads"\n            execute campaign "Again"',
                             'change lead partition to "EMEA"'))
    e.add_person("ann@example.com", {"Country": "US", "Lead Partition": "Partner Leads"})
    e.run_batch("P/Move")
    [a] = e.activities("ann@example.com", "Change Lead Partition")
    assert (a.old, a.new) == ("Partner Leads", "EMEA")
    assert e.get("ann@example.com", "Lead Partition") == "EMEA"
