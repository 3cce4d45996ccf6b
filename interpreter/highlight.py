"""Syntax highlighting of ``.campaign`` text: a Pygments lexer.

``CampaignLexer`` is registered under the ``pygments.lexers`` entry point
(pyproject.toml), so Pygments (``pygmentize -l campaign``), Sphinx, MkDocs
and rich find it by the name ``campaign`` or the ``*.campaign`` extension.
``CampaignReplLexer`` adds the REPL's ``:commands``; the REPL colours its
prompt with it (prompt_toolkit's ``PygmentsLexer``) and ``to_ansi`` colours
source shown on a terminal (rich's ``Syntax``).

The token types, the one place that says what a piece of text is:

* ``Comment.Single`` ``# ...``; ``String.Double`` a quoted name or text, with
  ``String.Interpol`` for a ``{{token}}`` inside it; ``Name.Variable`` a
  ``{{token}}`` standing alone;
* ``Keyword`` declaration and structure words (``program``, ``campaign``,
  ``smart list``, ``flow``, ``filter``, ``if`` ...); ``Keyword.Type`` campaign
  kinds and field types; ``Keyword.Constant`` ``true``/``false``/``null``;
  ``Keyword.Reserved`` the statements of a test (``person``, ``expect`` ...);
* ``Name.Builtin`` the words of the vocabulary's steps, filters and
  triggers (read from ``stdlib``, so a new step is coloured without a change
  here); ``Name.Builtin.Pseudo`` ``lead.`` and ``my.``; ``Name.Attribute`` a
  bare field or token name after them;
* ``Literal.Date`` dates and date-times; ``Number.Duration`` ``3 days``;
  ``Number.Score`` score changes ``+10``, ``=-3``; ``Number.Integer`` and
  ``Number.Float``; ``Operator`` comparisons, ``=`` and ``->``;
  ``Punctuation`` braces, ``;``, ``,`` and ``.``.

Anything else is ``Error``: the example files have none (tests/test_highlight.py).

Imports Pygments and the ``stdlib`` vocabulary; rich only inside ``to_ansi``.
Nothing here knows the parser.
"""

from __future__ import annotations

import re

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Error,
    Generic,
    Keyword,
    Literal,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

from .stdlib import filters as _filters
from .stdlib import steps as _steps
from .stdlib import triggers as _triggers
from .stdlib.types import FIELD_TYPES

__all__ = ["CampaignLexer", "CampaignReplLexer", "to_ansi"]

#: words that structure a file (declarations, blocks, choices, qualification)
KEYWORDS = (
    "import", "std", "fields", "workspace", "folder", "program", "description", "statuses",
    "member", "tokens", "list", "smart", "form", "email", "subject", "from", "body", "webhook",
    "url", "method", "payload", "response", "campaign", "inactive", "clone", "flow", "qualify",
    "once", "every", "time", "schedule", "starting", "test", "at", "filter", "any", "all", "logic",
    "if", "then", "else", "do", "nothing", "with", "activity", "no", "in", "status", "is", "not",
    "to", "by", "use", "parent", "token", "context", "and", "or", "get", "post", "put", "patch",
    "delete", "this",
)
CAMPAIGN_KINDS = ("batch", "trigger", "executable")
STATEMENTS = ("person", "for", "run", "request", "fire", "advance", "expect")
#: every word of every step, filter and trigger phrase
PHRASE_WORDS = tuple(sorted({w for table in (_steps.STEPS, _filters.FILTERS, _triggers.TRIGGERS)
                             for p in table for w in p.word_list}
                            | {w for op in _filters.OPERATORS for w in op.split() if w.isalpha()}))

Duration = Number.Duration
Score = Number.Score

_UNITS = r"(?:minutes?|hours?|days?|weeks?|months?)"


class CampaignLexer(RegexLexer):
    """Pygments lexer for the campaign language (``.campaign`` files)."""

    name = "Campaign"
    aliases = ["campaign", "campaignlang"]
    filenames = ["*.campaign"]
    mimetypes = ["text/x-campaign"]
    url = "https://pypi.org/project/campaignlang/"

    tokens = {
        "root": [
            (r"[ \t\r\f]+", Whitespace),
            (r"\n", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"', String.Double, "string"),
            (r"\{\{[^{}\n]*\}\}", Name.Variable),
            (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?", Literal.Date),
            (r"\d{4}-\d{2}-\d{2}", Literal.Date),
            (r"\d+[ \t]+" + _UNITS + r"(?![A-Za-z0-9_])", Duration),
            (r"=-?\d+(?![\d.])|\+\d+(?![\d.])", Score),
            (r"-?\d+\.\d+", Number.Float),
            (r"-?\d+", Number.Integer),
            (r"\b(lead|my)(\.)", Name.Builtin.Pseudo, "field"),
            (words(("true", "false", "null"), suffix=r"\b"), Keyword.Constant),
            (r"(:)([ \t]*)(" + "|".join(FIELD_TYPES) + r")\b", bygroups(Punctuation, Whitespace, Keyword.Type)),
            (words(CAMPAIGN_KINDS, suffix=r"\b"), Keyword.Type),
            (words(STATEMENTS, prefix=r"\b", suffix=r"\b"), Keyword.Reserved),
            (words(KEYWORDS, prefix=r"\b", suffix=r"\b"), Keyword),
            (words(PHRASE_WORDS, prefix=r"\b", suffix=r"\b"), Name.Builtin),
            (r"[A-Za-z_][A-Za-z0-9_]*", Name),
            (r"->|[<>]=?|==|!=|=", Operator),
            (r"[{};,.:()]", Punctuation),
            (r".", Error),
        ],
        "string": [
            (r'\\.', String.Escape),
            (r"\{\{[^{}\n]*\}\}", String.Interpol),
            (r'"', String.Double, "#pop"),
            (r'[^"\\{\n]+', String.Double),
            (r"\{", String.Double),
            (r"\n", Error, "#pop"),   # a string never spans lines
        ],
        "field": [
            (r'"', String.Double, ("#pop", "string")),
            (r"[A-Za-z_][A-Za-z0-9_]*", Name.Attribute, "#pop"),
            (r"", Text, "#pop"),
        ],
    }

    def analyse_text(text: str) -> float:  # type: ignore[override]  # Pygments calls it unbound
        if re.search(r'^\s*(program|campaign|workspace|folder)\s+"', text, re.M) and "flow {" in text:
            return 0.5
        return 0.0


class CampaignReplLexer(CampaignLexer):
    """The REPL's entries: the language, and ``:commands`` at a line's start."""

    name = "Campaign REPL"
    aliases = ["campaign-repl"]
    filenames: list[str] = []
    mimetypes: list[str] = []

    tokens = {
        **CampaignLexer.tokens,
        "root": [(r"^([ \t]*)(:[A-Za-z?]+)", bygroups(Whitespace, Generic.Prompt)),
                 *CampaignLexer.tokens["root"]],
    }


def to_ansi(text: str, width: int = 100) -> str:
    """``text`` coloured for a terminal (rich's ``Syntax`` with this lexer)."""
    from rich.console import Console
    from rich.syntax import Syntax

    console = Console(width=width, force_terminal=True, color_system="standard", record=False,
                      highlight=False)
    syntax = Syntax(text, CampaignLexer(), theme="ansi_dark", background_color="default", word_wrap=False)
    with console.capture() as cap:
        console.print(syntax, end="")
    return cap.get()



def textmate_grammar() -> dict:
    """The same classes as a TextMate grammar (editors/vscode/syntaxes/),
    made from the same word lists; regular expressions that Oniguruma and
    Python's ``re`` read alike (tests/test_highlight.py tokenizes with them).
    ``python -m campaignlang.highlight`` prints it."""

    def alt(ws: tuple[str, ...] | list[str]) -> str:
        return r"\b(?:" + "|".join(sorted((re.escape(w) for w in ws), key=lambda w: (-len(w), w))) + r")\b"

    token = {"name": "variable.other.token.campaign", "match": r"\{\{[^{}\n]*\}\}"}
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "Campaign",
        "scopeName": "source.campaign",
        "fileTypes": ["campaign"],
        "comment": "Generated by python -m campaignlang.highlight from interpreter/highlight.py; do not edit.",
        "patterns": [
            {"name": "comment.line.number-sign.campaign", "match": r"#.*$"},
            {"name": "string.quoted.double.campaign", "begin": '"', "end": r'"|$',
             "patterns": [{"name": "constant.character.escape.campaign", "match": r"\\."},
                          {**token, "name": "variable.other.token.interpolated.campaign"}]},
            token,
            {"name": "constant.other.date.campaign", "match": r"\b\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?)?\b"},
            {"name": "constant.numeric.duration.campaign", "match": r"\b\d+[ \t]+" + _UNITS + r"\b"},
            {"name": "constant.numeric.score.campaign", "match": r"(?<![\w.])(?:=-?\d+|\+\d+)(?![\d.])"},
            {"name": "constant.numeric.campaign", "match": r"(?<![\w.])-?\d+(?:\.\d+)?\b"},
            {"match": r"\b(lead|my)(\.)", "captures": {"1": {"name": "variable.language.campaign"},
                                                        "2": {"name": "punctuation.accessor.campaign"}}},
            {"name": "constant.language.campaign", "match": alt(("true", "false", "null"))},
            {"name": "storage.type.campaign", "match": alt((*CAMPAIGN_KINDS, *FIELD_TYPES))},
            {"name": "keyword.control.statement.campaign", "match": alt(STATEMENTS)},
            {"name": "keyword.other.campaign", "match": alt(KEYWORDS)},
            {"name": "support.function.campaign", "match": alt(PHRASE_WORDS)},
            {"name": "keyword.operator.campaign", "match": r"->|[<>]=?|==|!=|="},
            {"name": "punctuation.section.block.campaign", "match": r"[{}]"},
        ],
    }


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    sys.stdout.write(json.dumps(textmate_grammar(), indent=2) + "\n")
