"""Advanced smart list logic: ``logic "1 and (2 or 3)"`` parsed once, for
everyone who reads it.

This module owns the one parser of the expression (LANGUAGE.md §4). It
produces a small tree (``FilterRef``, ``Not``, ``BinOp``), each node with
its offsets in the expression and, when the caller passes the span of the
string literal, a source ``Span``. Three readers use the tree: the checker
(CL503), the evaluator (the Python predicate of a smart list) and the SQL
push-down (the ``WHERE`` of a batch).

The language's grammar is narrower than what the runtime accepts, and both
are this parser's, chosen by ``strict``:

* ``strict=True`` is the language (the checker): ``expr := term (op
  term)*`` with one operator per parenthesised level, ``term := N | "("
  expr ")"``, three or more filters, numbers 1..count, at most
  ``MAX_LOGIC_DEPTH`` levels of parentheses. The first problem found is
  raised as ``LogicError(message, hint)`` with the checker's wording.
* ``strict=False`` is what the runtime evaluates (a program loaded without
  the checker, the embedding API's smart lists): also ``not N`` and ``and``
  and ``or`` mixed without parentheses (left to right). A problem raises
  ``LogicError`` too; the evaluator treats the smart list as invalid.

Imports ``source`` only.
"""

from __future__ import annotations

import re
from typing import Union

from .source import Span

#: parentheses in advanced smart list logic (the readers recurse per level)
MAX_LOGIC_DEPTH = 50

_TOKEN = re.compile(r"\s*(?:(\d+)|(and|or|not)\b|(\()|(\))|(\S+))", re.IGNORECASE)


class LogicError(ValueError):
    """What is wrong with an expression: ``message`` and a ``hint`` (or None)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class LogicNode:
    """A node of the tree: ``start``/``end`` are offsets in the expression;
    ``span`` is the node's place in the source when the literal's span was given."""

    __slots__ = ("start", "end", "span")

    def __init__(self, start: int, end: int, span: Span | None) -> None:
        self.start = start
        self.end = end
        self.span = span


class FilterRef(LogicNode):
    """``N``: the filter at 0-based ``index``."""

    __slots__ = ("index",)

    def __init__(self, index: int, start: int, end: int, span: Span | None = None) -> None:
        super().__init__(start, end, span)
        self.index = index


class Not(LogicNode):
    """``not X`` (runtime only)."""

    __slots__ = ("operand",)

    def __init__(self, operand: "Logic", start: int, end: int, span: Span | None = None) -> None:
        super().__init__(start, end, span)
        self.operand = operand


class BinOp(LogicNode):
    """``X and Y and Z`` / ``X or Y`` (``op`` lower case): a chain of one
    operator is one node, so what is made of it (Python, SQL) nests no
    deeper than the parentheses (a left-deep tree of 45 terms overflowed
    SQLite's parser stack)."""

    __slots__ = ("op", "operands")

    def __init__(self, op: str, operands: tuple["Logic", ...], start: int, end: int,
                 span: Span | None = None) -> None:
        super().__init__(start, end, span)
        self.op = op
        self.operands = operands


Logic = Union[FilterRef, Not, BinOp]


def _q(text: str) -> str:
    return f'"{text}"'


def _depth(expression: str) -> int:
    depth = deepest = 0
    for ch in expression:
        depth += (ch == "(") - (ch == ")")
        deepest = max(deepest, depth)
    return deepest


def _tokens(expression: str) -> list[tuple[str, str, int, int]]:
    """(kind, text, start, end): kind is ``num``, ``op`` (and, or), ``not``,
    ``(``, ``)`` or ``bad`` (any other run of non-blank characters, whose
    text is the whole run)."""
    out: list[tuple[str, str, int, int]] = []
    text = expression.rstrip()
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the pattern matches any non-blank
            break
        pos = m.end()
        if m.group(1):
            out.append(("num", m.group(1), m.start(1), m.end(1)))
        elif m.group(2):
            word = m.group(2).lower()
            if word == "not":
                run = re.match(r"\S+", text[m.start(2):])
                out.append(("not", run.group(0) if run else word, m.start(2), m.end(2)))
            else:
                out.append(("op", word, m.start(2), m.end(2)))
        elif m.group(3):
            out.append(("(", "(", m.start(3), m.end(3)))
        elif m.group(4):
            out.append((")", ")", m.start(4), m.end(4)))
        else:
            out.append(("bad", m.group(5), m.start(5), m.end(5)))
    return out


class _Parser:
    """Recursive descent over the tokens (one instance per expression)."""

    def __init__(self, expression: str, count: int, tokens: list[tuple[str, str, int, int]],
                 strict: bool, literal: Span | None) -> None:
        self.expression = expression
        self.count = count
        self.tokens = tokens
        self.strict = strict
        self.literal = literal
        self.i = 0

    def span(self, start: int, end: int) -> Span | None:
        lit = self.literal
        if lit is None:
            return None
        # the literal's text starts after its opening quote; an escape in the
        # string makes these offsets approximate (the literal's span stays exact)
        a, b = min(lit.start + 1 + start, lit.end), min(lit.start + 1 + end, lit.end)
        return Span(lit.file, a, b, lit.line, lit.column + 1 + start, lit.line, lit.column + 1 + end)

    def fail(self, strict_message: str, hint: str | None, runtime_message: str) -> LogicError:
        return LogicError(strict_message, hint) if self.strict else LogicError(runtime_message)

    def term(self) -> Logic:
        q = _q(self.expression)
        if self.i >= len(self.tokens):
            raise self.fail(f"logic {q} ends too soon", "a filter number or '(' is missing",
                            "smart list logic expected a filter number")
        kind, text, start, end = self.tokens[self.i]
        if kind == "num":
            self.i += 1
            return FilterRef(int(text) - 1, start, end, self.span(start, end))
        if kind == "not" and not self.strict:
            self.i += 1
            operand = self.term()
            return Not(operand, start, operand.end, self.span(start, operand.end))
        if kind == "(":
            self.i += 1
            inner = self.expr()
            if self.i >= len(self.tokens) or self.tokens[self.i][0] != ")":
                raise self.fail(f"logic {q} has an unclosed '('", "add the missing ')'",
                                "unclosed '(' in smart list logic")
            self.i += 1
            return inner
        raise self.fail(f"logic {q}: expected a filter number or '(', found '{text}'", None,
                        "smart list logic expected a filter number")

    def expr(self) -> Logic:
        left = self.term()
        first_op = None
        while self.i < len(self.tokens) and self.tokens[self.i][0] == "op":
            op = self.tokens[self.i][1]
            if self.strict and first_op is not None and op != first_op:
                raise LogicError(f"logic {_q(self.expression)} mixes 'and' and 'or' without parentheses",
                                 "put parentheses where and and or meet: \"1 and (2 or 3)\"")
            first_op = op
            self.i += 1
            right = self.term()
            operands = left.operands + (right,) if isinstance(left, BinOp) and left.op == op else (left, right)
            left = BinOp(op, operands, left.start, right.end, self.span(left.start, right.end))
        return left


def parse_logic(expression: str, count: int, literal: Span | None = None, *, strict: bool = False) -> Logic:
    """The tree of an advanced logic expression over ``count`` filters;
    ``LogicError`` when it is malformed (see the module docstring for
    ``strict``). ``literal``: the span of the string literal in the source."""
    q = _q(expression)
    if strict and count < 3:
        raise LogicError(f"advanced logic needs three or more filters; this smart list has {count}",
                         "use smart list (all) or smart list any for fewer filters")
    deepest = _depth(expression)
    if deepest > MAX_LOGIC_DEPTH:
        raise LogicError(f"logic {_q(expression[:40])}: parentheses nest {deepest} deep",
                         f"nest them at most {MAX_LOGIC_DEPTH} deep")
    tokens = _tokens(expression)
    for kind, text, _start, _end in tokens:
        if kind == "bad" or (kind == "not" and strict):
            raise LogicError(f"logic {q}: unexpected '{text}'",
                             'write filter numbers, and, or and parentheses: "1 and (2 or 3)"') if strict \
                else LogicError(f"unexpected {text!r} in smart list logic")
        if kind == "num" and not strict and not 1 <= int(text) <= count:
            raise LogicError(f"smart list logic names filter {int(text)}, but there are {count}")
    parser = _Parser(expression, count, tokens, strict, literal)
    tree = parser.expr()
    if parser.i < len(tokens):
        kind, text = tokens[parser.i][:2]
        raise LogicError(f"logic {q}: unexpected '{text}'", "join filter numbers with and or or") if strict \
            else LogicError(f"unexpected {(text if kind == 'op' else kind)!r} in smart list logic")
    if strict:
        bad = [n for n in _numbers(tree) if not 1 <= n <= count]
        if bad:
            raise LogicError(f"logic {q} names filter {bad[0]}, but the smart list has {count} filters",
                             f"number the filters 1 to {count}, in order")
    return tree


def _numbers(tree: Logic) -> list[int]:
    """The filter numbers (1-based) in the order they appear."""
    if isinstance(tree, FilterRef):
        return [tree.index + 1]
    if isinstance(tree, Not):
        return _numbers(tree.operand)
    return [n for t in tree.operands for n in _numbers(t)]
