"""campaign replay (docs/marketo.md): a generated Bulk Activity Extract
(bench/marketo_extract.py, whose own model of four campaigns says what
Marketo did) replayed through the simulator: all matched when the code is
right; the person and activity pinpointed when a campaign's code changed."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaignlang.cli import main

_spec = importlib.util.spec_from_file_location(
    "marketo_extract", Path(__file__).parents[1] / "bench" / "marketo_extract.py")
assert _spec is not None and _spec.loader is not None
marketo_extract = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(marketo_extract)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("extract")
    marketo_extract.write(folder, people=400, activities=4000, seed=3)
    return folder


def replay(extract: Path, project: Path, *more: str):
    result = CliRunner().invoke(main, ["replay", str(extract), str(project), *more], catch_exceptions=False)
    return result


def rows(extract: Path) -> list[dict]:
    with open(extract, newline="") as f:
        return list(csv.DictReader(f))


def edited(generated: Path, tmp_path: Path, old: str, new: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("marketo.campaign", "marketo-ids.json"):
        (project / name).write_text((generated / name).read_text())
    text = (generated / "Default.campaign").read_text()
    assert old in text
    (project / "Default.campaign").write_text(text.replace(old, new))
    return project


def test_the_generated_extract_is_what_was_asked(generated):
    data = rows(generated / "extract.csv")
    assert len(data) == 4000
    assert len({r["leadId"] for r in data}) == 400
    assert {r["activityTypeId"] for r in data} == {"1", "2", "6", "12", "13", "22", "24"}


def test_all_matched_when_the_code_is_right(generated):
    result = replay(generated / "extract.csv", generated, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["all_matched"] is True and report["missing"] == 0 and report["extra"] == 0
    data = rows(generated / "extract.csv")
    with_campaign = sum(1 for r in data if r["campaignId"])
    assert report["matched"] == with_campaign
    assert report["events_replayed"] == len(data) - with_campaign
    assert {(c["campaign"], c["type"]) for c in report["campaigns"]} == {
        ('"Scoring"."Form Score"', "Change Score"), ('"Scoring"."Pricing"', "Add to List"),
        ('"Scoring"."US Status"', "Change Data Value"), ('"Scoring"."Welcome"', "Send Email")}
    text = replay(generated / "extract.csv", generated)
    assert text.exit_code == 0 and text.stdout.rstrip().endswith("all matched")


def _country_at(data: list[dict]) -> list[tuple[dict, str]]:
    """Each row with the lead's Country just before it (from the extract)."""
    country: dict[str, str] = {}
    out = []
    for r in data:
        out.append((r, country.get(r["leadId"], "")))
        if r["activityTypeId"] == "13" and not r["campaignId"] and r["primaryAttributeValue"] == "Country":
            country[r["leadId"]] = json.loads(r["attributes"])["New Value"]
    return out


def test_a_broadened_filter_is_pinpointed_as_extra_activities(generated, tmp_path):
    project = edited(generated, tmp_path, 'filter lead.Country is "US"', 'filter lead.Country is "US", "CA"')
    result = replay(generated / "extract.csv", project, "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    (pricing,) = [c for c in report["campaigns"] if c["campaign"] == '"Scoring"."Pricing"']
    # extra: CA visitors the code now adds; missing: some of them turned US later and
    # Marketo added them then, which a once-only campaign that already ran does not
    assert pricing["extra"] > 0
    assert all(c["missing"] == c["extra"] == 0 for c in report["campaigns"] if c is not pricing)
    # the first pinpointed person: the first lead to visit /pricing while in CA, never a hot US lead before
    hot_before: set[str] = set()
    first = None
    for r, country in _country_at(rows(generated / "extract.csv")):
        if r["activityTypeId"] == "24":
            hot_before.add(r["leadId"])
        if (r["activityTypeId"] == "1" and json.loads(r["attributes"])["Webpage URL"] == "/pricing"
                and country == "CA" and r["leadId"] not in hot_before):
            first = r
            break
    assert first is not None
    person = pricing["first_differing_people"][0]
    assert person["lead_id"] == int(first["leadId"])
    assert person["extra"] == 1
    assert person["first_activity"]["in_simulator"]["type"] == "Add to List"
    assert person["first_activity"]["in_simulator"]["at"] == first["activityDate"].rstrip("Z")
    text = replay(generated / "extract.csv", project)
    assert re.search(rf"lead {first['leadId']}: \d+ missing, 1 extra\n(.*\n)?\s+first in the simulator: "
                     rf'\{{"at": "{first["activityDate"].rstrip("Z")}"', text.stdout)
    assert text.stdout.rstrip().endswith("differences found")


def test_a_narrowed_campaign_is_pinpointed_as_missing_activities(generated, tmp_path):
    project = edited(generated, tmp_path, 'smart list { trigger fills out form "Contact Us" }',
                     'smart list {\n            trigger fills out form "Contact Us"\n'
                     '            filter lead.Country is "US"\n        }')
    report = json.loads(replay(generated / "extract.csv", project, "--format", "json").stdout)
    (score,) = [c for c in report["campaigns"] if c["campaign"] == '"Scoring"."Form Score"']
    data = _country_at(rows(generated / "extract.csv"))
    not_us = [r for r, country in data if r["activityTypeId"] == "22" and country != "US"]
    assert score["missing"] == len(not_us) and score["extra"] == 0
    person = score["first_differing_people"][0]
    assert person["lead_id"] == int(not_us[0]["leadId"])
    assert person["first_activity"]["in_marketo"]["marketoGUID"] == not_us[0]["marketoGUID"]


def test_events_out_writes_what_campaign_events_replays(generated, tmp_path):
    events = tmp_path / "events.jsonl"
    assert replay(generated / "extract.csv", generated, "--events-out", str(events)).exit_code == 0
    lines = events.read_text().splitlines()
    first = json.loads(lines[0])
    assert first["trigger"] == "person is created" and first["person"].endswith("@marketo.invalid")
    result = CliRunner().invoke(main, ["events", str(generated / "marketo.campaign"), str(events),
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    counts = {(r["campaign"], r["type"]): r["count"] for r in json.loads(result.stdout)["step_counts"]}
    data = rows(generated / "extract.csv")
    assert counts[('"Scoring"."Form Score"', "Change Score")] == sum(r["campaignId"] == "7001" for r in data)


def test_bad_input_is_a_one_line_error(generated, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,leadId\n1,2\n")
    result = replay(bad, generated)
    assert result.exit_code == 2 and "not a Bulk Activity Extract file" in result.stderr
    broken = tmp_path / "broken.csv"
    broken.write_text(",".join(marketo_extract.HEADER) + "\n1,x,2026-01-01T00:00:00Z,1,,1,/a,{}\n")
    result = replay(broken, generated)
    assert result.exit_code == 2 and "line 2: leadId and activityTypeId must be whole numbers" in result.stderr
    no_ids = tmp_path / "noids"
    no_ids.mkdir()
    (no_ids / "marketo.campaign").write_text((generated / "marketo.campaign").read_text())
    (no_ids / "Default.campaign").write_text((generated / "Default.campaign").read_text())
    result = replay(generated / "extract.csv", no_ids)
    assert result.exit_code == 2 and "no marketo-ids.json" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_step_that_sets_another_value_is_a_difference_though_the_counts_agree(generated, tmp_path):
    project = edited(generated, tmp_path, 'to "US Prospect"', 'to "US Lead"')
    report = json.loads(replay(generated / "extract.csv", project, "--format", "json").stdout)
    (status,) = [c for c in report["campaigns"] if c["campaign"] == '"Scoring"."US Status"']
    assert status["matched"] == 0 and status["missing"] == status["extra"] > 0
    first = [r for r in rows(generated / "extract.csv") if r["campaignId"] == "7004"][0]
    person = status["first_differing_people"][0]
    assert person["lead_id"] == int(first["leadId"]) and person["missing"] == person["extra"] == 1
    assert person["first_activity"]["in_marketo"]["attributes"]["New Value"] == "US Prospect"
    assert person["first_activity"]["in_simulator"]["new"] == "US Lead"


def test_a_lead_export_gives_people_the_fields_they_had_before(generated, tmp_path):
    """Lead 77 was in the US before the extract began: Marketo's Pricing campaign
    added them to Hot Leads on their visit. Without the lead export the replay
    cannot know; with it, it matches."""
    extract = tmp_path / "extract.csv"
    with open(extract, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(marketo_extract.HEADER)
        w.writerow(["1", "77", "2026-03-02T10:00:00Z", "1", "", "71", "www.example.com/pricing",
                    '{"Webpage URL":"/pricing"}'])
        w.writerow(["2", "77", "2026-03-02T10:00:02Z", "24", "7002", "3003", "Hot Leads", "{}"])
    without = json.loads(replay(extract, generated, "--format", "json").stdout)
    assert without["missing"] == 1 and without["matched"] == 0
    leads = tmp_path / "leads.csv"
    leads.write_text("id,email,country,leadScore\n77,pat@example.com,US,10\n78,sam@example.com,CA,\n")
    result = replay(extract, generated, "--leads", str(leads), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["all_matched"] and report["matched"] == 1 and report["people"] == 2
    bad = tmp_path / "bad-leads.csv"
    bad.write_text("id,shoeSize\n77,9\n")
    refused = replay(extract, generated, "--leads", str(bad))
    assert refused.exit_code == 2 and "column 'shoeSize' names no field of the project" in refused.stderr
