"""The importer's translation of single rules (interpreter/marketo/convert.py),
on small instances built here in the documented response shapes."""

from __future__ import annotations

from campaignlang.marketo.convert import convert
from campaignlang.marketo.project import _check_files
from campaignlang.marketo.source import Instance


def cond(name, op, values, primary=False):
    return {"activityAttributeName": name, "operator": op, "values": values, "isPrimary": primary}


def field(name, op, values):
    return {"name": name, "ruleType": name, "operator": op, "conditions": [cond(name, op, values, True)]}


def instance(kind="batch", triggers=(), filters=(), match="all", logic=None, fields=(), **campaign):
    rules = {"filterMatchType": match, "triggers": list(triggers), "filters": list(filters)}
    if logic:
        rules["customRuleLogic"] = logic
    c = {"id": 1, "name": "C", "type": kind, "isActive": True, "folder": {"id": 10, "type": "Program"},
         "workspace": "Default", "qualificationRuleType": "once", **campaign}
    return Instance(folders=[], programs=[{"id": 10, "name": "P", "folder": {"type": "Folder", "value": 1}}],
                    channels=[], static_lists=[{"id": 5, "name": "L", "folder": {"id": 10, "type": "Program"}}],
                    smart_lists=[], emails=[], forms=[], campaigns=[c],
                    campaign_rules={1: {"rules": rules}}, fields=list(fields))


def body(inst) -> str:
    result = convert(inst)
    _check_files(result.files)          # every translation here checks clean
    text = result.files["Default.campaign"]
    return text[text.index('campaign "C"'):]


def test_field_operators_and_types():
    inst = instance(filters=[
        field("Lead Score", "between", ["10", "20"]),
        field("Email Address", "is empty", []),
        field("Created At", "in past", ["3 weeks"]),
        field("Unsubscribed", "is not", ["true"]),
        field("Company Name", "starts with", ["Acme", 'The "Big"']),
        field("Renewal", "on or after", ["2026-05-01"]),
    ], fields=[{"displayName": "Renewal", "dataType": "date", "rest": {"name": "renewal"}}])
    text = body(inst)
    for line in ('filter lead."Lead Score" between 10 and 20', 'filter lead."Email Address" is empty',
                 'filter lead."Created At" in past 3 weeks', 'filter lead.Unsubscribed is false',
                 'filter lead."Company Name" starts with "Acme", "The \\"Big\\""',
                 'filter lead.Renewal on or after 2026-05-01'):
        assert line in text


def test_values_of_the_wrong_type_and_unknown_fields_are_kept_as_comments():
    result = convert(instance(filters=[field("Lead Score", "at least", ["lots"]), field("Shoe Size", "is", ["9"]),
                                       field("Country", "is", ["US"])]))
    text = result.files["Default.campaign"]
    assert "# not imported (condition): Lead Score 'lots': not a score value" in text
    assert "# not imported (filter): Shoe Size: no standard field or custom field" in text
    assert 'filter lead.Country is "US"' in text
    assert [s.kind for s in result.skipped] == ["condition", "filter"]


def test_request_sources():
    def requested(*sources):
        rule = {"name": "Campaign is Requested", "conditions": [cond("Source", "is", list(sources), True)]}
        return body(instance("trigger", triggers=[rule]))
    assert "{ trigger campaign is requested }" in requested("Marketo Flow Action")
    assert "trigger campaign is requested from sales insight" in requested("Sales Insight")
    assert "trigger campaign is requested from any" in requested("Marketo Flow Action", "Web Service API",
                                                                 "Sales Insight")
    result = convert(instance("trigger", triggers=[
        {"name": "Campaign is Requested",
         "conditions": [cond("Source", "is", ["Web Service API", "Sales Insight"], True)]},
        {"name": "Added to List", "conditions": [cond("List", "is", ["P.L"], True)]}]))
    assert result.skipped[0].kind == "trigger" and 'trigger added to list "L"' in result.files["Default.campaign"]


def test_advanced_logic_is_renumbered_or_falls_back_to_all():
    four = [field("Lead Score", "at least", ["1"]), {"name": "Had Interesting Moment", "conditions": []},
            field("Country", "is", ["US"]), field("City", "is", ["Paris"]), field("State", "is", ["CA"])]
    text = body(instance(filters=four, match="advanced", logic="1 and (3 or 4 or 5)"))
    assert 'smart list logic "1 and (2 or 3 or 4)" {' in text
    result = convert(instance(filters=four, match="advanced", logic="(1 or 2) and 3 and 4"))
    text = result.files["Default.campaign"]
    assert "smart list {" in text and "logic" not in text.split("smart list {")[1].split("}")[0]
    assert any(s.kind == "logic" and "names a filter that was not imported" in s.reason for s in result.skipped)


def test_qualification_schedule_and_campaigns_the_language_would_refuse():
    text = body(instance(filters=[field("Country", "is", ["US"])], qualificationRuleType="interval",
                         qualificationRuleInterval=2, qualificationRuleUnit="week",
                         recurrence={"startAt": "2026-03-01T09:30:00-08:00", "intervalType": "Daily",
                                     "interval": 3, "weekdayOnly": False}))
    assert "qualify once every 2 weeks" in text
    assert "schedule every 3 days starting 2026-03-01T17:30" in text      # UTC
    result = convert(instance(filters=[{"name": "Had Interesting Moment", "conditions": []}]))
    assert 'campaign "C"' not in result.files["Default.campaign"].replace("# not imported", "")
    assert result.skipped[-1].kind == "campaign" and "Had Interesting Moment" in result.skipped[-1].reason
    inactive = body(instance("trigger", triggers=[{"name": "Person is Created", "conditions": []}], isActive=False))
    assert inactive.startswith('campaign "C" trigger inactive {')
