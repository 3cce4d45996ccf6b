"""Embedding campaignlang in a Python program.

Loads examples/enrichment.campaign, imports the people of examples/people.csv,
answers the program's "Company Lookup" webhook with a Python function (a
stand-in for a real enrichment service), runs the batch campaign "Enrich New
Leads" with an API-passed My Token, and prints a summary.

    python examples/embed.py

Nothing reaches the network: the handler is the only answer the webhook gets.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import campaignlang

HERE = Path(__file__).resolve().parent

#: what the pretend enrichment service knows, by email domain
COMPANIES = {
    "acme.example": {"name": "Acme", "size": 5000},
    "tiny.example": {"name": "Tiny", "size": 12},
}


def company_lookup(request: campaignlang.WebhookRequest) -> tuple[int, Any]:
    """Answer ``call webhook "Company Lookup"``: (HTTP status, JSON body).
    The program maps ``company.size`` and ``company.name`` of a 2xx answer
    onto the person."""
    email = request.json()["email"]
    company = COMPANIES.get(email.rpartition("@")[2])
    if company is None:
        return 404, {"error": f"no company for {email}"}
    return 200, {"company": company}


def main() -> int:
    # 1. load, 2. check: mistakes are diagnostics, never exceptions
    result = campaignlang.check(campaignlang.load(HERE / "enrichment.campaign"))
    if not result.ok:
        print(campaignlang.render_text(result.diagnostics, result.sources), file=sys.stderr)
        return 1

    # 3. the checked program, 4. an engine over a store in memory, with a limit
    engine = campaignlang.Engine(result.program, max_steps=10_000)
    report = campaignlang.import_people(engine, HERE / "people.csv")   # a bad row imports nothing
    print(report.summary())

    engine.register_webhook('"Company Data"."Company Lookup"', company_lookup)
    run = engine.run_batch('"Company Data"."Enrich New Leads"', tokens={"my.Score": "+10"})
    engine.run_due()
    print(f"ran {run.campaign}: {len(run.entered)} of {len(engine.people())} people entered")

    print()
    print(f"{'person':<20} {'company':<8} {'size':>5}  {'segment':<10} {'score':>5}")
    for person in engine.people():
        email = person.email
        print(f"{email:<20} {engine.get(email, 'Company Name') or '-':<8} "
              f"{engine.get(email, 'Company Size') or '-':>5}  {engine.get(email, 'Segment') or '-':<10} "
              f"{engine.get(email, 'Lead Score') or 0:>5}")

    calls = engine.activities(type_="Call Webhook")
    statuses = Counter(a.attributes.get("status") for a in calls)
    answered = ", ".join(f"{n} answered {status}" for status, n in sorted(statuses.items()))
    print()
    print(f"webhook calls: {len(calls)} ({answered})")
    enriched = engine.list_members('"Company Data"."Enriched"')
    print(f'in list "Enriched": {", ".join(enriched)}')
    errors = engine.activities(type_="Error")
    print(f"errors: {len(errors)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
