"""parse.paused_gc: the cycle collector paused during parse and check, the
objects made meanwhile handed to its oldest generation, the host's own
frozen objects and its own pause left alone (behaviour, not timing: the
speed is measured in bench/bench_hardening.py)."""

from __future__ import annotations

import gc

from campaignlang.parse import parse, paused_gc


class Node:
    """A tracked object (a user class instance is always tracked)."""


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_pause_and_promotion() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():   # nested: still paused after the inner one ends
            pass
        assert not gc.isenabled()
        made = Node()
        assert _in_generation(made, 0)
    assert gc.isenabled()
    # long-lived by construction: out of the young generation (which young
    # collections walk), still tracked (the full collection sees it)
    assert not _in_generation(made, 0)
    assert gc.is_tracked(made) and any(o is made for o in gc.get_objects())
    assert gc.get_freeze_count() == 0


def test_no_young_collection_walks_what_the_pause_made() -> None:
    started: list[int] = []

    def note(phase: str, info: dict) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.collect()
    gc.callbacks.append(note)
    try:
        with paused_gc():
            made = [Node() for _ in range(5000)]   # far more than the young generation's threshold
        after = [Node() for _ in range(50)]
    finally:
        gc.callbacks.remove(note)
    assert started == [], "a collection walked the objects the pause made"
    assert len(made) + len(after) == 5050


def test_cycles_made_during_the_pause_are_still_collected() -> None:
    import weakref

    with paused_gc():
        a, b = Node(), Node()
        a.other, b.other = b, a   # type: ignore[attr-defined]
        gone = weakref.ref(a)
        del a, b
    gc.collect()
    assert gone() is None


def test_a_host_that_froze_objects_keeps_them_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with paused_gc():
            Node()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()


def test_a_host_that_paused_the_collector_keeps_it_paused() -> None:
    gc.disable()
    try:
        parse('program "P" {\n}\n')
        assert not gc.isenabled()
    finally:
        gc.enable()
