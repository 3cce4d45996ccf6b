"""``MarketoAPI`` in-process (the same object the server process runs) and
``Engine.schedule_batch``: endpoints and refusals the client-driven tests of
test_serve.py do not reach."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import campaignlang
import pytest
from campaignlang.serve.api import MarketoAPI

PROGRAM = Path(__file__).parent / "serve" / "webinar.campaign"


class Api:
    def __init__(self, store: Any = None, **kw: Any):
        self.engine = campaignlang.Engine(campaignlang.compile_paths([str(PROGRAM)]), store)
        self.now = 0.0
        self.api = MarketoAPI(self.engine, "id", "secret", now=lambda: self.now, **kw)
        self.token = self.identity()[1]["access_token"]

    def identity(self, **params: str) -> tuple[int, dict]:
        q = {"grant_type": "client_credentials", "client_id": "id", "client_secret": "secret", **params}
        return self.api.handle("GET", "/identity/oauth/token", urlencode(q), {})

    def __call__(self, method: str, path: str, query: str = "", body: Any = None,
                 content_type: str = "application/json", token: str | None = None) -> dict:
        raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
        headers = {"content-type": content_type, "authorization": f"Bearer {token or self.token}"}
        status, out = self.api.handle(method, path, query, headers, raw)
        assert status == 200
        return out


def _people(api: Api, n: int) -> None:
    out = api("POST", "/rest/v1/leads.json", body={"input": [
        {"email": f"p{i}@example.com", "country": "US" if i % 2 else "DE"} for i in range(n)]})
    assert all(r["status"] == "created" for r in out["result"])


def _code(out: dict) -> str:
    assert out["success"] is False
    return out["errors"][0]["code"]


def test_identity_gives_the_same_token_until_it_expires_then_a_new_one() -> None:
    api = Api(token_ttl=100)
    api.now = 50
    status, again = api.identity()
    assert status == 200 and again["access_token"] == api.token and again["expires_in"] == 50
    api.now = 100
    assert _code(api("GET", "/rest/v1/leads/describe.json")) == "602"
    fresh = api.identity()[1]["access_token"]
    assert fresh != api.token
    assert _code(api("GET", "/rest/v1/leads/describe.json")) == "602"   # the old one stays expired
    assert api("GET", "/rest/v1/leads/describe.json", token=fresh)["success"]
    assert api.identity(client_id="other")[0] == 401
    assert api.identity(grant_type="password")[0] == 400


def test_the_token_may_come_as_a_query_parameter() -> None:
    api = Api()
    status, out = api.api.handle("GET", "/rest/v1/leads/describe.json", f"access_token={api.token}", {})
    assert status == 200 and out["success"]


def test_leads_page_through_position_tokens_and_form_bodies() -> None:
    api = Api()
    _people(api, 7)
    values = ",".join(f"p{i}@example.com" for i in range(7))
    first = api("GET", "/rest/v1/leads.json", f"filterType=email&filterValues={values}&batchSize=3")
    assert [r["id"] for r in first["result"]] == [1, 2, 3] and first["moreResult"] is True
    form = urlencode({"_method": "GET", "filterType": "email", "filterValues": values, "batchSize": "3",
                      "nextPageToken": first["nextPageToken"], "fields": "id,country"}).encode()
    second = api("POST", "/rest/v1/leads.json", body=form, content_type="application/x-www-form-urlencoded")
    assert second["result"] == [{"id": 4, "country": "US"}, {"id": 5, "country": "DE"}, {"id": 6, "country": "US"}]
    assert api("GET", "/rest/v1/lead/2.json", "fields=email")["result"] == [{"email": "p1@example.com"}]
    assert api("GET", "/rest/v1/lead/99.json")["result"] == []
    assert _code(api("GET", "/rest/v1/leads.json", "filterType=nope&filterValues=1")) == "1006"
    assert _code(api("GET", "/rest/v1/leads.json", "filterType=email")) == "701"
    assert _code(api("DELETE", "/rest/v1/leads.json")) == "605"


def test_update_by_id_and_records_the_sync_refuses() -> None:
    api = Api()
    _people(api, 2)
    out = api("POST", "/rest/v1/leads.json", body={"action": "updateOnly", "lookupField": "id", "input": [
        {"id": 2, "title": "CTO"}, {"id": 77, "title": "x"}, {"id": 1, "email": "other@example.com"}]})
    assert out["result"][0] == {"id": 2, "status": "updated"}
    assert [r["reasons"][0]["code"] for r in out["result"][1:]] == ["1004", "1003"]
    assert api.engine.get(2, "Job Title") == "CTO"
    assert _code(api("POST", "/rest/v1/leads.json", body={"lookupField": "title", "input": []})) == "1011"
    assert _code(api("POST", "/rest/v1/leads.json", body={"action": "createDuplicate", "input": []})) == "1003"
    assert _code(api("POST", "/rest/v1/leads.json", body={})) == "701"
    assert _code(api("POST", "/rest/v1/leads.json", body=[1, 2])) == "609"


def test_schedule_without_run_at_runs_now_and_with_run_at_when_the_clock_passes_it() -> None:
    api = Api()
    _people(api, 4)
    assert api("POST", "/rest/v1/campaigns/4/schedule.json")["result"] == [{"id": 4}]
    assert api.engine.get(2, "Lead Score") == 10 and api.engine.get(1, "Lead Score") is None
    body = {"input": {"runAt": "2026-01-01T05:00:00+05:00", "tokens": [{"name": "{{my.Score}}", "value": "+1"}]}}
    api("POST", "/rest/v1/campaigns/4/schedule.json", body=body)   # 00:00 UTC: now, but once only
    assert api.engine.get(2, "Lead Score") == 10   # `qualify once`: the second run reaches nobody new
    api("POST", "/rest/v1/leads.json", body={"input": [{"email": "late@example.com", "country": "US"}]})
    later = {"input": {"runAt": "2026-01-03T09:00:00Z", "tokens": [{"name": "{{my.Score}}", "value": "+2"}]}}
    api("POST", "/rest/v1/campaigns/4/schedule.json", body=later)
    assert api.engine.get("late@example.com", "Lead Score") is None
    assert api("POST", "/campaignlang/v1/clock/advance.json", body={"to": "2026-01-03T08:59:59Z"})["success"]
    assert api.engine.get("late@example.com", "Lead Score") is None
    out = api("POST", "/campaignlang/v1/clock/advance.json", body={"by": "1 hour"})
    assert out["result"][0]["now"] == "2026-01-03T09:59:59Z"
    assert api.engine.get("late@example.com", "Lead Score") == 2
    assert api("GET", "/campaignlang/v1/clock.json")["result"] == [{"now": "2026-01-03T09:59:59Z"}]
    too_far = {"input": {"runAt": "2029-01-01T00:00:00Z"}}
    assert _code(api("POST", "/rest/v1/campaigns/4/schedule.json", body=too_far)) == "1042"
    assert _code(api("POST", "/rest/v1/campaigns/4/schedule.json",
                     body={"input": {"cloneToProgramName": "Copy"}})) == "703"
    assert _code(api("POST", "/campaignlang/v1/clock/advance.json", body={"by": "soon"})) == "1003"
    assert _code(api("POST", "/campaignlang/v1/clock/advance.json", body={"to": "2026-01-01T00:00:00Z"})) == "1003"


def test_a_scheduled_batch_waits_in_the_store_for_a_later_process(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    program = campaignlang.compile_paths([str(PROGRAM)])
    engine = campaignlang.Engine(program, str(db))
    engine.import_people([{"Email": "ann@example.com", "Country": "US"}])
    engine.schedule_batch('"Webinar"."Invite"', "2026-01-05T10:00", {"my.Score": "+4"})
    assert engine.get("ann@example.com", "Lead Score") is None
    engine.store.close()
    later = campaignlang.Engine(program, str(db))
    later.advance("5 days")
    assert later.get("ann@example.com", "Lead Score") == 4
    [change] = later.activities("ann@example.com", "Change Score")
    assert change.at == "2026-01-05T10:00:00"
    with pytest.raises(campaignlang.RunError, match="only a batch campaign"):
        later.schedule_batch('"Webinar"."With Context"')
    with pytest.raises(campaignlang.RunError, match="cannot see a token my.Nope"):
        later.schedule_batch('"Webinar"."Invite"', None, {"my.Nope": "1"})
    later.store.close()


def test_activities_filter_by_lead_and_list_and_page_to_the_end() -> None:
    api = Api()
    _people(api, 6)
    api("POST", "/rest/v1/campaigns/2/trigger.json", body={"input": {"leads": [{"id": i} for i in (1, 2, 3)]}})
    token = api("GET", "/rest/v1/activities/pagingtoken.json", "sinceDatetime=2026-01-01")["nextPageToken"]
    page = api("GET", "/rest/v1/activities.json", f"nextPageToken={token}&activityTypeIds=22&leadIds=2,3")
    assert [a["leadId"] for a in page["result"]] == [2, 3] and page["moreResult"] is False
    listed = api("GET", "/rest/v1/activities.json", f"nextPageToken={token}&activityTypeIds=24&listId=1")
    assert [a["leadId"] for a in listed["result"]] == [1, 2, 3]
    assert listed["result"][0]["primaryAttributeValueId"] == 1
    assert listed["result"][0]["primaryAttributeValue"] == "Webinar.Attendees"
    end = api("GET", "/rest/v1/activities.json", f"nextPageToken={page['nextPageToken']}&activityTypeIds=22")
    assert "result" not in end and end["moreResult"] is False
    future = api("GET", "/rest/v1/activities/pagingtoken.json", "sinceDatetime=2027-01-01T00:00:00Z")
    none = api("GET", "/rest/v1/activities.json", f"nextPageToken={future['nextPageToken']}&activityTypeIds=22")
    assert "result" not in none
    assert _code(api("GET", "/rest/v1/activities.json", "nextPageToken=!!&activityTypeIds=22")) == "1003"
    assert _code(api("GET", "/rest/v1/activities.json",
                     f"nextPageToken={token}&activityTypeIds=" + ",".join(map(str, range(1, 12))))) == "1003"
    assert _code(api("GET", "/rest/v1/activities/pagingtoken.json", "sinceDatetime=yesterday")) == "704"


def test_lists_campaigns_and_programs_by_name() -> None:
    api = Api()
    assert [x["name"] for x in api("GET", "/rest/v1/lists.json", "name=Attendees")["result"]] == ["Attendees"]
    assert api("GET", "/rest/v1/lists.json", "programName=Scoring")["result"] == []
    assert [c["id"] for c in api("GET", "/rest/v1/campaigns.json", "programName=Webinar")["result"]] == [2, 3, 4, 5]
    assert _code(api("GET", "/rest/v1/campaigns/77.json")) == "1013"
    assert _code(api("GET", "/rest/v1/lists/9.json")) == "1013"
    assert api("GET", "/rest/asset/v1/program/byName.json", "name=Webinar")["result"][0]["id"] == 2
    assert api("GET", "/rest/asset/v1/smartCampaign/byName.json", "name=Invite")["result"][0]["id"] == 4
    assert "result" not in api("GET", "/rest/asset/v1/smartList/byName.json", "name=Nope")
    assert _code(api("POST", "/rest/v1/leads/programs/2/status.json",
                     body={"status": "Gone", "input": [{"id": 1}]})) == "1025"
    members = api("GET", "/rest/v1/programs/members/describe.json")["result"][0]
    assert ["leadId"] in members["searchableFields"]


def test_a_fault_of_the_server_is_611_and_keeps_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    api = Api()
    _people(api, 1)
    before = api.engine.activity_log_jsonl()

    def broken(*a: Any, **k: Any) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(api.api, "_lead_json", broken)
    assert _code(api("GET", "/rest/v1/lead/1.json")) == "611"
    assert api.engine.activity_log_jsonl() == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "campaign"
    env = {"CAMPAIGN_SERVE_CLIENT_ID": "id", "CAMPAIGN_SERVE_CLIENT_SECRET": "secret", "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(exe), "serve", *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_serve_refuses_a_program_with_errors_and_a_port_in_use(tmp_path: Path) -> None:
    bad = tmp_path / "bad.campaign"
    bad.write_text('program "P" { campaign "C" batch { flow { send email "Nope" } } }\n')
    res = _serve(str(bad))
    assert res.returncode == 1 and "has errors" in res.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = _serve(str(PROGRAM), "--port", str(port))
    assert res.returncode == 2 and "error:" in res.stderr and "Traceback" not in res.stderr


def test_serve_advance_moves_the_store_clock_before_serving(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from serve_helpers import Server

    db = tmp_path / "store.db"
    with Server(db, "--advance", "3 days") as s:
        assert "clock 2026-01-04T00:00:00" in "".join(s.stderr_lines)


def test_serve_stops_on_sigterm_and_sigint_and_keeps_what_it_wrote(tmp_path: Path) -> None:
    import signal

    import requests
    from serve_helpers import CLIENT_ID, CLIENT_SECRET, Server

    db = tmp_path / "store.db"
    for n, sig in enumerate((signal.SIGTERM, signal.SIGINT)):
        s = Server(db)
        tok = requests.get(f"{s.url}/identity/oauth/token", timeout=10, params={
            "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).json()
        out = requests.post(f"{s.url}/rest/v1/leads.json", json={"input": [{"email": f"kept{n}@example.com"}]},
                            headers={"Authorization": f"Bearer {tok['access_token']}"}, timeout=10).json()
        assert out["result"] == [{"id": n + 1, "status": "created"}]
        s.proc.send_signal(sig)
        assert s.proc.wait(20) == 0
        assert "Traceback" not in "".join(s.stderr_lines)
    engine = campaignlang.Engine(campaignlang.compile_paths([str(PROGRAM)]), str(db))
    assert [p.email for p in engine.people()] == ["kept0@example.com", "kept1@example.com"]
    engine.store.close()


def test_rest_names_of_declared_fields_never_shadow_standard_ones() -> None:
    program = campaignlang.compile_text('fields {\n "Company": text\n "Lead Score X": score\n}\nprogram "P" { }\n')
    api = MarketoAPI(campaignlang.Engine(program), "id", "secret")
    token = api.handle("GET", "/identity/oauth/token",
                       "grant_type=client_credentials&client_id=id&client_secret=secret", {})[1]["access_token"]
    h = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    fields = {f["rest"]["name"]: f["displayName"] for f in api.handle(
        "GET", "/rest/v1/leads/describe.json", "", h)[1]["result"]}
    assert fields["company"] == "Company Name" and fields["company__c"] == "Company"
    assert fields["leadScoreX"] == "Lead Score X"
    body = json.dumps({"input": [{"email": "a@example.com", "company": "Acme", "company__c": "Other"}]}).encode()
    assert api.handle("POST", "/rest/v1/leads.json", "", h, body)[1]["result"][0]["status"] == "created"
    assert api.engine.get(1, "Company Name") == "Acme" and api.engine.get(1, "Company") == "Other"


def test_log_requests_prints_method_path_and_status_and_no_secret() -> None:
    import requests
    from serve_helpers import CLIENT_ID, CLIENT_SECRET, Server, wait_until

    with Server(None, "--log-requests") as s:
        tok = requests.get(f"{s.url}/identity/oauth/token", timeout=10, params={
            "grant_type": "client_credentials", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET}).json()["access_token"]
        assert requests.get(f"{s.url}/rest/v1/leads/describe.json", params={"access_token": tok},
                            timeout=10).json()["success"]
        wait_until(lambda: any("describe.json -> 200" in line for line in s.stderr_lines))
        logged = "".join(s.stderr_lines)
    assert "GET /rest/v1/leads/describe.json -> 200" in logged
    assert "GET /identity/oauth/token -> 200" in logged
    assert tok not in logged and CLIENT_SECRET not in logged


def test_a_leads_lists_programs_and_campaigns() -> None:
    api = Api()
    _people(api, 2)
    api("POST", "/rest/v1/campaigns/2/trigger.json", body={"input": {"leads": [{"id": 2}]}})
    api("POST", "/rest/v1/campaigns/4/schedule.json")
    lists = api("GET", "/rest/v1/leads/2/listMembership.json")
    assert [x["listId"] for x in lists["result"]] == [1] and lists["moreResult"] is False
    programs = api("GET", "/rest/v1/leads/2/programMembership.json")["result"]
    assert [(p["id"], p["progressionStatus"]) for p in programs] == [(2, "Invited")]
    campaigns = api("GET", "/rest/v1/leads/2/smartCampaignMembership.json", "batchSize=2")
    assert [c["smartCampaignId"] for c in campaigns["result"]] == [1, 2] and campaigns["moreResult"] is True
    rest = api("GET", "/rest/v1/leads/2/smartCampaignMembership.json",
               f"batchSize=2&nextPageToken={campaigns['nextPageToken']}")
    assert [c["smartCampaignId"] for c in rest["result"]] == [4] and rest["moreResult"] is False
    assert api("GET", "/rest/v1/leads/1/listMembership.json")["result"] == []
    assert _code(api("GET", "/rest/v1/leads/9/listMembership.json")) == "1004"
