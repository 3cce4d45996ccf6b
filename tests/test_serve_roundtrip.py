"""The round trip: what ``campaign serve`` exposes through the asset API,
``campaign import marketo`` reads back into the same program (smart lists
and tokens included). The import runs as a user would run it, against the
real server process; "the same program" means the imported files, served,
answer every asset read exactly as the original does (flows aside: the REST
API has none to read)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

import campaignlang  # noqa: E402
from campaignlang.serve.api import MarketoAPI  # noqa: E402
from serve_helpers import CLIENT_ID, CLIENT_SECRET, Server  # noqa: E402

PROGRAM = Path(__file__).parent / "serve" / "roundtrip.campaign"


def _reads(paths: list[str]) -> dict[str, Any]:
    """Every asset read of the program at ``paths``, in-process."""
    engine = campaignlang.Engine(campaignlang.compile_paths(paths))
    api = MarketoAPI(engine, "id", "secret")
    token = api.handle("GET", "/identity/oauth/token",
                       "grant_type=client_credentials&client_id=id&client_secret=secret", {})[1]["access_token"]

    def get(path: str, query: str = "") -> Any:
        status, body = api.handle("GET", path, query, {"authorization": f"Bearer {token}"})
        assert status == 200 and body["success"], (path, body)
        body.pop("requestId")
        return body

    out: dict[str, Any] = {}
    for what in ("programs", "folders", "channels", "staticLists", "smartLists", "smartCampaigns",
                 "emails", "forms"):
        out[what] = get(f"/rest/asset/v1/{what}.json", "maxReturn=200")
    for c in out["smartCampaigns"]["result"]:
        out[f"campaign {c['id']}"] = get(f"/rest/asset/v1/smartCampaign/{c['id']}/smartList.json",
                                         "includeRules=true")
    for s in out["smartLists"]["result"]:
        out[f"smart list {s['id']}"] = get(f"/rest/asset/v1/smartList/{s['id']}.json", "includeRules=true")
    for f in out["folders"]["result"]:
        kind = f["folderId"]["type"]
        if f["isSystem"]:
            continue
        out[f"tokens {kind} {f['id']}"] = get(f"/rest/asset/v1/folder/{f['id']}/tokens.json", f"folderType={kind}")
    out["fields"] = [f for f in get("/rest/v1/leads/describe.json")["result"]]
    return out


def test_serve_then_import_gives_the_same_program(tmp_path: Path) -> None:
    out = tmp_path / "imported"
    with Server(None, program=PROGRAM) as s:
        exe = Path(sys.executable).parent / "campaign"
        r = subprocess.run([str(exe), "import", "marketo", "--out", str(out), "--url", s.url,
                            "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--format", "json"],
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert not report.get("skipped"), report["skipped"]
    files = sorted(str(p) for p in out.glob("*.campaign"))
    checked = subprocess.run([str(exe), "check", *files], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    original, imported = _reads([str(PROGRAM)]), _reads(files)
    assert imported.keys() == original.keys()
    for key in original:
        assert imported[key] == original[key], key
    # the program really is the same: its smart lists and tokens, read back
    assert original["smart list 2"]["result"][0]["rules"]["customRuleLogic"] == "1 and (2 or 3)"
    assert [t["value"] for t in original["tokens Program 2"]["result"][0]["tokens"]] == [
        "2026-12-01", "Scaling Ops", "+10", "200"]
