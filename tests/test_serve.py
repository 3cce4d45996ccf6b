"""``campaign serve``: the real server process driven by Marketo's own Python
client (marketorestpython), unchanged but for its host.

The acceptance run: authenticate, push 1,000 people, request a trigger
campaign with a My Token for 100 of them, schedule a batch with tokens,
advance the virtual clock, read the activities through paging tokens and
find LANGUAGE.md §7's example in them (+10 with the parent's token context,
+0 without). Then every refusal: Marketo's error shape and code, and nothing
changed (the store file, read beside the server, is compared before and
after).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

requests = pytest.importorskip("requests")
pytest.importorskip("marketorestpython")
pytest.importorskip("uvicorn")

from serve_helpers import CLIENT_ID, CLIENT_SECRET, Server, client  # noqa: E402

# campaign ids: declaration order (tests/serve/webinar.campaign)
CHANGE_SCORE, WITH_CONTEXT, WITHOUT_CONTEXT, INVITE, FLOWS_ONLY = 1, 2, 3, 4, 5
CHANGE_SCORE_TYPE, EXECUTED_TYPE, MOMENT_TYPE, STATUS_TYPE = 22, 100001, 46, 104


def _snapshot(db: Path) -> tuple[Any, ...]:
    """Everything the store holds that a request could change."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return tuple(con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                     for t in ("people", "activities", "runs", "queue", "list_members", "program_members"))
    finally:
        con.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    db = tmp_path_factory.mktemp("serve") / "store.db"
    with Server(db) as s:
        s.db = db  # type: ignore[attr-defined]
        yield s


def _token(url: str) -> str:
    r = requests.get(f"{url}/identity/oauth/token", params={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, timeout=10)
    assert r.status_code == 200
    return r.json()["access_token"]


def _post(url: str, path: str, body: Any, token: str, content_type: str = "application/json") -> dict:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    r = requests.post(url + path, data=data, timeout=30,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_marketo_client_runs_the_seed_example_end_to_end(server: Any) -> None:
    mc = client(server.url)
    mc.authenticate()
    assert mc.token and mc.token_type == "bearer" and mc.expires_in > 3000

    # push 1,000 people, 300 a call (Marketo's limit); every third one in the US
    people = [{"email": f"person{i:04d}@example.com", "firstName": f"P{i}",
               "country": "US" if i % 3 == 0 else "DE", "leadScore": 0} for i in range(1000)]
    ids = []
    for start in range(0, 1000, 300):
        result = mc.execute(method="create_update_leads", leads=people[start:start + 300],
                            action="createOrUpdate", lookupField="email")
        assert {r["status"] for r in result} == {"created"}
        ids += [r["id"] for r in result]
    assert ids == list(range(1, 1001))
    found = mc.execute(method="get_multiple_leads_by_filter_type", filterType="email",
                       filterValues=["person0003@example.com"], fields=["email", "country", "leadScore"])
    assert found == [{"email": "person0003@example.com", "country": "US", "leadScore": 0}]
    fields = {f["rest"]["name"] for f in mc.execute(method="describe")}
    assert {"email", "firstName", "leadScore", "title", "behaviorScore", "lastWebinar"} <= fields

    # request the trigger campaign with a My Token for 100 people; and without context for 100 others
    assert mc.execute(method="request_campaign", id=WITH_CONTEXT, leads=ids[:100],
                      tokens={"my.Event Name": "API Webinar"}) is True
    assert mc.execute(method="request_campaign", id=WITHOUT_CONTEXT, leads=ids[100:200]) is True

    # schedule the batch with tokens, a day ahead on the virtual clock: nothing runs yet
    assert mc.execute(method="schedule_campaign", id=INVITE, runAt="2026-01-02T09:00:00Z",
                      tokens={"my.Score": "+3"}) is True
    us = [i for i in ids if (i - 1) % 3 == 0]
    none_yet = mc.execute(method="get_multiple_leads_by_filter_type", filterType="id",
                          filterValues=[str(us[-1])], fields=["leadScore"])
    assert none_yet == [{"leadScore": 0}]

    # advance the clock (the extension endpoint): the batch falls due and runs
    r = _post(server.url, "/campaignlang/v1/clock/advance.json", {"by": "2 days"}, mc.token)
    assert r["success"] and r["result"][0]["now"] == "2026-01-03T00:00:00Z"

    # read the activities through paging tokens, 300 a page
    pages = list(mc.execute(method="get_lead_activities_yield",
                            activityTypeIds=[str(CHANGE_SCORE_TYPE), str(EXECUTED_TYPE), str(MOMENT_TYPE)],
                            sinceDatetime="2025-12-31T00:00:00Z", batchSize=300))
    acts = [a for page in pages for a in page]
    assert len(pages) > 1
    assert [a["id"] for a in acts] == sorted({a["id"] for a in acts})

    def by(type_id: int, lead: int) -> list[dict]:
        return [a for a in acts if a["activityTypeId"] == type_id and a["leadId"] == lead]

    def attr(a: dict, name: str) -> Any:
        return {x["name"]: x["value"] for x in a["attributes"]}[name]

    # LANGUAGE.md §7: +10 with the parent's context, +0 without
    with_ctx = by(CHANGE_SCORE_TYPE, ids[1])   # not in the US: the request alone
    assert [(attr(a, "Change Value"), attr(a, "Old Value"), attr(a, "New Value")) for a in with_ctx] == [
        ("+10", 0, 10)]
    assert with_ctx[0]["primaryAttributeValue"] == "Lead Score" and with_ctx[0]["campaignId"] == CHANGE_SCORE
    executed = by(EXECUTED_TYPE, ids[1])[0]
    assert executed["campaignId"] == WITH_CONTEXT and executed["primaryAttributeValueId"] == CHANGE_SCORE
    assert attr(executed, "Use Parent Token Context") is True and attr(executed, "Qualified") is True
    assert attr(by(MOMENT_TYPE, ids[1])[0], "Description") == "Registered for API Webinar"

    without = by(CHANGE_SCORE_TYPE, ids[101])
    assert [(attr(a, "Change Value"), attr(a, "New Value")) for a in without] == [("+0", 0)]
    assert attr(by(EXECUTED_TYPE, ids[101])[0], "Use Parent Token Context") is False

    # the scheduled batch: the API-passed +3 reaches the child through the parent's context
    batch = by(CHANGE_SCORE_TYPE, us[-1])
    assert [(attr(a, "Change Value"), a["activityDate"]) for a in batch] == [("+3", "2026-01-02T09:00:00Z")]
    first_us = by(CHANGE_SCORE_TYPE, ids[0])   # requested (+10), then in the batch (+3)
    assert [attr(a, "New Value") for a in first_us] == [10, 13]
    # every attribute is one activities/types.json describes for its type
    described = {t["id"]: {x["name"] for x in t["attributes"]} for t in mc.execute(method="get_activity_types")}
    assert all(x["name"] in described[a["activityTypeId"]] for a in acts for x in a["attributes"])
    changes = [a for a in acts if a["activityTypeId"] == CHANGE_SCORE_TYPE]
    assert len(changes) == 100 + 100 + len(us)

    # the people's fields and program membership through the API
    scores = mc.execute(method="get_multiple_leads_by_filter_type", filterType="id",
                        filterValues=[str(ids[0]), str(ids[1]), str(ids[101])], fields=["id", "leadScore"])
    assert scores == [{"id": ids[0], "leadScore": 13}, {"id": ids[1], "leadScore": 10},
                      {"id": ids[101], "leadScore": 0}]
    members = mc.execute(method="get_multiple_leads_by_program_id", programId=2, fields=["id"])
    assert len(members) == len(us)
    assert members[0]["membership"]["progressionStatus"] == "Invited"
    assert len(mc.execute(method="get_multiple_leads_by_list_id", listId=1, fields=["id"])) == 100


def test_lists_and_program_status_through_the_client(server: Any) -> None:
    mc = client(server.url)
    added = mc.execute(method="add_leads_to_list", listId=1, id=[500, 501, 99999])
    assert added[:2] == [{"id": 500, "status": "added"}, {"id": 501, "status": "added"}]
    assert added[2]["status"] == "skipped" and added[2]["reasons"][0]["code"] == "1004"
    member = mc.execute(method="member_of_list", listId=1, id=[500, 502])
    assert [m["status"] for m in member] == ["memberof", "notmemberof"]
    removed = mc.execute(method="remove_leads_from_list", listId=1, id=[501, 502])
    assert removed[0] == {"id": 501, "status": "removed"} and removed[1]["reasons"][0]["code"] == "1015"
    status = mc.execute(method="change_lead_program_status", id=2, leadIds=[503], status="Registered")
    assert status == [{"id": 503, "status": "created"}]
    back = mc.execute(method="change_lead_program_status", id=2, leadIds=[503], status="Invited")
    assert back[0]["status"] == "skipped" and back[0]["reasons"][0]["code"] == "1037"
    types = {t["id"]: t["name"] for t in mc.execute(method="get_activity_types")}
    assert types[22] == "Change Score" and types[24] == "Add to List" and types[100001] == "Executed Campaign"


def test_the_asset_api_reads_the_loaded_program(server: Any) -> None:
    mc = client(server.url)
    programs = mc.execute(method="browse_programs")
    assert [(p["id"], p["name"]) for p in programs] == [(1, "Scoring"), (2, "Webinar")]
    assert mc.execute(method="get_program_by_id", id=2)[0]["description"] == "Quarterly product webinar"
    campaigns = [c for page in mc.execute(method="get_smart_campaigns") for c in page]
    assert [(c["id"], c["type"], c["isRequestable"]) for c in campaigns] == [
        (1, "executable", False), (2, "trigger", True), (3, "trigger", True), (4, "batch", False),
        (5, "trigger", True)]
    rules = mc.execute(method="get_smart_list_by_smart_campaign_id", id=INVITE, includeRules=True)[0]["rules"]
    assert rules["filters"][0]["name"] == "Country" and rules["filters"][0]["conditions"][0]["values"] == ["US"]
    trig = mc.execute(method="get_smart_list_by_smart_campaign_id", id=WITH_CONTEXT)[0]["rules"]["triggers"]
    assert trig[0]["name"] == "Campaign is Requested"
    assert trig[0]["conditions"][0]["values"] == ["Web Service API"]
    engaged = mc.execute(method="get_smart_list_by_id", id=1, includeRules=True)
    assert engaged[0]["rules"]["filterMatchType"] == "any"
    assert [f["name"] for f in engaged[0]["rules"]["filters"]] == ["Lead Score", "Member of List"]
    tokens = mc.execute(method="get_tokens", id=2, folderType="Program")[0]["tokens"]
    assert tokens == [{"name": "Score", "type": "score", "value": "+10", "computedUrl": None},
                      {"name": "Event Name", "type": "text", "value": "Scaling Ops", "computedUrl": None}]
    channels = mc.execute(method="get_channels")
    assert [s["name"] for s in channels[1]["progressionStatuses"]] == [
        "Not in Program", "Invited", "Registered", "Attended"]
    folders = mc.execute(method="browse_folders", root=None)
    assert [f["name"] for f in folders] == ["Default", "Scoring", "Webinar"]
    assert mc.execute(method="get_list_by_id", id=1)[0]["name"] == "Attendees"


# -- refusals: Marketo's shape and code, nothing changed --------------------------------


def _refused(server: Any, do: Any) -> dict:
    before = _snapshot(server.db)
    out = do()
    assert out["success"] is False and set(out) >= {"requestId", "errors"}
    assert set(out["errors"][0]) == {"code", "message"}
    assert _snapshot(server.db) == before
    return out["errors"][0]


def test_wrong_credentials_are_refused(server: Any) -> None:
    r = requests.get(f"{server.url}/identity/oauth/token", params={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "wrong"}, timeout=10)
    assert r.status_code == 401 and r.json() == {"error": "unauthorized",
                                                 "error_description": "Bad client credentials"}
    with pytest.raises(Exception, match="Bad client credentials"):
        client(server.url, secret="wrong").authenticate()
    err = _refused(server, lambda: requests.get(f"{server.url}/rest/v1/leads.json", timeout=10, params={
        "filterType": "id", "filterValues": "1"}, headers={"Authorization": "Bearer not-a-token"}).json())
    assert err == {"code": "601", "message": "Access token invalid"}
    err = _refused(server, lambda: requests.get(f"{server.url}/rest/v1/leads/describe.json", timeout=10).json())
    assert err["code"] == "601"


def test_an_unknown_campaign_too_many_people_and_bad_bodies_change_nothing(server: Any) -> None:
    token = _token(server.url)
    one = {"input": {"leads": [{"id": 1}], "tokens": [{"name": "{{my.Score}}", "value": "+5"}]}}
    assert _refused(server, lambda: _post(server.url, "/rest/v1/campaigns/999/trigger.json", one, token)
                    )["code"] == "1013"
    many = {"input": {"leads": [{"id": i} for i in range(1, 102)]}}
    err = _refused(server, lambda: _post(server.url, f"/rest/v1/campaigns/{WITH_CONTEXT}/trigger.json", many, token))
    assert err["code"] == "1003" and "101" in err["message"]
    assert _refused(server, lambda: _post(server.url, f"/rest/v1/campaigns/{WITH_CONTEXT}/trigger.json",
                                          b'{"input": {"leads": [{"id": 1}', token))["code"] == "609"
    assert _refused(server, lambda: _post(server.url, f"/rest/v1/campaigns/{WITH_CONTEXT}/trigger.json",
                                          json.dumps(one), token, "text/plain"))["code"] == "612"
    # a lead that does not exist, among people who do: nobody runs
    missing = {"input": {"leads": [{"id": 1}, {"id": 424242}]}}
    assert _refused(server, lambda: _post(server.url, f"/rest/v1/campaigns/{WITH_CONTEXT}/trigger.json",
                                          missing, token))["code"] == "1004"
    # a token the campaign cannot see (§12.11), a campaign the API may not request, a batch
    unseen = {"input": {"leads": [{"id": 1}], "tokens": [{"name": "{{my.Nope}}", "value": "x"}]}}
    assert "my.Nope" in _refused(server, lambda: _post(
        server.url, f"/rest/v1/campaigns/{WITH_CONTEXT}/trigger.json", unseen, token))["message"]
    for cid in (FLOWS_ONLY, INVITE, CHANGE_SCORE):
        assert _refused(server, lambda c=cid: _post(server.url, f"/rest/v1/campaigns/{c}/trigger.json", one, token)
                        )["code"] == "1003"
    assert _refused(server, lambda: _post(server.url, f"/rest/v1/campaigns/{WITH_CONTEXT}/schedule.json",
                                          {"input": {}}, token))["code"] == "1003"
    assert _refused(server, lambda: _post(server.url, f"/rest/v1/campaigns/{INVITE}/schedule.json",
                                          {"input": {"runAt": "tomorrow"}}, token))["code"] == "704"
    # a body over the limit: HTTP 413 in the same shape
    r = requests.post(f"{server.url}/rest/v1/leads.json", data=b"x" * (1_048_577), timeout=30,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["errors"][0]["code"] == "413"
    # 301 records in one sync
    big = {"input": [{"email": f"big{i}@example.com"} for i in range(301)]}
    assert _refused(server, lambda: _post(server.url, "/rest/v1/leads.json", big, token))["code"] == "1003"
    assert _refused(server, lambda: requests.get(f"{server.url}/rest/v1/nothing.json", timeout=10, headers={
        "Authorization": f"Bearer {token}"}).json())["code"] == "610"


def test_sync_skips_bad_records_and_writes_the_rest_in_one_action(server: Any) -> None:
    token = _token(server.url)
    out = _post(server.url, "/rest/v1/leads.json", {"action": "createOnly", "input": [
        {"email": "fresh@example.com", "title": "CTO"},
        {"email": "person0001@example.com"},
        {"email": "odd@example.com", "notAField": 1},
        {"email": "num@example.com", "leadScore": "many"}]}, token)
    assert out["result"][0]["status"] == "created"
    assert [r["reasons"][0]["code"] for r in out["result"][1:]] == ["1005", "1006", "1001"]
    upd = _post(server.url, "/rest/v1/leads.json", {"action": "updateOnly", "input": [
        {"email": "fresh@example.com", "title": "CEO"}, {"email": "ghost@example.com"}]}, token)
    assert upd["result"][0]["status"] == "updated" and upd["result"][1]["reasons"][0]["code"] == "1004"


def test_an_expired_token_is_refused_with_602(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with Server(db, "--token-ttl", "1") as s:
        token = _token(s.url)
        time.sleep(1.3)
        before = _snapshot(db)
        r = requests.post(f"{s.url}/rest/v1/leads.json", timeout=10, json={"input": [{"email": "a@example.com"}]},
                          headers={"Authorization": f"Bearer {token}"})
        assert r.json()["errors"] == [{"code": "602", "message": "Access token expired"}]
        assert _snapshot(db) == before
        # the client renews on 602 and goes on
        mc = client(s.url)
        assert mc.execute(method="create_update_leads", leads=[{"email": "a@example.com"}])[0]["status"] == "created"
        assert not any(CLIENT_SECRET in line or token in line for line in s.stderr_lines)


def test_concurrent_clients_lose_no_write(server: Any) -> None:
    token = _token(server.url)
    errors: list[Any] = []

    def push(n: int) -> None:
        try:
            for k in range(5):
                body = {"input": [{"email": f"c{n}-{k}-{i}@example.com"} for i in range(20)]}
                out = _post(server.url, "/rest/v1/leads.json", body, token)
                assert all(r["status"] == "created" for r in out["result"])
        except BaseException as exc:   # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    con = sqlite3.connect(f"file:{server.db}?mode=ro", uri=True)
    n = con.execute("SELECT count(*) FROM activities WHERE type = 'New Person' AND "
                    "json_extract(attributes, '$.email') LIKE 'c%-%-%@example.com'").fetchone()[0]
    con.close()
    assert n == 4 * 5 * 20


def test_serve_refuses_to_start_without_credentials(tmp_path: Path) -> None:
    from campaignlang.cli import main
    from click.testing import CliRunner

    res = CliRunner().invoke(main, ["serve", str(Path(__file__).parent / "serve" / "webinar.campaign")],
                             env={"CAMPAIGN_SERVE_CLIENT_ID": "", "CAMPAIGN_SERVE_CLIENT_SECRET": ""})
    assert res.exit_code == 2 and "--client-id" in res.output
