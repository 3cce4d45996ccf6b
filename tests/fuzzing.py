"""The fuzz harness shared by tests/test_fuzz.py (CI) and bench/fuzz.py (by hand).

Three sources of programs:

* ``mutated()`` — the examples, the spec files, the engine test files and the
  library modules, broken the ways people break files: tokens deleted,
  duplicated and swapped, truncation, random bytes, NUL, unbalanced braces
  and ``{{``, very long names, deep choice chains and deep nesting, non-ASCII.
* ``generated()`` — random syntax trees (tests/strategies.py) written out by
  the formatter: valid syntax, mostly invalid meaning.
* ``coherent()`` — programs built from a fixed set of assets, so most of them
  check clean and reach the engine: trigger loops, waits, webhooks with nasty
  values, execute/request chains, test blocks.

``exercise(text)`` is the property (issue 7): ``parse``, ``check``, ``fmt``,
``test`` (the runner over the file's test blocks), ``run`` (batches, requests,
events and a clock advance through the ``Engine``) and ``plan`` (the same on
a copy of the store) raise nothing but ``CampaignError`` subclasses, and
every diagnostic's span lies inside its file. Anything else propagates: that
is a crash.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from campaignlang import ast
from campaignlang.check import check
from campaignlang.clock import Clock
from campaignlang.engine import Engine
from campaignlang.errors import CampaignError, DiagnosticError
from campaignlang.format import format_module, format_source
from campaignlang.loader import load_text
from campaignlang.parse import parse
from campaignlang.render import render_json, render_text
from campaignlang.runner import run_tests
from campaignlang.store import Store

ROOT = Path(__file__).resolve().parent.parent
NAME = "fuzz.campaign"
#: an empty folder as the project root: relative imports find nothing, and none leaves it
EMPTY_ROOT = Path(tempfile.mkdtemp(prefix="campaign-fuzz-root-"))
#: steps per engine action while fuzzing: a loop ends with RunError, never a hang
MAX_STEPS = 4000


def _corpus() -> list[str]:
    files = [*sorted((ROOT / "examples").glob("*.campaign")), *sorted((ROOT / "tests" / "spec").rglob("*.campaign")),
             *sorted((ROOT / "tests" / "engine").glob("*.campaign")), *sorted((ROOT / "stdlib").glob("*.campaign"))]
    return [f.read_text("utf-8") for f in files]


SOURCES = _corpus()

# --------------------------------------------------------------------------
# Mutations

_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\{\{|\}\}|[{};,]|[A-Za-z_][A-Za-z0-9_]*|\d[\d:T.-]*|\S')

NASTY = ["{", "}", "{{", "}}", '"', "'", "\\", "\x00", "\n", "\r", "\t", ";", ",", "#", ".", "=", "==",
         "program", "campaign", "flow", "smart list", "filter", "trigger", "if", "else", "then", "do nothing",
         "é", "日本", "\u202e", "\ufeff", "\u2028", "\x0c", "\udcff"[:0] + "\uffff", "🎉",
         "x" * 300, "9" * 40, "2026-13-45", "2026-02-30T25:61", "+", "-", "=-", ":default=", "lead.", "my.",
         "{{my.", "{{lead.Email Address}}", "{{trigger.", "}}}}", "{{{{", '"{{', '}}"', "use parent token context",
         "execute campaign", "wait 1 minute", "qualify every time", "import \"../x.campaign\"", "import std \"",
         "+99999999999999999999999", "=-9223372036854775808", "99999999999999999999 days", "1e999",
         "9" * 5000, "+" + "9" * 5000, "3650001 days", "521429 weeks", "at 9999-12-31T23:59", "9999-12-31T23:59"]


def _long_name() -> st.SearchStrategy[str]:
    return st.integers(200, 5000).map(lambda n: '"' + "n" * n + '"')


def _choice_chain(depth: int) -> str:
    branches = "\n".join(f'    else if lead."Lead Score" >= {i} then to "v{i}"' for i in range(depth))
    return f'change data value lead.Country {{\n    if lead.Country is "x" then to "y"\n{branches}\n    else to "z"\n}}\n'


def _deep_nesting(depth: int) -> str:
    return "".join(f'folder "f{i}" {{ ' for i in range(depth)) + 'program "Deep" { }' + " }" * depth


@st.composite
def mutated(draw: Any) -> str:
    """A source of the corpus with 1-5 mutations."""
    text = draw(st.sampled_from(SOURCES))
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "truncate", "bytes",
                                   "chars", "braces", "long", "chain", "nest", "nonascii"]))
        tokens = [m.span() for m in _TOKEN.finditer(text)]
        if not tokens:
            text += draw(st.sampled_from(NASTY))
            continue
        i = draw(st.integers(0, len(tokens) - 1))
        a, b = tokens[i]
        if op == "delete":
            n = draw(st.integers(1, 3))
            end = tokens[min(i + n, len(tokens)) - 1][1]
            text = text[:a] + text[end:]
        elif op == "duplicate":
            text = text[:b] + " " + text[a:b] + text[b:]
        elif op == "swap":
            c, d = tokens[draw(st.integers(0, len(tokens) - 1))]
            if (c, d) != (a, b):
                (x0, x1), (y0, y1) = sorted([(a, b), (c, d)])
                if x1 <= y0:
                    text = text[:x0] + text[y0:y1] + text[x1:y0] + text[x0:x1] + text[y1:]
        elif op == "insert":
            text = text[:a] + draw(st.sampled_from(NASTY) | st.text(max_size=6)) + text[a:]
        elif op == "truncate":
            text = text[:draw(st.integers(0, len(text)))]
        elif op == "bytes":
            raw = draw(st.binary(min_size=1, max_size=8)).decode("utf-8", "replace")
            text = text[:a] + raw + text[a:]
        elif op == "chars":
            text = text[:a] + draw(st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF,
                                                         blacklist_categories=("Cs",)), max_size=4)) + text[b:]
        elif op == "braces":
            text = text[:a] + draw(st.sampled_from(["{", "}", "{{", "}}", "{ {", "} }", "{" * 30, "}" * 30])) + text[a:]
        elif op == "long":
            text = text[:a] + draw(_long_name()) + text[b:]
        elif op == "chain":
            line = text.rfind("\n", 0, a) + 1
            text = text[:line] + _choice_chain(draw(st.integers(10, 300))) + text[line:]
        elif op == "nest":
            text = text + "\n" + _deep_nesting(draw(st.integers(5, 400))) + "\n"
        else:
            text = text[:a] + draw(st.sampled_from(["é", "ß", "日本語", "Ω", "\u0301", "\u200b", "🎉", "İ", "ﬃ"])) + text[a:]
    return text


@st.composite
def generated(draw: Any) -> str:
    """A random syntax tree written out by the formatter."""
    from strategies import modules  # tests/ is on sys.path under pytest and bench/fuzz.py

    return format_module(draw(modules()))


# --------------------------------------------------------------------------
# Coherent programs: every name exists, so many reach the engine

#: values a person's fields, tokens and event attributes take: quotes, braces, token syntax, newlines
EVIL = ['x"y', "a\\b", "{{my.Secret}}", "}}{{", '{"k": 1}', "line1\nline2", "é日本🎉", "", " ", "%20&q=1#f",
        "{{lead.Email Address}}", "\x00", "9" * 30, "2026-02-30", "true", "null", "<script>", "a" * 500]

FIELDS = {"Stage": "text", "Tier": "text", "Points": "score", "Renewal": "date", "Seen": "datetime",
          "Flag": "boolean", "Size2": "integer", "Ratio": "decimal"}


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_TEXT = st.sampled_from(EVIL) | st.text(max_size=8)
_STR_VALUE = _TEXT.map(lambda t: _q(t.replace("{", "(").replace("}", ")")))


def _value_for(type_: str) -> st.SearchStrategy[str]:
    if type_ == "text":
        return st.one_of(_STR_VALUE, st.sampled_from(['"{{lead.Tier}} more"', '"{{my.Text}}"', '"{{trigger.Name}}"',
                                                      '"{{system.date}}"', "null", '"{{member.Code}}"']))
    if type_ == "score":
        return st.one_of(st.integers(-10**6, 10**6).map(str), st.sampled_from(["null", "0"]))
    if type_ == "integer":
        return st.one_of(st.integers(-10**9, 10**9).map(str), st.sampled_from(["null", "9223372036854775807"]))
    if type_ == "decimal":
        return st.sampled_from(["3.5", "-0.25", "1000000.125", "null", "0"])
    if type_ == "boolean":
        return st.sampled_from(["true", "false", "null"])
    if type_ == "date":
        return st.sampled_from(["2026-02-01", "1999-12-31", "null"])
    return st.sampled_from(["2026-02-01T09:30", "null", "2026-01-01T00:00"])


_FIELD = st.sampled_from(sorted(FIELDS) + ["Country", "Lead Score", "Company Size", "Unsubscribed"])


def _ftype(name: str) -> str:
    return FIELDS.get(name, {"Country": "text", "Lead Score": "score", "Company Size": "integer",
                             "Unsubscribed": "boolean"}.get(name, "text"))


@st.composite
def _filter(draw: Any) -> str:
    kind = draw(st.integers(0, 6))
    if kind == 0:
        f = draw(_FIELD)
        t = _ftype(f)
        if t in ("text",):
            return f'lead.{_q(f)} {draw(st.sampled_from(["is", "is not", "contains", "starts with"]))} {draw(_STR_VALUE)}'
        if t in ("score", "integer", "decimal"):
            return f'lead.{_q(f)} {draw(st.sampled_from([">=", "<", "is", "is not"]))} {draw(st.integers(-5, 100))}'
        if t == "boolean":
            return f'lead.{_q(f)} {draw(st.sampled_from(["is true", "is false"]))}'
        return f'lead.{_q(f)} {draw(st.sampled_from(["before 2026-06-01", "in past 3 days", "is empty"]))}'
    if kind == 1:
        return f'{draw(st.sampled_from(["member of list", "not member of list"]))} "{draw(st.sampled_from(["L1", "L2"]))}"'
    if kind == 2:
        return 'member of program "P" status is "Registered"'
    if kind == 3:
        return 'filled out form "F"'
    if kind == 4:
        return f'campaign was run "P"."{draw(st.sampled_from(["T1", "T2", "B1"]))}"'
    if kind == 5:
        return 'member of smart list "S"'
    return f'lead."Lead Score" between {draw(st.integers(0, 10))} and {draw(st.integers(10, 90))}'


_TRIGGERS = st.sampled_from([
    'fills out form "F"', 'visits web page "/p?x=1"', 'opens email "E"', 'clicks link in email "E"',
    'data value changes lead.Stage', 'data value changes lead.Stage to "a"', 'data value changes lead.Stage to "b"',
    'data value changes lead.Tier from "x"', 'score is changed lead."Lead Score"', 'score is changed lead.Points',
    'added to list "L1"', 'removed from list "L1"', 'added to list "L2"',
    'program status is changed "P" to "Registered"', 'person is created'])


@st.composite
def _step(draw: Any, kind: str, me: int) -> str:
    options = ["cdv", "score", "list", "email", "status", "member", "moment", "execute", "choice", "alert"]
    if kind != "executable":
        options += ["request", "remove", "loop"]
        if kind == "trigger":
            options += ["wait", "webhook", "webhook"]
        else:
            options += ["wait"]
    if draw(st.integers(0, 40)) == 0:
        options.append("delete")
    op = draw(st.sampled_from(options))
    if op == "cdv":
        f = draw(_FIELD)
        return f"change data value lead.{_q(f)} to {draw(_value_for(_ftype(f)))}"
    if op == "loop":
        return "change data value lead.Stage to " + draw(st.sampled_from(['"a"', '"b"']))
    if op == "score":
        f = draw(st.sampled_from(["Lead Score", "Points"]))
        by = draw(st.sampled_from(["+10", "-5", "=20", "=-3", "{{my.Score}}", "+9223372036854775807", "=0"]))
        return f"change score lead.{_q(f)} by {by}"
    if op == "list":
        return f'{draw(st.sampled_from(["add to list", "remove from list"]))} "{draw(st.sampled_from(["L1", "L2"]))}"'
    if op == "email":
        return 'send email "E"'
    if op == "alert":
        return 'send alert "E" to "ops@example.com"'
    if op == "status":
        return f'change program status "P" to "{draw(st.sampled_from(["Invited", "Registered", "Attended"]))}"'
    if op == "member":
        return f'change program member data "P" "Code" to {draw(_STR_VALUE)}'
    if op == "moment":
        return f'interesting moment web "{draw(st.sampled_from(["{{trigger.Web Page}}", "{{lead.Tier}}", "x", "{{my.Text}}"]))}"'
    if op == "execute":
        targets = [i for i in range(3) if kind != "executable" or i > me]
        if not targets:
            return 'send email "E"'
        use = draw(st.booleans())
        return f'execute campaign "X{draw(st.sampled_from(targets))}"' + (" use parent token context" if use else "")
    if op == "request":
        return f'request campaign "{draw(st.sampled_from(["R1", "R1", "R1", "T1"]))}"'
    if op == "remove":
        return "remove from flow " + draw(st.sampled_from(["this campaign", '"T1"', '"R1"', '"T2"']))
    if op == "wait":
        return draw(st.sampled_from(["wait 1 minute", "wait 2 days", "wait until 2026-01-03T00:00",
                                     "wait until {{lead.Renewal}}" if kind == "trigger" else "wait 1 hour"]))
    if op == "webhook":
        return 'call webhook "W"'
    if op == "delete":
        return "delete person"
    # a choice
    f = draw(_FIELD)
    branches = draw(st.lists(_filter(), min_size=1, max_size=4))
    lines = [f"    {'if' if i == 0 else 'else if'} {b} then to {draw(_value_for(_ftype(f)))}"
             for i, b in enumerate(branches)]
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["    else do nothing", f"    else to {draw(_value_for(_ftype(f)))}"])))
    return f"change data value lead.{_q(f)} {{\n" + "\n".join(lines) + "\n}"


@st.composite
def _campaign(draw: Any, name: str, kind: str, me: int = 0) -> str:
    lines = [f'campaign "{name}" {kind} {{']
    filters = draw(st.lists(_filter(), max_size=3))
    if kind == "batch" and not filters:
        filters = ['lead."Lead Score" >= 0']
    triggers = []
    if kind == "trigger":
        triggers = ["campaign is requested from any"] if name == "R1" else draw(st.lists(_TRIGGERS, min_size=1, max_size=2))
    logic = draw(st.sampled_from(["", " any"])) if filters else ""
    if filters or triggers:
        lines.append(f"    smart list{logic} {{")
        lines += [f"        trigger {t}" for t in triggers] + [f"        filter {f}" for f in filters]
        lines.append("    }")
    steps = draw(st.lists(_step(kind, me), max_size=6))
    lines.append("    flow {")
    lines += ["        " + s.replace("\n", "\n        ") for s in steps]
    lines.append("    }")
    if kind == "batch" and draw(st.integers(0, 4)) == 0:
        lines.append(draw(st.sampled_from(["    schedule 2026-01-02T00:00", "    schedule every 1 day starting 2026-01-01T12:00"])))
    lines.append(f"    qualify {draw(st.sampled_from(['once', 'every time', 'every time', 'once every 1 day']))}")
    lines.append("}")
    return "\n".join(lines)


_PEOPLE = ["ann@example.com", "Bob@Example.com", "cy+tag@example.com"]


@st.composite
def _test_block(draw: Any) -> str:
    stmts = []
    for who in _PEOPLE:
        f = draw(_FIELD)
        stmts.append(f'person "{who}" {{ {_q(f)} = {draw(_value_for(_ftype(f)).filter(lambda v: "{{" not in v))} }}')
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.integers(0, 6))
        who = draw(st.sampled_from(_PEOPLE))
        if kind == 0:
            stmts.append('run "P"."B1"')
        elif kind == 1:
            stmts.append(f'request "P"."R1" for "{who}" with tokens {{ my.Score = +{draw(st.integers(0, 9))} }}')
        elif kind == 2:
            stmts.append(f'fire {draw(_TRIGGERS.filter(lambda t: "data value" not in t and "score" not in t))} for "{who}"')
        elif kind == 3:
            stmts.append(f"advance {draw(st.integers(0, 5))} days")
        elif kind == 4:
            stmts.append(f'for "{who}" {{ {draw(_step("executable", 9))} }}')
        elif kind == 5:
            stmts.append(f'expect "{who}"."Lead Score" >= 0')
        else:
            stmts.append(f'expect activity "Send Email" for "{who}"')
    return 'test "fuzz" {\n    ' + "\n    ".join(stmts) + "\n}"


@st.composite
def coherent(draw: Any) -> str:
    tokens = (f'my.Score = {draw(st.sampled_from(["+5", "=0", "-3", "+0"]))}; my.Text = {draw(_STR_VALUE)}; '
              f'my.Date = 2026-02-01; my.Secret = "s3cret"')
    parts = [
        "fields { " + "; ".join(f"{_q(k)}: {v}" for k, v in FIELDS.items()) + " }",
        'program "P" {',
        '    statuses "Invited", "Registered", "Attended"',
        '    member fields "Code"',
        f"    tokens {{ {tokens} }}",
        '    list "L1"', '    list "L2"', '    form "F"',
        '    smart list "S" { filter lead.Country is "US" }',
        '    email "E" { subject "Hi {{lead.First Name:default=there}} {{my.Text}}" }',
        '    webhook "W" {\n        url "https://h.example/x?s={{lead.Stage}}&t={{my.Text}}"\n        method post\n'
        '        payload "{\\"s\\": \\"{{lead.Stage}}\\", \\"t\\": \\"{{trigger.Web Page}}\\"}"\n'
        '        response "tier" -> lead.Tier\n    }',
    ]
    campaigns = [draw(_campaign(f"X{i}", "executable", i)) for i in range(3)]
    campaigns += [draw(_campaign("T1", "trigger")), draw(_campaign("T2", "trigger")), draw(_campaign("R1", "trigger")),
                  draw(_campaign("B1", "batch"))]
    parts += ["    " + c.replace("\n", "\n    ") for c in campaigns]
    parts.append("}")
    parts.append(draw(_test_block()))
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------
# The property


def _spans_inside(diags: Any, sources: dict[str, Any]) -> None:
    for d in diags:
        assert d.code.startswith("CL"), d
        src = sources.get(d.span.file)
        assert src is not None, f"diagnostic in an unknown file: {d}"
        text = src.text
        assert 0 <= d.span.start <= d.span.end <= len(text), (d, len(text))
        assert 1 <= d.span.line <= d.span.end_line <= text.count("\n") + 1, d
        for r in d.related:
            rsrc = sources.get(r.span.file)
            assert rsrc is not None and 0 <= r.span.start <= r.span.end <= len(rsrc.text), r


def _swallow(fn: Any, *args: Any, **kw: Any) -> Any:
    try:
        return fn(*args, **kw)
    except CampaignError:
        return None


def _hook(request: Any) -> tuple[int, Any]:
    """A webhook handler that reflects its input back: nasty values reach the response mapping."""
    request.json() if request.payload and request.payload.startswith("{") else None
    return 200, {"tier": request.url[-40:], "big": 10**30}


def exercise(text: str, name: str = NAME, engine_stages: bool = True, deep: bool = False) -> dict[str, bool]:
    """Run every stage on ``text``; return which stages ran. Raises
    AssertionError when a property fails and lets any non-CampaignError
    exception through (a crash)."""
    stages = {"parse": True, "check": False, "fmt": False, "test": False, "run": False, "plan": False}
    loaded = load_text(text, name, root=EMPTY_ROOT)     # parses the file (once) and its imports
    result = next(r for r in loaded.results if r.source.name == name)
    _spans_inside(result.diagnostics, {name: result.source})
    render_text(result.diagnostics, {name: result.source})

    checked = check(loaded)
    stages["check"] = True
    _spans_inside(checked.diagnostics, checked.sources)
    render_text(checked.diagnostics, checked.sources)
    render_json(checked.diagnostics)

    # campaign fmt: format_source is this (parse, refuse on a syntax error, lay out)
    if not [d for d in result.diagnostics if d.is_error]:
        format_module(result.module, result.comments)
        stages["fmt"] = True
    elif deep:
        try:
            format_source(text, name)
        except DiagnosticError:
            pass

    program = checked.program
    if program is None or not engine_stages:
        return stages
    _swallow(run_tests, program)
    stages["test"] = True

    engine = Engine(program, Store(":memory:"), max_steps=MAX_STEPS, max_runs_per_person=50)
    for prog in engine.model.programs:   # a name the program lacks is refused (issue 14)
        for hook in prog.webhooks:
            _swallow(engine.register_webhook, f'"{prog.name}"."{hook}"', _hook)
    for i, who in enumerate(_PEOPLE):
        _swallow(engine.add_person, who, {"Country": "US" if i != 1 else "DE", "Lead Score": 10 * i,
                                          "Stage": EVIL[i % len(EVIL)].replace("\x00", "")})
    model = engine.model
    for c in model.campaigns:
        if c.kind == "batch":
            _swallow(engine.run_batch, c, {"my.Score": "+2"} if c.env().lookup("Score") else None)
        elif c.kind == "trigger":
            _swallow(engine.request, c, _PEOPLE[:2], None, "api")
            for trig in (c.smart_list.triggers if c.smart_list else ()):
                if trig.kind != "campaign is requested":
                    _swallow(engine.fire, trig, _PEOPLE)
    _swallow(engine.advance, "3 days")
    stages["run"] = True

    plan = Engine(program, engine.store.copy_to_memory(), Clock(engine.now), max_steps=MAX_STEPS,
                  max_runs_per_person=50)
    for c in model.campaigns:
        if c.kind == "batch":
            _swallow(plan.run_batch, c)
            break
    _swallow(plan.advance, "1 week")
    stages["plan"] = True
    plan.store.close()
    engine.store.close()
    return stages


# --------------------------------------------------------------------------
# Attack classes (issue 14): programs built to exhaust a limit


def _nested_tokens(levels: int, fan: int, base: str) -> str:
    decls = [f'my.T0 = "{base}"'] + [f'my.T{i} = "-' + "{{my.T%d}}" % (i - 1) * fan + '"'
                                     for i in range(1, levels + 1)]
    return "tokens {\n        " + "\n        ".join(decls) + "\n    }"


@st.composite
def attacks(draw: Any) -> str:
    """A program of one attack class: nested My Tokens, deep or long
    advanced logic, many filters, a long chain of member-of-smart-list
    links, a huge literal, control characters and lone surrogates in names
    and values, an unclosed string of escaped quotes. Most of them check
    clean, so the engine runs them too."""
    kind = draw(st.sampled_from(["tokens", "logic", "filters", "chain", "literal", "escapes", "surrogates",
                                 "quotes", "self token"]))
    flow = 'change data value lead."Job Title" to "{{my.T%d}}"'
    if kind == "tokens":
        levels, fan = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        return (f'program "P" {{\n    {_nested_tokens(levels, fan, draw(st.text("ab", max_size=8)))}\n'
                f'    campaign "C" batch {{\n        smart list {{ filter lead.Country is "US" }}\n'
                f'        flow {{ {flow % levels} }}\n    }}\n}}\n')
    if kind == "self token":
        return ('program "P" {\n    tokens { my.A = "x{{my.B}}"; my.B = "{{my.A}}{{my.A}}" }\n'
                '    campaign "C" batch {\n        smart list { filter lead.Country is "US" }\n'
                '        flow { change data value lead."Job Title" to "{{my.A}}" }\n    }\n}\n')
    if kind in ("logic", "filters"):
        n = draw(st.integers(3, 60 if kind == "logic" else 1500))
        filters = "\n".join(f'            filter lead."Lead Score" >= {i}' for i in range(n))
        if kind == "logic":
            deep = draw(st.booleans())
            if deep:
                expr = "1"
                for i in range(2, n + 1):
                    expr = f"({expr} {'and' if i % 2 else 'or'} {i})"
            else:
                expr = " and ".join(str(i) for i in range(1, n + 1))
            head = f'smart list logic "{expr}"'
        else:
            head = "smart list " + draw(st.sampled_from(["", "any "]))
        trig = draw(st.booleans())
        trigger = "            trigger fills out form \"F\"\n" if trig else ""
        kind_word = "trigger" if trig else "batch"
        return (f'program "P" {{\n    form "F"\n    campaign "C" {kind_word} {{\n        {head}{{\n{trigger}{filters}\n'
                f'        }}\n        flow {{ interesting moment web "in" }}\n    }}\n}}\n')
    if kind == "chain":
        n = draw(st.integers(2, 250))
        lists = [f'    smart list "S0" {{ filter lead.Country is "US" }}']
        lists += [f'    smart list "S{i}" {{ filter member of smart list "S{i - 1}" }}' for i in range(1, n)]
        return ('program "P" {\n' + "\n".join(lists) + '\n    campaign "C" batch {\n'
                f'        smart list {{ filter member of smart list "S{n - 1}" }}\n'
                '        flow { interesting moment web "in" }\n    }\n}\n')
    if kind == "literal":
        size = draw(st.sampled_from([10_000, 100_000, 1_000_000]))
        return f'program "P" {{ description "{"x" * size}" }}\n'
    if kind == "quotes":
        return 'program "P" { description "' + '\\"' * draw(st.integers(1, 50_000))
    bad = draw(st.sampled_from(["\x1b]0;title\x07", "\u202e", "\x9b31m", "\x00", "\r"] if kind == "escapes"
                               else ["\ud800", "\udcff", "\udfff"]))
    return (f'program "P{bad}" {{\n    list "L{bad}"\n    tokens {{ my.N = "v{bad}" }}\n'
            f'    campaign "C{bad}" batch {{\n        smart list {{ filter lead.Country is "US{bad}" }}\n'
            f'        flow {{ add to list "L{bad}"; change data value lead."Job Title" to "{{{{my.N}}}}" }}\n'
            f'    }}\n}}\n')


TREE_KINDS = ["file", "link_out", "link_in", "loop", "dangling", "fifo", "dir_campaign", "link_dir"]


def exercise_tree(kinds: list[str]) -> None:
    """A project folder of hostile entries (links out of the root, loops,
    FIFOs, folders named x.campaign): load_paths and the fmt scan raise
    nothing but CampaignError, never read outside, never write outside."""
    import os
    import shutil

    from campaignlang.loader import campaign_scan, load_paths, read_text, write_inside_root

    base = Path(tempfile.mkdtemp(prefix="campaign-fuzz-tree-"))
    try:
        proj, outside = base / "proj", base / "outside"
        proj.mkdir()
        outside.mkdir()
        (proj / "campaign.toml").write_text("")
        secret = outside / "secret.campaign"
        secret.write_text('program   "SECRET" { }\n')
        for i, kind in enumerate(kinds):
            p = proj / f"e{i}.campaign"
            if kind == "file":
                p.write_text(f'program   "P{i}" {{ }}\n')
            elif kind == "link_out":
                p.symlink_to(secret)
            elif kind == "link_in":
                p.symlink_to(proj / "campaign.toml")
            elif kind == "loop":
                p.symlink_to(p.name)
            elif kind == "dangling":
                p.symlink_to(proj / "none")
            elif kind == "fifo" and hasattr(os, "mkfifo"):
                os.mkfifo(p)
            elif kind == "dir_campaign":
                p.mkdir()
                (p / "x.campaign").write_text(f'program "D{i}" {{ }}\n')
            elif kind == "link_dir":
                p.symlink_to(base)
        try:
            loaded = load_paths([proj])
            assert all("SECRET" not in r.source.text for r in loaded.results)
            scan = campaign_scan([proj])
            for f in scan.files:
                try:
                    write_inside_root(f, read_text(f))
                except CampaignError:
                    pass
        except CampaignError:
            pass
        assert secret.read_text() == 'program   "SECRET" { }\n'
    finally:
        shutil.rmtree(base, ignore_errors=True)
