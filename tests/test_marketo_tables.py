"""interpreter/marketo/tables.py: the one table of Marketo ids and names,
and the client's spacing of calls under Marketo's rate limit."""

from __future__ import annotations

from campaignlang.marketo import tables
from campaignlang.marketo.source import RestSource
from campaignlang.stdlib import filters, triggers
from campaignlang.stdlib.types import STANDARD_FIELDS


def test_activity_types_by_id_and_by_the_simulators_name():
    assert tables.activity_type(22).attributes[:3] == ("Change Value", "Old Value", "New Value")
    assert tables.activity_type(2).trigger == "fills out form"
    assert tables.activity_type(104).language == "Change Program Status"
    assert tables.activity_type_for("change score").id == 22
    assert tables.activity_type_for("New Person").marketo == "New Lead"
    assert tables.activity_type(999) is None


def test_types_without_a_documented_id_resolve_by_the_instances_own_list():
    assert tables.activity_type_for("Executed Campaign").id is None
    table = tables.resolve_activity_types([
        {"id": 2, "name": "Fill Out Form"},
        {"id": 4321, "name": "Executed Campaign"},        # this instance's own numbering
        {"id": 100001, "name": "Attend Conference"},       # a custom type: stays unknown
    ])
    assert table[4321].language == "Executed Campaign"
    assert 100001 not in table and table[22].marketo == "Change Score"


def test_every_phrase_the_tables_name_is_in_the_vocabulary():
    for rule in tables.FILTERS:
        assert rule.phrase is None or rule.phrase in filters.BY_WORDS, rule
    for rule in tables.TRIGGERS:
        assert rule.phrase is None or rule.phrase in triggers.BY_WORDS, rule
    for kind in tables.ACTIVITY_TYPES:
        assert kind.trigger is None or kind.trigger in triggers.BY_WORDS, kind
    assert tables.filter_rule("member of list").phrase == "member of list"
    assert tables.trigger_rule("Had Interesting Moment") is None
    assert tables.trigger_rule("Email Bounces").phrase is None     # known, not expressible yet
    assert tables.operator("at least") == ">=" and tables.operator("in time frame") is None


def test_person_fields_by_rest_display_and_language_name():
    for f in tables.PERSON_FIELDS:
        assert f.language in STANDARD_FIELDS
    assert tables.person_field("numberOfEmployees").language == "Company Size"
    assert tables.person_field("Num Employees").rest == "numberOfEmployees"
    assert tables.field_language_name("leadScore") == "Lead Score"
    assert tables.field_language_name(" Region ") == "Region"


def test_calls_are_spaced_under_the_rate_limit():
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    source = RestSource("https://example.invalid/rest", "id", "secret", client=object(),
                        sleep=sleep, clock=lambda: now[0])
    for _ in range(tables.RATE_CALLS):
        source._throttle()
        now[0] += 0.05
    assert waits == []
    source._throttle()               # the 101st call within 20 seconds waits for the first to age out
    assert len(waits) == 1 and abs(waits[0] - (tables.RATE_WINDOW - 100 * 0.05)) < 1e-9
