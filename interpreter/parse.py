"""Source text -> AST with spans, and CL001 syntax diagnostics.

The only module that imports Lark. Two layers (grammar/campaign.lark explains
why): the LALR grammar gives declarations and blocks; phrases (steps, filters,
triggers, choice branches, test statements) arrive as flat runs of atoms and
are matched here against the vocabulary tables of ``stdlib`` (steps, filters,
triggers), which name the AST node each phrase builds.

Errors never escape as exceptions: ``parse`` returns the module it could build
and every diagnostic. Recovery for grammar-level errors blanks the offending
line and parses again (offsets stay put, so every later span is still right),
up to ``MAX_ERRORS``; phrase-level errors drop the phrase and go on. An
unclosed block is reported once, naming the block and where it opened.

Speed: Lark builds the tables (LALR states, the contextual lexer's compiled
pattern per state) and the callbacks; ``_fast_parse`` drives them in one
loop of its own for a clean parse (the same tokens, reductions and AST, each
reduction a function written from the rule's child filter, ``_reducer``),
and anything else (an error) is parsed again by Lark's driver, whose
exceptions the diagnostics are made from. tests/test_parse_fast.py holds the
two equal, every span included.

Comments are collected by one scan of the text after a parse
(``_scan_comments``, ``ParseResult.comments``) so that ``format.py`` can put
each one back where it was.

For editors (``editor.py``): ``scan_atoms`` splits unfinished text as a
phrase is split, and ``expected_at`` asks Lark's interactive parser what may
come next at a place and in which blocks it stands (completion).

Imports ``source``, ``errors``, ``ast`` and the ``stdlib`` vocabulary only.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import difflib
import functools
import gc
import re
import threading
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Iterator, Sequence

from attrs import frozen
from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import ast
from .errors import Diagnostic, error
from .source import SourceFile, Span
from .stdlib import filters as _filters
from .stdlib import steps as _steps
from .stdlib import triggers as _triggers
from .stdlib.vocabulary import Alt, Opt, Phrase, Slot

MAX_ERRORS = 50


@frozen
class Comment:
    """A ``# comment``: its text (with the ``#``) and where it stood."""

    text: str
    start: int
    line: int
    column: int
    own_line: bool  # nothing but whitespace before it on its line


@frozen
class ParseResult:
    module: ast.Module
    diagnostics: tuple[Diagnostic, ...]
    comments: tuple[Comment, ...]
    source: SourceFile

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


# --------------------------------------------------------------------------
# The Lark parser, built once per process (and cached on disk by Lark).

_lock = threading.Lock()
_parser: Lark | None = None
# The atoms of a phrase, in the order and with the patterns of the grammar's
# terminals (grammar/campaign.lark), so a value reads the same in a phrase as
# in a declaration. A word and whitespace are tried first, as the commonest:
# no other atom starts with a letter, '_' or a space, so only the order of the
# others decides between them.
_ATOMS = (
    ("NAME", r"[A-Za-z_][A-Za-z0-9_]*"),
    ("WS", r"\s+"),
    ("DATETIME", r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?"),
    ("DATE", r"\d{4}-\d{2}-\d{2}"),
    ("DURATION", r"\d+[ \t]+(?:minutes?|hours?|days?|weeks?|months?)(?![A-Za-z0-9_])"),
    ("SCORE", r"=-?\d+(?![\d.])|\+\d+(?![\d.])"),
    ("NUMBER", r"-?\d+(?:\.\d+)?"),
    ("STRING", r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'),
    ("TOKEN", r"\{\{[^{}\n]*\}\}"),
    ("OP", r"[<>]=?|==|!="),
    ("EQ", r"="),
    ("DOT", r"\."),
    ("COMMA", r","),
    ("COMMENT", r"#[^\n]*"),
)
_ATOM_RE = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _ATOMS))

# The builder's split of a phrase (``_Builder.atoms``): the same atoms in the
# same order, each match taking the spaces and comments before its atom, so
# one match per atom instead of one per atom and one per gap between them.
# Possessively: no atom starts with a space or '#', and a comment given back
# in part would let an atom start inside it.
_SPACES = re.compile(r"(?:\s+|#[^\n]*)*+")
_PHRASE_ATOM = re.compile(_SPACES.pattern + "(?:" + "|".join(
    f"(?P<{name}>{pattern})" for name, pattern in _ATOMS if name not in ("WS", "COMMENT")) + ")")


#: terminal name -> the keyword it stands for (``grammar_text``)
KEYWORDS: dict[str, str] = {}
_KEYWORD_LITERAL = re.compile(r'"([a-z]+)"')
_KEYWORD_TERMINAL = re.compile(r'^([A-Z][A-Z0-9_]*):\s*"([a-z]+)"\s*$')


def grammar_text() -> str:
    """The grammar, its keywords made whole words. A keyword written as a
    string (``"list"``) would match the start of a longer word (``lists``,
    ``smartlist``) wherever no word is expected; each becomes a terminal of
    its own, named as Lark names the string (``LIST``), that must end at a
    word boundary: ``/list(?![A-Za-z0-9_])/``. A longer word then reads as
    one unknown word (docs/language.md, "How a file is read")."""
    from importlib import resources

    raw = resources.files("campaignlang.grammar").joinpath("campaign.lark").read_text("utf-8")
    lines = []
    for line in raw.splitlines():
        code = line.split("//", 1)[0]
        named = _KEYWORD_TERMINAL.match(code)
        if named:
            KEYWORDS[named.group(1)] = named.group(2)
            continue
        if code.strip() and (code[0].islower() or code[0] in " \t|_?"):
            def keyword(m: re.Match) -> str:
                KEYWORDS.setdefault(m.group(1).upper(), m.group(1))
                return m.group(1).upper()
            line = _KEYWORD_LITERAL.sub(keyword, code)
        lines.append(line)
    lines += [f"{name}.2: /{word}(?![A-Za-z0-9_])/" for name, word in sorted(KEYWORDS.items())]
    return "\n".join(lines) + "\n"


_bare: Lark | None = None
_builder: "_Builder | None" = None  # the builder of the parse in progress (under _lock)

#: Terminals the grammar declares by name: the builder sees these; keywords
#: and punctuation (Lark's anonymous terminals) and separators it does not.
_KEPT = frozenset({"STD", "STRING", "NAME", "DATETIME", "DATE", "DURATION", "SCORE", "NUMBER",
                   "TOKEN", "OP", "EQ", "DOT", "COMMA", "PHRASE", "SUBJECT", "FROM", "BODY",
                   "ANY", "ALL", "LOGIC", "ONCE", "EVERY"})


def _inline(method: Any) -> Any:
    """Wrap a builder method as a Lark callback: run at each reduction, so no
    tree is built. The rule's span comes from its first and last child (all
    tokens are kept for that, then keywords and separators are dropped), which
    is what Lark's propagate_positions computes, at a fraction of its cost.
    The method gets the rule's bounds as ``(start, end)`` in the parsed text,
    or None for a rule that holds no text (``_Builder.sp`` makes its span)."""

    def callback(children: list) -> Any:
        b = _builder
        get = b.bounds.get
        meta = None
        for c in children:
            if type(c) is Token:
                start = c.start_pos
                break
            if c is not None:
                got = get(id(c))
                if got is not None:
                    start = got[0]
                    break
        else:
            start = None
        if start is not None:   # then a last child with bounds too
            for c in reversed(children):
                if type(c) is Token:
                    meta = (start, c.end_pos)
                    break
                if c is not None:
                    got = get(id(c))
                    if got is not None:
                        meta = (start, got[1])
                        break
        kept = [c for c in children if type(c) is not Token or c.type in _KEPT]
        # Bounds are read once, by the parent: its children's entries go. An
        # entry then stands only for an object on the parser's stack (alive,
        # so its id is no other object's), and what the parent does not keep
        # (phrases, their atoms, blocks) is freed as soon as it is built on.
        pop = b.bounds.pop
        for c in kept:
            if c is not None and type(c) is not Token:
                pop(id(c), None)
        result = method(b, meta, kept)
        if result is not None and meta is not None:
            b.bounds[id(result)] = meta
        return result

    callback.method = method   # type: ignore[attr-defined]   # the fast driver calls it directly
    return callback


def lark_parser() -> Lark:
    """The shared LALR parser: contextual lexer, the builder inline."""
    global _parser
    if _parser is None:
        names = {name for name, fn in vars(_Builder).items()
                 if callable(fn) and not name.startswith("_") and name in _RULES}
        inline = type("_InlineBuilder", (), {n: staticmethod(_inline(vars(_Builder)[n])) for n in names})()
        _parser = Lark(grammar_text(), parser="lalr", lexer="contextual",
                       keep_all_tokens=True, maybe_placeholders=True, transformer=inline,
                       cache=True)
    return _parser


def bare_parser() -> Lark:
    """The same grammar building plain trees: for labelling error examples."""
    global _bare
    if _bare is None:
        _bare = Lark(grammar_text(), parser="lalr", lexer="contextual",
                     keep_all_tokens=True, maybe_placeholders=True, cache=True)
    return _bare


class _NotFast(Exception):
    """The fast driver met something it leaves to Lark (an error, mostly)."""


_fast_tables: tuple | None = None

#: what the fast driver pushes for a token the builder never sees (a keyword,
#: a brace, a separator: ``_KEPT``): its bounds still count, no Token is made
_DROPPED = object()


#: the kinds of a rule's children for ``_reducer``: a token the builder sees
#: (``_KEPT``), one it never sees (pushed as ``_DROPPED``; bounds, no value),
#: a rule's value (None or without bounds when it holds no text) and an
#: inlined ``_rule``'s list of values, spliced into its parent's
TOKEN, DROPPED, RULE, SPLICED = "token", "dropped", "rule", "spliced"


def _reducer(kinds: Sequence[str], include: Sequence[tuple[int, bool, int]], append_none: int,
             method: Any) -> Any:
    """The reduction of one rule for ``_fast_parse``, as a function of the
    value and bounds stacks and the builder, written out for the rule's shape
    (a loop over a description of it cost more than the callbacks it calls).

    It does in one call what Lark's child filter (``include``: each child's
    index, whether it is a ``_rule`` whose children are spliced in, how many
    ``None`` placeholders come before it; ``append_none`` after the last),
    ``_inline`` and the builder's method do at a reduction: the children the
    builder keeps (tokens it never sees are dropped) and the rule's bounds,
    from its first and last child that has some (dropped tokens included, as
    ``_inline`` computes them). ``kinds`` (one per child, above) say which
    children are dropped and which surely have bounds (the tokens). ``method``
    None: a ``_rule``, whose value is the list of its kept children, to be
    spliced into its parent's, with its bounds (those of its first and last
    child that has some, as its children would give them to the parent)."""
    return _reducer_maker(tuple(kinds), tuple(include), append_none, method is None)(method)


@functools.lru_cache(maxsize=None)
def _reducer_maker(kinds: tuple[str, ...], include: tuple[tuple[int, bool, int], ...], append_none: int,
                   tree: bool) -> Any:
    """The source of ``_reducer``'s function for one shape of rule, compiled
    once per shape (rules share a few dozen), and only for the rules a parse
    meets (``_fast_setup``): compiling all of them cost ~35 ms at start."""
    n = len(kinds)
    lines = ["def make(method):", " def reduce(vs, bs, b):"]
    if n:
        lines.append(f"  {', '.join(f'c{i}' for i in range(n))}, = vs[-{n}:]")
        lines.append(f"  {', '.join(f'b{i}' for i in range(n))}, = bs[-{n}:]")
        lines.append(f"  del vs[-{n}:], bs[-{n}:]")
    items: list[str] = []   # the kept children, as a list display
    for i, expand, nones in include:
        items += ["None"] * nones
        if kinds[i] != DROPPED:
            items.append(f"*c{i}" if expand else f"c{i}")
    items += ["None"] * append_none
    if items and items[0].startswith("*"):
        # the first child a _rule's list: grown in place, as Lark's filter does
        # (a repetition is left-recursive: a copy at each step would be quadratic)
        lines.append(f"  kept = {items[0][1:]}")
        if len(items) > 1:
            lines.append(f"  kept += [{', '.join(items[1:])}]")
    else:
        lines.append(f"  kept = [{', '.join(items)}]")

    def bounds_of(order: Sequence[int]) -> str:
        """The bounds of the first child in ``order`` that has some: a token
        has, so the search stops at one; None when none has."""
        chain: list[str] = []
        for i in order:
            chain.append(f"b{i}")
            if kinds[i] in (TOKEN, DROPPED):
                break
        return "".join(f"{b} if {b} is not None else " for b in chain[:-1]) + (chain[-1] if chain else "None")

    order = [i for i, _expand, _nones in include]
    first, last = bounds_of(order), bounds_of(order[::-1])
    if len(order) == 1:
        lines.append(f"  meta = {first}")
    elif not order:
        lines.append("  meta = None")
    else:
        lines.append(f"  first = {first}")
        lines.append(f"  last = {last}")
        lines.append("  meta = first if first is last or first is None else (first[0], last[1])")
    if tree:
        lines.append("  vs.append(kept)")
        lines.append("  bs.append(meta)")
    else:
        lines.append("  result = method(b, meta, kept)")
        lines.append("  vs.append(result)")
        lines.append("  bs.append(None if result is None else meta)")
    lines.append(" return reduce")
    scope: dict[str, Any] = {}
    exec("\n".join(lines), scope)   # noqa: S102 - code written above from the grammar's own tables
    return scope["make"]


def _lazy(kinds: Sequence[str], include: Sequence[tuple[int, bool, int]], append_none: int, method: Any,
          action: list) -> Any:
    """A stand-in for a rule's ``_reducer`` until a parse first reduces the
    rule: it makes the reducer, puts it in the rule's ``action`` (one list,
    shared by every state that reduces the rule) and reduces."""

    def first_use(vs: list, bs: list, b: Any) -> None:
        reduce = action[2] = _reducer(kinds, include, append_none, method)
        reduce(vs, bs, b)

    return first_use


def _fast_setup(parser: Lark) -> tuple:
    """Lark's own tables for ``_fast_parse``: the LALR states (a shift as
    (True, the next state); a reduce as [False, rule size, its ``_reducer``,
    the rule's name], one list per rule), each state's lexer (the
    contextual lexer's compiled pattern for it) and the start and end states.
    A callback of a shape the reducers do not know leaves every parse to Lark."""
    global _fast_tables
    if _fast_tables is None:
        from functools import partial

        from lark.parse_tree_builder import ChildFilterLALR, ChildFilterLALR_NoPlaceholders
        from lark.parsers.lalr_analysis import Shift
        from lark.tree import Tree

        table = parser.parser.parser.parser.parse_table
        callbacks = parser.parser.parser.parser.callbacks
        if any(isinstance(key, str) for key in callbacks):   # a callback per terminal: not here
            raise _NotFast()

        def inner(builder: Any) -> Any:
            """The builder's method behind a callback; None for a ``_rule``'s tree."""
            if isinstance(builder, partial) and builder.func is Tree and not builder.keywords:
                return None
            method = getattr(builder, "method", None)
            if method is None:
                raise _NotFast()
            return method

        reductions: dict[Any, list] = {}   # rule -> its reduce action, [False, size, reducer, name]
        for rule, cb in callbacks.items():
            n = len(rule.expansion)
            if type(cb) is ChildFilterLALR_NoPlaceholders:
                include = [(i, expand, 0) for i, expand in cb.to_include]
                append_none, builder = 0, cb.node_builder
            elif type(cb) is ChildFilterLALR:
                include, append_none, builder = list(cb.to_include), cb.append_none, cb.node_builder
            else:
                include, append_none, builder = [(i, False, 0) for i in range(n)], 0, cb
            if any(not rule.expansion[i].name.startswith("_") for i, expand, _ in include if expand):
                raise _NotFast()
            spliced_at = {i for i, expand, _ in include if expand}
            kinds = [(TOKEN if sym.name in _KEPT else DROPPED) if sym.is_term else
                     SPLICED if i in spliced_at else RULE for i, sym in enumerate(rule.expansion)]
            action = reductions[rule] = [False, n, None, rule.origin.name]
            action[2] = _lazy(kinds, include, append_none, inner(builder), action)
        # a spliced child must be a _rule's list: every rule of that name builds one
        spliced = {rule.expansion[i].name for rule, cb in callbacks.items()
                   if type(cb) in (ChildFilterLALR, ChildFilterLALR_NoPlaceholders)
                   for i, expand, *_ in cb.to_include if expand}
        if any(rule.origin.name in spliced and inner(getattr(cb, "node_builder", cb)) is not None
               for rule, cb in callbacks.items()):
            raise _NotFast()
        states: dict[int, dict[str, tuple | list]] = {}   # a shift's tuple, a rule's reduce list
        for state, actions in table.states.items():
            states[state] = {term: (True, arg) if action is Shift else reductions[arg]
                             for term, (action, arg) in actions.items()}
        lexers = dict(parser.parser.lexer.lexers)
        _fast_tables = (states, lexers, table.start_states["start"], table.end_states["start"], {})
    return _fast_tables


def _fast_parse(parser: Lark, text: str) -> Any:
    """Parse ``text`` as ``parser.parse`` does (the same tokens, from the
    same compiled patterns of Lark's contextual lexer; the same LALR table;
    the builder's same methods with the same children and bounds, so the
    same AST), without Lark's per-token machinery (line counting, the lexer
    thread, the parser state object, a Token for every keyword and brace, the
    child filters and the trees of inlined rules, a table of bounds by id): the
    parse of a valid file is several times faster. At the first thing that
    is not a clean parse it raises ``_NotFast`` and ``parse`` asks Lark,
    whose exceptions the diagnostics are made from."""
    states, lexers, start_state, end_state, plans = _fast_setup(parser)
    builder = _builder
    kept_types = _KEPT
    dropped = _DROPPED
    new = str.__new__
    state_stack = [start_state]
    value_stack: list = []
    bounds_stack: list = []   # (start, end) in the text of each value, or None
    pos, size = 0, len(text)
    while True:
        state = state_stack[-1]
        plan = plans.get(state)
        if plan is None:   # the state's lexer, compiled by Lark when first used (as Lark does)
            lexer = lexers[state]
            mres = lexer.scanner._mres
            if len(mres) != 1 or lexer.callback:
                raise _NotFast()
            plan = plans[state] = (mres[0].match, lexer.ignore_types, states[state])
        match, ignore, actions = plan
        while pos < size:
            m = match(text, pos)
            if m is None:
                raise _NotFast()
            type_ = m.lastgroup
            end = m.end()
            if type_ in ignore:
                pos = end
                continue
            break
        else:
            type_ = "$END"
        while True:
            act = actions.get(type_)
            if act is None:
                raise _NotFast()
            if act[0]:
                break
            _, n, reduce, origin = act
            reduce(value_stack, bounds_stack, builder)
            if n:
                del state_stack[-n:]
            goto = states[state_stack[-1]][origin][1]
            if goto == end_state:
                if type_ != "$END":   # pragma: no cover - the start rule reduces at the end only
                    raise _NotFast()
                return value_stack[-1]
            state_stack.append(goto)
            actions = states[goto]
        if type_ == "$END":
            raise _NotFast()
        state_stack.append(act[1])
        if type_ in kept_types:
            value = m[0]
            tok = new(Token, value)
            tok.type = type_
            tok.value = value
            tok.start_pos = pos
            tok.end_pos = end
            tok.line = tok.column = tok.end_line = tok.end_column = None
            value_stack.append(tok)
        else:
            value_stack.append(dropped)
        bounds_stack.append((pos, end))
        pos = end


_RULES = frozenset({
    "start", "import_decl", "fields", "field_decl", "workspace", "folder", "program",
    "description", "statuses", "member_fields", "static_list", "form", "tokens", "token_decl",
    "email", "email_item", "webhook", "webhook_url", "webhook_method", "webhook_payload",
    "webhook_response", "smart_list", "logic", "campaign", "clone", "flow", "qualify",
    "qualify_every_time", "schedule", "test", "block", "phrase", "ref", "field_ref"})


# --------------------------------------------------------------------------
# Words for terminals, so no parser-internal name reaches a user.

_TERMINAL_WORDS = {
    "NAME": "a word", "STRING": "a quoted name", "NUMBER": "a number",
    "SCORE": "a score change like +10", "DATE": "a date like 2026-12-01",
    "DATETIME": "a date-time like 2026-12-01T09:30", "DURATION": "a duration like 3 days",
    "TOKEN": "a token like {{my.Score}}", "COMMA": "','", "OP": "a comparison",
    "EQ": "'='", "DOT": "'.'", "_SEP": "a new line or ';'", "PHRASE": "a statement",
    "LBRACE": "'{'", "RBRACE": "'}'", "$END": "the end of the file", "COLON": "':'",
    "__ANON_0": "'->'",
}


def _terminal_word(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    if name in KEYWORDS:
        return f"'{KEYWORDS[name]}'"
    for t in lark_parser().terminals:
        if t.name == name and t.pattern.type == "str":
            return repr(t.pattern.value).replace("'", "'")
    return name.lower()


def _expected_words(expected: Iterable[str]) -> str:
    exp = set(expected)
    atoms = {"NAME", "STRING", "NUMBER", "SCORE", "DATE", "DATETIME", "DURATION", "TOKEN"}
    words = []
    if atoms <= exp:
        words.append("a statement or value")
        exp -= atoms | {"COMMA", "OP", "EQ", "DOT"}
    words += sorted(_terminal_word(e) for e in exp)
    if len(words) > 1:
        return ", ".join(words[:-1]) + " or " + words[-1]
    return words[0] if words else "something else"


def _token_words(tok: Token) -> str:
    """What was found, after "unexpected": ``word 'twice'``, ``name "P"``."""
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_SEP":
        return "end of line"
    if tok.type == "STRING":
        return f"name {tok}"
    if tok.type in ("NAME",) or (tok.type.isupper() and str(tok).isalpha()):
        return f"word '{tok}'"
    return f"'{tok}'"


#: keywords that come in pairs: a did-you-mean may name the pair
_KEYWORD_PAIRS = {"smart": "smart list", "member": "member fields"}


def _unknown_word(word: str, expected: set[str]) -> tuple[str, str] | None:
    """``unknown word 'lists'`` and its hint, for a word that is no keyword
    where keywords were expected (None: the word is a keyword, or no keyword
    was expected here)."""
    wanted = sorted(KEYWORDS[e] for e in expected if e in KEYWORDS)
    if not wanted or word in KEYWORDS.values():
        return None
    if word.lower() in wanted:
        return f"unknown word '{word}'", f"keywords are lower case: write '{word.lower()}'"
    candidates = wanted + [_KEYWORD_PAIRS[w] for w in wanted if w in _KEYWORD_PAIRS]
    by_key = {c.replace(" ", ""): c for c in candidates}
    close = difflib.get_close_matches(word.lower(), list(by_key), n=1, cutoff=0.6)
    if close:
        return f"unknown word '{word}'", f"did you mean '{by_key[close[0]]}'?"
    listed = [f"'{w}'" for w in candidates if w not in _KEYWORD_PAIRS]
    return f"unknown word '{word}'", "expected " + (", ".join(listed[:-1]) + " or " + listed[-1]
                                                    if len(listed) > 1 else listed[0])


# --------------------------------------------------------------------------
# Public entry point


_SURROGATE = re.compile("[\ud800-\udfff]")



@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cycle collector for a pass that allocates a node or two
    per token or declaration and frees little (the parse, the checker): the
    collector's passes over them cost 15-50 % of the pass and find nothing.
    Nested pauses are fine; the collector runs again when the outermost ends.

    At the end the objects the pass made are long-lived (they are its
    result): they go straight to the collector's oldest generation
    (``gc.freeze()`` then ``gc.unfreeze()``, which moves every tracked
    object there without a pass over them). Re-enabled as they were, the
    first young collection walked every one of them, and the middle one
    soon after again: 10-25 % of checking a large file, more the larger the
    file (the walk over a heap larger than the caches), which made the cost
    per MB grow with the size. The next full collection sees them, as it sees
    every long-lived object. A host that froze objects itself (``gc.freeze``
    before a fork) keeps them frozen: then the collector is only re-enabled."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()

def parse(text: str, file: str = "<input>") -> ParseResult:
    """Parse one file's text. Never raises for bad input."""
    if text.startswith("\ufeff"):
        # a byte-order mark is no character of the file: dropped, so that
        # line 1's columns are the ones an editor shows (docs/language.md)
        text = text[1:]
    src = SourceFile(file, text)
    lone = _SURROGATE.search(text)
    if lone is not None:   # only text handed over in Python can hold one (a file is UTF-8): nothing to store
        at = lone.start()
        return ParseResult(ast.Module(file, (), span=src.span(0, len(text))), (error(
            "CL001", f"a lone surrogate (\\u{ord(text[at]):04x}) is not Unicode text", src.span(at, at + 1),
            hint="the text came through Python unchecked; write the character it stands for"),), (), src)
    deep, balanced = _too_deep(text)
    if deep is not None:   # every later stage (the formatter first) recurses per level
        return ParseResult(ast.Module(file, (), span=src.span(0, len(text))), (error(
            "CL001", f"blocks nest more than {MAX_NESTING} deep", src.span(deep, deep + 1),
            hint="a file needs a few levels: workspace, folder, program, campaign, flow, choice"),), (), src)
    diags: list[Diagnostic] = []
    # Unclosed blocks first: report each, naming it, and close it where its
    # indentation says it ended, so the rest of the file still parses.
    inserts: list[tuple[int, int]] = []
    work = text
    for opener in reversed(_unclosed_blocks(text) if not balanced else []):
        at = _missing_close(text, opener)
        line_start, _ = _line_range(text, opener)
        head = " ".join(text[line_start:opener].split()) or "block"
        line = src.position(opener)[0]
        diags.append(error("CL001", f"unclosed block '{head}': the '{{' on line {line} is never closed",
                           src.span(opener, opener + 1),
                           hint=(f"add the missing '}}' after line {src.position(at)[0]}"
                                 if at < len(text) else "add the missing '}' at the end of this block")))
        inserts.append((at, 2))
    if inserts:
        inserts.sort()
        pieces, prev = [], 0
        for at, _n in inserts:
            pieces.append(text[prev:at])
            pieces.append("\n}")
            prev = at
        pieces.append(text[prev:])
        work = "".join(pieces)
    global _builder
    where = _Mapped(src, inserts)
    tree = None
    builder = _Builder(where)
    with _lock:
        parser = lark_parser()
        for attempt in range(MAX_ERRORS + 1):
            if attempt == 0:
                # the fast driver first; anything but a clean parse is Lark's
                builder = _builder = _Builder(where)
                try:
                    with paused_gc():
                        tree = _fast_parse(parser, work)
                    break
                except Exception:   # noqa: BLE001 - Lark reads the text again and says what it is
                    tree = None
            builder = _builder = _Builder(where)
            try:
                tree = parser.parse(work)
                break
            except UnexpectedInput as exc:
                diag, blank = _describe(exc, where, work)
                diags.append(diag)
                if blank is None or len(diags) >= MAX_ERRORS:
                    break
                new = _recover(work, blank)
                if new == work:
                    break
                work = new
        comments = tuple(_comments(src, _scan_comments(text))) if tree is not None else ()
        _builder = None
    module = tree if isinstance(tree, ast.Module) else ast.Module(file, (), span=src.span(0, len(text)))
    if tree is not None:
        diags.extend(builder.diagnostics)
    diags.sort(key=Diagnostic.sort_key)
    return ParseResult(module, tuple(diags), comments, src)


class _Mapped:
    """A SourceFile seen through the braces recovery inserted: positions in
    the parsed text map back to the user's text before spans are made."""

    def __init__(self, src: SourceFile, inserts: list[tuple[int, int]]):
        self.src, self.name, self.text = src, src.name, src.text
        # (position in the parsed text, original position, length)
        self.marks: list[tuple[int, int, int]] = []
        shift = 0
        for at, n in inserts:
            self.marks.append((at + shift, at, n))
            shift += n
        if not self.marks:   # nothing inserted: positions are the user's (a span per node: the hot path)
            self.span = src.span   # type: ignore[method-assign]

    def map(self, pos: int) -> int:
        if not self.marks:
            return pos
        shift = 0
        for wpos, orig, n in self.marks:
            if pos < wpos:
                break
            if pos < wpos + n:
                return orig
            shift += n
        return pos - shift

    def span(self, start: int, end: int) -> Span:
        return self.src.span(self.map(start), self.map(end))

    def position(self, offset: int) -> tuple[int, int]:
        return self.src.position(offset)

    def line_text(self, line: int) -> str:
        return self.src.line_text(line)


# The recovery scanners skip strings, comments and {{tokens}} to find braces.
# A string that is never closed matches nothing, as if the quote were any
# other character, and so does every later quote of its line (each would run
# to the end of the line unclosed too). Retrying the pattern from each of
# them made a line of escaped quotes quadratic (issue 14); ``_openers``
# matches an unclosed string once, to the end of its line, and scans its
# inside for the other openers only. The string pattern is written unrolled
# (runs of plain characters, then one escape) so that Python's re keeps no
# state per character: ``(?:[^"\\]|\\.)*`` cost ~150 bytes a character.
# '{{' opens a token reference, never a block, even when its '}}' is missing
# or short of one brace ('{{my.Score }'): its braces are not counted.
_OPENERS = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*(?P<close>")?|#[^\n]*|\{\{[^{}\n]*\}?\}?|[{}]')
_OPENERS_NO_STRING = re.compile(r'#[^\n]*|\{\{[^{}\n]*\}?\}?|[{}]')


# The braces ``_openers`` yields, found by the regular expression engine alone
# (a Python step per match cost 3-4 % of checking a valid file): one match
# per brace, which steps over the strings, comments, {{tokens}} and runs of
# other characters before it (possessively: a string is never re-entered)
# and takes the brace as group 1; so does the quote of a string left open,
# whose line is then taken whole (linear, as in _OPENERS); the text's end
# matches with group 1 empty. A '"' among the braces means a string was left
# open, inside which _openers reads further: then _openers is asked.
_BRACES = re.compile(r'(?:"[^"\\\n]*(?:\\.[^"\\\n]*)*"|#[^\n]*|\{\{[^{}\n]*\}?\}?|[^{}"#]+)*+'
                     r'(?=([{}"]?))(?:[{}]|"[^"\\\n]*(?:\\.[^"\\\n]*)*|\Z)')


def _openers(text: str, pos: int = 0) -> Iterator[re.Match[str]]:
    """``_OPENERS.finditer(text, pos)`` with an unclosed string read as
    above: one pass over the text."""
    for m in _OPENERS.finditer(text, pos):
        if m.group(0)[0] == '"' and m.group("close") is None:
            eol = text.find("\n", m.end())   # m ends there, or before a last backslash
            yield from _OPENERS_NO_STRING.finditer(text, m.start() + 1, len(text) if eol < 0 else eol)
        else:
            yield m


def _unclosed_blocks(text: str) -> list[int]:
    """Offsets of every '{' never closed, outermost first. A '}' that begins
    its line closes the innermost block opened on a line indented no deeper
    than it: blocks opened deeper in between are the unclosed ones (so an
    unclosed ``flow {`` is blamed, not the ``program {`` whose '}' it took)."""
    plain: list[int] = []
    for m in _openers(text):
        if m.group(0) == "{":
            plain.append(m.start())
        elif m.group(0) == "}" and plain:
            plain.pop()
    if not plain:   # every block closes: indentation is the writer's business
        return plain
    stack: list[tuple[int, int]] = []   # (offset, indentation of the opener's line)
    unclosed: list[int] = []
    for m in _openers(text):
        tok = m.group(0)
        if tok == "{":
            start, end = _line_range(text, m.start())
            stack.append((m.start(), _indent(text[start:end])))
        elif tok == "}" and stack:
            start, end = _line_range(text, m.start())
            line = text[start:end]
            if not line[:m.start() - start].strip():   # the '}' begins its line
                depth = _indent(line)
                while len(stack) > 1 and stack[-1][1] > depth:
                    unclosed.append(stack.pop()[0])
            stack.pop()
    found = sorted(unclosed + [at for at, _ in stack])
    # the indentation must tell as many unclosed blocks as the count does, else trust the count
    return found if len(found) == len(plain) else plain


#: how deep blocks may nest
MAX_NESTING = 64


def _too_deep(text: str) -> tuple[int | None, bool]:
    """The offset of the first '{' nested deeper than MAX_NESTING (or None),
    and whether every '{' closes (then ``_unclosed_blocks`` has nothing to
    find: one pass over the text instead of two)."""
    braces = "".join(_BRACES.findall(text))
    if '"' not in braces:   # no string left open: these are the braces _openers yields
        depth = 0
        for c in braces:
            if c == "{":
                depth += 1
                if depth > MAX_NESTING:
                    break   # where: from the scan below
            elif depth:
                depth -= 1
        else:
            return None, depth == 0
    depth = 0
    for m in _openers(text):
        tok = m.group(0)
        if tok == "{":
            depth += 1
            if depth > MAX_NESTING:
                return m.start(), False
        elif tok == "}" and depth:
            depth -= 1
    return None, depth == 0


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _missing_close(text: str, opener: int) -> int:
    """Where the block opened at ``opener`` should have closed: before the
    first later line indented no deeper than the opener's line (blank and
    comment lines skipped); the end of the file when there is none."""
    line_start, line_end = _line_range(text, opener)
    base = _indent(text[line_start:line_end])
    last_code_end = line_end
    pos = line_end + 1
    while pos <= len(text):
        end = text.find("\n", pos)
        end = len(text) if end == -1 else end
        line = text[pos:end]
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            if _indent(line) <= base and not stripped.startswith("}"):
                return last_code_end
            last_code_end = end
        pos = end + 1
    return len(text)


# only run on a file that parsed, so every string is closed; "? keeps a scan
# linear anyway (see _OPENERS)
_COMMENT_SCAN = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"?|\{\{[^{}\n]*\}\}|#[^\n]*')


def _scan_comments(text: str) -> list[tuple[str, int]]:
    """Every ``# comment`` of a file that parsed: one pass of a regular
    expression that steps over strings and {{tokens}}, cheaper than a lexer
    callback on every separator."""
    # No match of the scan crosses a line end, so each line can be scanned
    # alone: only the lines that hold a '#' are (a valid file has few; the
    # pass over every string and token of the file cost 5-8 % of a check).
    out: list[tuple[str, int]] = []
    find, scan, size = text.find, _COMMENT_SCAN.finditer, len(text)
    at = find("#")
    while at != -1:
        end = find("\n", at)
        if end == -1:
            end = size
        for m in scan(text, text.rfind("\n", 0, at) + 1, end):
            if m.group(0)[0] == "#":
                out.append((m.group(0), m.start()))
        at = find("#", end)
    return out


def _comments(src: SourceFile, sink: list[tuple[str, int]]) -> Iterable[Comment]:
    seen = set()
    for text, start in sorted(sink, key=lambda c: c[1]):
        if start in seen:
            continue
        seen.add(start)
        line, col = src.position(start)
        before = src.line_text(line)[: col - 1]
        yield Comment(text.rstrip(), start, line, col, not before.strip())


# --------------------------------------------------------------------------
# Grammar-level errors



def _unclosed_block(work: str) -> int | None:
    """Offset of the innermost '{' never closed (strings, comments, tokens skipped)."""
    stack: list[int] = []
    for m in _openers(work):
        s = m.group(0)
        if s == "{":
            stack.append(m.start())
        elif s == "}":
            if stack:
                stack.pop()
    return stack[-1] if stack else None


def where_span(src: Any, start: int, end: int) -> Span:
    return src.span(start, end)


def _blank_range(work: str, offset: int) -> tuple[int, int]:
    """What recovery blanks after an error at ``offset``: its line, or, when
    that line opens a block it does not close, the whole block (so a broken
    campaign header costs one error, not one per line of its body)."""
    start, end = _line_range(work, offset)
    depth = 0
    for m in _openers(work, start):
        if m.start() >= end and depth <= 0:
            break
        tok = m.group(0)
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth == 0 and m.start() >= end:
                return start, m.end()
            if depth < 0 and m.start() < end:
                depth = 0
    return start, end


def _recover(work: str, blank: tuple) -> str:
    """The text to parse again after an error: ``blank`` is (start, end) to
    blank out, keeping line ends and every '}' that closes a block opened
    before the range (so a broken line does not take its block's end with
    it, which would cascade into an "unclosed block"); or (start, end, text)
    to put in its place, of the same length (a bare name quoted)."""
    if len(blank) == 3:
        return work[:blank[0]] + blank[2] + work[blank[1]:]
    start, end = blank
    piece = work[start:end]
    out = [c if c in "\r\n" else " " for c in piece]
    depth = 0
    for m in _openers(piece):
        if m.group(0) == "{":
            depth += 1
        elif m.group(0) == "}":
            if depth:
                depth -= 1
            else:
                out[m.start()] = "}"
    new = work[:start] + "".join(out) + work[end:]
    if new == work:   # the error is that very '}': it goes
        new = work[:start] + "".join(c if c in "\r\n" else " " for c in piece) + work[end:]
    return new


def _quoted_in_place(work: str, start: int, end: int) -> tuple[int, int, str] | None:
    """Recovery for a bare name where a quoted one belongs: the same number of
    characters, quoted, so the rest of the block is still read."""
    n = end - start
    if n >= 2:
        return start, end, '"' + "x" * (n - 2) + '"'
    if end < len(work) and work[end] in " \t":
        return start, end + 1, '""'
    return None


def _line_range(work: str, offset: int) -> tuple[int, int]:
    start = work.rfind("\n", 0, offset) + 1
    end = work.find("\n", offset)
    return start, (len(work) if end == -1 else end)


def _describe(exc: UnexpectedInput, src: Any, work: str
              ) -> tuple[Diagnostic, tuple[int, int] | tuple[int, int, str] | None]:
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        ch = work[pos]
        rest_of_line = work[pos:_line_range(work, pos)[1]]
        span = src.span(pos, pos + 1)
        if ch == '"':
            d = error("CL001", "unterminated string", src.span(pos, pos + len(rest_of_line.rstrip()) or pos + 1),
                      hint='a string ends with " on the same line; write \\" for a quote inside it')
        elif ch == "'":
            d = error("CL001", "strings are written in double quotes, not single quotes", span,
                      hint='write "Name" instead of \'Name\'')
        elif work.startswith("{{", pos):
            d = error("CL001", "unclosed token reference: '{{' without '}}' on the same line", src.span(pos, pos + 2),
                      hint="a token reference looks like {{my.Score}}")
        elif ch == "\x00" or not ch.isprintable() and ch not in "\t":
            d = error("CL001", f"unexpected control character U+{ord(ch):04X}", span)
        else:
            d = error("CL001", f"unexpected character '{ch}'", span,
                      hint=f"expected {_expected_words(exc.allowed)}" if exc.allowed else None)
        return d, _blank_range(work, pos)

    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        opened = _unclosed_block(work)
        if opened is not None:
            line_start, _ = _line_range(work, opened)
            head = " ".join(work[line_start:opened].split()) or "block"
            line, _col = src.position(opened)
            d = error("CL001", f"unclosed block '{head}': the '{{' on line {line} is never closed",
                      src.span(opened, opened + 1),
                      hint="add the missing '}' at the end of this block")
        else:
            end = len(src.text)
            d = error("CL001", "unexpected end of file", src.span(end, end),
                      hint=f"expected {_expected_words(getattr(exc, 'expected', ()) or ())}")
        return d, None

    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    if tok.type == "PHRASE":
        # the root lexer took a phrase where a declaration was expected:
        # report its first atom, as the user sees it
        m = _ATOM_RE.match(str(tok))
        if str(tok).startswith("'"):
            at = tok.start_pos
            return (error("CL001", "strings are written in double quotes, not single quotes",
                          src.span(at, at + 1), hint="write \"Name\" instead of 'Name'"),
                    _blank_range(work, at))
        if m is not None:
            tok = Token(m.lastgroup, m.group(0), start_pos=tok.start_pos, end_pos=tok.start_pos + m.end(),
                        line=tok.line, column=tok.column)
    start = tok.start_pos if tok.start_pos is not None else 0
    end = tok.end_pos if tok.end_pos is not None else start + 1
    if tok.type == "_SEP":
        start = start + len(str(tok)) - len(str(tok).lstrip(" \t"))
        end = start + 1
    span = src.span(start, max(end, start))
    expected = set(exc.expected) | set(getattr(exc, "accepts", None) or ())
    label = _label(exc)
    hint = None
    step_words = {p.word_list[0] for p in _steps.STEPS}
    if tok.type == "LBRACE" and (work.startswith("{{", start) or work.startswith("{{", start - 1)):
        at = start - 1 if work.startswith("{{", start - 1) else start
        return (error("CL001", "unclosed token reference: '{{' without '}}'", where_span(src, at, at + 2),
                      hint="a token reference looks like {{my.Score}}"), _blank_range(work, start))
    if tok.type == "NAME" and "FLOW" in expected and str(tok) in step_words:
        label = ("a step belongs inside a flow block", "write flow { ... } inside the campaign")
    elif tok.type == "NAME" and "FLOW" in expected and str(tok) in ("filter", "trigger"):
        label = (f"a {tok} belongs inside a smart list block", "write smart list { ... } inside the campaign")
    unknown = _unknown_word(str(tok), expected) if tok.type == "NAME" else None
    unit = None
    if tok.type == "NUMBER" and "DURATION" in expected:   # 'qualify once every 2 dayz'
        after = re.match(r"[ \t]+([A-Za-z_][A-Za-z0-9_]*)", work[end:])
        unit = unit_hint(str(tok), after.group(1)) if after else None
        if unit is not None:
            span = src.span(end + after.start(1), end + after.end(1))
    if unit is not None:
        message, hint = unit
    elif unknown is not None and not (label and label[0].startswith("names of things")):
        message, hint = unknown
    elif label:
        message, hint = label
        if tok.type == "NAME" and message.startswith("names of things"):
            hint = f'write "{tok}"'
            quoted = _quoted_in_place(work, start, end)
            if quoted is not None:
                return error("CL001", message, span, hint=hint), quoted
    elif tok.type == "RBRACE" and "RBRACE" not in expected and _unclosed_block(work[:start]) is not None:
        message = f"unexpected '}}'; expected {_expected_words(expected)}"   # 'statuses }'
    elif tok.type == "RBRACE" and "RBRACE" not in expected:
        message = "unexpected '}': there is no open block here to close"
        hint = "remove this brace, or look for an extra '}' above"
    elif expected <= {"_SEP", "RBRACE", "$END"} and tok.type != "_SEP":
        message = f"unexpected {_token_words(tok)}: a statement ends here"
        hint = "put each statement on its own line, or separate them with ';'"
    elif tok.type == "NAME" or (str(tok).isalpha() and tok.type != "STRING"):
        keywords = [_terminal_word(e).strip("'") for e in expected
                    if e not in _TERMINAL_WORDS and not e.startswith("_")]
        close = difflib.get_close_matches(str(tok), keywords, n=1)
        message = f"unexpected {_token_words(tok)}; expected {_expected_words(expected)}"
        hint = f"did you mean '{close[0]}'?" if close else None
    else:
        message = f"unexpected {_token_words(tok)}; expected {_expected_words(expected)}"
    return error("CL001", message, span, hint=hint), _blank_range(work, start)


# Lark's match_examples: programs that fail in the same parser state as a
# common mistake, each with the message that mistake deserves.
_EXAMPLES: dict[tuple[str, str | None], list[str]] = {
    ("a campaign needs its kind after its name: batch, trigger or executable",
     'write campaign "Name" batch { ... }'): [
        'program "P" { campaign "C" {',
        'program "P" { campaign "C" }',
        'program "P" { campaign "C"\n',
    ],
    ("names of things are double-quoted strings", None): [
        "program P {", "workspace W {", "folder F {", 'program "P" { campaign C',
        'program "P" { list L', 'program "P" { email E', 'program "P" { form F',
        "test T {",
    ],
    ("a campaign belongs inside a program", 'write program "Name" { campaign "..." batch { } }'): [
        'campaign "C" batch {',
    ],
    ("a My Token is written my.Name = value", "write tokens { my.Score = +10 }"): [
        'tokens { Score', 'tokens { my Score', 'tokens { my.Score +',
    ],
    ("a field is declared \"Name\": type", 'write fields { "Region": text }'): [
        'fields { "Region" text', 'fields { Region text',
    ],
}

_label_table: dict[tuple[int, str | None], tuple[str, str | None]] | None = None


def _labels() -> dict[tuple[int, str | None], tuple[str, str | None]]:
    """(LALR state, token type) -> label, from the examples above.

    Lark's ``match_examples`` compares whole parser stacks, so an example only
    matches a mistake at the same nesting depth; keying by the LALR state
    alone (the state is the same however deep the block) matches a missing
    campaign kind inside any folder or workspace."""
    global _label_table
    if _label_table is None:
        table: dict[tuple[int, str | None], tuple[str, str | None]] = {}
        for label, examples in _EXAMPLES.items():
            for example in examples:
                try:
                    bare_parser().parse(example)
                except UnexpectedInput as exc:
                    state = getattr(getattr(exc, "state", None), "position", None)
                    tok = getattr(exc, "token", None)
                    if state is None:
                        continue
                    table.setdefault((state, getattr(tok, "type", None)), label)
                    table.setdefault((state, None), label)
        _label_table = table
    return _label_table


def _label(exc: UnexpectedToken) -> tuple[str, str | None] | None:
    state = getattr(getattr(exc, "state", None), "position", None)
    if state is None:
        return None
    table = _labels()
    exact = table.get((state, exc.token.type))
    if exact is not None or exc.token.type in ("NAME", "PHRASE", "RBRACE"):
        return exact   # a word or a '}' is judged by what it is (_describe), not by its state
    return table.get((state, None))


# --------------------------------------------------------------------------
# Values from atoms

#: the words that are values, not names (``value``)
_LITERAL_WORDS = ("true", "false", "null")
_TOKEN_NAMESPACES = ("my", "lead", "campaign", "program", "member", "trigger", "system")
_TOKEN_RE = re.compile(r"\{\{([^{}\n]*)\}\}")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


class PhraseError(Exception):
    """A phrase-level mistake, turned into a CL001 diagnostic by the builder."""

    def __init__(self, message: str, span: Span, hint: str | None = None):
        super().__init__(message)
        self.message, self.span, self.hint = message, span, hint


#: digits in a whole-number literal; Python's int() refuses over 4,300 and
#: the store holds 64 bits (19 digits), so more is a mistake, not a value
MAX_DIGITS = 100
#: the longest duration per unit: 10,000 years (a longer one overflows every date)
MAX_DURATION = {"minute": 5_256_000_000, "hour": 87_600_000, "day": 3_650_000, "week": 521_428,
                "month": 121_666}


_UNITS = ("minutes", "hours", "days", "weeks", "months")
#: abbreviations people write for a unit (campaignlang takes full words only, §1)
_UNIT_ALIASES = {"min": "minutes", "mins": "minutes", "m": "minutes", "h": "hours", "hr": "hours",
                 "hrs": "hours", "d": "days", "w": "weeks", "wk": "weeks", "wks": "weeks",
                 "mo": "months", "mos": "months", "mon": "months", "mth": "months", "mths": "months"}


def unit_hint(amount: str, word: str) -> tuple[str, str] | None:
    """``3 dayz``: the message and hint for a word after a number where a
    duration belongs, when the word looks like a unit (None otherwise)."""
    w = word.casefold()
    if w in ("s", "sec", "secs", "second", "seconds"):
        return f"unknown unit '{word}'", "durations count minutes, hours, days, weeks or months"
    guess = _UNIT_ALIASES.get(w) or next(iter(difflib.get_close_matches(w, _UNITS, n=1, cutoff=0.6)), None) \
        or next((u for u in _UNITS if u.rstrip("s") == w.rstrip("s")), None)
    if guess is None and w.rstrip("s") in ("year", "yr", "y"):
        return f"unknown unit '{word}'", f"write {int(amount) * 12 if amount.isdigit() else 12} months"
    if guess is None:
        return None
    if amount == "1":
        guess = guess.rstrip("s")
    return f"unknown unit '{word}'", f"did you mean '{guess}'? ({amount} {guess})"


def _int(text: str, span: Span) -> int:
    digits = len(text.lstrip("+-="))
    if digits > MAX_DIGITS:
        raise PhraseError(f"a number of {digits} digits is too long", span,
                          hint=f"numbers have at most {MAX_DIGITS} digits")
    return int(text)


# --------------------------------------------------------------------------
# The builder: Lark tree -> AST


class _Atom:
    """One atom of a phrase: its terminal type, text and position (the
    fields of Lark's Token the builder reads, without its cost)."""

    __slots__ = ("type", "value", "start_pos", "end_pos")

    def __init__(self, type: str, value: str, start_pos: int, end_pos: int):
        self.type, self.value, self.start_pos, self.end_pos = type, value, start_pos, end_pos

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"{self.type}({self.value!r})"


class _Block(list):
    """The phrases of a ``{ }`` block (a list that can carry its bounds)."""


class _Phrase:
    """A phrase as the grammar leaves it: atoms (tokens) and an optional block.
    Its span is made when first asked for (a filter's node takes the span of
    its condition, not of its phrase: one span fewer per filter)."""

    __slots__ = ("atoms", "block", "_span", "_src")

    def __init__(self, atoms: list[Token], block: list["_Phrase"] | None, span: Span | None, src: Any = None):
        self.atoms, self.block, self._span, self._src = atoms, block, span, src

    @property
    def span(self) -> Span:
        """The block's bounds when it has one, else its first atom to its last."""
        span = self._span
        if span is None:
            span = self._span = self._src.span(self.atoms[0].start_pos, self.atoms[-1].end_pos)
        return span


class _Builder:
    """Builds the AST while Lark parses: each rule's method takes the rule's
    positions and its built children (see ``_inline``); no parse tree is
    built. Lark's ``Transformer`` over a tree with ``propagate_positions``
    cost more than the parse itself."""

    def __init__(self, src: Any):
        self.src = src  # a _Mapped source: spans come out in the user's offsets
        self.diagnostics: list[Diagnostic] = []
        self.bounds: dict[int, tuple[int, int]] = {}   # id of a result on the stack -> its bounds
        #: (id of a vocabulary table, a phrase's leading words) -> the entries they begin (``match``)
        self._candidates: dict[tuple[int, tuple[str, ...]], list[Phrase]] = {}

    # -- helpers ----------------------------------------------------------

    def sp(self, meta: tuple[int, int] | None) -> Span:
        """The span of a rule's bounds (``_inline``)."""
        if meta is None:
            return self.src.span(0, 0)
        return self.src.span(meta[0], meta[1])

    def tsp(self, tok: Token) -> Span:
        return self.src.span(tok.start_pos, tok.end_pos)

    def fail(self, message: str, span: Span, hint: str | None = None) -> None:
        self.diagnostics.append(error("CL001", message, span, hint=hint))

    def string(self, tok: Token) -> str:
        raw = str(tok)[1:-1]
        return raw if "\\" not in raw else self.unescape(raw, tok.start_pos + 1)

    def unescape(self, raw: str, offset: int) -> str:
        if "\\" not in raw:
            return raw
        out = []
        i = 0
        while i < len(raw):
            c = raw[i]
            if c == "\\" and i + 1 < len(raw):
                nxt = raw[i + 1]
                if nxt in _ESCAPES:
                    out.append(_ESCAPES[nxt])
                else:
                    self.fail(f"unknown escape '\\{nxt}' in a string",
                              self.src.span(offset + i, offset + i + 2),
                              hint='the escapes are \\" \\\\ \\n and \\t')
                    out.append(nxt)
                i += 2
            else:
                out.append(c)
                i += 1
        return "".join(out)

    def token_ref(self, inner: str, start: int, end: int) -> ast.TokenRef:
        """``inner`` is the text between ``{{`` and ``}}``."""
        span = self.src.span(start, end)
        body = inner
        default = None
        if ":default=" in body:
            body, default = body.split(":default=", 1)
        body = body.strip()
        ns, dot, name = body.partition(".")
        ns = ns.strip()
        name = name.strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1]
        if not dot or not name:
            raise PhraseError(f"token reference '{{{{{inner}}}}}' has no name",
                              span, hint="write {{my.Score}} or {{lead.First Name}}")
        if ns not in _TOKEN_NAMESPACES:
            close = difflib.get_close_matches(ns, _TOKEN_NAMESPACES, n=1)
            raise PhraseError(f"unknown token kind '{ns}' in '{{{{{inner}}}}}'", span,
                              hint=(f"did you mean '{close[0]}'?" if close else
                                    "token references start with my., lead., campaign., program., "
                                    "member., trigger. or system."))
        return ast.TokenRef(ns, name, default, span=span)

    def template(self, tok: Token) -> ast.Node:
        raw = str(tok)[1:-1]
        base = tok.start_pos + 1
        span = self.src.span(tok.start_pos, tok.end_pos)
        if "{{" not in raw:
            return ast.String(raw if "\\" not in raw else self.unescape(raw, base), span=span)
        parts: list[Any] = []
        pos = 0
        for m in _TOKEN_RE.finditer(raw):
            lit = raw[pos:m.start()]
            if "{{" in lit:
                break
            if lit:
                parts.append(self.unescape(lit, base + pos))
            parts.append(self.token_ref(m.group(1), base + m.start(), base + m.end()))
            pos = m.end()
        rest = raw[pos:]
        if "{{" in rest:
            at = base + pos + rest.index("{{")
            raise PhraseError("unclosed token reference: '{{' without '}}'", self.src.span(at, at + 2),
                              hint="a token reference looks like {{my.Score}}")
        if rest:
            parts.append(self.unescape(rest, base + pos))
        return ast.Template(tuple(parts), span=span)

    def value(self, tok: Token) -> ast.Node:
        t = tok.type
        if t == "STRING":   # the template makes its span
            return self.template(tok)
        s, span = str(tok), self.tsp(tok)
        if t == "NUMBER":
            if "." in s:
                try:
                    return ast.Number(Decimal(s), span=span)
                except InvalidOperation:  # pragma: no cover - the regex admits only decimals
                    raise PhraseError(f"invalid number '{s}'", span) from None
            return ast.Number(_int(s, span), span=span)
        if t == "SCORE":
            if s.startswith("="):
                return ast.ScoreChange("=", _int(s[1:], span), span=span)
            return ast.ScoreChange("+", _int(s[1:], span), span=span)
        if t == "DATE":
            try:
                return ast.Date(_dt.date.fromisoformat(s), span=span)
            except ValueError:
                raise PhraseError(f"invalid date '{s}'", span, hint="dates are written YYYY-MM-DD") from None
        if t == "DATETIME":
            try:
                return ast.DateTime(_dt.datetime.fromisoformat(s), span=span)
            except ValueError:
                raise PhraseError(f"invalid date-time '{s}'", span,
                                  hint="date-times are written YYYY-MM-DDTHH:MM") from None
        if t == "DURATION":
            amount, unit = s.split()
            duration = ast.Duration(_int(amount, span), unit.rstrip("s"), span=span)
            if duration.amount > MAX_DURATION.get(duration.unit, 0):   # beyond every date a clock holds
                raise PhraseError(f"'{s}' is longer than 10,000 years", span,
                                  hint="durations are at most 10,000 years")
            return duration
        if t == "TOKEN":
            return self.token_ref(s[2:-2], tok.start_pos, tok.end_pos)
        if t == "NAME":
            if s == "true":
                return ast.Boolean(True, span=span)
            if s == "false":
                return ast.Boolean(False, span=span)
            if s == "null":
                return ast.Null(span=span)
            raise PhraseError(f"'{s}' is not a value", span,
                              hint='names of things are double-quoted: "' + s + '"')
        raise PhraseError(f"expected a value, found {_token_words(tok)}", span)

    def guarded(self, fn, *args) -> Any:
        try:
            return fn(*args)
        except PhraseError as exc:
            self.fail(exc.message, exc.span, exc.hint)
            return None

    # -- top level ---------------------------------------------------------

    def start(self, meta, children):
        items = tuple(c for c in children if isinstance(c, ast.Node))
        return ast.Module(self.src.name, items, span=self.src.span(0, len(self.src.text)))

    def import_decl(self, meta, children):
        std, path = children
        return ast.Import(self.string(path), std is not None, span=self.sp(meta))

    def fields(self, meta, children):
        return ast.Fields(tuple(c for c in children if isinstance(c, ast.FieldDecl)), span=self.sp(meta))

    def field_decl(self, meta, children):
        name, typ = children
        name_s = self.string(name) if name.type == "STRING" else str(name)
        from .stdlib.types import FIELD_TYPES
        if str(typ) not in FIELD_TYPES:
            close = difflib.get_close_matches(str(typ), FIELD_TYPES, n=1)
            self.fail(f"unknown field type '{typ}'", self.tsp(typ),
                      hint=(f"did you mean '{close[0]}'?" if close else
                            "the types are " + ", ".join(FIELD_TYPES)))
        return ast.FieldDecl(name_s, str(typ), span=self.sp(meta))

    def _container(self, cls, meta, children):
        name, *items = children
        return cls(self.string(name), tuple(i for i in items if isinstance(i, ast.Node)), span=self.sp(meta))

    def workspace(self, meta, children):
        return self._container(ast.Workspace, meta, children)

    def folder(self, meta, children):
        return self._container(ast.Folder, meta, children)

    def program(self, meta, children):
        return self._container(ast.Program, meta, children)

    def description(self, meta, children):
        return ast.Description(self.string(children[0]), span=self.sp(meta))

    def _strings(self, children) -> tuple[str, ...]:
        return tuple(self.string(c) for c in children if c.type == "STRING")

    def statuses(self, meta, children):
        return ast.Statuses(self._strings(children), span=self.sp(meta))

    def member_fields(self, meta, children):
        return ast.MemberFields(self._strings(children), span=self.sp(meta))

    def static_list(self, meta, children):
        return ast.StaticList(self.string(children[0]), span=self.sp(meta))

    def form(self, meta, children):
        return ast.Form(self.string(children[0]), span=self.sp(meta))

    def tokens(self, meta, children):
        return ast.Tokens(tuple(c for c in children if isinstance(c, ast.TokenDecl)), span=self.sp(meta))

    def token_decl(self, meta, children):
        prefix, _dot, name, *rest = children
        name_s = self.string(name) if name.type == "STRING" else str(name)
        if str(prefix) != "my":
            self.fail(f"My Tokens are named my.Name, not {prefix}.{name_s}", self.tsp(prefix),
                      hint=f"write my.{name_s}")
            return None
        if len(rest) == 1:  # `my.X =5` lexes as a score change `=5`
            tok = rest[0]
            number = self.guarded(_int, str(tok)[1:], self.tsp(tok))
            if number is None:
                return None
            value = ast.Number(number, span=self.tsp(tok))
        else:
            value = self.guarded(self.value, rest[1])
            if value is None:
                return None
        return ast.TokenDecl(name_s, value, span=self.sp(meta))

    def email(self, meta, children):
        name, *items = children
        parts: dict[str, Any] = {}
        for key, value in (i for i in items if isinstance(i, tuple)):
            parts[{"from": "sender"}.get(key, key)] = value
        return ast.Email(self.string(name), span=self.sp(meta), **parts)

    def email_item(self, meta, children):
        key, tok = children
        value = self.guarded(self.value, tok)
        return (str(key), value) if value is not None else None

    def webhook(self, meta, children):
        name, *items = children
        kw: dict[str, Any] = {}
        responses = []
        for item in items:
            if isinstance(item, ast.ResponseMapping):
                responses.append(item)
            elif isinstance(item, tuple):
                kw[item[0]] = item[1]
        return ast.Webhook(self.string(name), responses=tuple(responses), span=self.sp(meta), **kw)

    def webhook_url(self, meta, children):
        v = self.guarded(self.value, children[0])
        return ("url", v) if v is not None else None

    def webhook_payload(self, meta, children):
        v = self.guarded(self.value, children[0])
        return ("payload", v) if v is not None else None

    def webhook_method(self, meta, children):
        method = str(children[0]).lower()
        if method not in ("get", "post", "put", "patch", "delete"):
            self.fail(f"unknown webhook method '{children[0]}'", self.tsp(children[0]),
                      hint="the methods are get, post, put, patch and delete")
            return None
        return ("method", method)

    def webhook_response(self, meta, children):
        path, field = children[0], children[-1]
        return ast.ResponseMapping(self.string(path), field, span=self.sp(meta))

    def field_ref(self, meta, children):
        prefix, _dot, name = children
        if str(prefix) != "lead":
            self.fail(f"a field is written lead.Name, not {prefix}.…", self.tsp(prefix))
        return ast.FieldRef(self.string(name) if name.type == "STRING" else str(name), span=self.sp(meta))

    def ref(self, meta, children):
        strings = [c for c in children if c.type == "STRING"]
        if len(strings) == 2:
            return ast.Ref(self.string(strings[0]), self.string(strings[1]), span=self.sp(meta))
        return ast.Ref(None, self.string(strings[0]), span=self.sp(meta))

    # -- campaigns ---------------------------------------------------------

    def campaign(self, meta, children):
        name, kind, inactive, *items = children
        kind_s = str(kind)
        span = self.sp(meta)
        if kind_s not in ast.CAMPAIGN_KINDS:
            close = difflib.get_close_matches(kind_s, ast.CAMPAIGN_KINDS, n=1)
            self.fail(f"unknown campaign kind '{kind_s}'", self.tsp(kind),
                      hint=(f"did you mean '{close[0]}'?" if close else
                            "a campaign is batch, trigger or executable"))
            return None
        active = True
        if inactive is not None:
            if str(inactive) != "inactive" or kind_s != "trigger":
                self.fail(f"unexpected word '{inactive}' after the campaign kind", self.tsp(inactive),
                          hint="only a trigger campaign can be marked inactive: trigger inactive")
            else:
                active = False
        return ast.Campaign(self.string(name), kind_s, active,
                            tuple(i for i in items if isinstance(i, ast.Node)), span=span)

    def clone(self, meta, children):
        return ast.Clone(children[0], span=self.sp(meta))

    def flow(self, meta, children):
        block = children[0]
        steps = tuple(s for s in (self.guarded(self.step, p) for p in block) if s is not None)
        return ast.Flow(steps, span=self.sp(meta))

    def qualify(self, meta, children):
        _once, every, period = children
        if every is not None:
            return ast.Qualify("once every", self.guarded(self.value, period), span=self.sp(meta))
        return ast.Qualify("once", span=self.sp(meta))

    def qualify_every_time(self, meta, children):
        return ast.Qualify("every time", span=self.sp(meta))

    def schedule(self, meta, children):
        toks = [c for c in children if isinstance(c, Token)]
        at = self.guarded(self.value, toks[-1])
        if at is None:
            return None
        every = None
        durations = [t for t in toks if t.type == "DURATION"]
        if durations:
            every = self.guarded(self.value, durations[0])
        return ast.Schedule(at, every, span=self.sp(meta))

    def logic(self, meta, children):
        kind = children[0]
        if kind.type == "LOGIC":
            return ("advanced", self.string(children[1]), self.tsp(children[1]))
        return (str(kind), None, None)

    def smart_list(self, meta, children):
        name, logic, block = children
        kind, expression, expression_span = logic if logic is not None else ("all", None, None)
        members = tuple(m for m in (self.guarded(self.member, p) for p in block) if m is not None)
        return ast.SmartList(self.string(name) if name is not None else None, kind, expression,
                             members, span=self.sp(meta), expression_span=expression_span)

    # -- blocks and phrases -------------------------------------------------

    def block(self, meta, children):
        return _Block([c for c in children if type(c) is _Phrase])


    def phrase(self, meta, children):
        text, block = children
        atoms = self.atoms(text)
        if not atoms:  # only a comment: nothing to build (cannot happen by the grammar)
            return None
        if block is not None:
            return _Phrase(atoms, block, self.sp(meta))
        return _Phrase(atoms, None, None, self.src)

    def atoms(self, phrase: Token) -> list[Token]:
        """Split a PHRASE token into atoms, with positions in the file."""
        text = str(phrase)
        base = phrase.start_pos
        out: list[Token] = []
        pos = 0
        append = out.append
        new = object.__new__
        match = _PHRASE_ATOM.match
        m = match(text)
        while m is not None:   # each match: spaces and comments, then one atom
            kind = m.lastgroup
            start, pos = m.span(kind)
            atom = new(_Atom)   # _Atom(...) without the call to __init__: one per atom of the file
            atom.type = kind
            atom.value = m[kind]
            atom.start_pos = base + start
            atom.end_pos = base + pos
            append(atom)
            m = match(text, pos)
        pos = _SPACES.match(text, pos).end()   # what no atom takes: spaces and comments, or a mistake
        if pos < len(text):
            ch = text[pos]
            at = self.src.span(base + pos, base + pos + 1)
            if ch == "'":
                self.fail("strings are written in double quotes, not single quotes", at,
                          hint="write \"Name\" instead of 'Name'")
            else:
                self.fail(f"unexpected character '{ch}'", at)
            return []
        return out

    def test(self, meta, children):
        name, block = children[0], children[-1]
        at = next((c for c in children[1:-1] if c is not None), None)
        at_v = self.guarded(self.value, at) if at is not None else None
        stmts = tuple(s for s in (self.guarded(self.statement, p) for p in block) if s is not None)
        return ast.Test(self.string(name), at_v, stmts, span=self.sp(meta))

    # -- phrase matching ----------------------------------------------------

    def atoms_span(self, atoms: Sequence[Token]) -> Span:
        return self.src.span(atoms[0].start_pos, atoms[-1].end_pos)

    def no_block(self, p: _Phrase, what: str) -> None:
        if p.block is not None:
            raise PhraseError(f"{what} takes no block", p.span)

    def member(self, p: _Phrase) -> ast.Node:
        """A smart list line: ``filter ...`` or ``trigger ...``."""
        head = p.atoms[0]
        if head.type == "NAME" and head.value == "filter":
            self.no_block(p, "a filter")
            if len(p.atoms) == 1:
                raise PhraseError("'filter' needs a condition", self.tsp(head),
                                  hint='write filter lead.Country is "US"')
            return self.filter(p.atoms[1:], p.span)
        if head.type == "NAME" and head.value == "trigger":
            self.no_block(p, "a trigger")
            if len(p.atoms) == 1:
                raise PhraseError("'trigger' needs an event", self.tsp(head),
                                  hint='write trigger fills out form "Contact Us"')
            return self.match(p.atoms[1:], _triggers.TRIGGERS, "trigger", p.span)
        # a missing keyword is the likeliest mistake: say which one it needed
        probe = None
        for kind, table in (("filter", None), ("trigger", _triggers.TRIGGERS)):
            try:
                probe = self.filter(p.atoms, p.span) if table is None else self.match(p.atoms, table, kind, p.span)
                break
            except PhraseError:
                continue
        if probe is not None:
            kw = "trigger" if isinstance(probe, ast.Trigger) else "filter"
            raise PhraseError("a smart list line starts with 'filter' or 'trigger'", self.tsp(head),
                              hint=f"write {kw} {' '.join(str(a) for a in p.atoms)}")
        raise PhraseError(f"a smart list line starts with 'filter' or 'trigger', not {_token_words(head)}",
                          self.tsp(head), hint='write filter lead.Country is "US" or trigger fills out form "F"')

    def filter(self, atoms: Sequence[Token], span: Span) -> ast.Node:
        """A filter: ``lead.F OP OPERANDS`` or a membership/history phrase."""
        if (len(atoms) >= 2 and atoms[0].type == "NAME" and atoms[1].type == "DOT"):
            return self.field_filter(atoms, span)
        return self.match(atoms, _filters.FILTERS, "filter", span)

    def field_filter(self, atoms: Sequence[Token], span: Span) -> ast.FieldFilter:
        fld, i = self.m_field(atoms, 0)
        if fld is None:
            raise PhraseError("expected a field like lead.Country", self.atoms_span(atoms))
        rest = atoms[i:]
        if not rest:
            raise PhraseError(f"the filter on lead.{fld.name} needs an operator", fld.span,
                              hint='for example: is "US", >= 50, is empty, in past 30 days')
        best = None
        first = rest[0].value
        for words, spelling, op, operands in _OPERATOR_WORDS.get(first, ()):   # longest first
            if len(words) <= len(rest) and all(rest[k].value == w for k, w in enumerate(words)):
                best = (spelling, op, operands)
                break
        if best is None:
            bad = rest[0]
            if bad.type in ("EQ", "SCORE") or bad.value == "==":
                raise PhraseError(f"a filter compares with 'is', not '{bad}'", self.tsp(bad),
                                  hint=f"write lead.{fld.name} is ...")
            ops = sorted(_filters.OPERATORS)
            close = difflib.get_close_matches(" ".join(str(a) for a in rest[:3]), ops, n=1)
            raise PhraseError(f"unknown filter operator {_token_words(bad)}", self.tsp(bad),
                              hint=(f"did you mean '{close[0]}'?" if close else
                                    "operators: is, is not, contains, starts with, >, >=, <, <=, "
                                    "between, before, after, in past, is empty, ..."))
        spelling, op, operands = best
        i = len(spelling.split())
        rest = rest[i:]
        values: list[ast.Node] = []
        if operands == "none":
            pass
        elif operands in ("values", "value"):
            values, k = self.m_values(rest, 0)
            if not values:
                if rest and rest[0].type == "NAME":   # a bare word where a text belongs
                    raise PhraseError(f"'{spelling}' needs a value; text is double-quoted, found "
                                      f"{_token_words(rest[0])}", self.tsp(rest[0]),
                                      hint=f'write lead.{fld.name} {spelling} "{rest[0]}"')
                raise PhraseError(f"'{spelling}' needs a value", self.atoms_span(atoms),
                                  hint=f'for example: lead.{fld.name} {spelling} "X"')
            if operands == "value" and len(values) > 1:
                raise PhraseError(f"'{spelling}' takes one value", values[1].span)
            rest = rest[k:]
        elif operands == "range":
            if len(rest) >= 3 and rest[1].value == "and":
                values = [self.value(rest[0]), self.value(rest[2])]
                rest = rest[3:]
            else:
                raise PhraseError("'between' needs two values: between A and B",
                                  self.atoms_span(atoms), hint=f"write lead.{fld.name} between 1 and 10")
        elif operands == "duration":
            if rest and rest[0].type == "DURATION":
                values = [self.value(rest[0])]
                rest = rest[1:]
            else:
                if len(rest) >= 2 and rest[0].type == "NUMBER" and rest[1].type == "NAME":
                    self.bad_unit(rest[0], rest[1])
                raise PhraseError(f"'{spelling}' needs a duration like 30 days", self.atoms_span(atoms))
        if rest:
            raise PhraseError(f"unexpected {_token_words(rest[0])} at the end of the filter",
                              self.atoms_span(rest))
        return ast.FieldFilter(fld, op, tuple(values), span=self.atoms_span(atoms))

    def match(self, atoms: Sequence[Token], table: Sequence[Phrase], what: str, span: Span,
              choice_block: list[_Phrase] | None = None) -> ast.Node:
        """Match ``atoms`` against a vocabulary ``table``; build its node."""
        words = []
        for k, a in enumerate(atoms):
            if a.type != "NAME" or (k + 1 < len(atoms) and atoms[k + 1].type == "DOT"):
                break
            words.append(a.value)
        key = (id(table), tuple(words))
        candidates = self._candidates.get(key)
        if candidates is None:   # the entries these words begin, longest first: once per parse
            candidates = [p for p in _by_first_word(table).get(words[0] if words else "", ())
                          if tuple(words[:len(p.word_list)]) == p.word_list]
            candidates.sort(key=_fewest_words_last)
            self._candidates[key] = candidates
        if not candidates:
            phrase = " ".join(words) or str(atoms[0])
            known = [p.words for p in table]
            guess = " ".join(words[:4])
            close = difflib.get_close_matches(guess, known, n=1, cutoff=0.5) or [
                k for k in known if " ".join(words[:len(k.split())]) and
                difflib.SequenceMatcher(None, " ".join(words[:len(k.split())]), k).ratio() > 0.75][:1]
            raise PhraseError(f"unknown {what} '{phrase}'", self.atoms_span(atoms),
                              hint=(f"did you mean '{close[0]}'?" if close else
                                    f"the {what}s are: " + ", ".join(known)))
        furthest: tuple[int, set[str], Phrase] | None = None
        for entry in candidates:
            n = len(entry.word_list)
            body = atoms[n:]
            if choice_block is not None:
                return self.choice(entry, atoms, body, choice_block, span)
            found, fail = self.m_pattern(entry.pattern, body, 0)
            for end, values in found:
                if end == len(body):
                    return entry.node(**entry.fixed, **values, span=span)
            if found:  # matched, with atoms left over: the step should have ended
                longest = max(e for e, _ in found)
                if fail is None or longest >= fail[0]:
                    fail = (longest, {"the end of the step"})
            if fail is not None and (furthest is None or n + fail[0] > furthest[0]):
                furthest = (n + fail[0], fail[1], entry)
        assert furthest is not None
        pos, expected, entry = furthest
        if pos >= len(atoms):
            where = self.src.span(atoms[-1].end_pos, atoms[-1].end_pos)
            found_words = "the end of the line"
        else:
            where = self.tsp(atoms[pos])
            found_words = _token_words(atoms[pos])
        exp = " or ".join(sorted(expected))
        what_ = "the end of the step" if exp == "the end of the step" else exp
        if what_ == "the end of the step" and pos < len(atoms):
            return self._raise(f"unexpected {found_words} after '{entry.words}'", where,
                               "put each step on its own line, or separate steps with ';'")
        return self._raise(f"'{entry.words}' expected {exp}, found {found_words}", where,
                           f"write it as: {entry.usage}")

    def _raise(self, message: str, span: Span, hint: str | None) -> Any:
        raise PhraseError(message, span, hint)

    # Pattern matching: each m_* returns (list of (end, values)), fail) where
    # fail is (position, expected words) of the furthest miss.

    def m_pattern(self, pattern: Sequence[Any], atoms: Sequence[Token], pos: int
                  ) -> tuple[list[tuple[int, dict]], tuple[int, set[str]] | None]:
        states: list[tuple[int, dict]] = [(pos, {})]
        fail: tuple[int, set[str]] | None = None
        m_item = self.m_item
        for item in pattern:
            nxt: list[tuple[int, dict]] = []
            for p, vals in states:
                res, f = m_item(item, atoms, p)
                if f is not None:   # keep the furthest miss, and every word expected there
                    if fail is None or f[0] > fail[0]:
                        fail = (f[0], set(f[1]))
                    elif f[0] == fail[0]:
                        fail[1].update(f[1])
                for e, v in res:
                    # the values' dicts are never changed once made: one without news is shared
                    nxt.append((e, {**vals, **v} if v else vals))
            states = nxt
            if not states:
                break
        return states, fail

    def m_item(self, item: Any, atoms: Sequence[Token], pos: int
               ) -> tuple[list[tuple[int, dict]], tuple[int, set[str]] | None]:
        if isinstance(item, str):
            words = _pattern_words.get(item)
            if words is None:
                words = _pattern_words[item] = item.split()
            for k, w in enumerate(words):
                if pos + k >= len(atoms) or atoms[pos + k].value != w or atoms[pos + k].type != "NAME":
                    return [], (pos + k, {f"'{' '.join(words[k:])}'"})
            return [(pos + len(words), {})], None
        if isinstance(item, Opt):
            found, fail = self.m_pattern(item.items, atoms, pos)
            out = [(e, {**v, **({item.flag: True} if item.flag else {})}) for e, v in found]
            return out + [(pos, {})], fail
        if isinstance(item, Alt):
            out, fail = [], None
            for option in item.options:
                found, f = self.m_pattern(option, atoms, pos)
                out.extend(found)
                if f is not None and (fail is None or f[0] > fail[0]):
                    fail = f
            return out, fail
        assert isinstance(item, Slot)
        got, end = self.m_slot(item, atoms, pos)
        if end is None:
            return [], (pos, {item.describe()})
        return [(end, {item.name: got})], None

    def bad_unit(self, amount: Token, unit: Token) -> None:
        """Raise "unknown unit 'dayz'" when ``unit`` looks like a misspelt one."""
        found = unit_hint(str(amount), str(unit))
        if found is not None:
            raise PhraseError(found[0], self.tsp(unit), hint=found[1])

    def m_slot(self, slot: Slot, atoms: Sequence[Token], pos: int) -> tuple[Any, int | None]:
        kind = slot.kind
        if kind == "field":
            return self.m_field(atoms, pos)
        if kind == "ref":
            return self.m_ref(atoms, pos)
        if pos >= len(atoms):
            return None, None
        a = atoms[pos]
        if kind == "name":
            return (self.string(a), pos + 1) if a.type == "STRING" else (None, None)
        if kind == "names":
            names = []
            while pos < len(atoms) and atoms[pos].type == "STRING":
                names.append(self.string(atoms[pos]))
                pos += 1
                if pos < len(atoms) and atoms[pos].type == "COMMA":
                    pos += 1
                else:
                    break
            return (tuple(names), pos) if names and atoms[pos - 1].type != "COMMA" else (None, None)
        if kind == "value":
            if a.type in ("COMMA", "OP", "EQ", "DOT") or (a.type == "NAME" and a.value not in _LITERAL_WORDS):
                return None, None
            return self.value(a), pos + 1
        if kind == "values":
            vals, end = self.m_values(atoms, pos)
            return (tuple(vals), pos + end) if vals else (None, None)
        if kind == "duration":
            if a.type == "NUMBER" and pos + 1 < len(atoms) and atoms[pos + 1].type == "NAME":
                self.bad_unit(a, atoms[pos + 1])
            return (self.value(a), pos + 1) if a.type == "DURATION" else (None, None)
        if kind == "int":
            return (_int(a.value, self.tsp(a)), pos + 1) if a.type == "NUMBER" and a.value.isdigit() else (None, None)
        if kind == "word":
            for choice in sorted(slot.choices, key=lambda c: -len(c.split())):
                ws = choice.split()
                if all(pos + k < len(atoms) and atoms[pos + k].value == w and atoms[pos + k].type == "NAME"
                       for k, w in enumerate(ws)):
                    return choice, pos + len(ws)
            return None, None
        if kind == "targets":
            out = []
            while pos < len(atoms):
                if atoms[pos].value == "this" and pos + 1 < len(atoms) and atoms[pos + 1].value == "campaign":
                    out.append(ast.ThisCampaign(span=self.src.span(atoms[pos].start_pos, atoms[pos + 1].end_pos)))
                    pos += 2
                else:
                    r, end = self.m_ref(atoms, pos)
                    if end is None:
                        return None, None
                    out.append(r)
                    pos = end
                if pos < len(atoms) and atoms[pos].type == "COMMA":
                    pos += 1
                else:
                    break
            return (tuple(out), pos) if out else (None, None)
        raise AssertionError(f"unknown slot kind {kind}")  # pragma: no cover - vocabulary bug

    def m_values(self, atoms: Sequence[Token], pos: int) -> tuple[list[ast.Node], int]:
        """A comma list of values from ``pos``; returns (values, atoms consumed)."""
        vals = []
        i = pos
        while i < len(atoms):
            a = atoms[i]
            if a.type in ("COMMA", "OP", "EQ", "DOT") or (a.type == "NAME" and a.value not in _LITERAL_WORDS):
                break
            vals.append(self.value(a))
            i += 1
            if i < len(atoms) and atoms[i].type == "COMMA":
                i += 1
            else:
                break
        if i > pos and atoms[i - 1].type == "COMMA":
            raise PhraseError("a value is missing after ','", self.tsp(atoms[i - 1]))
        return vals, i - pos

    def m_field(self, atoms: Sequence[Token], pos: int) -> tuple[ast.FieldRef | None, int | None]:
        if (pos + 2 < len(atoms) + 0 and atoms[pos].type == "NAME" and atoms[pos + 1].type == "DOT"
                and atoms[pos + 2].type in ("NAME", "STRING")):
            if atoms[pos].value != "lead":
                raise PhraseError(f"a field is written lead.Name, not {atoms[pos]}.…", self.tsp(atoms[pos]),
                                  hint=f"write lead.{atoms[pos + 2]}")
            name_tok = atoms[pos + 2]
            name = self.string(name_tok) if name_tok.type == "STRING" else name_tok.value
            return (ast.FieldRef(name, span=self.src.span(atoms[pos].start_pos, name_tok.end_pos)), pos + 3)
        return None, None

    def m_ref(self, atoms: Sequence[Token], pos: int) -> tuple[ast.Ref | None, int | None]:
        if pos < len(atoms) and atoms[pos].type == "STRING":
            first = atoms[pos]
            if pos + 2 < len(atoms) and atoms[pos + 1].type == "DOT" and atoms[pos + 2].type == "STRING":
                last = atoms[pos + 2]
                return (ast.Ref(self.string(first), self.string(last),
                                span=self.src.span(first.start_pos, last.end_pos)), pos + 3)
            return ast.Ref(None, self.string(first), span=self.tsp(first)), pos + 1
        return None, None

    # -- steps and choices ---------------------------------------------------

    def step(self, p: _Phrase) -> ast.Node:
        head = p.atoms[0]
        if head.type == "NAME" and head.value in ("if", "else"):
            raise PhraseError(f"'{head}' outside a choice block", self.tsp(head),
                              hint="a choice is written after a step: execute campaign { if ... then ... }")
        if p.block is not None:
            return self.match(p.atoms, _steps.STEPS, "step", p.span, choice_block=p.block)
        return self.match(p.atoms, _steps.STEPS, "step", p.span)

    def choice(self, entry: Phrase, atoms: Sequence[Token], head: Sequence[Token],
               block: list[_Phrase], span: Span) -> ast.Choice:
        """``STEP [leading params] { if COND then PARAMS ... else ... }``."""
        pattern = entry.pattern
        split = None
        head_values: dict[str, Any] = {}
        for k in range(len(pattern), -1, -1):
            found, _ = self.m_pattern(pattern[:k], head, 0)
            full = [v for e, v in found if e == len(head)]
            if full:
                split, head_values = k, full[0]
                break
        if split is None:
            raise PhraseError(f"unexpected words before the choice block of '{entry.words}'",
                              self.atoms_span(atoms), hint=f"write it as: {entry.usage}")
        rest = pattern[split:]
        branches: list[ast.Branch] = []
        seen_else = False
        for line in block:
            b = self.guarded(self.branch, entry, line, rest, head_values, seen_else)
            if b is None:
                continue
            if b.condition is None:
                seen_else = True
            branches.append(b)
        if not branches:
            raise PhraseError(f"the choice block of '{entry.words}' has no branches", span,
                              hint="write if CONDITION then ... on its own line")
        head_pairs = tuple((s.name, head_values[s.name]) for s in _slots(pattern[:split]) if s.name in head_values)
        head_pairs += tuple((o.flag, True) for o in pattern[:split]
                            if isinstance(o, Opt) and o.flag and head_values.get(o.flag))
        return ast.Choice(entry.words, head_pairs, tuple(branches), span=span)

    def branch(self, entry: Phrase, line: _Phrase, rest: Sequence[Any], head_values: dict,
               seen_else: bool) -> ast.Branch:
        atoms = line.atoms
        if line.block is not None:
            raise PhraseError("a choice branch takes no block", line.span)
        first = atoms[0].value
        if first == "if" or (first == "else" and len(atoms) > 1 and atoms[1].value == "if"):
            if seen_else:
                raise PhraseError("a branch after 'else' can never run", line.span,
                                  hint="put 'else' last")
            start = 1 if first == "if" else 2
            then = next((k for k in range(start, len(atoms))
                         if atoms[k].type == "NAME" and atoms[k].value == "then"
                         and atoms[k - 1].type != "DOT"), None)
            if then is None:
                raise PhraseError("a choice branch needs 'then' after its condition", line.span,
                                  hint="write if CONDITION then ...")
            if then == start:
                raise PhraseError("a choice branch needs a condition before 'then'", self.tsp(atoms[then]))
            cond = self.filter(atoms[start:then], self.atoms_span(atoms[start:then]))
            params = atoms[then + 1:]
            anchor = atoms[then]
        elif first == "else":
            if seen_else:
                raise PhraseError("a choice has one 'else'", line.span)
            cond = None
            params = atoms[1:]
            anchor = atoms[0]
        else:
            raise PhraseError(f"a choice branch starts with 'if', 'else if' or 'else', not {_token_words(atoms[0])}",
                              self.tsp(atoms[0]))
        if len(params) == 2 and params[0].value == "do" and params[1].value == "nothing":
            return ast.Branch(cond, None, span=line.span)
        if not params and not rest:
            step = entry.node(**entry.fixed, **head_values, span=line.span)
            return ast.Branch(cond, step, span=line.span)
        if not params:
            raise PhraseError(f"the branch gives no parameters for '{entry.words}'",
                              self.src.span(anchor.end_pos, anchor.end_pos),
                              hint="write the rest of the step after 'then', or 'do nothing'")
        found, fail = self.m_pattern(rest, params, 0)
        for end, values in found:
            if end == len(params):
                step = entry.node(**entry.fixed, **head_values, **values, span=self.atoms_span(params))
                return ast.Branch(cond, step, span=line.span)
        pos = fail[0] if fail else len(params)
        where = self.tsp(params[pos]) if pos < len(params) else self.src.span(params[-1].end_pos, params[-1].end_pos)
        exp = " or ".join(sorted(fail[1])) if fail else "nothing more"
        raise PhraseError(f"this branch of '{entry.words}' expected {exp}", where,
                          hint=f"the whole step reads: {entry.usage}")

    # -- test statements -----------------------------------------------------

    def assigns(self, block: list[_Phrase] | None, what: str) -> tuple[ast.Assign, ...]:
        out = []
        for line in block or ():
            atoms = line.atoms
            i = 0
            while i < len(atoms):
                key = atoms[i]
                if key.type not in ("STRING", "NAME"):
                    raise PhraseError(f"expected a name in {what}, found {_token_words(key)}", self.tsp(key),
                                      hint='write "Field Name" = value')
                name = self.string(key) if key.type == "STRING" else str(key)
                i += 1
                if i < len(atoms) and atoms[i].type == "SCORE" and str(atoms[i]).startswith("="):
                    tok = atoms[i]
                    value = ast.Number(_int(str(tok)[1:], self.tsp(tok)), span=self.tsp(tok))
                    i += 1
                else:
                    if i >= len(atoms) or atoms[i].type != "EQ":
                        raise PhraseError(f"expected '=' after '{name}' in {what}",
                                          self.tsp(atoms[i]) if i < len(atoms) else self.tsp(key),
                                          hint=f'write "{name}" = value')
                    i += 1
                    if i >= len(atoms):
                        raise PhraseError(f"expected a value after '{name} ='", self.tsp(atoms[i - 1]))
                    r, end = self.m_ref(atoms, i)
                    if r is not None and r.program is not None:
                        value, i = r, end
                    else:
                        value = self.value(atoms[i])
                        i += 1
                out.append(ast.Assign(name, value, span=self.src.span(key.start_pos, atoms[i - 1].end_pos)))
                if i < len(atoms):
                    if atoms[i].type != "COMMA":
                        raise PhraseError(f"expected ',' between assignments, found {_token_words(atoms[i])}",
                                          self.tsp(atoms[i]))
                    i += 1
        return tuple(out)

    def token_assigns(self, block: list[_Phrase] | None) -> tuple[ast.TokenDecl, ...]:
        out = []
        for line in block or ():
            atoms = line.atoms
            i = 0
            while i < len(atoms):
                if not (i + 2 < len(atoms) and str(atoms[i]) == "my" and atoms[i + 1].type == "DOT"):
                    raise PhraseError("expected a My Token like my.Score = +3", self.tsp(atoms[i]))
                first, name_tok = atoms[i], atoms[i + 2]
                name = self.string(name_tok) if name_tok.type == "STRING" else str(name_tok)
                i += 3
                if i < len(atoms) and atoms[i].type == "SCORE" and str(atoms[i]).startswith("="):
                    value = ast.Number(_int(str(atoms[i])[1:], self.tsp(atoms[i])), span=self.tsp(atoms[i]))
                    i += 1
                elif i + 1 < len(atoms) and atoms[i].type == "EQ":
                    value = self.value(atoms[i + 1])
                    i += 2
                else:
                    raise PhraseError(f"expected '= value' after my.{name}", self.tsp(name_tok))
                out.append(ast.TokenDecl(name, value, span=self.src.span(first.start_pos, atoms[i - 1].end_pos)))
                if i < len(atoms):
                    if atoms[i].type != "COMMA":
                        raise PhraseError("expected ',' between tokens", self.tsp(atoms[i]))
                    i += 1
        return tuple(out)

    def people(self, atoms: Sequence[Token], pos: int, stmt: str) -> tuple[tuple[str, ...], int]:
        names, end = self.m_slot(Slot("people", "names"), atoms, pos)
        if end is None:
            where = self.tsp(atoms[pos]) if pos < len(atoms) else self.tsp(atoms[-1])
            raise PhraseError(f"'{stmt}' expected a person's email address after 'for'", where,
                              hint=f'write {stmt} ... for "ann@example.com"')
        return names, end

    def with_tokens(self, p: _Phrase, atoms: Sequence[Token], pos: int, stmt: str) -> tuple[ast.TokenDecl, ...]:
        rest = atoms[pos:]
        if not rest:
            if p.block is not None:
                raise PhraseError(f"'{stmt}' takes a block only after 'with tokens'", p.span)
            return ()
        if [str(a) for a in rest] == ["with", "tokens"] and p.block is not None:
            return self.token_assigns(p.block)
        raise PhraseError(f"unexpected {_token_words(rest[0])} in '{stmt}'", self.atoms_span(rest),
                          hint=f"write {stmt} ... with tokens {{ my.Score = +3 }}")

    def statement(self, p: _Phrase) -> ast.Node:
        atoms = p.atoms
        head = str(atoms[0]) if atoms[0].type == "NAME" else ""
        span = p.span
        if head == "person":
            email, end = self.m_slot(Slot("e", "name"), atoms, 1)
            if end is None or end != len(atoms):
                raise PhraseError("'person' expected an email address and an optional { fields } block",
                                  self.atoms_span(atoms), hint='write person "ann@example.com" { Country = "US" }')
            return ast.PersonStmt(email, self.assigns(p.block, "a person"), span=span)
        if head == "for":
            email, end = self.m_slot(Slot("e", "name"), atoms, 1)
            if end is None or end != len(atoms) or p.block is None:
                raise PhraseError("'for' expected an email address and a { steps } block",
                                  self.atoms_span(atoms), hint='write for "ann@example.com" { add to list "L" }')
            steps = tuple(s for s in (self.guarded(self.step, q) for q in p.block) if s is not None)
            return ast.ForStmt(email, steps, span=span)
        if head == "run":
            ref, end = self.m_ref(atoms, 1)
            if end is None:
                raise PhraseError("'run' expected a campaign like \"Program\".\"Campaign\"", self.atoms_span(atoms))
            return ast.RunStmt(ref, self.with_tokens(p, atoms, end, "run"), span=span)
        if head == "request":
            ref, end = self.m_ref(atoms, 1)
            if end is None:
                raise PhraseError("'request' expected a campaign like \"Program\".\"Campaign\"", self.atoms_span(atoms))
            if end >= len(atoms) or str(atoms[end]) != "for":
                raise PhraseError("'request' needs the people it is for", self.atoms_span(atoms),
                                  hint='write request "P"."C" for "ann@example.com"')
            people, end = self.people(atoms, end + 1, "request")
            return ast.RequestStmt(ref, people, self.with_tokens(p, atoms, end, "request"), span=span)
        if head == "fire":
            fors = [k for k, a in enumerate(atoms) if a.type == "NAME" and str(a) == "for"]
            if not fors or fors[-1] == 1:
                raise PhraseError("'fire' needs a trigger and the people it happens to", self.atoms_span(atoms),
                                  hint='write fire fills out form "Contact Us" for "ann@example.com"')
            k = fors[-1]
            trig = self.match(atoms[1:k], _triggers.TRIGGERS, "trigger", self.atoms_span(atoms[1:k]))
            people, end = self.people(atoms, k + 1, "fire")
            if end != len(atoms):
                raise PhraseError(f"unexpected {_token_words(atoms[end])} in 'fire'", self.atoms_span(atoms[end:]))
            return ast.FireStmt(trig, people, self.assigns(p.block, "event attributes"), span=span)
        if head == "advance":
            if len(atoms) == 2 and atoms[1].type == "DURATION":
                self.no_block(p, "'advance'")
                return ast.AdvanceStmt(self.value(atoms[1]), span=span)
            if len(atoms) >= 3 and atoms[1].type == "NUMBER" and atoms[2].type == "NAME":
                self.bad_unit(atoms[1], atoms[2])
            raise PhraseError("'advance' expected a duration like 3 days", self.atoms_span(atoms))
        if head == "expect":
            return self.expect(p)
        known = ["person", "for", "run", "request", "fire", "advance", "expect"]
        close = difflib.get_close_matches(str(atoms[0]), known, n=1)
        raise PhraseError(f"unknown test statement {_token_words(atoms[0])}", self.tsp(atoms[0]),
                          hint=(f"did you mean '{close[0]}'?" if close else
                                "test statements: " + ", ".join(known)))

    def expect(self, p: _Phrase) -> ast.Node:
        atoms = p.atoms
        span = p.span
        words = [str(a) for a in atoms]
        i = 1
        count: int | None = None
        if i < len(atoms) and words[i] == "no":
            count, i = 0, i + 1
        elif i < len(atoms) and atoms[i].type == "NUMBER" and words[i].isdigit():
            count, i = _int(words[i], self.tsp(atoms[i])), i + 1
        if i < len(atoms) and words[i] in ("activity", "activities"):
            i += 1
            if i >= len(atoms) or atoms[i].type != "STRING":
                raise PhraseError("'expect activity' needs the activity type, like \"Send Email\"",
                                  self.atoms_span(atoms))
            typ = self.string(atoms[i])
            i += 1
            person = None
            if i < len(atoms) and words[i] == "for":
                if i + 1 >= len(atoms) or atoms[i + 1].type != "STRING":
                    raise PhraseError("expected a person's email address after 'for'", self.atoms_span(atoms[i:]))
                person = self.string(atoms[i + 1])
                i += 2
            if i != len(atoms):
                raise PhraseError(f"unexpected {_token_words(atoms[i])} in 'expect activity'",
                                  self.atoms_span(atoms[i:]))
            return ast.ExpectActivity(typ, person, self.assigns(p.block, "activity attributes"), count, span=span)
        if count is not None:
            raise PhraseError("expected 'activity' after the count", self.atoms_span(atoms))
        self.no_block(p, "this expect")
        if i >= len(atoms) or atoms[i].type != "STRING":
            raise PhraseError("'expect' needs a person, like \"ann@example.com\".\"Lead Score\" == 10",
                              self.atoms_span(atoms))
        person = self.string(atoms[i])
        i += 1
        rest = words[i:]
        if rest[:2] == ["in", "list"] or rest[:3] == ["not", "in", "list"]:
            neg = rest[0] == "not"
            i += 3 if neg else 2
            ref, end = self.m_ref(atoms, i)
            if end is None or end != len(atoms):
                raise PhraseError("expected a list name after 'in list'", self.atoms_span(atoms))
            return ast.ExpectList(person, ref, neg, span=span)
        if rest[:2] == ["status", "in"]:
            if (len(atoms) == i + 5 and atoms[i + 2].type == "STRING" and words[i + 3] == "is"
                    and atoms[i + 4].type == "STRING"):
                return ast.ExpectStatus(person, self.string(atoms[i + 2]), self.string(atoms[i + 4]), span=span)
            raise PhraseError("write expect \"ann@example.com\" status in \"Program\" is \"Status\"",
                              self.atoms_span(atoms))
        if i < len(atoms) and atoms[i].type == "DOT" and i + 1 < len(atoms) and atoms[i + 1].type in ("STRING", "NAME"):
            fname = self.string(atoms[i + 1]) if atoms[i + 1].type == "STRING" else words[i + 1]
            i += 2
            tail = words[i:]
            if tail == ["is", "empty"]:
                return ast.ExpectField(person, fname, "is empty", None, span=span)
            if tail == ["is", "not", "empty"]:
                return ast.ExpectField(person, fname, "is not empty", None, span=span)
            if i < len(atoms) and atoms[i].type == "OP" and len(atoms) == i + 2:
                return ast.ExpectField(person, fname, words[i], self.value(atoms[i + 1]), span=span)
            if i < len(atoms) and atoms[i].type == "SCORE" and words[i].startswith("=") and len(atoms) == i + 1:
                raise PhraseError("expect compares with '==', not '='", self.tsp(atoms[i]))
            if i < len(atoms) and atoms[i].type == "EQ":
                raise PhraseError("expect compares with '==', not '='", self.tsp(atoms[i]),
                                  hint=f'write expect "{person}"."{fname}" == ...')
            raise PhraseError("expected a comparison (==, !=, <, <=, >, >=) or 'is empty'",
                              self.atoms_span(atoms[i:]) if i < len(atoms) else self.atoms_span(atoms))
        raise PhraseError("unknown expect form", self.atoms_span(atoms),
                          hint='forms: expect "p"."Field" == V; expect "p" in list "L"; '
                               'expect "p" status in "P" is "S"; expect activity "T" for "p"')


#: first word of an operator spelling -> (words, spelling, op, operands), longest first
_OPERATOR_WORDS: dict[str, list[tuple[list[str], str, str, str]]] = {}
for _spelling, (_op, _operands) in _filters.OPERATORS.items():
    _OPERATOR_WORDS.setdefault(_spelling.split()[0], []).append((_spelling.split(), _spelling, _op, _operands))
for _entries in _OPERATOR_WORDS.values():
    _entries.sort(key=lambda e: -len(e[0]))

def _fewest_words_last(p: Phrase) -> int:
    return -len(p.word_list)


_first_word_cache: dict[int, dict[str, list[Phrase]]] = {}
#: a literal item of a vocabulary pattern -> its words (``_Builder.m_item``)
_pattern_words: dict[str, list[str]] = {}


def _by_first_word(table: Sequence[Phrase]) -> dict[str, list[Phrase]]:
    index = _first_word_cache.get(id(table))
    if index is None:
        index = {}
        for p in table:
            index.setdefault(p.word_list[0], []).append(p)
        _first_word_cache[id(table)] = index
    return index


def _slots(pattern: Sequence[Any]) -> Iterable[Slot]:
    for item in pattern:
        if isinstance(item, Slot):
            yield item
        elif isinstance(item, Opt):
            yield from _slots(item.items)
        elif isinstance(item, Alt):
            for o in item.options:
                yield from _slots(o)


# --------------------------------------------------------------------------
# For editors (interpreter/editor.py): the atoms of a text, and what the
# grammar lets come next at a place in a file.


@frozen
class Atom:
    """One atom of a phrase as ``parse`` splits it: its kind (``NAME``,
    ``STRING``, ``TOKEN``, ``SCORE``, ``DURATION``, ``OP``, ``DOT``, ...),
    its text and its offsets ``[start, end)`` in the text given."""

    type: str
    text: str
    start: int
    end: int


def scan_atoms(text: str, base: int = 0) -> list[Atom]:
    """The atoms of a (possibly unfinished) phrase, with the phrase
    splitter's own patterns; whitespace and comments dropped, and an
    unfinished string or a stray character kept as an ``OTHER`` atom (an
    editor asks while the user types)."""
    out: list[Atom] = []
    pos = 0
    match = _ATOM_RE.match
    while pos < len(text):
        m = match(text, pos)
        if m is None:
            out.append(Atom("OTHER", text[pos:], base + pos, base + len(text)))
            break
        kind = m.lastgroup or "OTHER"
        if kind not in ("WS", "COMMENT"):
            out.append(Atom(kind, m.group(0), base + pos, base + m.end()))
        pos = m.end()
    return out


@frozen
class Expectation:
    """What the grammar allows at a place: the keywords and kinds of token
    that may come next (``accepts``: words like ``"campaign"`` and terminal
    names like ``"STRING"``, ``"PHRASE"``) and the enclosing blocks, outermost
    first, each named by the keywords that opened it (``("program",
    "campaign", "flow")``; a phrase's own block is ``"phrase"``)."""

    accepts: frozenset[str]
    blocks: tuple[str, ...]


#: the keywords whose ``{`` opens a block an editor cares about
_BLOCK_WORDS = frozenset({"fields", "workspace", "folder", "program", "tokens", "email", "webhook",
                          "smart", "campaign", "flow", "test"})


def expected_at(text: str, offset: int) -> Expectation | None:
    """What may stand at ``offset`` of a file (the start of the word being
    typed), from Lark's interactive parser fed the text before it; None when
    that text does not parse (the caller then guesses from the line)."""
    prefix = text[:offset]
    if prefix.startswith("\ufeff"):
        prefix = " " + prefix[1:]
    try:
        with _lock:
            ip = bare_parser().parse_interactive(prefix)
            ip.exhaust_lexer()
            words_of = {t.name: t.pattern.value for t in bare_parser().terminals
                        if t.pattern.type == "str"}
            words_of.update(KEYWORDS)   # keywords are whole-word regex terminals
            accepts = frozenset(words_of.get(a, a) for a in ip.accepts())
            stack = list(ip.parser_state.value_stack)
    except (UnexpectedInput, RecursionError):
        return None
    # the value stack holds the tokens of every rule still open: a '{'
    # whose rule is open names its block by the keyword(s) before it
    blocks: list[str] = []
    words: list[str] = []
    for item in stack:
        if isinstance(item, Token):
            if item == "{":
                head = next((w for w in words if w in _BLOCK_WORDS), None)
                if head is None:
                    head = "phrase" if words and words[-1] == "PHRASE" else "block"
                elif head == "smart":
                    head = "smart list"
                blocks.append(head)
                words = []
            elif item.type == "PHRASE":
                words.append("PHRASE")
            elif item.type not in ("_SEP", "COMMA") and str(item).isalpha():
                words.append(str(item))
        else:   # a finished rule (a Tree): what it held is closed
            words = []
    return Expectation(accepts, tuple(blocks))


# --------------------------------------------------------------------------
# Parsing again after an edit (editors): one program, the rest moved


_PROGRAM_HEAD = re.compile(r'program\s*"(?:[^"\\\n]|\\.)*"\s*\{')
_NOT_NEWLINE = re.compile(r"[^\r\n]+")


def _common_prefix(a: str, b: str) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:   # the longest equal prefix, by halves (slice compares run in C)
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid:] == b[len(b) - mid:]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def reparse(old: ParseResult, text: str) -> ParseResult:
    """``parse(text, old.source.name)``, the same result, reusing ``old``.

    When the edit from ``old``'s text to ``text`` lies inside the braces of
    one program (not on its first or last line) and neither version has a
    syntax error, only that program is parsed again (the rest of the file
    blanked, so every offset stays put), it replaces the old program, and the
    nodes after it move by the edit's length and lines. Otherwise the whole
    text is parsed. ``old``'s nodes are reused and moved in place: ``old``
    must not be used afterwards. tests/test_editor.py checks the result
    against a full parse over many random edits."""
    name = old.source.name
    old_text = old.source.text
    if old.diagnostics or text == old_text or old_text.startswith("\ufeff") or text.startswith("\ufeff"):
        return parse(text, name)
    p = _common_prefix(old_text, text)
    q = _common_suffix(old_text, text, min(len(old_text), len(text)) - p)
    old_end_edit = len(old_text) - q
    # the innermost program holding the edit, and the chain of its containers
    chain: list[ast.Node] = [old.module]
    target: ast.Program | None = None
    items: tuple = old.module.items
    while target is None:
        hit = next((n for n in items if n.span is not None and n.span.start < p and old_end_edit < n.span.end),
                   None)
        if isinstance(hit, ast.Program):
            target = hit
        elif isinstance(hit, (ast.Workspace, ast.Folder)):
            chain.append(hit)
            items = hit.items
        else:
            return parse(text, name)
    span = target.span
    assert span is not None
    head = _PROGRAM_HEAD.match(old_text, span.start)
    if (head is None or p < head.end() or old_text.rfind("\n", head.end(), p) == -1
            or old_text.find("\n", old_end_edit, span.end) == -1):
        return parse(text, name)   # the header line or the closing line changed
    delta = len(text) - len(old_text)
    new_end = span.end + delta
    blanked = (_NOT_NEWLINE.sub(lambda m: " " * len(m.group(0)), text[:span.start]) + text[span.start:new_end]
               + _NOT_NEWLINE.sub(lambda m: " " * len(m.group(0)), text[new_end:]))
    part = parse(blanked, name)
    if part.diagnostics or len(part.module.items) != 1 or not isinstance(part.module.items[0], ast.Program):
        return parse(text, name)
    new_program = part.module.items[0]
    src = SourceFile(name, text)
    dline = text.count("\n", p, len(text) - q) - old_text.count("\n", p, old_end_edit)
    old_end = span.end
    setattr_ = object.__setattr__

    def move(s: Span) -> Span:
        if s.start >= old_end:
            return Span(s.file, s.start + delta, s.end + delta, s.line + dline, s.column,
                        s.end_line + dline, s.end_column)
        # a container of the program: its end moves
        return Span(s.file, s.start, s.end + delta, s.line, s.column, s.end_line + dline, s.end_column)

    # a node may stand in two places (a choice's head and its branches share
    # the field): each is moved once
    seen: set[int] = {id(target)}
    stack: list[ast.Node] = [old.module]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        s = node.span
        if s is not None and s.end >= old_end:
            setattr_(node, "span", move(s))
        if s is None or s.end >= old_end:
            stack.extend(ast.children(node))
    parent = chain[-1]
    setattr_(parent, "items", tuple(new_program if n is target else n
                                    for n in parent.items))  # type: ignore[attr-defined]
    setattr_(old.module, "span", src.span(0, len(text)))
    comments = tuple(_comments(src, _scan_comments(text)))
    return ParseResult(old.module, (), comments, src)
