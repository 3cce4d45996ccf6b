"""No response shape makes the importer raise anything but MarketoError:
the recorded instance with one value replaced (a key dropped, a wrong type,
null), many times over, imports cleanly or is refused with a clear message,
and an import that succeeds still checks without errors."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from campaignlang.marketo.convert import convert
from campaignlang.marketo.project import _check_files
from campaignlang.marketo.source import MarketoError, fetch_instance

from marketo_server import INSTANCE

FILES = {str(p.relative_to(INSTANCE)): json.loads(p.read_text()) for p in INSTANCE.rglob("*.json")}
ODD = [None, "", "x", 0, -1, 3.5, True, [], {}, [None], {"id": "7"}, "{{company.Name}}", 'a"b\\c\n']


class Mutated:
    """A Source over FILES with one value somewhere replaced."""

    def __init__(self, files: dict[str, Any]):
        self.files = files

    def get(self, path, params=None, optional=False):
        body = self.files.get(path)
        if body is None:
            if optional:
                return None
            raise MarketoError(f"{path}: missing")
        from campaignlang.marketo.source import _check_body
        return _check_body(body, path)

    def browse(self, path, params=None):
        return list(self.get(path)["result"])


def _places(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _places(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _places(v, path + (i,))
    return out


def _set(node: Any, path: tuple, value: Any, drop: bool) -> Any:
    if not path:
        return value
    parent = node
    for step in path[:-1]:
        parent = parent[step]
    if drop and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return node


@pytest.mark.parametrize("seed", range(6))
def test_mutated_responses_import_or_fail_clearly(seed):
    rng = random.Random(seed)
    names = sorted(FILES)
    for _ in range(30):
        files = copy.deepcopy(FILES)
        name = rng.choice(names)
        path = rng.choice(_places(files[name]))
        files[name] = _set(files[name], path, copy.deepcopy(rng.choice(ODD)), drop=rng.random() < 0.3)
        try:
            inst = fetch_instance(Mutated(files))
            result = convert(inst)
            _check_files(result.files)
        except MarketoError:
            continue
