"""Rendering (issue 7, item 7): token values are JSON-escaped in webhook
payloads and percent-encoded in URLs; nothing a person's field (or an event
attribute, or an API-passed token) holds can change the structure of a
payload or a URL, and token syntax inside a value is never expanded again."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine_helpers import acts, make

PROGRAM = r"""
fields { "Notes": text }
program "P" {
    tokens {
        my.Secret = "s3cret"
        my.Tag = "t"
        my.Greeting = "Hi {{lead.First Name}}"
    }
    form "F"
    email "Mail" { subject "About {{lead.Notes}}" }
    webhook "Hook" {
        url "https://api.example.com/v1/people?email={{lead.Email Address}}&note={{lead.Notes}}&tag={{my.Tag}}"
        method post
        payload "{\"email\": \"{{lead.Email Address}}\", \"name\": \"{{lead.First Name}}\", \"note\": \"{{lead.Notes}}\", \"page\": \"{{trigger.Web Page}}\", \"greeting\": \"{{my.Greeting}}\"}"
    }
    campaign "Call" trigger {
        smart list { trigger fills out form "F" }
        flow {
            call webhook "Hook"
            send email "Mail"
            interesting moment web "note={{lead.Notes}}"
            change data value lead."Job Title" to "{{lead.Notes}} more"
        }
        qualify every time
    }
}
"""

EVIL = [
    '", "admin": true, "x": "',
    '"}, {"injected": 1}, {"',
    "back\\slash\\",
    "{{my.Secret}}",
    "{{lead.Email Address}}",
    "}}{{my.Secret",
    "{{",
    "line one\nline two\r\n\ttabbed",
    "\x00\x01\x1f nul and controls",
    "&email=attacker@example.com#frag?q=1/../x%2F",
    "é 日本 🎉 \u2028 \u202e",
    "{}[]:,",
]


def _run(notes: str, first: str = "Ann", page: str = "/lp", handler=None):
    e = make(PROGRAM)
    if handler is not None:
        e.register_webhook("Hook", handler)
    e.add_person("ann+tag@example.com", {"Notes": notes, "First Name": first})
    e.fire("fills out form", ["ann+tag@example.com"], "F", {"Web Page": page})
    return e


def _call(e):
    [call] = acts(e, "ann+tag@example.com", "Call Webhook")
    return call.attributes


def _payload_holds(payload: str, notes: str, first: str, page: str) -> None:
    data = json.loads(payload)
    assert data == {"email": "ann+tag@example.com", "name": first, "note": notes, "page": page,
                    "greeting": f"Hi {first}"}


def _url_holds(url: str, notes: str) -> None:
    parts = urllib.parse.urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("https", "api.example.com", "/v1/people", "")
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)
    assert query == {"email": ["ann+tag@example.com"], "note": [notes], "tag": ["t"]}


@pytest.mark.parametrize("value", EVIL)
def test_a_field_value_cannot_change_the_payload_or_the_url(value):
    e = _run(value, first=value, page=value)
    call = _call(e)
    _payload_holds(call["payload"], value, value, value)
    _url_holds(call["url"], value)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=40), st.text(max_size=20), st.text(max_size=20))
def test_any_text_keeps_the_structure(notes, first, page):
    e = _run(notes, first, page)
    call = _call(e)
    _payload_holds(call["payload"], notes, first, page)
    _url_holds(call["url"], notes)


def test_json_escaping_is_exact():
    call = _call(_run('say "hi"\\ {{x}}\n'))
    assert '"note": "say \\"hi\\"\\\\ {{x}}\\n"' in call["payload"]


def test_url_values_are_percent_encoded():
    call = _call(_run("a b&c=d/e?f#g"))
    assert "&note=a%20b%26c%3Dd%2Fe%3Ff%23g&" in call["url"]
    assert call["url"].startswith("https://api.example.com/v1/people?email=ann%2Btag%40example.com&")


def test_token_syntax_inside_a_value_is_never_expanded_again():
    e = _run("{{my.Secret}} and {{lead.Email Address}}", first="{{my.Secret}}")
    call = _call(e)
    for text in (call["payload"], call["url"]):
        assert "s3cret" not in text and "ann%2Btag" not in text.split("note=")[-1].split("&")[0]
    assert json.loads(call["payload"])["greeting"] == "Hi {{my.Secret}}"
    [mail] = acts(e, "ann+tag@example.com", "Send Email")
    assert mail.attributes["subject"] == "About {{my.Secret}} and {{lead.Email Address}}"
    [moment] = acts(e, "ann+tag@example.com", "Interesting Moment")
    assert moment.attributes["description"] == "note={{my.Secret}} and {{lead.Email Address}}"
    assert e.get("ann+tag@example.com", "Job Title") == "{{my.Secret}} and {{lead.Email Address}} more"


def test_a_handler_receives_the_same_safe_request():
    seen = []

    def handler(request):
        seen.append((request.url, request.payload, request.json()))
        return 200, {}

    value = EVIL[0]
    _run(value, handler=handler)
    [(url, payload, data)] = seen
    _url_holds(url, value)
    assert data["note"] == value and set(data) == {"email", "name", "note", "page", "greeting"}


def test_api_passed_token_values_are_escaped_too():
    e = make(PROGRAM.replace('trigger fills out form "F"', 'trigger campaign is requested from api'))
    e.add_person("ann+tag@example.com", {"Notes": "n"})
    e.request("P/Call", ["ann+tag@example.com"], tokens={"my.Tag": '"&x=1{{my.Secret}}'})
    call = _call(e)
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(call["url"]).query)["tag"] == ['"&x=1{{my.Secret}}']
    assert "s3cret" not in call["url"]


# -- issue 14, item 9: a token outside quotes is one JSON value of its type -------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

UNQUOTED = """
fields { "Notes": text; "Seats": integer; "Ratio": decimal; "VIP": boolean }
program "P" {
    webhook "W" {
        url "https://example.com/hook"
        method post
        payload "{\\"notes\\": {{lead.Notes}}, \\"seats\\": {{lead.Seats}}, \\"ratio\\": {{lead.Ratio}}, \\"vip\\": {{lead.VIP}}, \\"quoted\\": \\"{{lead.Notes}}\\", \\"list\\": [{{lead.Notes}}, {{lead.Seats}}]}"
    }
    campaign "Hook" trigger {
        smart list { trigger campaign is requested from api }
        flow { call webhook "W" }
    }
}
"""

JSONISH = st.one_of(st.text(max_size=30), st.sampled_from(['[1,{},[true,null]]', '", "x": 1, "y": "', "}", "]",
                                                           "1, 2", "null", "true", '{"a": 1}', "12", "-3.5"]))


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(notes=JSONISH, seats=st.one_of(st.none(), st.integers(-10**12, 10**12)),
       ratio=st.one_of(st.none(), st.decimals(allow_nan=False, allow_infinity=False, places=2,
                                              min_value=-10**6, max_value=10**6)),
       vip=st.one_of(st.none(), st.booleans()))
def test_unquoted_tokens_never_change_the_payloads_structure(notes, seats, ratio, vip):
    e = make(UNQUOTED)
    fields = {"Notes": notes}
    if seats is not None:
        fields["Seats"] = seats
    if ratio is not None:
        fields["Ratio"] = str(ratio)
    if vip is not None:
        fields["VIP"] = vip
    e.add_person("ann@example.com", fields)
    e.request("P/Hook", ["ann@example.com"])
    (call,) = [a.attributes for a in acts(e, "ann@example.com", "Call Webhook")]
    data = json.loads(call["payload"])
    assert set(data) == {"notes", "seats", "ratio", "vip", "quoted", "list"}
    assert data["notes"] == data["quoted"] == data["list"][0] == (notes if notes.strip() else notes)
    assert len(data["list"]) == 2
    assert data["seats"] == seats
    assert data["vip"] == vip
    assert (data["ratio"] is None) == (ratio is None)
