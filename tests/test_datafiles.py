"""Bad data files (issue 7, item 5): ``people import`` and ``events`` refuse a
malformed row or line with its number, the column (or key) and the reason,
and import nothing from that file; values convert as declared; duplicate
emails merge as Marketo merges them, and the report says how many."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from campaignlang.cli import main
from campaignlang.datafiles import DataFileError, import_people, read_events, read_people, replay
from campaignlang.api import compile_text as program_from_text
from campaignlang.engine import Engine
from campaignlang.errors import RunError

PROGRAM = """
fields {
    "Renewal": date
    "Seen": datetime
    "Seats": integer
    "Ratio": decimal
    "Points": score
    "VIP": boolean
    "Backup Email": email
}
program "P" {
    form "Contact Us"
    list "L"
    campaign "On Form" trigger {
        smart list { trigger fills out form "Contact Us" }
        flow { add to list "L" }
        qualify every time
    }
}
"""


@pytest.fixture
def engine():
    return Engine(program_from_text(PROGRAM))


def dump(e: Engine) -> list[str]:
    e.store.flush()
    return list(e.store.db.iterdump())


def write(tmp_path, name, text, binary=False):
    p = tmp_path / name
    if binary:
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def refused(tmp_path, engine, name, text, message, binary=False):
    path = write(tmp_path, name, text, binary)
    with pytest.raises(DataFileError) as info:
        import_people(engine, path) if not name.endswith(".jsonl") else replay(engine, path)
    assert str(info.value) == message.replace("FILE", str(path))
    return info.value


# -- people: values convert as declared, or fail clearly ----------------------------------------

def test_values_convert_to_their_declared_types(tmp_path, engine):
    path = write(tmp_path, "p.csv",
                 "Email,Renewal,Seen,Seats,Ratio,Points,VIP,Company Size\n"
                 "ann@example.com,2026-03-01,2026-03-01T09:30,\"1,200\",3.50,-7,yes,12.0\n")
    report = import_people(engine, path)
    assert (report.created, report.updated, report.merged) == (1, 0, 0)
    import datetime as dt
    from decimal import Decimal
    values = [engine.get("ann@example.com", f) for f in
              ("Renewal", "Seen", "Seats", "Ratio", "Points", "VIP", "Company Size")]
    assert values == [dt.date(2026, 3, 1), dt.datetime(2026, 3, 1, 9, 30), 1200, Decimal("3.50"), -7, True, 12]


@pytest.mark.parametrize("column, value, reason", [
    ("Seats", "twelve", "'twelve' is not an integer (expected a whole number)"),
    ("Seats", "1.5", "'1.5' is not an integer (expected a whole number)"),
    ("Seats", "99999999999999999999", "99999999999999999999 is too large for an integer field (whole numbers run from -9223372036854775808 to 9223372036854775807)"),
    ("Points", "1e400000000", "1E+400000000 is too large for a score field (whole numbers run from -9223372036854775808 to 9223372036854775807)"),
    ("Ratio", "NaN", "'NaN' is not a decimal (expected a number such as 3.5)"),
    ("Ratio", "3.5x", "'3.5x' is not a decimal (expected a number such as 3.5)"),
    ("VIP", "maybe", "'maybe' is not a boolean (expected true or false (yes/no and 1/0 are accepted too))"),
    ("Renewal", "03/01/2026", "'03/01/2026' is not a date (expected a date written 2026-12-01)"),
    ("Renewal", "2026-02-30", "'2026-02-30' is not a date (expected a date written 2026-12-01)"),
    ("Seen", "yesterday", "'yesterday' is not a datetime (expected a date-time written 2026-12-01T09:30)"),
    ("Backup Email", "bob at example", "'bob at example' is not an email address such as ann@example.com"),
])
def test_a_value_that_does_not_fit_names_line_column_and_reason(tmp_path, engine, column, value, reason):
    text = f"Email,{column}\nann@example.com,\nbob@example.com,{value}\n"
    refused(tmp_path, engine, "p.csv", text, f"FILE: line 3, column '{column}': {reason}")
    assert engine.store.count_people() == 0      # the good row before it was not imported either


def test_a_bad_row_imports_nothing_from_the_file(tmp_path, engine):
    engine.add_person("old@example.com", {"Seats": 1})
    before = dump(engine)
    rows = "".join(f"p{i}@example.com,{i}\n" for i in range(50))
    refused(tmp_path, engine, "p.csv", "Email,Seats\nold@example.com,2\n" + rows + "z@example.com,many\n",
            "FILE: line 53, column 'Seats': 'many' is not an integer (expected a whole number)")
    assert dump(engine) == before


def test_an_unknown_column_lists_the_known_fields(tmp_path, engine):
    err = refused(tmp_path, engine, "p.csv", "Email,Shoe Size\nann@example.com,12\n",
                  "FILE: line 1: the column 'Shoe Size' names no field; the fields are: " +
                  ", ".join(engine.model.field_names()))
    assert "Backup Email" in str(err) and "Lead Score" in str(err)


@pytest.mark.parametrize("text, message", [
    ("", "FILE: line 1: no header; the first line names the columns (Email Address, ...)"),
    ("Country\nUS\n", "FILE: line 1: no Email Address column; every person needs one"),
    ("Email,,Country\na@example.com,x,US\n", "FILE: line 1, column 2: the column has no name"),
    ("Email,Email Address\na@example.com,a@example.com\n",
     "FILE: line 1: the columns 'Email' and 'Email Address' both name the field 'Email Address'"),
    ("Email,Country\na@example.com,US,extra\n", "FILE: line 2: 3 values but the header has 2 columns"),
    ("Email,Country,City\na@example.com,US\n", "FILE: line 2: 2 values but the header has 3 columns"),
    ("Email,Country\n,US\n", "FILE: line 2: no Email Address; every person needs one"),
    ("Email,Country\nnot-an-address,US\n",
     "FILE: line 2, column 'Email': 'not-an-address' is not an email address such as ann@example.com"),
    ('Email,Country\na@example.com,"US\n', "FILE: line 2: not valid CSV: unexpected end of data"),
    ('Email,Country\na@example.com,"U"S\n', "FILE: line 2: not valid CSV: ',' expected after '\"'"),
    ("Email,Country\na@example.com,U\x00S\n", "FILE: line 2: a NUL byte; this is not a text file"),
])
def test_malformed_csv_is_refused_with_its_line(tmp_path, engine, text, message):
    refused(tmp_path, engine, "p.csv", text, message)
    assert engine.store.count_people() == 0


def test_text_that_is_not_utf8_is_refused(tmp_path, engine):
    refused(tmp_path, engine, "p.csv", b"Email,City\na@example.com,K\xf6ln\n",
            "FILE: line 2: not UTF-8 text (byte 26); save the file as UTF-8", binary=True)


def test_a_quoted_value_may_hold_commas_quotes_and_line_breaks(tmp_path, engine):
    path = write(tmp_path, "p.csv", 'Email,City,Seats\na@example.com,"Rome, ""the"" city\nline 2",1\n'
                                    "b@example.com,Oslo,x\n")
    with pytest.raises(DataFileError, match=r"line 4, column 'Seats'"):   # physical line numbers
        import_people(engine, path)
    path.write_text('Email,City\na@example.com,"Rome, ""the"" city\nline 2"\n\n', encoding="utf-8")
    import_people(engine, path)
    assert engine.get("a@example.com", "City") == 'Rome, "the" city\nline 2'


# -- duplicates merge as Marketo merges them --------------------------------------------------

def test_duplicate_emails_merge_the_later_row_updating_the_person(tmp_path, engine):
    engine.add_person("cy@example.com", {"City": "Lima"})
    path = write(tmp_path, "p.csv", "Email,City,Seats\n"
                                    "ann@example.com,Rome,1\n"
                                    "bob@example.com,Oslo,2\n"
                                    "ANN@example.com,,3\n"          # an empty cell leaves City as it is
                                    "cy@example.com,Cusco,\n"
                                    "ann@example.com,Milan,\n")
    report = import_people(engine, path)
    assert (report.created, report.updated, report.merged, report.rows) == (2, 1, 2, 5)
    assert report.summary("s.db") == ("imported 3 people (2 new, 1 updated) into s.db; 2 duplicate emails "
                                      "merged (the later row updates the person)")
    assert (engine.get("ann@example.com", "City"), engine.get("ann@example.com", "Seats")) == ("Milan", 3)
    assert engine.get("cy@example.com", "City") == "Cusco"
    assert [p.email for p in engine.people()] == ["cy@example.com", "ann@example.com", "bob@example.com"]
    assert len(engine.activities("ann@example.com", "New Person")) == 1


def test_cli_people_import_reports_merges_and_refuses_with_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "f.campaign", PROGRAM)
    write(tmp_path, "p.csv", "Email,Seats\na@example.com,1\nA@example.com,2\n")
    r = CliRunner().invoke(main, ["people", "import", "p.csv", "--db", "s.db", "--fields", "f.campaign"])
    assert r.exit_code == 0, r.output
    assert r.stdout == ("imported 1 person (1 new, 0 updated) into s.db; 1 duplicate email merged "
                        "(the later row updates the person)\n")
    write(tmp_path, "bad.csv", "Email,Seats\nb@example.com,1\nc@example.com,lots\n")
    r = CliRunner().invoke(main, ["people", "import", "bad.csv", "--db", "s.db", "--fields", "f.campaign"])
    assert r.exit_code == 2
    assert r.stderr == "error: bad.csv: line 3, column 'Seats': 'lots' is not an integer (expected a whole number)\n"
    r = CliRunner().invoke(main, ["people", "import", "p.csv", "--db", "s.db", "--fields", "f.campaign"])
    assert "(0 new, 1 updated)" in r.stdout        # b@ and c@ never arrived


# -- people as JSON ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ('[{"email": "a@example.com"},', "FILE: line 1: not JSON: Expecting value (column 29)"),
    ('{"email": "a@example.com"}', 'FILE: expected a list of objects, one per person (or {"people": [...]})'),
    ('[{"email": "a@example.com"}, 7]', "FILE: person 2: expected an object of fields, not a number"),
    ('[{"email": "a@example.com", "Seats": [1, 2]}]',
     "FILE: person 1, key 'Seats': a list is not a value; write text, a number, true/false or null"),
    ('[{"email": "a@example.com", "Seats": true}]',
     "FILE: person 1, key 'Seats': True is not an integer (expected a whole number)"),
    ('[{"email": "a@example.com", "Ratio": NaN}]',
     "FILE: not JSON a person file can hold: NaN is not a number a field can hold"),
    ('[{"email": "a@example.com", "Hat": 1}]',
     "FILE: person 1: the key 'Hat' names no field; the fields are: ALL"),
    ('[{"Seats": 1}]', "FILE: person 1: no Email Address; every person needs one"),
])
def test_malformed_json_people_are_refused(tmp_path, engine, text, message):
    refused(tmp_path, engine, "p.json", text, message.replace("ALL", ", ".join(engine.model.field_names())))


def test_json_people_convert_and_merge(tmp_path, engine):
    path = write(tmp_path, "p.json", json.dumps({"people": [
        {"Email": "a@example.com", "Seats": 3.0, "VIP": True, "Renewal": "2026-05-01", "City": None},
        {"email address": "A@example.com", "Ratio": 0.5}]}))
    report = import_people(engine, path)
    assert (report.created, report.merged) == (1, 1)
    assert engine.get("a@example.com", "Seats") == 3 and str(engine.get("a@example.com", "Ratio")) == "0.5"


def test_people_records_are_the_read_records(tmp_path, engine):
    import campaignlang
    from campaignlang.datafiles import people_records
    path = write(tmp_path, "p.csv", "Email,Seats\na@example.com,1\na@example.com,2\n")
    assert campaignlang.read_people(path, engine.model) == people_records(path, engine.model)
    assert people_records(path, engine.model) == [{"Email Address": "a@example.com", "Seats": 2}]
    assert read_people(path, engine.model).merged == 1


# -- events ----------------------------------------------------------------------------------

GOOD = '{"at": "2026-01-02T10:00", "person": "ann@example.com", "trigger": "fills out form", "name": "Contact Us"}'


@pytest.mark.parametrize("line, message", [
    ("{not json", "FILE: line 2: not JSON: Expecting property name enclosed in double quotes (column 2)"),
    ("[1, 2]", "FILE: line 2: an event is a JSON object, not a list"),
    ('{"at": "2026-01-03", "person": "a@example.com", "trigger": "person is created", "atributes": {}}',
     "FILE: line 2, key 'atributes': not an event key; the keys are: at, person, trigger, name, field, to, from, "
     "attributes"),
    ('{"person": "a@example.com", "trigger": "person is created"}', "FILE: line 2: the event has no 'at'"),
    ('{"at": "2026-01-03", "trigger": "person is created"}', "FILE: line 2: the event has no 'person'"),
    ('{"at": "tomorrow", "person": "a@example.com", "trigger": "person is created"}',
     "FILE: line 2, key 'at': 'tomorrow' is not a date-time (write 2026-01-02T10:00)"),
    ('{"at": 20260103, "person": "a@example.com", "trigger": "person is created"}',
     "FILE: line 2, key 'at': 20260103 is not a date-time (write 2026-01-02T10:00)"),
    ('{"at": "2026-01-01T09:00", "person": "a@example.com", "trigger": "person is created"}',
     "FILE: line 2, key 'at': events must come in time order (2026-01-01T09:00 is before the previous event, "
     "2026-01-02T10:00:00)"),
    ('{"at": "2026-01-03", "person": ["a@example.com", 7], "trigger": "person is created"}',
     "FILE: line 2, key 'person': ['a@example.com', 7] is not an email address or a list of them"),
    ('{"at": "2026-01-03", "person": "a@example.com", "trigger": "fills out a form", "name": "Contact Us"}',
     "FILE: line 2, key 'trigger': 'fills out a form' is not a trigger an event can fire; the triggers are: "
     "fills out form, visits web page, opens email, clicks link in email, data value changes, score is changed, "
     "added to list, removed from list, program status is changed, person is created"),
    ('{"at": "2026-01-03", "person": "a@example.com", "trigger": "campaign is requested"}',
     "FILE: line 2, key 'trigger': 'campaign is requested' is not a trigger an event can fire; the triggers are: "
     "fills out form, visits web page, opens email, clicks link in email, data value changes, score is changed, "
     "added to list, removed from list, program status is changed, person is created"),
    ('{"at": "2026-01-03", "person": "a@example.com", "trigger": "fills out form"}',
     "FILE: line 2, key 'name': 'fills out form' needs the name of a form"),
    ('{"at": "2026-01-03", "person": "a@example.com", "trigger": "data value changes", "to": "x"}',
     "FILE: line 2, key 'field': 'data value changes' needs the field that changed"),
    ('{"at": "2026-01-03", "person": "a@example.com", "trigger": "data value changes", "field": "Hat"}',
     "FILE: line 2, key 'field': 'Hat' names no field; the fields are: ALL"),
    ('{"at": "2026-01-03", "person": "a@example.com", "trigger": "data value changes", "field": "Seats", '
     '"to": "many"}', "FILE: line 2, key 'to': 'many' is not an integer (expected a whole number)"),
    ('{"at": "2026-01-03", "person": "a@example.com", "trigger": "visits web page", "name": "/x", '
     '"attributes": {"Query": {"a": 1}}}',
     "FILE: line 2, key 'attributes': the value of 'Query' is an object, not text, a number or true/false"),
    ('{"at": "2026-01-03", "person": "a@example.com", "trigger": "program status is changed", "name": "P"}',
     "FILE: line 2, key 'to': 'program status is changed' needs the new status"),
])
def test_a_malformed_event_line_is_refused_and_nothing_replays(tmp_path, engine, line, message):
    before = dump(engine)
    refused(tmp_path, engine, "ev.jsonl", GOOD + "\n" + line + "\n",
            message.replace("ALL", ", ".join(engine.model.field_names())))
    assert dump(engine) == before


def test_an_event_that_fails_while_replaying_rolls_back_the_whole_file(tmp_path, engine):
    engine.add_person("ann@example.com")
    before, now = dump(engine), engine.now
    path = write(tmp_path, "ev.jsonl", GOOD + "\n" +
                 GOOD.replace("10:00", "11:00").replace("ann@", "new@") + "\n\n" +
                 GOOD.replace("10:00", "12:00").replace("Contact Us", "Contact Uss") + "\n")
    with pytest.raises(DataFileError) as info:
        replay(engine, path)
    assert str(info.value).startswith(f"{path}: line 4: ")
    assert str(info.value).endswith("; nothing from the file was kept")
    assert "Contact Uss" in str(info.value)
    assert dump(engine) == before and engine.now == now
    # the same file without the bad line replays
    path.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")
    replayed = replay(engine, path)
    assert engine.in_list("ann@example.com", "L") and engine.in_list("new@example.com", "L")
    assert (replayed.runs, replayed.events) == (2, 2)


def test_an_event_before_the_store_clock_is_refused(tmp_path, engine):
    engine.advance("5 days")
    refused(tmp_path, engine, "ev.jsonl", GOOD + "\n",
            "FILE: line 1, key 'at': 2026-01-02T10:00 is before the store's clock (2026-01-06T00:00:00)")


def test_events_cli_refuses_with_one_line_and_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "f.campaign", PROGRAM)
    write(tmp_path, "ev.jsonl", GOOD + "\n" + GOOD.replace("Contact Us", "Nope") + "\n")
    r = CliRunner().invoke(main, ["events", "f.campaign", "ev.jsonl", "--db", "s.db"])
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: ev.jsonl: line 2: ")
    assert not (tmp_path / "s.db").exists()   # a refused command leaves no store behind
    # an existing store keeps nothing from the file
    write(tmp_path, "ok.jsonl", GOOD + "\n")
    assert CliRunner().invoke(main, ["events", "f.campaign", "ok.jsonl", "--db", "s.db"]).exit_code == 0
    import sqlite3
    con = sqlite3.connect(tmp_path / "s.db")
    people = con.execute("SELECT count(*) FROM people").fetchone()
    acts = con.execute("SELECT count(*) FROM activities").fetchone()
    con.close()
    r = CliRunner().invoke(main, ["events", "f.campaign", "ev.jsonl", "--db", "s.db"])
    assert r.exit_code == 2
    con = sqlite3.connect(tmp_path / "s.db")
    assert con.execute("SELECT count(*) FROM people").fetchone() == people
    assert con.execute("SELECT count(*) FROM activities").fetchone() == acts


def test_event_records_keep_their_shape(tmp_path):
    from campaignlang.datafiles import event_records
    path = write(tmp_path, "ev.jsonl", "\n" + GOOD + "\n")
    assert event_records(path) == [(2, json.loads(GOOD))]
    assert [e.line for e in read_events(path)] == [2]


def test_a_data_file_error_is_a_run_error():
    assert issubclass(DataFileError, RunError)
