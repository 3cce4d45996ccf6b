"""Smart list triggers (LANGUAGE.md §4): the events that start trigger runs.

Every trigger builds an ``ast.Trigger`` whose ``kind`` is its phrase.
"""

from __future__ import annotations

from campaignlang import ast
from campaignlang.stdlib.vocabulary import Alt, Opt, Phrase, Slot

REQUEST_SOURCES = ("flow action", "api", "sales insight", "any")

_TO = ("to", Slot("to", "value"))
_FROM = ("from", Slot("from_", "value"))


def _trigger(words: str, pattern: tuple, usage: str, doc: str, title: str, event_key: str | None = None,
             target: str | None = None) -> Phrase:
    """A trigger: its phrase, its documentation, its title (``{{trigger.Trigger Name}}``),
    the event key the engine indexes its campaigns by and the asset kind its name names."""
    return Phrase(words, pattern, ast.Trigger, fixed={"kind": words}, usage=usage, doc=doc, title=title,
                  event_key=event_key, target=target)


TRIGGERS: tuple[Phrase, ...] = (
    _trigger("fills out form", (Slot("target", "ref"),), 'fills out form "Contact Us"',
             ("Fires when the person fills out the form; `{{trigger.Web Page}}` and the form's "
              "fields are trigger tokens."),
             "Fills Out Form", "asset", "form"),
    _trigger("visits web page", (Slot("target", "ref"),), 'visits web page "/pricing"',
             "Fires when the person visits the web page.",
             "Visits Web Page", "asset"),
    _trigger("opens email", (Slot("target", "ref"),), 'opens email "Invite"',
             "Fires when the person opens the email.",
             "Opens Email", "asset", "email"),
    _trigger("clicks link in email", (Slot("target", "ref"),), 'clicks link in email "Invite"',
             "Fires when the person clicks a link in the email.",
             "Clicks Link in Email", "asset", "email"),
    _trigger("data value changes",
             (Slot("field", "field"),
              Alt([(Opt(_TO), Opt(_FROM)), (Opt(_FROM), Opt(_TO))])),
             'data value changes lead.Country to "US" from "CA"',
             ("Fires when a step or an import changes the field (optionally to or from a value); "
              "`{{trigger.Old Value}}` and `{{trigger.New Value}}` say how."),
             "Data Value Changes", "field"),
    _trigger("score is changed", (Slot("field", "field"),), 'score is changed lead."Lead Score"',
             "Fires when a score field's value changes.",
             "Score is Changed", "field"),
    _trigger("added to list", (Slot("target", "ref"),), 'added to list "Customers"',
             "Fires when the person is added to the static list.",
             "Added to List", "list", "list"),
    _trigger("removed from list", (Slot("target", "ref"),), 'removed from list "Customers"',
             "Fires when the person is removed from the static list.",
             "Removed from List", "list", "list"),
    _trigger("program status is changed",
             (Slot("target", "ref"), Opt(("to", Slot("to", "value")))),
             'program status is changed "Webinar" to "Registered"',
             ("Fires when the person's status in the program changes (optionally to a given "
              "status)."),
             "Program Status is Changed", "program"),
    _trigger("person is created", (), "person is created",
             "Fires when a new person enters the store.",
             "Person is Created"),
    _trigger("campaign is requested",
             (Opt(("from", Slot("source", "word", REQUEST_SOURCES))),),
             "campaign is requested from api",
             ("Fires when a flow's `request campaign` (the default source, flow action), the API "
              "or Sales Insight requests this campaign."),
             "Campaign is Requested"),
)

BY_WORDS: dict[str, Phrase] = {p.words: p for p in TRIGGERS}
