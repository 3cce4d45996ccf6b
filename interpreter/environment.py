"""Token environments: an immutable chain of labelled layers.

A campaign's My Tokens come from its program, then each enclosing folder
(innermost first), then its workspace; API-passed values sit in front, and
with ``use parent token context`` the parent's whole chain sits in front of
the child's own (LANGUAGE.md §7). ``lookup`` returns the value *and* the layer
it came from: that is what ``campaign explain`` prints and what runtime errors
cite. The checker builds the same structure with declarations only; one class,
one set of scoping rules (jlox's ``Environment``, Python's ``ChainMap``).

Imports only ``ast``.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from attrs import field, frozen

from .ast import name_key
from .source import as_tuple

#: The longest text one value may render to (a step's value, an email part, a
#: webhook URL or payload, a My Token): the engine's run-time cap and the
#: checker's static one (CL405) are this one number (docs/security.md, "Limits").
MAX_RENDERED_CHARS = 1_000_000
#: The most My Token expansions inside other My Tokens one value may need.
MAX_TOKEN_EXPANSIONS = 10_000


@frozen
class Binding:
    """One token in a layer: its declared spelling and its value (an AST
    value node, or whatever the engine stores for API-passed values)."""

    name: str
    value: Any
    node: Any = field(default=None, eq=False)   # the TokenDecl, when declared in source


@frozen
class Layer:
    """A labelled scope: ``program "Webinar 2026"``, ``folder "Operations"``,
    ``workspace "EMEA"``, ``API override``, ``parent context``..."""

    kind: str      # api, program, folder, workspace
    label: str
    bindings: Mapping[str, Binding] = field(factory=dict)   # key: name_key(name)

    @classmethod
    def of(cls, kind: str, label: str, items: Mapping[str, Any] | list[Binding]) -> "Layer":
        if isinstance(items, Mapping):
            bindings = {name_key(k): Binding(k, v) for k, v in items.items()}
        else:
            bindings = {name_key(b.name): b for b in items}
        return cls(kind, label, bindings)


@frozen
class Environment:
    """Layers, innermost first. Immutable: ``push`` returns a new chain."""

    layers: tuple[Layer, ...] = field(default=(), converter=as_tuple)

    def push(self, layer: Layer) -> "Environment":
        return Environment((layer, *self.layers))

    def then(self, other: "Environment", relabel: str | None = None) -> "Environment":
        """This chain, falling back to ``other``'s layers (relabelled, e.g.
        ``child's own program "Scoring"``)."""
        extra = other.layers
        if relabel:
            extra = tuple(Layer(layer.kind, f"{relabel} {layer.label}", layer.bindings) for layer in extra)
        return Environment((*self.layers, *extra))

    def lookup(self, name: str) -> tuple[Binding, Layer] | None:
        key = name_key(name)
        for layer in self.layers:
            b = layer.bindings.get(key)
            if b is not None:
                return b, layer
        return None

    def __contains__(self, name: str) -> bool:
        return self.lookup(name) is not None

    def names(self) -> list[str]:
        """Every visible token name (declared spelling of the innermost), sorted."""
        seen: dict[str, str] = {}
        for layer in self.layers:
            for key, b in layer.bindings.items():
                seen.setdefault(key, b.name)
        return sorted(seen.values(), key=str.casefold)

    def visible(self) -> Iterator[tuple[Binding, Layer]]:
        """Each visible binding with its layer, in name order."""
        for name in self.names():
            found = self.lookup(name)
            assert found is not None
            yield found
