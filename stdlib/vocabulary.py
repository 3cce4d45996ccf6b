"""The shapes phrases are declared in: words, slots, optional groups.

A *phrase* is a line of a flow, a smart list or a test: a run of atoms (words,
quoted names, values, field references) that the grammar leaves flat. Each
entry of ``steps.py``, ``filters.py`` and ``triggers.py`` declares its surface
syntax with these primitives; ``parse.py`` matches the atoms against them and
builds the entry's AST node. Adding a step is data here, not grammar.

Imports nothing from the interpreter but ``source``; the entries import
``ast`` (node classes) and, for the step compilers, ``values`` (layer 0);
the runtime reaches them only through the evaluator a compiler is given.
"""

from __future__ import annotations

from typing import Any

from attrs import field, frozen

from campaignlang.source import as_tuple

#: What a slot kind accepts, in the language's words (for "expected ...").
SLOT_WORDS: dict[str, str] = {
    "field": "a field like lead.Country or lead.\"Lead Score\"",
    "ref": "a quoted name like \"Name\" or \"Program\".\"Name\"",
    "name": "a quoted name",
    "names": "one or more quoted names, separated by commas",
    "value": "a value (a string, number, date, score change or {{token}})",
    "values": "one or more values, separated by commas",
    "duration": "a duration like 3 days",
    "int": "a whole number",
    "targets": "a campaign like \"Program\".\"Campaign\" or this campaign",
}


@frozen
class Slot:
    """A place for a value: ``Slot("field", "field")`` matches ``lead.X`` and
    passes it to the node as ``field=``. ``kind`` is a key of SLOT_WORDS, or
    ``"word"`` with ``choices`` (one of the given words)."""

    name: str
    kind: str
    choices: tuple[str, ...] = field(default=(), converter=as_tuple)

    def describe(self) -> str:
        if self.kind == "word":
            return " or ".join(repr(c) for c in self.choices)
        return SLOT_WORDS[self.kind]


@frozen
class Opt:
    """An optional group; ``flag`` names a bool argument set when present."""

    items: tuple[Any, ...] = field(converter=as_tuple)
    flag: str | None = None


@frozen
class Alt:
    """Alternatives, tried in order: each a tuple of pattern items."""

    options: tuple[tuple[Any, ...], ...] = field(converter=lambda xs: tuple(tuple(x) for x in xs))


@frozen
class Phrase:
    """One vocabulary entry: leading ``words`` (``"change score"``), the
    ``pattern`` after them, the AST ``node`` class it builds, constant
    arguments in ``fixed``, ``usage``, the form shown in hints, and
    ``doc``, one or two sentences an editor shows on hover.

    Pattern items are strings (literal words, space separated), ``Slot``,
    ``Opt`` and ``Alt``. ``split`` says where a choice block may put its
    branches: the number of leading pattern items that may stand in the head
    (``change data value lead.F {`` ... ``then to V``)."""

    words: str
    pattern: tuple[Any, ...] = field(converter=as_tuple)
    node: Any = None   # the AST class the phrase builds (None: a marker phrase)
    fixed: dict[str, Any] = field(factory=dict)
    usage: str = ""
    doc: str = ""
    #: the activity type a step logs (``expect activity``, the activity log)
    activity: str | None = None
    #: the asset kind a trigger's or history filter's name must resolve to (form, email, list...)
    target: str | None = None
    #: a trigger's title (``{{trigger.Trigger Name}}``)
    title: str | None = None
    #: a trigger's event key: the event value the engine indexes its campaigns by
    event_key: str | None = None
    #: a flow step's compiler, its one implementation: ``compile(evaluator, step,
    #: here) -> fn(run)``, called once per (flow, program); it reaches the
    #: runtime only through the evaluator it is given (``stdlib.steps``)
    compile: Any = None
    #: a filter's Python predicate, ``predicate(evaluator, f, here, gen) -> str`` (an
    #: expression over ``p`` for the smart list's generated function), and its
    #: store-neutral query, ``query(evaluator, f, here) -> storage.Query | None``
    #: (None: the filter stays in Python) (``stdlib.filters``)
    predicate: Any = None
    query: Any = None
    #: the campaign kinds whose flows may hold the step (None: every kind), and
    #: the checker's (code, hint) for one that holds it anyway
    campaigns: tuple[str, ...] | None = None
    refusal: tuple[str, str] | None = None

    word_list: tuple[str, ...] = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "word_list", tuple(self.words.split()))
