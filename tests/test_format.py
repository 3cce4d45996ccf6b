"""``campaign fmt`` (format.py): exact output for every construct, comments in
every position, and the three promises on every .campaign file of the
repository: idempotent, the same tree, no comment lost."""

from __future__ import annotations

import datetime as dt
import glob
from collections import Counter
from decimal import Decimal
from pathlib import Path
from textwrap import dedent

import attrs
import pytest

from campaignlang import ast
from campaignlang.errors import DiagnosticError
from campaignlang.format import MAX_WIDTH, format_module, format_source
from campaignlang.parse import parse
from campaignlang.stdlib import steps as _steps
from campaignlang.stdlib.vocabulary import Opt, Phrase, Slot

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN_FILES = sorted(
    glob.glob(str(ROOT / "tests/**/*.campaign"), recursive=True)
    + glob.glob(str(ROOT / "examples/*.campaign"))
    + glob.glob(str(ROOT / "stdlib/*.campaign")))


def fmt(src: str) -> str:
    """Format ``src`` and check the promises on the way."""
    out = format_source(dedent(src))
    assert format_source(out) == out, "not idempotent"
    before, after = parse(dedent(src)), parse(out)
    assert after.diagnostics == ()
    assert after.module == before.module
    assert Counter(c.text for c in after.comments) == Counter(c.text for c in before.comments)
    return out


def expect(src: str, want: str) -> None:
    assert fmt(src) == dedent(want).lstrip("\n")


# --------------------------------------------------------------------------
# Declarations


def test_every_declaration():
    expect('''
        import   "shared/scoring.campaign"
        import std "scoring"
        fields { "Region" : text; "Behavior Score": score }
        tokens { my.Global = "g" }
        workspace "EMEA" { tokens { my.Owner = "emea-ops@example.com" }
          folder "Ops" { folder "Inner" { } ; program "Empty" { } } }
        program "Webinar 2026" {
          description "Quarterly \\"product\\" webinar\\\\ with\\ttab\\nand newline"
          statuses "Invited","Registered"
          member fields "Registration Code"
          tokens { my.Score = +10; my."Event Name" = "Scaling Ops"; my.Date = 2026-12-01
             my.At = 2026-12-01T09:30:00; my.Secs = 2026-12-01T09:30:15
             my.Seats = 200; my.Ratio = 3.50; my.Neg = -2.5; my.Set = =-3; my.Wait = 1 weeks
             my.On = true; my.Off = null }
          list "Attendees"
          smart list "Engaged" all { filter lead."Lead Score" at least 50 }
          smart list "Any" any { filter lead.Country is "US"; filter lead.Country is "CA" }
          smart list "Adv" logic "1 and (2 or 3)" { filter lead.A is 1
            filter lead.B is 2; filter lead.C is 3 }
          form "Register"
          email "Invite" { body "Hi {{lead.first name:default=there}}"; subject "Join {{my.event name}}"
            from "events@example.com" }
          email "Empty" {}
          webhook "Get" { url "https://x.example.com" ; method get }
          webhook "Enrich" { url "https://e.example.com/?e={{lead.Email Address}}"
            method POST
            payload "{\\"email\\": \\"{{lead.Email Address}}\\"}"
            response "company.size" -> lead."company size" }
          campaign "B" batch { description "d"; smart list { filter lead.Country is "US" }
            schedule 2026-12-01T09:00
            qualify once }
          campaign "S" batch { schedule every 1 week starting 2026-12-01T09:00:30
            qualify once every 2 weeks; flow { delete person } }
          campaign "T" trigger inactive { clone "Ops"."Base"; smart list { trigger person is created }
            qualify every time }
          campaign "E" executable {}
        }
        ''', '''
        import "shared/scoring.campaign"
        import std "scoring"

        fields {
            "Region": text
            "Behavior Score": score
        }

        tokens { my.Global = "g" }

        workspace "EMEA" {
            tokens { my.Owner = "emea-ops@example.com" }

            folder "Ops" {
                folder "Inner" {}
                program "Empty" {}
            }
        }

        program "Webinar 2026" {
            description "Quarterly \\"product\\" webinar\\\\ with\\ttab\\nand newline"
            statuses "Invited", "Registered"
            member fields "Registration Code"

            tokens {
                my.Score = +10
                my."Event Name" = "Scaling Ops"
                my.Date = 2026-12-01
                my.At = 2026-12-01T09:30
                my.Secs = 2026-12-01T09:30:15
                my.Seats = 200
                my.Ratio = 3.50
                my.Neg = -2.5
                my.Set = =-3
                my.Wait = 1 week
                my.On = true
                my.Off = null
            }

            list "Attendees"
            smart list "Engaged" { filter lead."Lead Score" >= 50 }

            smart list "Any" any {
                filter lead.Country is "US"
                filter lead.Country is "CA"
            }

            smart list "Adv" logic "1 and (2 or 3)" {
                filter lead.A is 1
                filter lead.B is 2
                filter lead.C is 3
            }

            form "Register"

            email "Invite" {
                body "Hi {{lead.First Name:default=there}}"
                subject "Join {{my.Event Name}}"
                from "events@example.com"
            }

            email "Empty" {}
            webhook "Get" { url "https://x.example.com" }

            webhook "Enrich" {
                url "https://e.example.com/?e={{lead.Email Address}}"
                method post
                payload "{\\"email\\": \\"{{lead.Email Address}}\\"}"
                response "company.size" -> lead."Company Size"
            }

            campaign "B" batch {
                description "d"
                smart list { filter lead.Country is "US" }
                schedule 2026-12-01T09:00
                qualify once
            }

            campaign "S" batch {
                schedule every 1 week starting 2026-12-01T09:00:30
                qualify once every 2 weeks
                flow { delete person }
            }

            campaign "T" trigger inactive {
                clone "Ops"."Base"
                smart list { trigger person is created }
                qualify every time
            }

            campaign "E" executable {}
        }
        ''')


def test_names_are_bare_when_identifiers_and_quoted_otherwise():
    expect('''
        program "P" {
            tokens { my."Simple" = 1; my."two words" = 2; my."quote\\"d" = 3; my.then = 4 }
            campaign "C" batch {
                smart list { filter lead."Custom_1" is 1; filter lead."Mañana" is 2; filter lead."then" is 3 }
            }
        }
        ''', '''
        program "P" {
            tokens {
                my.Simple = 1
                my."two words" = 2
                my."quote\\"d" = 3
                my."then" = 4
            }

            campaign "C" batch {
                smart list {
                    filter lead.Custom_1 is 1
                    filter lead."Mañana" is 2
                    filter lead."then" is 3
                }
            }
        }
        ''')


def test_field_and_token_names_take_their_declared_spelling():
    expect('''
        fields { "Behavior Score": score }
        program "P" {
            tokens { my."Event Name" = "x" }
            email "E" { subject "{{my.event  name}} for {{lead. first name }}" }
            campaign "C" batch {
                smart list { filter lead."behavior score" > 1; filter lead.COUNTRY is "US"; filter lead.Unknown is 1 }
                flow { change score lead."lead score" by +1 }
            }
        }
        test "t" {
            run "P"."C" with tokens { my."EVENT NAME" = "y" }
            expect "a"."behavior score" == 1
        }
        ''', '''
        fields { "Behavior Score": score }

        program "P" {
            tokens { my."Event Name" = "x" }
            email "E" { subject "{{my.Event Name}} for {{lead.First Name}}" }

            campaign "C" batch {
                smart list {
                    filter lead."Behavior Score" > 1
                    filter lead.Country is "US"
                    filter lead.Unknown is 1
                }
                flow { change score lead."Lead Score" by +1 }
            }
        }

        test "t" {
            run "P"."C" with tokens { my."Event Name" = "y" }
            expect "a"."Behavior Score" == 1
        }
        ''')


def test_numbers_dates_and_strings_are_written_canonically():
    module = ast.Module("<input>", [ast.Program("P", [ast.Tokens([
        ast.TokenDecl("Tiny", ast.Number(Decimal("0.0000001"))),  # str() would say 1E-7
        ast.TokenDecl("Big", ast.Number(-123456789)),
        ast.TokenDecl("Old", ast.Date(dt.date(999, 1, 2))),
        ast.TokenDecl("Late", ast.DateTime(dt.datetime(2026, 12, 1, 23, 59, 1))),
        ast.TokenDecl("Text", ast.String('tab\there "q" back\\slash\nline')),
    ])])])
    out = format_module(module, [])
    assert out == dedent('''\
        program "P" {
            tokens {
                my.Tiny = 0.0000001
                my.Big = -123456789
                my.Old = 0999-01-02
                my.Late = 2026-12-01T23:59:01
                my.Text = "tab\\there \\"q\\" back\\\\slash\\nline"
            }
        }
        ''')
    assert parse(out).module == module


# --------------------------------------------------------------------------
# Smart lists and steps


def test_every_trigger_and_filter():
    expect('''
        program "P" { campaign "All" trigger { smart list {
          trigger fills out form "F"; trigger visits web page "/pricing"; trigger opens email "E"
          trigger clicks link in email "Ops"."E"; trigger data value changes lead.Country
          trigger data value changes lead.Country from "CA" to "US"; trigger score is changed lead."Lead Score"
          trigger added to list "L"; trigger removed from list "L"; trigger program status is changed "P" to "S"
          trigger program status is changed "P"; trigger person is created; trigger campaign is requested
          trigger campaign is requested from api; trigger campaign is requested from flow action
          filter lead.Country is "US", "CA"; filter lead.Country is not "US"; filter lead.Title contains "VP"
          filter lead.Title not contains "VP"; filter lead.Title starts with "Dir"
          filter lead.Title not starts with "Dir"; filter lead.Title is empty; filter lead.Title is not empty
          filter lead.S greater than 1; filter lead.S at least 2; filter lead.S less than 3; filter lead.S at most 4
          filter lead.S >= 2; filter lead.S between 1 and 10
          filter lead.D before 2026-01-01; filter lead.D after 2026-01-01T10:00; filter lead.D on or before 2026-01-01
          filter lead.D on or after 2026-01-01; filter lead.D in past 30 days; filter lead.D in future 1 month
          filter lead.Unsubscribed is false
          filter member of list "L"; filter not member of list "Ops"."L"; filter member of smart list "S"
          filter member of program "P"; filter member of program "P" status is "Attended"
          filter not member of program "P"
          filter filled out form "F" in past 7 days; filter visited web page "/x"; filter was sent email "E"
          filter opened email "E" in past 2 weeks; filter clicked link in email "E"; filter campaign was run "P"."C"
        } } }
        ''', '''
        program "P" {
            campaign "All" trigger {
                smart list {
                    trigger fills out form "F"
                    trigger visits web page "/pricing"
                    trigger opens email "E"
                    trigger clicks link in email "Ops"."E"
                    trigger data value changes lead.Country
                    trigger data value changes lead.Country to "US" from "CA"
                    trigger score is changed lead."Lead Score"
                    trigger added to list "L"
                    trigger removed from list "L"
                    trigger program status is changed "P" to "S"
                    trigger program status is changed "P"
                    trigger person is created
                    trigger campaign is requested
                    trigger campaign is requested from api
                    trigger campaign is requested from flow action
                    filter lead.Country is "US", "CA"
                    filter lead.Country is not "US"
                    filter lead.Title contains "VP"
                    filter lead.Title not contains "VP"
                    filter lead.Title starts with "Dir"
                    filter lead.Title not starts with "Dir"
                    filter lead.Title is empty
                    filter lead.Title is not empty
                    filter lead.S > 1
                    filter lead.S >= 2
                    filter lead.S < 3
                    filter lead.S <= 4
                    filter lead.S >= 2
                    filter lead.S between 1 and 10
                    filter lead.D before 2026-01-01
                    filter lead.D after 2026-01-01T10:00
                    filter lead.D on or before 2026-01-01
                    filter lead.D on or after 2026-01-01
                    filter lead.D in past 30 days
                    filter lead.D in future 1 month
                    filter lead.Unsubscribed is false
                    filter member of list "L"
                    filter not member of list "Ops"."L"
                    filter member of smart list "S"
                    filter member of program "P"
                    filter member of program "P" status is "Attended"
                    filter not member of program "P"
                    filter filled out form "F" in past 7 days
                    filter visited web page "/x"
                    filter was sent email "E"
                    filter opened email "E" in past 2 weeks
                    filter clicked link in email "E"
                    filter campaign was run "P"."C"
                }
            }
        }
        ''')


def test_every_step():
    expect('''
        program "P" { campaign "C" trigger { flow {
          change data value lead.Country to "US"; change data value lead.Notes to "{{lead.Notes}} more"
          change data value lead.Country to null
          change score lead."Lead Score" by +10; change score lead."Lead Score" by {{my.Score}}
          change score lead."Lead Score" by -5; change score lead."Lead Score" by =-3
          send email "E"; send alert "A" to "owner@example.com",   "ops@example.com"
          add to list "L"; remove from list "Ops"."L"
          change program status "P" to "Registered"
          change program member data "P" "Registration Code" to "A1"
          interesting moment web "Visited {{trigger.Web Page}}"
          delete person
          wait 3 days; wait 1 minutes; wait until 2026-12-01T09:00; wait until {{lead.Renewal Date}}
          call webhook "W"; request campaign "N"."Start"
          execute campaign "Ops"."Score"; execute campaign "Ops"."Score" use parent token context
          remove from flow "N"."Drip"; remove from flow this campaign, "N"."Drip"
        } } }
        ''', '''
        program "P" {
            campaign "C" trigger {
                flow {
                    change data value lead.Country to "US"
                    change data value lead.Notes to "{{lead.Notes}} more"
                    change data value lead.Country to null
                    change score lead."Lead Score" by +10
                    change score lead."Lead Score" by {{my.Score}}
                    change score lead."Lead Score" by -5
                    change score lead."Lead Score" by =-3
                    send email "E"
                    send alert "A" to "owner@example.com", "ops@example.com"
                    add to list "L"
                    remove from list "Ops"."L"
                    change program status "P" to "Registered"
                    change program member data "P" "Registration Code" to "A1"
                    interesting moment web "Visited {{trigger.Web Page}}"
                    delete person
                    wait 3 days
                    wait 1 minute
                    wait until 2026-12-01T09:00
                    wait until {{lead.Renewal Date}}
                    call webhook "W"
                    request campaign "N"."Start"
                    execute campaign "Ops"."Score"
                    execute campaign "Ops"."Score" use parent token context
                    remove from flow "N"."Drip"
                    remove from flow this campaign, "N"."Drip"
                }
            }
        }
        ''')


def test_choices():
    expect('''
        program "P" { campaign "C" batch { flow {
          change data value lead.Region { if lead.Country is "US" then to "NA"
            else if lead.Country is "DE" then do nothing; else to "INTL" }
          send alert "A" to {
            if lead.Score >= 10 then "a@example.com", "b@example.com"
            else do nothing
          }
          change program member data "P" "Code" {
            else if lead.X is 1 then to 1
            else to 2
          }
          execute campaign "Ops"."X" use parent token context {
            if member of list "L" then
            else
          }
          execute campaign { if lead."then" is 1 then "A"; else "B" use parent token context }
          delete person { if lead.Unsubscribed is true then }
          remove from flow { else this campaign }
        } } }
        ''', '''
        program "P" {
            campaign "C" batch {
                flow {
                    change data value lead.Region {
                        if lead.Country is "US" then to "NA"
                        else if lead.Country is "DE" then do nothing
                        else to "INTL"
                    }
                    send alert "A" {
                        if lead.Score >= 10 then to "a@example.com", "b@example.com"
                        else do nothing
                    }
                    change program member data "P" "Code" {
                        if lead.X is 1 then to 1
                        else to 2
                    }
                    execute campaign "Ops"."X" use parent token context {
                        if member of list "L" then
                        else
                    }
                    execute campaign {
                        if lead."then" is 1 then "A"
                        else "B" use parent token context
                    }
                    delete person {
                        if lead.Unsubscribed is true then
                    }
                    remove from flow {
                        else this campaign
                    }
                }
            }
        }
        ''')


def test_the_specs_choice_is_already_canonical():
    src = '''\
        program "Ops" {
            campaign "Route Lead" executable {
                description "Assigns region"
                smart list { filter lead."Lead Status" is not "Disqualified" }
                flow {
                    change data value lead.Region {
                        if lead.Country is "US", "CA" then to "NA"
                        else if lead.Country is "DE", "FR" then to "EU"
                        else to "INTL"
                    }
                }
                qualify every time
            }
        }
        '''
    assert fmt(src) == dedent(src)


def test_a_new_vocabulary_entry_needs_no_formatter_change(monkeypatch):
    @attrs.frozen
    class SendSms(ast.Node):
        message: ast.Node
        numbers: tuple = attrs.field(converter=tuple, default=())
        urgent: bool = False
        span: object = attrs.field(default=None, kw_only=True, eq=False)

    entry = Phrase("send sms", (Slot("message", "value"), Opt(("to", Slot("numbers", "values"))),
                                Opt(("urgently",), flag="urgent")), SendSms, usage='send sms "Hi"')
    monkeypatch.setattr(_steps, "STEPS", _steps.STEPS + (entry,))
    monkeypatch.setattr(_steps, "BY_WORDS", {**_steps.BY_WORDS, "send sms": entry})
    monkeypatch.setattr(_steps, "BY_NODE", {**_steps.BY_NODE, SendSms: entry})
    expect('''
        program "P" { campaign "C" batch { flow {
            send sms "Hi {{lead.First Name}}" to "+1 555", "+1 556" urgently
            send sms "Hi"
            send sms { if lead.X is 1 then "A" to "1"; else "B" urgently }
        } } }
        ''', '''
        program "P" {
            campaign "C" batch {
                flow {
                    send sms "Hi {{lead.First Name}}" to "+1 555", "+1 556" urgently
                    send sms "Hi"
                    send sms {
                        if lead.X is 1 then "A" to "1"
                        else "B" urgently
                    }
                }
            }
        }
        ''')


# --------------------------------------------------------------------------
# Tests (§9)


def test_every_test_statement():
    expect('''
        test "all statements" at 2026-06-01T09:00 {
          person "ann@example.com" { "Lead Score" = 0, Country = "US" }
          person "bob@example.com" {
             "Lead Score" = =5
             first_name = "Bob" }
          person "cy@example.com"
          for "bob@example.com" { add to list "Customers" }
          for "cy@example.com" { add to list "A"; send email { if lead.X is 1 then "E" } }
          run "Webinar A"."Parent True"
          run "Webinar A"."Parent True" with tokens { my.Score = +3, my."Event Name" = "x" }
          request "Ops"."Route" for "ann@example.com", "bob@example.com" with tokens { my.Score = +1 }
          fire fills out form "Contact Us" for "ann@example.com" { "Web Page" = "/lp" }
          fire campaign is requested from api for "ann@example.com"
          advance 3 days
          expect "ann@example.com"."Lead Score" == 10
          expect "ann@example.com".Country != "US"
          expect "ann@example.com".Notes is empty
          expect "ann@example.com".Notes is not empty
          expect "ann@example.com" in list "Attendees"
          expect "bob@example.com" not in list "Ops"."Attendees"
          expect "ann@example.com" status in "Webinar 2026" is "Attended"
          expect activity "Executed Campaign" for "ann@example.com" { campaign = "Scoring"."Change Score", qualified = true }
          expect 2 activities "Send Email" for "ann@example.com"
          expect 0 activity "Call Webhook"
        }
        test "empty" {}
        ''', '''
        test "all statements" at 2026-06-01T09:00 {
            person "ann@example.com" { "Lead Score" = 0, Country = "US" }
            person "bob@example.com" { "Lead Score" = =5, first_name = "Bob" }
            person "cy@example.com"
            for "bob@example.com" { add to list "Customers" }
            for "cy@example.com" {
                add to list "A"
                send email {
                    if lead.X is 1 then "E"
                }
            }
            run "Webinar A"."Parent True"
            run "Webinar A"."Parent True" with tokens { my.Score = +3, my."Event Name" = "x" }
            request "Ops"."Route" for "ann@example.com", "bob@example.com" with tokens { my.Score = +1 }
            fire fills out form "Contact Us" for "ann@example.com" { "Web Page" = "/lp" }
            fire campaign is requested from api for "ann@example.com"
            advance 3 days
            expect "ann@example.com"."Lead Score" == 10
            expect "ann@example.com"."Country" != "US"
            expect "ann@example.com"."Notes" is empty
            expect "ann@example.com"."Notes" is not empty
            expect "ann@example.com" in list "Attendees"
            expect "bob@example.com" not in list "Ops"."Attendees"
            expect "ann@example.com" status in "Webinar 2026" is "Attended"
            expect activity "Executed Campaign" for "ann@example.com" { campaign = "Scoring"."Change Score", qualified = true }
            expect 2 activity "Send Email" for "ann@example.com"
            expect no activity "Call Webhook"
        }

        test "empty" {}
        ''')


# --------------------------------------------------------------------------
# Layout: one-line blocks and blank lines


def test_a_block_goes_on_one_line_only_with_one_short_item_and_no_comment():
    long_value = "x" * (MAX_WIDTH - len('    tokens { my.A = "" }'))
    expect(f'''
        program "P" {{
            tokens {{ my.A = "{long_value}" }}
            tokens {{ my.A = "{long_value}x" }}
            tokens {{ my.A = 1; my.B = 2 }}
            tokens {{
                # a comment keeps it open
                my.A = 1
            }}
            campaign "C" batch {{ flow {{ execute campaign {{ if lead.X is 1 then "A" }} }} }}
        }}
        ''', f'''
        program "P" {{
            tokens {{ my.A = "{long_value}" }}

            tokens {{
                my.A = "{long_value}x"
            }}

            tokens {{
                my.A = 1
                my.B = 2
            }}

            tokens {{
                # a comment keeps it open
                my.A = 1
            }}

            campaign "C" batch {{
                flow {{
                    execute campaign {{
                        if lead.X is 1 then "A"
                    }}
                }}
            }}
        }}
        ''')


def test_blank_lines():
    expect('''


        import "a.campaign"
        import "b.campaign"
        program "P" {

            list "A"


            list "B"
            list "C"

        }
        test "t" {
            person "a@example.com"


            advance 1 day
            advance 2 days

        }


        ''', '''
        import "a.campaign"
        import "b.campaign"

        program "P" {
            list "A"

            list "B"
            list "C"
        }

        test "t" {
            person "a@example.com"

            advance 1 day
            advance 2 days
        }
        ''')


def test_semicolons_become_line_breaks():
    expect('program "P" { list "A"; list "B" ;; form "F" }\n', '''
        program "P" {
            list "A"
            list "B"
            form "F"
        }
        ''')


# --------------------------------------------------------------------------
# Comments


def test_comments_in_every_position():
    expect('''
        # Header of the file.
        # Second line of the header.


        import "a.campaign"  # trailing an import
        # Before the program, no blank line in between.
        program "P" {   # on the header line

            # before the first item
            list "L"    ;   # after a semicolon
            statuses "A",      # after a comma
                     "B"
            tokens {
                my.X = 1   # keeps this block expanded
            }
            tokens { my.Y = 2 }    # after a one-line block
            campaign "C" batch {
                flow {
                    send email "E"



                    # after three blank lines (one kept)
                    execute campaign {    # on the choice line
                        # before the first branch
                        if lead.X is 1 then "A"   # trailing a branch
                        # before else
                        else do nothing
                        # last in the choice
                    }

                }   # trailing a closing brace
                # last in the campaign
            }
            # last in the program
        }
        test "t" {
            person "a@example.com" {
                X = 1,   # inside a person block
                Y = 2
            }
            # before advance
            advance 1 day
        }

        # the end of the file
        # really the end
        ''', '''
        # Header of the file.
        # Second line of the header.

        import "a.campaign"  # trailing an import

        # Before the program, no blank line in between.
        program "P" {  # on the header line
            # before the first item
            list "L"  # after a semicolon
            statuses "A", "B"  # after a comma

            tokens {
                my.X = 1  # keeps this block expanded
            }

            tokens { my.Y = 2 }  # after a one-line block

            campaign "C" batch {
                flow {
                    send email "E"

                    # after three blank lines (one kept)
                    execute campaign {  # on the choice line
                        # before the first branch
                        if lead.X is 1 then "A"  # trailing a branch
                        # before else
                        else do nothing
                        # last in the choice
                    }
                }  # trailing a closing brace
                # last in the campaign
            }
            # last in the program
        }

        test "t" {
            person "a@example.com" { X = 1, Y = 2 }  # inside a person block
            # before advance
            advance 1 day
        }

        # the end of the file
        # really the end
        ''')


def test_comments_inside_a_phrase_are_kept():
    """After a comma a phrase goes on; its comments end up trailing the
    phrase's line, or on lines of their own below it when that is taken.

    Parser note: a comment on a line of its own inside a continuation parses
    in a declaration (``statuses`` below) but not yet inside a phrase (a
    filter or step: CL001 "a value is missing after ','"), so the phrases here
    carry trailing comments only."""
    expect('''
        program "P" {
            statuses "A",  # one
                # two
                "B"
            campaign "C" batch {
                smart list {
                    filter lead.Country is "US",  # three
                        "CA"   # four
                }
                flow { send alert "A" to "a@example.com",  # five
                                         "b@example.com" }
            }
        }
        ''', '''
        program "P" {
            statuses "A", "B"  # one

            # two
            campaign "C" batch {
                smart list {
                    filter lead.Country is "US", "CA"  # three
                    # four
                }
                flow {
                    send alert "A" to "a@example.com", "b@example.com"  # five
                }
            }
        }
        ''')


def test_email_and_webhook_items_keep_their_order_and_their_comments():
    """The AST holds an email's and a webhook's parts as attributes; they are
    written in the order of the source so that their comments stay put. A
    webhook's method has no span: it is written after the url."""
    expect('''
        program "P" {
            email "E" {
                # about the body
                body "b"  # trailing the body
                # about the subject
                subject "s"
            }
            webhook "W" {
                payload "p"  # trailing the payload
                url "u"   # trailing the url
                method post  # trailing the method
            }
        }
        ''', '''
        program "P" {
            email "E" {
                # about the body
                body "b"  # trailing the body
                # about the subject
                subject "s"
            }

            webhook "W" {
                payload "p"  # trailing the payload
                url "u"  # trailing the url
                method post  # trailing the method
            }
        }
        ''')
    built = ast.Module("<input>", [ast.Program("P", [
        ast.Email("E", body=ast.String("b"), subject=ast.String("s")),
        ast.Webhook("W", payload=ast.String("p"), method="put", url=ast.String("u")),
    ])])
    assert format_module(built, []) == dedent('''\
        program "P" {
            email "E" {
                subject "s"
                body "b"
            }

            webhook "W" {
                url "u"
                method put
                payload "p"
            }
        }
        ''')


def test_an_empty_block_with_a_comment_stays_open():
    expect('''
        program "P" { # header
        }
        program "Q" {
            # only a comment
        }
        ''', '''
        program "P" {  # header
        }

        program "Q" {
            # only a comment
        }
        ''')


def test_a_file_of_comments_only_and_an_empty_file():
    assert fmt("") == ""
    assert fmt("\n\n  \n") == ""
    assert fmt("  # one\n\n\n# two\n") == "# one\n\n# two\n"


def test_windows_line_endings_and_a_byte_order_mark():
    assert fmt('\ufeffprogram "P" {\r\n    list "L"  # c\r\n}\r\n') == 'program "P" {\n    list "L"  # c\n}\n'


def test_format_module_without_spans_or_comments():
    module = ast.Module("<input>", [
        ast.Program("P", [ast.Campaign("C", "executable", True, [
            ast.Flow([ast.ChangeScore(ast.FieldRef("Lead Score"), ast.TokenRef("my", "Score"))]),
            ast.Qualify("every time"),
        ])]),
    ])
    assert format_module(module, []) == dedent('''\
        program "P" {
            campaign "C" executable {
                flow { change score lead."Lead Score" by {{my.Score}} }
                qualify every time
            }
        }
        ''')


# --------------------------------------------------------------------------
# Broken input is never formatted


@pytest.mark.parametrize("src", [
    'program "P" {',
    'program "P" { campaign "C" batch { flow { sned email "E" } } }',
    'program "P" { description "unterminated }',
])
def test_a_file_with_syntax_errors_is_refused(src):
    with pytest.raises(DiagnosticError) as info:
        format_source(src, "broken.campaign")
    assert info.value.diagnostics
    assert all(d.code == "CL001" and d.span.file == "broken.campaign" for d in info.value.diagnostics)


# --------------------------------------------------------------------------
# Every .campaign file of the repository


def test_there_are_files_to_check():
    assert len(CAMPAIGN_FILES) >= 5


@pytest.mark.parametrize("path", CAMPAIGN_FILES, ids=lambda p: str(Path(p).relative_to(ROOT)))
def test_repository_files_format_idempotently_keeping_tree_and_comments(path):
    text = Path(path).read_text("utf-8")
    original = parse(text, path)
    if not original.ok:  # a file of syntax errors (tests/diagnostics/CL001-*) is refused
        with pytest.raises(DiagnosticError):
            format_source(text, path)
        return
    once = format_source(text, path)
    again = parse(once, path)
    assert again.ok
    assert again.module == original.module
    assert [c.text for c in again.comments] == [c.text for c in original.comments]
    assert format_source(once, path) == once
