"""The set-based engine's smart lists select exactly whom Python selects
(issue 16): the generated people and smart lists of tests/test_pushdown.py
(every operator of every field type, case and ``ß``/``ss`` folding, empty
values, list, program and smart-list membership, activity and run history,
ALL / ANY / advanced logic), the store-neutral query translated by
``sets.query`` and run on each backend, against the evaluator's Python
predicate over everyone."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from sqlglot import exp  # noqa: E402

from campaignlang.sets import loader  # noqa: E402
from campaignlang.sets.backend import DuckDBBackend  # noqa: E402
from campaignlang.sets.query import condition, parse  # noqa: E402
from test_pushdown import engine, load, person, smart_lists  # noqa: E402

_BACKENDS: dict = {}


@pytest.fixture(scope="module")
def backend():
    b = DuckDBBackend(threads=1)
    yield b
    b.close()


def selected(e, query, backend) -> list[int]:
    needs = loader.Needs()
    cond = condition(query, e.store, needs)
    loader.load(e.store, backend, needs)
    sel = parse("SELECT people.id FROM people WHERE people.deleted = 0 ORDER BY people.id")
    sel = sel.where(exp.Paren(this=cond))
    return [r["id"] for r in backend.fetch(sel).to_pylist()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(person, min_size=1, max_size=8), smart_lists())
def test_the_translated_query_selects_whom_python_selects(backend, people, drawn):
    sl, texts = drawn
    e, _filters = engine()
    here = e.campaign("P/C0").program
    load(e, people)
    pred = e.evaluator.smart_list_pred(sl, here)
    by_python = [p.id for p in e.store.people() if pred(p)]
    query, rest = e.evaluator.pushdown(sl, here)
    assert not rest and query is not None, texts
    assert selected(e, query, backend) == by_python, (sl.logic, sl.expression, texts)


def test_every_flow_step_has_a_set_based_form_or_a_named_refusal():
    """The vocabulary's steps and the set-based engine's forms of them
    (sets.plan._SLOTS) stay in step: a new step entry without a set-based
    form is refused by name, never run some other way."""
    from campaignlang.sets import plan
    from campaignlang.stdlib import steps

    for entry in steps.STEPS:
        assert entry.node in plan._SLOTS or entry.node in plan._STEP_NAMES, entry.words
    assert not set(plan._SLOTS) & set(plan._STEP_NAMES)
