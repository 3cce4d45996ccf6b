"""campaign import marketo and campaign drift (docs/marketo.md), from the
recorded instance in tests/marketo/instance: offline (--from), and live from
a local HTTP server serving the same responses (pytest-httpserver), with
paging, an expired token, a rate limit and a malformed response."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaignlang.check import check
from campaignlang.cli import main
from campaignlang.format import format_source
from campaignlang.loader import load_paths
from campaignlang.marketo.source import DirSource, MarketoError, RestSource, fetch_instance

from marketo_server import INSTANCE, Recorded, error, malformed

#: every rule, condition, token, schedule and asset the fixture holds that the
#: language cannot express: (kind, where, text)
EXPECTED_SKIPS = {
    ("token", '"Webinar"', "my.SFDC (sfdc campaign)"),
    ("email", '"Webinar"."Reminder"', "fromEmail (DynamicContent)"),
    ("condition", '"Webinar"."Register"', "Fills Out Form: Web Page is /webinar"),
    ("filter", '"Scoring"."Any Batch"', "Had Interesting Moment"),
    ("condition", '"Scoring"."Any Batch"', "Visited Web Page: Browser is Chrome"),
    ("trigger", '"Scoring"."Bounces"', "Email Bounces"),
    ("smart list", 'folder "Marketing Programs"', "Old Import"),
    ("schedule", '"Newsletter"."Monthly Send"', "Monthly from 2026-04-01T15:30 with dayOfMonth"),
    ("email", "Default", "Footer Test"),
}


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def import_json(out: Path, *source: str) -> dict:
    result = run("import", "marketo", "--out", str(out), *source, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def texts(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.is_file()}


def test_offline_import_checks_clean_is_formatted_and_reports_every_skip(tmp_path):
    out = tmp_path / "acme"
    report = import_json(out, "--from", str(INSTANCE))
    assert report["imported"] == {"programs": 4, "campaigns": 14, "lists": 4, "smart lists": 2,
                                  "emails": 3, "forms": 2, "folders": 3}
    assert {(s["kind"], s["where"], s["text"]) for s in report["skipped"]} == EXPECTED_SKIPS
    assert report["skipped_count"] == len(EXPECTED_SKIPS)
    files = texts(out)
    assert set(files) == {"Default.campaign", "EMEA.campaign", "fields.campaign", "marketo.campaign",
                          "marketo-ids.json"}
    # every skipped thing is a comment at its place, and only those
    comments = [line for t in files.values() for line in t.splitlines() if "# not imported" in line]
    assert len(comments) == len(EXPECTED_SKIPS)
    # formatted exactly as campaign fmt writes, and checks clean (warnings: executables
    # nothing executes, since flows are not readable)
    for name, text in files.items():
        if name.endswith(".campaign"):
            assert format_source(text, name) == text
    assert run("fmt", "--check", *[str(out / n) for n in files if n.endswith(".campaign")]).exit_code == 0
    result = check(load_paths([out / "marketo.campaign"]))
    assert [d for d in result.diagnostics if d.is_error] == []
    assert {d.code for d in result.diagnostics} <= {"CL601"}
    checked = run("check", str(out / "marketo.campaign"))
    assert checked.exit_code == 0


def test_imported_text_says_what_marketo_has(tmp_path):
    out = tmp_path / "acme"
    import_json(out, "--from", str(INSTANCE))
    default = (out / "Default.campaign").read_text()
    # nested folders with folder-level tokens, typed program tokens, channel statuses
    assert re.search(r'folder "Marketing Programs" \{\n    tokens \{ my.Owner = "ops@example.com" \}', default)
    assert 'folder "Webinars" {\n        tokens { my.Score = +5 }' in default
    assert 'statuses "Invited", "Registered", "Attended", "No Show"' in default
    for line in ('my."Event Date" = 2026-12-01', 'my.Score = +10', 'my.Seats = 200',
                 'my.Bio = "<p>Our <b>speaker</b></p>"', 'my.Threshold = 49.5'):
        assert line in default
    # the three kinds, activation, qualification, schedules, logic, constraints
    assert 'campaign "Route MQL" executable' in default
    assert 'campaign "Default Campaign" executable' in default
    assert 'trigger data value changes lead.Country to "US" from "CA"' in default
    assert 'trigger program status is changed "Webinar" to "Attended"' in default
    assert 'trigger campaign is requested from api' in default
    assert 'smart list logic "1 and (2 or 3)" {' in default
    assert 'smart list any {' in default and 'smart list "Engaged" any {' in default
    assert 'filter opened email "Invite" in past 30 days' in default
    assert 'filter member of program "Webinar" status is "Registered"' in default
    assert 'filter not member of program "Webinar"' in default
    assert 'qualify once every 1 day' in default and 'qualify every time' in default
    assert 'schedule every 1 week starting 2026-11-01T08:00' in default
    assert 'schedule 2026-12-01T09:00' in default
    assert default.count("flow {}") == 13
    emea = (out / "EMEA.campaign").read_text()
    assert 'campaign "Route EMEA" trigger inactive {' in emea
    assert (out / "fields.campaign").read_text().endswith('fields { "Region": text }\n')
    ids = json.loads((out / "marketo-ids.json").read_text())
    assert ids["campaigns"]["1202"] == ["Default", "Scoring", "Country Change"]
    assert ids["campaigns"]["2101"] == ["EMEA", "EMEA Routing", "Route EMEA"]
    assert ids["forms"]["6002"] == ["Default", "Scoring", "Contact Us"]


def test_reimport_gives_the_same_text_and_keeps_hand_written_flows(tmp_path):
    out = tmp_path / "acme"
    import_json(out, "--from", str(INSTANCE))
    first = texts(out)
    again = import_json(out, "--from", str(INSTANCE))
    assert texts(out) == first
    assert again["reimport"] is True and again["changes"] == []
    # a person writes a flow and edits a filter; the instance wins on rules, the flow stays
    default = out / "Default.campaign"
    text = default.read_text()
    flow_before = ('        campaign "Route MQL" executable {\n'
                   '            smart list { filter lead."Lead Score" >= 100 }\n'
                   "            # flow not readable through Marketo's REST API: imported empty; write its steps here\n"
                   "            flow {}\n")
    assert flow_before in text
    text = text.replace(flow_before, '        campaign "Route MQL" executable {\n'
                        '            smart list { filter lead."Lead Score" >= 100 }\n'
                        '            flow {\n                # route it\n'
                        '                change score lead."Lead Score" by +5\n            }\n')
    text = text.replace('filter lead."Lead Score" > 50', 'filter lead."Lead Score" > 70')
    default.write_text(text)
    report = import_json(out, "--from", str(INSTANCE))
    assert report["kept_flows"] == ['"Scoring"."Route MQL"']
    assert report["changes"] == [{"where": 'campaign "Scoring"."Advanced Batch"', "what": "filter changed",
                                  "before": 'lead."Lead Score" > 70', "after": 'lead."Lead Score" > 50'}]
    now = default.read_text()
    assert "# route it\n                change score lead.\"Lead Score\" by +5" in now
    assert 'filter lead."Lead Score" > 50' in now
    assert format_source(now) == now
    text_report = run("import", "marketo", "--out", str(out), "--from", str(INSTANCE))
    assert "re-import: 0 changes, 1 hand-written flow kept" in text_report.stdout


def _drifted_copy(tmp_path: Path) -> Path:
    """The instance with one filter, one token and one activation changed."""
    copy = tmp_path / "instance"
    shutil.copytree(INSTANCE, copy)
    rules = copy / "rest/asset/v1/smartCampaign/1101/smartList.json"
    body = json.loads(rules.read_text())
    body["result"][0]["rules"]["filters"][0]["conditions"][0]["values"] = ["25"]
    rules.write_text(json.dumps(body))
    tokens = copy / "rest/asset/v1/folder/1001/tokens.json"
    body = json.loads(tokens.read_text())
    for t in body["result"][0]["tokens"]:
        if t["name"] == "Event Name":
            t["value"] = "Scaling Ops Live"
    tokens.write_text(json.dumps(body))
    campaigns = copy / "rest/asset/v1/smartCampaigns.json"
    body = json.loads(campaigns.read_text())
    for c in body["result"]:
        if c["id"] == 2101:
            c["isActive"], c["status"] = True, "Active"
    campaigns.write_text(json.dumps(body))
    return copy


def test_drift_finds_a_changed_filter_token_and_activation_and_nothing_else(tmp_path):
    out = tmp_path / "acme"
    import_json(out, "--from", str(INSTANCE))
    clean = run("drift", str(out), "--from", str(INSTANCE))
    assert clean.exit_code == 0 and clean.stdout.startswith("no drift")
    drifted = _drifted_copy(tmp_path)
    result = run("drift", str(out), "--from", str(drifted), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["drifted"] is True
    assert report["changes"] == [
        {"where": 'program "Webinar"', "what": "token my.Event Name changed",
         "instance": '"Scaling Ops Live"', "code": '"Scaling Ops"'},
        {"where": 'campaign "Webinar"."Invite"', "what": "filter changed",
         "instance": 'lead."Lead Score" >= 25', "code": 'lead."Lead Score" >= 10'},
        {"where": 'campaign "EMEA"."EMEA Routing"."Route EMEA"', "what": "active changed",
         "instance": "active", "code": "inactive"},
    ]
    text = run("drift", str(out / "marketo.campaign"), "--from", str(drifted))
    assert text.exit_code == 1
    assert ('campaign "Webinar"."Invite": filter changed: instance has `lead."Lead Score" >= 25`, '
            'code has `lead."Lead Score" >= 10`') in text.stdout
    assert text.stdout.rstrip().endswith("3 differences between the instance and " + str(out / "marketo.campaign"))
    md = run("drift", str(out), "--from", str(drifted), "--format", "markdown")
    assert md.exit_code == 1
    assert md.stdout.startswith("# Drift: 3 differences")
    assert '| campaign "EMEA"."EMEA Routing"."Route EMEA" | active changed | active | inactive |' in md.stdout


def test_drift_sees_code_only_and_instance_only_campaigns(tmp_path):
    out = tmp_path / "acme"
    import_json(out, "--from", str(INSTANCE))
    emea = out / "EMEA.campaign"
    emea.write_text(emea.read_text().replace('campaign "Route EMEA" trigger inactive',
                                             'campaign "Route EU" trigger inactive'))
    report = json.loads(run("drift", str(out), "--from", str(INSTANCE), "--format", "json").stdout)
    assert report["changes"] == [
        {"where": 'campaign "EMEA"."EMEA Routing"."Route EMEA"', "what": "campaign removed",
         "instance": '"EMEA"."EMEA Routing"."Route EMEA" trigger', "code": None},
        {"where": 'campaign "EMEA"."EMEA Routing"."Route EU"', "what": "campaign added",
         "instance": None, "code": '"EMEA"."EMEA Routing"."Route EU" trigger'},
    ]


def test_bad_sources_are_one_line_errors_and_write_nothing(tmp_path):
    out = tmp_path / "acme"
    missing = run("import", "marketo", "--out", str(out), "--from", str(tmp_path / "nope"))
    assert missing.exit_code == 2 and "no folder" in missing.stderr and not out.exists()
    broken = tmp_path / "broken"
    shutil.copytree(INSTANCE, broken)
    (broken / "rest/asset/v1/programs.json").write_text('{"success": true, "result": [{"name": "x"}]')
    result = run("import", "marketo", "--out", str(out), "--from", str(broken))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: malformed response in ") and "programs.json" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
    neither = run("import", "marketo", "--out", str(out))
    assert neither.exit_code == 2 and "--from DIR" in neither.stderr
    # a file of the same name that the importer did not write is never overwritten
    out.mkdir()
    (out / "Default.campaign").write_text('program "Mine" {}\n')
    mine = run("import", "marketo", "--out", str(out), "--from", str(INSTANCE))
    assert mine.exit_code == 2 and "was not written by campaign import marketo" in mine.stderr
    assert [p.name for p in out.iterdir()] == ["Default.campaign"]
    assert (out / "Default.campaign").read_text() == 'program "Mine" {}\n'
    broken_project = tmp_path / "broken-project"
    import_json(broken_project, "--from", str(INSTANCE))
    (broken_project / "EMEA.campaign").write_text((broken_project / "EMEA.campaign").read_text() + "}\n")
    again = run("import", "marketo", "--out", str(broken_project), "--from", str(INSTANCE))
    assert again.exit_code == 2 and "EMEA.campaign has syntax errors" in again.stderr


# --- live, from a local HTTP server -------------------------------------------------


@pytest.fixture
def recorded(httpserver):
    server = Recorded()
    server.install(httpserver)
    return server


def live(httpserver, **kw) -> RestSource:
    return RestSource(httpserver.url_for("/"), "client", "s3cret", **kw)


def test_live_import_pages_and_saves_what_the_offline_import_reads(tmp_path, httpserver, recorded):
    out_live, out_saved, saved = tmp_path / "live", tmp_path / "saved", tmp_path / "responses"
    result = run("import", "marketo", "--out", str(out_live), "--url", httpserver.url_for("/rest"),
                 "--client-id", "client", "--client-secret", "s3cret", "--save", str(saved))
    assert result.exit_code == 0, result.output
    assert f"saved 33 API responses in {saved}" in result.stdout
    import_json(out_saved, "--from", str(saved))
    assert texts(out_live) == texts(out_saved)
    assert texts(out_live) == texts(_offline(tmp_path))
    # the Authorization header, never the token in the query string
    assert all("access_token" not in args for _, args in recorded.calls)


def _offline(tmp_path: Path) -> Path:
    out = tmp_path / "offline"
    import_json(out, "--from", str(INSTANCE))
    return out


def test_paging_across_several_pages(httpserver, recorded):
    source = live(httpserver, page_size=3)
    inst = fetch_instance(source)
    assert [c["id"] for c in inst.campaigns] == [c["id"] for c in fetch_instance(DirSource(INSTANCE)).campaigns]
    pages = [int(args["offset"]) for path, args in recorded.calls if path.endswith("v1/smartCampaigns.json")]
    assert pages == [0, 3, 6, 9, 12]       # 14 campaigns: four full pages, then a short one
    assert all(args["maxReturn"] == "3" for path, args in recorded.calls if path.endswith("v1/programs.json"))


def test_an_expired_token_is_renewed(httpserver, recorded):
    source = live(httpserver)
    fetch_instance(source)
    assert recorded.tokens_issued == 1
    recorded.expire_all()                     # the hour is up: every call now says 602
    recorded.failures[("rest/asset/v1/programs.json", 2)] = error("601", "Access token invalid")
    inst = fetch_instance(source)
    assert recorded.tokens_issued >= 2 and len(inst.programs) == 4


def test_a_rate_limit_waits_and_retries(httpserver, recorded):
    waits: list[float] = []
    recorded.failures[("rest/asset/v1/smartCampaigns.json", 1)] = error(
        "606", "Max rate limit '100' exceeded with in '20' secs")
    recorded.failures[("rest/asset/v1/smartCampaigns.json", 2)] = error("615", "Concurrent access limit reached")
    inst = fetch_instance(live(httpserver, sleep=waits.append))
    assert waits == [1.0, 2.0] and len(inst.campaigns) == 14


def test_errors_that_do_not_pass_stop_with_their_message(httpserver, recorded):
    recorded.failures[("rest/asset/v1/channels.json", 1)] = error("603", "Access denied")
    with pytest.raises(MarketoError, match=r"^Marketo error 603 from rest/asset/v1/channels.json: Access denied$"):
        fetch_instance(live(httpserver))
    waits: list[float] = []
    for n in range(1, 7):
        recorded.failures[("rest/asset/v1/forms.json", n)] = error("606", "rate")
    with pytest.raises(MarketoError, match="kept refusing the call"):
        fetch_instance(live(httpserver, sleep=waits.append))
    assert len(waits) == 6 and max(waits) <= 20.0


def test_bad_credentials_and_a_malformed_response_write_nothing(tmp_path, httpserver, recorded):
    out = tmp_path / "acme"
    bad = run("import", "marketo", "--out", str(out), "--url", httpserver.url_for("/"),
              "--client-id", "client", "--client-secret", "wrong")
    assert bad.exit_code == 2 and "authentication failed" in bad.stderr and not out.exists()
    recorded.failures[("rest/asset/v1/smartCampaign/1205/smartList.json", 1)] = malformed
    result = run("import", "marketo", "--out", str(out), "--url", httpserver.url_for("/"),
                 "--client-id", "client", "--client-secret", "s3cret", "--save", str(tmp_path / "saved"))
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: malformed response from rest/asset/v1/smartCampaign/1205/"
                                     "smartList.json: not JSON")
    assert not out.exists() and not (tmp_path / "saved").exists()


def test_live_drift_reads_the_same_instance(tmp_path, httpserver, recorded, monkeypatch):
    out = tmp_path / "acme"
    import_json(out, "--from", str(INSTANCE))
    monkeypatch.setenv("MARKETO_URL", httpserver.url_for("/"))
    monkeypatch.setenv("MARKETO_CLIENT_ID", "client")
    monkeypatch.setenv("MARKETO_CLIENT_SECRET", "s3cret")
    result = run("drift", str(out))
    assert result.exit_code == 0, result.output
