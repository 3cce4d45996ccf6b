"""``campaign fmt``: the one canonical layout of a ``.campaign`` file, comments kept.

Owns the layout rules (docs/language.md, "Formatting") and the placing of
comments. ``format_source`` parses and refuses a file with syntax errors (it
raises ``DiagnosticError``: a broken file is never rewritten);
``format_module`` writes an AST and the comments ``parse`` collected.

How it works. A first pass turns the AST into a layout tree of *leaves* (one
output line each: an import, a filter, a step, a test statement) and *blocks*
(a header, ``{``, items, ``}``). Steps, filters and triggers are written from
their vocabulary entries in ``stdlib`` (the entry's words, then its pattern
walked item by item: words as written, a ``Slot`` as the node's attribute, an
``Opt`` when its slot or flag is set, the ``Alt`` option that fits), so a new
vocabulary entry needs no change here. A choice writes its head (``Choice.head``)
on the step line and, in each branch, the rest of the pattern, split exactly
where ``parse`` will split it again.

A second pass prints the tree and puts the comments back, by source offset:
an own-line comment is printed, at the indentation of what follows it, before
the first item that started after it; a comment before a block's ``}`` stays
inside that block; a trailing comment goes back at the end of the line printed
last before it (a comment that trailed a comma inside a phrase thus trails the
phrase's line; when that line already carries one, it gets a line of its own
below). Nothing is dropped, and the output puts every comment where this same
rule finds it again, which is what makes the formatter idempotent. Blank lines
the source had are read from line numbers (a gap of more than one line between
two printed things); an item without a span (a webhook's ``method``: the AST
keeps only the word) places no comments and keeps no blank line after it.

Layout rules:
* 4 spaces per level; one item per line; ``{`` ends the header line, ``}`` has
  a line of its own. ``;`` separators become line breaks.
* ``fields``, ``tokens``, ``smart list``, ``flow``, ``email``, ``webhook`` and
  a test's ``for`` go on one line (``tokens { my.Score = +5 }``) when they hold
  exactly one single-line item, no comment and fit in 100 columns; an empty
  block is ``{}``. Programs, folders, workspaces, campaigns, tests and choices
  are always expanded.
* Blank lines: one between top-level declarations (consecutive imports stay
  together); one around every multi-line item of a workspace, folder or
  program; elsewhere one where the source had one or more between two items or
  comments; never after ``{``, before ``}``, or at the ends of the file.
* Canonical spellings: operators as symbols (``>=`` for ``at least``), names
  bare when they are identifiers (``lead.Country``, ``my.Score``) and quoted
  otherwise; field and token names as declared (a standard field, or the
  file's own ``fields`` and ``tokens``); ``all`` logic and ``method get`` are
  left out. An email's and a webhook's items keep the order they were written
  in (a tree built without spans: subject, from, body; url, method, payload,
  responses); a webhook's ``method`` has no span and goes after its url.

Imports ``ast``, ``parse``, ``errors``, ``source`` and the ``stdlib``
vocabulary; never click (cli.py) or the engine.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import re
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Sequence, Union

from . import ast
from .errors import DiagnosticError
from .parse import Comment, parse
from .source import Span
from .stdlib import filters as _filters
from .stdlib import steps as _steps
from .stdlib import triggers as _triggers
from .stdlib.types import STANDARD_FIELDS
from .stdlib.vocabulary import Alt, Opt, Phrase, Slot

__all__ = ["format_source", "format_module", "INDENT", "MAX_WIDTH"]

INDENT = "    "
#: a block goes on one line only when that line fits in this many columns
MAX_WIDTH = 100


def format_source(text: str, file: str = "<input>") -> str:
    """The canonical text of a file; raises ``DiagnosticError`` on syntax errors."""
    result = parse(text, file)
    errors = [d for d in result.diagnostics if d.is_error]
    if errors:
        raise DiagnosticError(errors)
    return format_module(result.module, result.comments)


def format_module(module: ast.Module, comments: Sequence[Comment] = ()) -> str:
    """Write ``module`` in the canonical layout with ``comments`` put back.

    Nodes without spans (built by hand) are fine when ``comments`` is empty.
    """
    tree = _Layout(module).module(module)
    return _Printer(comments).print(tree)


# --------------------------------------------------------------------------
# Spellings

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: words that may not stand bare as a name: a choice branch splits at `then`
_QUOTED_WORDS = frozenset({"then"})
#: a spelling that may go inside ``{{...}}`` (and inside a string) as it is
_TOKEN_SAFE = re.compile(r'[^{}"\\:\x00-\x1f]*')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def quote(text: str) -> str:
    """``text`` as a string literal: ``"a \\"b\\""``."""
    return '"' + _escape(text) + '"'


def name(text: str) -> str:
    """A field or token name: bare when it is an identifier, quoted otherwise."""
    if _IDENT.fullmatch(text) and text not in _QUOTED_WORDS:
        return text
    return quote(text)


def _decimal(d: Decimal) -> str:
    s = str(d)
    if "E" in s or "e" in s:  # str() may choose exponent notation, which does not parse
        s = format(d, "f")
    return s


def _datetime(value: _dt.datetime) -> str:
    return value.isoformat(timespec="seconds" if value.second else "minutes")


def _ref(ref: ast.Ref) -> str:
    return quote(ref.name) if ref.program is None else f"{quote(ref.program)}.{quote(ref.name)}"


# --------------------------------------------------------------------------
# The vocabulary, walked backwards


def _pattern_names(items: Iterable[Any]) -> Iterator[str]:
    """Every slot name and Opt flag in a pattern, in order."""
    for item in items:
        if isinstance(item, Slot):
            yield item.name
        elif isinstance(item, Opt):
            if item.flag:
                yield item.flag
            yield from _pattern_names(item.items)
        elif isinstance(item, Alt):
            for option in item.options:
                yield from _pattern_names(option)


def _present(value: Any) -> bool:
    return value is not None and value is not False and value != ()


def _matches_nothing(item: Any) -> bool:
    """Can this pattern item match zero atoms (as ``parse`` may let it)?"""
    if isinstance(item, Opt):
        return True
    if isinstance(item, Alt):
        return any(all(_matches_nothing(x) for x in option) for option in item.options)
    return False


def _entry(node: ast.Node, table: Sequence[Phrase]) -> Phrase:
    """The vocabulary entry that builds exactly ``node`` (its fixed arguments
    and the values its pattern can carry)."""
    for entry in table:
        if entry.node is not type(node):
            continue
        kwargs = dict(entry.fixed)
        for slot in _pattern_names(entry.pattern):
            value = getattr(node, slot, None)
            if _present(value):
                kwargs[slot] = value
        try:
            rebuilt = entry.node(**kwargs)
        except TypeError:
            continue
        if rebuilt == node:
            return entry
    raise ValueError(f"no vocabulary entry writes {node!r}")


_OPERANDS: dict[str, str] = {op: operands for spelling, (op, operands) in _filters.OPERATORS.items()
                             if spelling == op}


# --------------------------------------------------------------------------
# The layout tree


class _Leaf:
    """One output line; ``span`` places the comments around it."""

    __slots__ = ("text", "span", "kind")

    def __init__(self, text: str, span: Span | None, kind: str = ""):
        self.text, self.span, self.kind = text, span, kind


class _Block:
    """``header {`` items ``}``. ``collapse``: may go on one line with one item.
    ``spacing``: ``top`` (blank between all but imports), ``container`` (blank
    around multi-line items) or ``none``."""

    __slots__ = ("header", "span", "items", "collapse", "spacing", "kind")

    def __init__(self, header: str, span: Span | None, items: list, *, collapse: bool = False,
                 spacing: str = "none", kind: str = ""):
        self.header, self.span, self.items = header, span, items
        self.collapse, self.spacing, self.kind = collapse, spacing, kind


_Item = Union[_Leaf, _Block]


class _Layout:
    """AST -> layout tree. Holds the declared spellings of fields and tokens."""

    def __init__(self, module: ast.Module):
        self.fields: dict[str, str] = {ast.name_key(n): n for n in STANDARD_FIELDS}
        self.tokens: dict[str, str] = {}
        for node in ast.walk(module):
            if isinstance(node, ast.FieldDecl):
                self.fields.setdefault(ast.name_key(node.name), node.name.strip())
            elif isinstance(node, ast.Tokens):
                for decl in node.tokens:
                    self.tokens.setdefault(ast.name_key(decl.name), decl.name.strip())

    # -- names and values ---------------------------------------------------

    def field_name(self, text: str) -> str:
        return self.fields.get(ast.name_key(text), text)

    def token_name(self, text: str) -> str:
        return self.tokens.get(ast.name_key(text), text)

    def field(self, ref: ast.FieldRef) -> str:
        return "lead." + name(self.field_name(ref.name))

    def token(self, ref: ast.TokenRef) -> str:
        spelled = ref.name
        if ref.namespace == "my":
            spelled = self.token_name(ref.name)
        elif ref.namespace == "lead":
            spelled = self.field_name(ref.name)
        if not _TOKEN_SAFE.fullmatch(spelled):
            spelled = ref.name
        tail = f":default={ref.default}" if ref.default is not None else ""
        return "{{" + f"{ref.namespace}.{spelled}{tail}" + "}}"

    def value(self, v: Any) -> str:
        if isinstance(v, ast.String):
            return quote(v.value)
        if isinstance(v, ast.Template):
            return '"' + "".join(self.token(p) if isinstance(p, ast.TokenRef) else _escape(p)
                                 for p in v.parts) + '"'
        if isinstance(v, ast.TokenRef):
            return self.token(v)
        if isinstance(v, ast.Number):
            if isinstance(v.value, Decimal):
                return _decimal(v.value)
            return str(v.value)
        if isinstance(v, ast.Boolean):
            return "true" if v.value else "false"
        if isinstance(v, ast.Null):
            return "null"
        if isinstance(v, ast.DateTime):
            return _datetime(v.value)
        if isinstance(v, ast.Date):
            return v.value.isoformat()
        if isinstance(v, (ast.Duration, ast.ScoreChange)):
            return v.text
        if isinstance(v, ast.Ref):
            return _ref(v)
        if isinstance(v, ast.ThisCampaign):
            return "this campaign"
        raise ValueError(f"not a value: {v!r}")

    def slot(self, slot: Slot, v: Any) -> str:
        kind = slot.kind
        if kind == "field":
            return self.field(v)
        if kind == "ref":
            return _ref(v)
        if kind == "name":
            return quote(v)
        if kind == "names":
            return ", ".join(quote(n) for n in v)
        if kind == "values" or kind == "targets":
            return ", ".join(self.value(x) for x in v)
        if kind == "int":
            return str(v)
        if kind == "word":
            return v
        return self.value(v)  # value, duration

    # -- phrases from the vocabulary -------------------------------------------

    def pattern(self, items: Sequence[Any], get: Callable[[str], Any]) -> list[str] | None:
        """The words of ``items`` with the values ``get`` gives; None when a
        required slot has no value."""
        out: list[str] = []
        for item in items:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, Slot):
                v = get(item.name)
                if not _present(v):
                    return None
                out.append(self.slot(item, v))
            elif isinstance(item, Opt):
                wanted = get(item.flag) if item.flag else any(
                    _present(get(n)) for n in _pattern_names(item.items))
                if not wanted:
                    continue
                inner = self.pattern(item.items, get)
                if inner is None:
                    return None
                out += inner
            elif isinstance(item, Alt):
                present = {n for n in _pattern_names([item]) if _present(get(n))}
                fallback = None
                for option in item.options:
                    inner = self.pattern(option, get)
                    if inner is None:
                        continue
                    if present <= set(_pattern_names(option)):
                        fallback = inner
                        break
                    fallback = fallback if fallback is not None else inner
                if fallback is None:
                    return None
                out += fallback
            else:  # pragma: no cover - a vocabulary bug
                raise ValueError(f"unknown pattern item {item!r}")
        return out

    def phrase(self, node: ast.Node, entry: Phrase) -> str:
        words = self.pattern(entry.pattern, lambda n: getattr(node, n, None))
        if words is None:
            raise ValueError(f"{node!r} lacks a value that '{entry.words}' needs")
        return " ".join([entry.words, *words])

    def filter(self, f: ast.Node) -> str:
        if isinstance(f, ast.FieldFilter):
            operands = _OPERANDS.get(f.op)
            if operands is None:
                raise ValueError(f"unknown filter operator {f.op!r}")
            words = [self.field(f.field), f.op]
            values = [self.value(v) for v in f.values]
            if operands == "range":
                words += [values[0], "and", values[1]]
            elif operands != "none":
                words.append(", ".join(values))
            return " ".join(words)
        return self.phrase(f, _entry(f, _filters.FILTERS))

    def trigger(self, t: ast.Trigger) -> str:
        return self.phrase(t, _entry(t, _triggers.TRIGGERS))

    # -- steps -----------------------------------------------------------------

    def step(self, s: ast.Node) -> _Item:
        if isinstance(s, ast.Choice):
            return self.choice(s)
        entry = _steps.BY_NODE.get(type(s)) or _entry(s, _steps.STEPS)
        return _Leaf(self.phrase(s, entry), s.span)

    def choice(self, ch: ast.Choice) -> _Block:
        entry = _steps.BY_WORDS[ch.kind]
        pattern = entry.pattern
        head = dict(ch.head)
        # The head is the shortest prefix of the pattern holding every head
        # value; parse then extends the split over items that match nothing
        # (an absent Opt), and each branch writes the pattern after that.
        cut = 0
        for i, item in enumerate(pattern):
            if set(_pattern_names([item])) & head.keys():
                cut = i + 1
        head_words = self.pattern(pattern[:cut], head.get)
        if head_words is None:
            raise ValueError(f"the head of a '{ch.kind}' choice lacks a value: {ch.head!r}")
        split = cut
        while split < len(pattern) and _matches_nothing(pattern[split]):
            split += 1
        rest = pattern[split:]
        branches: list[_Item] = []
        seen_if = False
        for b in ch.branches:
            if b.condition is None:
                words = ["else"]
            else:
                words = ["else if" if seen_if else "if", self.filter(b.condition), "then"]
                seen_if = True
            if b.step is None:
                words.append("do nothing")
            else:
                params = self.pattern(rest, lambda n, s=b.step: getattr(s, n, None))  # type: ignore[misc]
                if params is None:
                    raise ValueError(f"a branch of '{ch.kind}' lacks a value: {b.step!r}")
                words += params
            branches.append(_Leaf(" ".join(words), b.span))
        return _Block(" ".join([ch.kind, *head_words]), ch.span, branches, kind="Choice")

    # -- declarations ------------------------------------------------------------

    def module(self, m: ast.Module) -> _Block:
        return _Block("", m.span, [self.item(i) for i in m.items], spacing="top", kind="Module")

    def item(self, node: ast.Node) -> _Item:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise ValueError(f"cannot format {type(node).__name__} here")
        out = method(node)
        out.kind = type(node).__name__
        return out

    def _Import(self, n: ast.Import) -> _Item:
        return _Leaf(f"import {'std ' if n.std else ''}{quote(n.path)}", n.span)

    def _Fields(self, n: ast.Fields) -> _Item:
        return _Block("fields", n.span, [_Leaf(f"{quote(d.name)}: {d.type}", d.span) for d in n.fields],
                      collapse=True)

    def _container(self, word: str, n: Any) -> _Item:
        return _Block(f"{word} {quote(n.name)}", n.span, [self.item(i) for i in n.items],
                      spacing="container")

    def _Workspace(self, n: ast.Workspace) -> _Item:
        return self._container("workspace", n)

    def _Folder(self, n: ast.Folder) -> _Item:
        return self._container("folder", n)

    def _Program(self, n: ast.Program) -> _Item:
        return self._container("program", n)

    def token_decl(self, d: ast.TokenDecl, respell: bool = False) -> str:
        spelled = self.token_name(d.name) if respell else d.name
        return f"my.{name(spelled)} = {self.value(d.value)}"

    def _Tokens(self, n: ast.Tokens) -> _Item:
        return _Block("tokens", n.span, [_Leaf(self.token_decl(d), d.span) for d in n.tokens],
                      collapse=True)

    def _Description(self, n: ast.Description) -> _Item:
        return _Leaf(f"description {quote(n.text)}", n.span)

    def _Statuses(self, n: ast.Statuses) -> _Item:
        return _Leaf("statuses " + ", ".join(quote(s) for s in n.names), n.span)

    def _MemberFields(self, n: ast.MemberFields) -> _Item:
        return _Leaf("member fields " + ", ".join(quote(s) for s in n.names), n.span)

    def _StaticList(self, n: ast.StaticList) -> _Item:
        return _Leaf(f"list {quote(n.name)}", n.span)

    def _Form(self, n: ast.Form) -> _Item:
        return _Leaf(f"form {quote(n.name)}", n.span)

    @staticmethod
    def in_source_order(items: list[_Leaf]) -> list[_Leaf]:
        """An email's or webhook's items as they were written (the AST keeps
        them as attributes, in no order), so their comments stay with them;
        without spans, in the order given."""
        if all(i.span is not None for i in items):
            return sorted(items, key=lambda i: i.span.start)  # type: ignore[union-attr]
        return items

    def _Email(self, n: ast.Email) -> _Item:
        items = [_Leaf(f"{word} {self.value(v)}", v.span)
                 for word, v in (("subject", n.subject), ("from", n.sender), ("body", n.body))
                 if v is not None]
        return _Block(f"email {quote(n.name)}", n.span, self.in_source_order(items), collapse=True)

    def _Webhook(self, n: ast.Webhook) -> _Item:
        items = []
        if n.url is not None:
            items.append(_Leaf(f"url {self.value(n.url)}", n.url.span))
        if n.payload is not None:
            items.append(_Leaf(f"payload {self.value(n.payload)}", n.payload.span))
        for r in n.responses:
            items.append(_Leaf(f"response {quote(r.path)} -> {self.field(r.field)}", r.span))
        items = self.in_source_order(items)
        if n.method != "get":  # no span: it goes after the url, or first
            at = next((k + 1 for k, i in enumerate(items) if i.text.startswith("url ")), 0)
            items.insert(at, _Leaf(f"method {n.method}", None))
        return _Block(f"webhook {quote(n.name)}", n.span, items, collapse=True)

    def _SmartList(self, n: ast.SmartList) -> _Item:
        header = ["smart list"]
        if n.name is not None:
            header.append(quote(n.name))
        if n.logic == "any":
            header.append("any")
        elif n.logic == "advanced":
            header.append(f"logic {quote(n.expression or '')}")
        members = [_Leaf(("trigger " + self.trigger(m)) if isinstance(m, ast.Trigger)
                         else ("filter " + self.filter(m)), m.span) for m in n.members]
        return _Block(" ".join(header), n.span, members, collapse=True)

    def _Campaign(self, n: ast.Campaign) -> _Item:
        header = f"campaign {quote(n.name)} {n.kind}{'' if n.active else ' inactive'}"
        return _Block(header, n.span, [self.item(i) for i in n.items])

    def _Clone(self, n: ast.Clone) -> _Item:
        return _Leaf(f"clone {_ref(n.source)}", n.span)

    def _Flow(self, n: ast.Flow) -> _Item:
        return _Block("flow", n.span, [self.step(s) for s in n.steps], collapse=True)

    def _Qualify(self, n: ast.Qualify) -> _Item:
        if n.rule == "once every" and n.period is not None:
            return _Leaf(f"qualify once every {n.period.text}", n.span)
        return _Leaf(f"qualify {n.rule}", n.span)

    def _Schedule(self, n: ast.Schedule) -> _Item:
        if n.every is not None:
            return _Leaf(f"schedule every {n.every.text} starting {_datetime(n.start.value)}", n.span)
        return _Leaf(f"schedule {_datetime(n.start.value)}", n.span)

    # -- tests -----------------------------------------------------------------

    def _Test(self, n: ast.Test) -> _Item:
        header = f"test {quote(n.name)}"
        if n.at is not None:
            header += f" at {_datetime(n.at.value)}"
        return _Block(header, n.span, [self.item(s) for s in n.statements])

    def assigns(self, assigns: Sequence[ast.Assign]) -> str:
        if not assigns:
            return ""
        return " { " + ", ".join(f"{name(a.name)} = {self.value(a.value)}" for a in assigns) + " }"

    def with_tokens(self, tokens: Sequence[ast.TokenDecl]) -> str:
        if not tokens:
            return ""
        return " with tokens { " + ", ".join(self.token_decl(d, respell=True) for d in tokens) + " }"

    @staticmethod
    def people(people: Sequence[str]) -> str:
        return ", ".join(quote(p) for p in people)

    def _PersonStmt(self, n: ast.PersonStmt) -> _Item:
        return _Leaf(f"person {quote(n.email)}{self.assigns(n.fields)}", n.span)

    def _ForStmt(self, n: ast.ForStmt) -> _Item:
        return _Block(f"for {quote(n.email)}", n.span, [self.step(s) for s in n.steps], collapse=True)

    def _RunStmt(self, n: ast.RunStmt) -> _Item:
        return _Leaf(f"run {_ref(n.campaign)}{self.with_tokens(n.tokens)}", n.span)

    def _RequestStmt(self, n: ast.RequestStmt) -> _Item:
        return _Leaf(f"request {_ref(n.campaign)} for {self.people(n.people)}"
                     f"{self.with_tokens(n.tokens)}", n.span)

    def _FireStmt(self, n: ast.FireStmt) -> _Item:
        return _Leaf(f"fire {self.trigger(n.trigger)} for {self.people(n.people)}"
                     f"{self.assigns(n.attributes)}", n.span)

    def _AdvanceStmt(self, n: ast.AdvanceStmt) -> _Item:
        return _Leaf(f"advance {n.duration.text}", n.span)

    def _ExpectField(self, n: ast.ExpectField) -> _Item:
        text = f"expect {quote(n.person)}.{quote(self.field_name(n.field))} {n.op}"
        if n.value is not None:
            text += " " + self.value(n.value)
        return _Leaf(text, n.span)

    def _ExpectList(self, n: ast.ExpectList) -> _Item:
        return _Leaf(f"expect {quote(n.person)} {'not ' if n.negated else ''}in list {_ref(n.list)}", n.span)

    def _ExpectStatus(self, n: ast.ExpectStatus) -> _Item:
        return _Leaf(f"expect {quote(n.person)} status in {quote(n.program)} is {quote(n.status)}", n.span)

    def _ExpectActivity(self, n: ast.ExpectActivity) -> _Item:
        words = ["expect"]
        if n.count is not None:
            words.append("no" if n.count == 0 else str(n.count))
        words += ["activity", quote(n.type)]
        if n.person is not None:
            words += ["for", quote(n.person)]
        return _Leaf(" ".join(words) + self.assigns(n.attributes), n.span)


# --------------------------------------------------------------------------
# Printing, with the comments put back


class _Line:
    __slots__ = ("text", "commented")

    def __init__(self, text: str, commented: bool = False):
        self.text, self.commented = text, commented


class _Printer:
    def __init__(self, comments: Sequence[Comment]):
        self.comments = sorted(comments, key=lambda c: c.start)
        self.starts = [c.start for c in self.comments]
        self.next = 0                  # the first comment not yet printed
        self.lines: list[_Line] = []
        self.last_line: int | None = None  # the source line printed last
        self.fresh = True              # just after `{` or at the top of the file

    # -- the tree ----------------------------------------------------------------

    def print(self, module: _Block) -> str:
        self.body(module, 0)
        for c in self.take(None):
            self.comment(c, 0, False)
        return "".join(line.text + "\n" for line in self.lines)

    def body(self, block: _Block, depth: int) -> None:
        prev: _Item | None = None
        for k, item in enumerate(block.items):
            if item.span is None and prev is not None and prev.span is not None:
                later = [i.span.start for i in block.items[k + 1:] if i.span is not None]
                self.trailing(prev.span, later[0] if later else
                              block.span.end if block.span is not None else None)
            self.lead(item.span, self.needs_blank(block.spacing, prev, item, depth), depth)
            self.item(item, depth)
            prev = item

    def item(self, item: _Item, depth: int) -> None:
        one = item.text if isinstance(item, _Leaf) else self.one_line(item, depth)
        if one is not None:
            self.line(depth, one)
        else:
            assert isinstance(item, _Block)
            self.line(depth, item.header + " {")
            self.fresh = True
            if item.span is not None:
                self.last_line = item.span.line
            self.body(item, depth + 1)
            if item.span is not None:
                for c in self.take(item.span.end):
                    self.comment(c, depth + 1, False)
            self.line(depth, "}")
        # an item without a span (a webhook's method) hides where the next one
        # starts: no blank line is kept after it
        self.last_line = item.span.end_line if item.span is not None else None
        self.fresh = False

    def trailing(self, span: Span, limit: int | None) -> None:
        """Before a span-less item (a webhook's method): append the comments
        that trail ``span``'s last line and start before ``limit`` (the next
        item with a span), which the span-less item would otherwise take.
        Stop at the first that would need a line of its own: the next item's
        lead places those."""
        while self.next < len(self.comments):
            c = self.comments[self.next]
            if (c.own_line or (limit is not None and c.start >= limit)
                    or not (c.start < span.end or c.line == span.end_line)):
                return
            if not self.lines or self.lines[-1].commented:
                return
            self.next += 1
            self.comment(c, 0, False)

    def one_line(self, block: _Block, depth: int) -> str | None:
        """The block on one line, or None when it must be expanded."""
        if self.comments_inside(block.span):
            return None
        if not block.items:
            return block.header + " {}"
        if not block.collapse or len(block.items) != 1 or not isinstance(block.items[0], _Leaf):
            return None
        text = f"{block.header} {{ {block.items[0].text} }}"
        return text if len(INDENT) * depth + len(text) <= MAX_WIDTH else None

    def single(self, item: _Item, depth: int) -> bool:
        return isinstance(item, _Leaf) or self.one_line(item, depth) is not None

    def needs_blank(self, spacing: str, prev: _Item | None, item: _Item, depth: int) -> bool:
        if prev is None or spacing == "none":
            return False
        if spacing == "top":
            return not (prev.kind == item.kind == "Import")
        return not (self.single(prev, depth) and self.single(item, depth))

    # -- comments and blank lines --------------------------------------------------

    def comments_inside(self, span: Span | None) -> bool:
        if span is None or not self.starts:
            return False
        i = bisect.bisect_right(self.starts, span.start)
        return i < len(self.starts) and self.starts[i] < span.end

    def take(self, before: int | None) -> list[Comment]:
        """The comments not yet printed that start before offset ``before``."""
        end = len(self.comments) if before is None else bisect.bisect_left(self.starts, before)
        out = self.comments[self.next:end] if end > self.next else []
        self.next = max(self.next, end)
        return out

    def gap(self, line: int | None) -> bool:
        """Did the source have a blank line before ``line``?"""
        return line is not None and self.last_line is not None and line > self.last_line + 1

    def lead(self, span: Span | None, blank: bool, depth: int) -> None:
        """Before an item: the comments that came before it, and blank lines."""
        if span is not None:
            for c in self.take(span.start):
                if self.comment(c, depth, blank):
                    blank = False
        if not self.fresh and (blank or self.gap(span.line if span is not None else None)):
            self.blank()

    def comment(self, c: Comment, depth: int, blank: bool) -> bool:
        """Print one comment; True when it took a line of its own."""
        last = self.lines[-1] if self.lines else None
        if not c.own_line and last is not None and last.text and not last.commented:
            last.text += "  " + c.text
            last.commented = True
            if self.last_line is None or c.line > self.last_line:
                self.last_line = c.line
            return False
        if not self.fresh and (blank or self.gap(c.line)):
            self.blank()
        self.lines.append(_Line(INDENT * depth + c.text, True))
        # max: a comment from inside a phrase (after a comma) is printed after
        # the phrase, whose last line is later than the comment's
        self.last_line = c.line if self.last_line is None else max(self.last_line, c.line)
        self.fresh = False
        return True

    def line(self, depth: int, text: str) -> None:
        self.lines.append(_Line(INDENT * depth + text))

    def blank(self) -> None:
        if self.lines and self.lines[-1].text:
            self.lines.append(_Line(""))
