"""Smart list triggers (LANGUAGE.md §4): the events that start trigger runs.

Every trigger builds an ``ast.Trigger`` whose ``kind`` is its phrase.
"""

from __future__ import annotations

from campaignlang import ast
from campaignlang.stdlib.vocabulary import Alt, Opt, Phrase, Slot

REQUEST_SOURCES = ("flow action", "api", "sales insight", "any")

_TO = ("to", Slot("to", "value"))
_FROM = ("from", Slot("from_", "value"))


def _trigger(words: str, pattern: tuple, usage: str) -> Phrase:
    return Phrase(words, pattern, ast.Trigger, fixed={"kind": words}, usage=usage)


TRIGGERS: tuple[Phrase, ...] = (
    _trigger("fills out form", (Slot("target", "ref"),), 'fills out form "Contact Us"'),
    _trigger("visits web page", (Slot("target", "ref"),), 'visits web page "/pricing"'),
    _trigger("opens email", (Slot("target", "ref"),), 'opens email "Invite"'),
    _trigger("clicks link in email", (Slot("target", "ref"),), 'clicks link in email "Invite"'),
    _trigger("data value changes",
             (Slot("field", "field"),
              Alt([(Opt(_TO), Opt(_FROM)), (Opt(_FROM), Opt(_TO))])),
             'data value changes lead.Country to "US" from "CA"'),
    _trigger("score is changed", (Slot("field", "field"),), 'score is changed lead."Lead Score"'),
    _trigger("added to list", (Slot("target", "ref"),), 'added to list "Customers"'),
    _trigger("removed from list", (Slot("target", "ref"),), 'removed from list "Customers"'),
    _trigger("program status is changed",
             (Slot("target", "ref"), Opt(("to", Slot("to", "value")))),
             'program status is changed "Webinar" to "Registered"'),
    _trigger("person is created", (), "person is created"),
    _trigger("campaign is requested",
             (Opt(("from", Slot("source", "word", REQUEST_SOURCES))),),
             "campaign is requested from api"),
)

BY_WORDS: dict[str, Phrase] = {p.words: p for p in TRIGGERS}
