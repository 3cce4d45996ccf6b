"""A vocabulary entry says everything about itself in one place: a flow
step's entry holds its compiler (the step's one implementation) and the
campaign kinds that may hold it; a filter's entry its Python predicate and
its store-neutral query. The evaluator and the checker read the entries."""

from __future__ import annotations

import attrs

from campaignlang import ast
from campaignlang.api import check_text, compile_text
from campaignlang.engine import Engine
from campaignlang.stdlib import filters, steps
from campaignlang.storage import InList


def test_every_step_entry_holds_its_compiler_and_every_filter_entry_its_predicate_and_query():
    for entry in steps.STEPS:
        # wait has none: it pauses the run, which the evaluator's loop does (exec_steps)
        assert entry.node is not None and (callable(entry.compile) or entry.words == "wait"), entry.words
    for entry in (*filters.FILTERS, filters.FIELD_FILTER):
        assert callable(entry.predicate) and callable(entry.query), entry.words
    assert filters.filter_entry(ast.HistoryFilter("opened email", ast.Ref(None, "E"))) is \
        filters.BY_WORDS["opened email"]
    assert filters.filter_entry(ast.ListFilter(ast.Ref(None, "L"), negated=True)).words == "member of list"


PROGRAM = """
program "P" {
    list "L"
    campaign "C" batch {
        smart list { filter member of list "L" }
        flow { change lead partition to "Partners" }
    }
}
"""


def test_the_evaluator_runs_a_step_by_its_entrys_compiler(monkeypatch):
    seen = []
    entry = steps.BY_NODE[ast.ChangeLeadPartition]

    def compile_(ev, step, here):
        inner = entry.compile(ev, step, here)

        def run(r):
            seen.append(step.partition)
            inner(r)
        return run

    monkeypatch.setitem(steps.BY_NODE, ast.ChangeLeadPartition, attrs.evolve(entry, compile=compile_))
    engine = Engine(compile_text(PROGRAM, "p.campaign"))
    pid = engine.add_person("ann@example.com")
    with engine.store.transaction():
        engine.store.list_add('"P"."L"', pid, "2026-01-01 00:00:00")
    engine.run_batch('"P"."C"')
    assert seen == ["Partners"]
    assert engine.get(pid, "Lead Partition") == "Partners"


def test_a_batch_selects_by_the_query_a_filters_entry_says(monkeypatch):
    asked = []
    entry = filters.BY_WORDS["member of list"]

    def query(ev, f, here):
        q = entry.query(ev, f, here)
        asked.append(q)
        return q

    monkeypatch.setitem(filters._BY_NODE, ast.ListFilter, attrs.evolve(entry, query=query))
    engine = Engine(compile_text(PROGRAM, "p.campaign"))
    engine.add_person("ann@example.com")
    engine.run_batch('"P"."C"')
    assert asked == [InList('"P"."L"', False)]


def test_the_checker_reads_which_campaign_kinds_may_hold_a_step():
    text = """
program "P" {
    webhook "W" { url "https://example.com" }
    campaign "E" executable {
        smart list { filter lead.Country is "US" }
        flow {
            wait 1 day
            call webhook "W"
        }
    }
}
"""
    found = sorted((d.code, d.message) for d in check_text(text, "p.campaign").errors)
    assert found == [("CL202", "'wait' in executable campaign \"P\".\"E\""),
                     ("CL203", "'call webhook' in executable campaign \"P\".\"E\"")]
    assert steps.BY_WORDS["wait"].campaigns == ("trigger", "batch")
    assert steps.BY_WORDS["call webhook"].campaigns == ("trigger",)
