"""A generated Marketo instance's activity export, for ``campaign replay``.

``write(folder, people, activities, seed)`` writes a project (a program of
four trigger campaigns, as ``campaign import marketo`` lays one out, with
the flows a person wrote, and its ``marketo-ids.json``) and ``extract.csv``,
a Bulk Activity Extract of exactly ``activities`` rows over ``people`` leads.

What the campaigns did is worked out here, by this module's own model of
the four campaigns (an oracle written from the campaigns' description, not
by running the engine), so a replay that reports everything matched says the
simulator behaves as this description of Marketo does:

* "Form Score" (id 7001): fills out form "Contact Us" -> change score
  lead."Lead Score" by +10, every time (a Change Score row, type 22).
* "Pricing" (7002): visits web page "/pricing", if lead.Country is "US" at
  that moment -> add to list "Hot Leads", once per person (Add to List, 24).
* "Welcome" (7003): person is created -> send email "Welcome" (Send Email, 6).
* "US Status" (7004): data value changes lead.Country to "US" -> change data
  value lead."Lead Status" to "US Prospect", every time; logged only when
  the value changes (Change Data Value, 13).

Outside events: New Lead (12), Visit Webpage (1, "/pricing", "/blog",
"/docs"), Fill Out Form (2), and Change Data Value of Country (13, no
campaign). Run as a script it writes the files: ``python
bench/marketo_extract.py OUT [PEOPLE] [ACTIVITIES]``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import sys
from pathlib import Path

PROJECT = '''# imported from Marketo by campaign import marketo
program "Scoring" {
    statuses "Member"
    list "Hot Leads"
    form "Contact Us"
    email "Welcome" { subject "Welcome, {{lead.First Name:default=friend}}" }

    campaign "Form Score" trigger {
        smart list { trigger fills out form "Contact Us" }
        flow { change score lead."Lead Score" by +10 }
        qualify every time
    }

    campaign "Pricing" trigger {
        smart list {
            trigger visits web page "/pricing"
            filter lead.Country is "US"
        }
        flow { add to list "Hot Leads" }
    }

    campaign "Welcome" trigger {
        smart list { trigger person is created }
        flow { send email "Welcome" }
    }

    campaign "US Status" trigger {
        smart list { trigger data value changes lead.Country to "US" }
        flow { change data value lead."Lead Status" to "US Prospect" }
        qualify every time
    }
}
'''

ENTRY = '# imported from Marketo by campaign import marketo\nimport "Default.campaign"\n'

IDS = {"format_version": 1,
       "programs": {"1002": ["Default", "Scoring"]},
       "campaigns": {"7001": ["Default", "Scoring", "Form Score"], "7002": ["Default", "Scoring", "Pricing"],
                     "7003": ["Default", "Scoring", "Welcome"], "7004": ["Default", "Scoring", "US Status"]},
       "lists": {"3003": ["Default", "Scoring", "Hot Leads"]},
       "forms": {"6002": ["Default", "Scoring", "Contact Us"]},
       "emails": {"5009": ["Default", "Scoring", "Welcome"]},
       "smart_lists": {}, "folders": {}}

HEADER = ["marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId",
          "primaryAttributeValueId", "primaryAttributeValue", "attributes"]


def write(folder: str | Path, people: int = 10_000, activities: int = 100_000, seed: int = 17) -> Path:
    """Write the project and ``extract.csv`` into ``folder``; the extract's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Default.campaign").write_text(PROJECT, encoding="utf-8")
    (folder / "marketo.campaign").write_text(ENTRY, encoding="utf-8")
    (folder / "marketo-ids.json").write_text(json.dumps(IDS, indent=2) + "\n", encoding="utf-8")
    rng = random.Random(seed)
    clock = dt.datetime(2026, 2, 1, 8, 0, 0)
    rows: list[list[str]] = []
    guid = 900_000_000
    country: dict[int, str] = {}
    status: dict[int, str] = {}
    hot: set[int] = set()
    created: list[int] = []

    def row(lead: int, type_id: int, campaign: int | None, pid: object, pval: str, attrs: dict) -> None:
        nonlocal guid
        guid += 1
        rows.append([str(guid), str(lead), clock.strftime("%Y-%m-%dT%H:%M:%SZ"), str(type_id),
                     "" if campaign is None else str(campaign), str(pid), pval,
                     json.dumps(attrs, separators=(",", ":"))])

    next_lead = 5_400_000
    while len(rows) < activities:
        clock += dt.timedelta(seconds=rng.randint(1, 9))
        room = activities - len(rows)
        if len(created) < people and (not created or rng.random() < people / (activities / 2.2)):
            if room < 2:      # a new lead brings its welcome email: two rows
                continue
            next_lead += 1
            lead = next_lead
            created.append(lead)
            row(lead, 12, None, lead, "", {"Source Type": "Web form fillout"})
            row(lead, 6, 7003, 5009, "Scoring.Welcome", {"Campaign Run ID": 1, "Step ID": 1})
            continue
        if not created:
            continue
        lead = rng.choice(created)
        pick = rng.random()
        if pick < 0.45:
            page = rng.choice(["/pricing", "/blog", "/docs"])
            fires = page == "/pricing" and country.get(lead) == "US" and lead not in hot
            if fires and room < 2:
                continue
            row(lead, 1, None, 71, f"www.example.com{page}", {"Webpage URL": page, "Query Parameters": ""})
            if fires:
                hot.add(lead)
                row(lead, 24, 7002, 3003, "Hot Leads", {})
        elif pick < 0.8:
            if room < 2:
                continue
            row(lead, 2, None, 6002, "Scoring.Contact Us", {"Webpage ID": 71, "Form Fields": "{}"})
            # Change Score: Lead Score grows by 10 each time (every time)
            row(lead, 22, 7001, 0, "Lead Score", {"Change Value": "+10"})
        else:
            new = rng.choice(["US", "CA", "DE", "US"])
            old = country.get(lead, "")
            if new == old:
                continue
            changes = new == "US" and status.get(lead) != "US Prospect"
            if changes and room < 2:
                continue
            country[lead] = new
            row(lead, 13, None, 48, "Country", {"New Value": new, "Old Value": old, "Reason": "Form fill"})
            if changes:
                status[lead] = "US Prospect"
                row(lead, 13, 7004, 52, "Lead Status", {"New Value": "US Prospect", "Old Value": "",
                                                        "Reason": "Changed by Smart Campaign"})
    path = folder / "extract.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "marketo-extract"
    n_people = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    n_rows = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    print(write(out, n_people, n_rows))
