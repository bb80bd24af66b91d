"""The run order on its own: finished groups first, targets kept together, parents respected."""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass

from pytest_spider.runorder import run_order


@dataclass(frozen=True)
class Node:
    name: str
    key: str | None
    parent: str


class ScriptedEngine:
    """Announces keys in the given batches, one batch per call to ``finished``."""

    def __init__(self, *batches: list[str]) -> None:
        self.batches = list(batches)
        self.waits: list[float] = []

    def finished(self, timeout: float) -> list[Hashable]:
        self.waits.append(timeout)
        return list(self.batches.pop(0)) if self.batches else []


def _order(
    nodes: list[Node], engine: ScriptedEngine, measured: set[str], patience: float = 0.0
) -> list[tuple[Node, Node | None]]:
    return list(
        run_order(
            nodes,
            key_of=lambda n: n.key,
            parent_of=lambda n: n.parent,
            measured=measured.__contains__,
            engine=engine,
            patience=patience,
        )
    )


def test_finished_targets_run_first_and_a_targets_items_stay_together() -> None:
    nodes = [
        Node("A", "a", "m"),
        Node("test_a", "a", "m"),
        Node("B", "b", "m"),
        Node("C", "c", "m"),
        Node("test_c", "c", "m"),
    ]
    engine = ScriptedEngine(["c"], ["b"], ["a"])
    pairs = _order(nodes, engine, {"a", "b", "c"})
    assert [item.name for item, _ in pairs] == ["C", "test_c", "B", "A", "test_a"]
    # nextitem is the next member of the target, or an item with the same parents.
    assert [next_.name if next_ else None for _, next_ in pairs] == [
        "test_c",
        "B",
        "A",
        "test_a",
        None,
    ]


def test_items_not_measured_are_ready_at_once() -> None:
    nodes = [Node("A", "a", "m"), Node("X", "x", "m"), Node("B", "b", "m")]
    engine = ScriptedEngine([], ["b"], ["a"])
    pairs = _order(nodes, engine, {"a", "b"}, patience=5)
    assert [item.name for item, _ in pairs] == ["X", "B", "A"]


def test_other_parents_and_plain_items_keep_their_place() -> None:
    nodes = [
        Node("plain1", None, "tests"),
        Node("A", "a", "h2"),
        Node("B", "b", "h2"),
        Node("plain2", None, "tests"),
        Node("C", "c", "tfo"),
        Node("D", "d", "tfo"),
    ]
    # Everything finishes in reverse: only runs within one parent are reordered.
    engine = ScriptedEngine(["d", "c", "b", "a"])
    pairs = _order(nodes, engine, {"a", "b", "c", "d"})
    assert [item.name for item, _ in pairs] == ["plain1", "B", "A", "plain2", "D", "C"]
    nexts = {item.name: next_.name if next_ else None for item, next_ in pairs}
    assert nexts["A"] == "plain2"  # the end of a run hands over to the item after it
    assert nexts["plain2"] == "C"
    assert nexts["C"] is None


def test_with_nothing_finishing_the_plan_order_head_runs_after_patience() -> None:
    nodes = [Node("A", "a", "m"), Node("B", "b", "m")]
    engine = ScriptedEngine()
    started = time.monotonic()
    pairs = _order(nodes, engine, {"a", "b"}, patience=0.2)
    assert [item.name for item, _ in pairs] == ["A", "B"]
    assert time.monotonic() - started < 5
    assert engine.waits[0] == 0.0  # a ready group is never waited for
    assert any(wait > 0 for wait in engine.waits)
