"""Smart list triggers (LANGUAGE.md §4): the events that start trigger runs.

Every trigger builds an ``ast.Trigger`` whose ``kind`` is its phrase.
"""

from __future__ import annotations

from campaignlang import ast
from campaignlang.stdlib.vocabulary import Alt, Opt, Phrase, Slot

REQUEST_SOURCES = ("flow action", "api", "sales insight", "any")

_TO = ("to", Slot("to", "value"))
_FROM = ("from", Slot("from_", "value"))


def _trigger(words: str, pattern: tuple, usage: str, title: str, event_key: str | None = None,
             target: str | None = None) -> Phrase:
    return Phrase(words, pattern, ast.Trigger, fixed={"kind": words}, usage=usage, title=title,
                  event_key=event_key, target=target)


#: each entry: its phrase, its title ({{trigger.Trigger Name}}), the event key
#: the engine indexes its campaigns by, and the asset kind its name names
TRIGGERS: tuple[Phrase, ...] = (
    _trigger("fills out form", (Slot("target", "ref"),), 'fills out form "Contact Us"',
             "Fills Out Form", "asset", "form"),
    _trigger("visits web page", (Slot("target", "ref"),), 'visits web page "/pricing"',
             "Visits Web Page", "asset"),
    _trigger("opens email", (Slot("target", "ref"),), 'opens email "Invite"',
             "Opens Email", "asset", "email"),
    _trigger("clicks link in email", (Slot("target", "ref"),), 'clicks link in email "Invite"',
             "Clicks Link in Email", "asset", "email"),
    _trigger("data value changes",
             (Slot("field", "field"),
              Alt([(Opt(_TO), Opt(_FROM)), (Opt(_FROM), Opt(_TO))])),
             'data value changes lead.Country to "US" from "CA"', "Data Value Changes", "field"),
    _trigger("score is changed", (Slot("field", "field"),), 'score is changed lead."Lead Score"',
             "Score is Changed", "field"),
    _trigger("added to list", (Slot("target", "ref"),), 'added to list "Customers"',
             "Added to List", "list", "list"),
    _trigger("removed from list", (Slot("target", "ref"),), 'removed from list "Customers"',
             "Removed from List", "list", "list"),
    _trigger("program status is changed",
             (Slot("target", "ref"), Opt(("to", Slot("to", "value")))),
             'program status is changed "Webinar" to "Registered"', "Program Status is Changed", "program"),
    _trigger("person is created", (), "person is created", "Person is Created"),
    _trigger("campaign is requested",
             (Opt(("from", Slot("source", "word", REQUEST_SOURCES))),),
             "campaign is requested from api", "Campaign is Requested"),
)

BY_WORDS: dict[str, Phrase] = {p.words: p for p in TRIGGERS}
