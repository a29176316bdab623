"""Event-time filters evaluated over arrays.

A dated question adds one filter to its read (temporal.window_spec: ``event_time >= start AND
event_time < end``). In a big scope, asking SQL which rows such a filter admits walks every row
of the scope (~140 ms at 100k long turns: the visibility columns sit after the text and vector
in each row); the vector cache and the keyword tier hold each row's event_time, so they
evaluate it in memory instead. Any other filter keeps SQL.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from engramdb.core.filters import Cond, Group, Node

Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

_OPS: dict[str, Callable[[Floats, float], Mask]] = {
    "gte": lambda t, v: t >= v, "gt": lambda t, v: t > v, "lt": lambda t, v: t < v, "lte": lambda t, v: t <= v,
    "eq": lambda t, v: t == v, "ne": lambda t, v: t != v,
}


def in_memory(node: Node | None) -> bool:
    """Whether time_mask can evaluate the filter (comparisons of event_time with numbers, under
    and/or)."""
    if node is None:
        return True
    if isinstance(node, Group):
        return node.op in ("and", "or") and all(in_memory(item) for item in node.items)
    return (node.field == "event_time" and node.op in _OPS and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool))


def time_mask(node: Node | None, times: Floats) -> Mask | None:
    """Which rows (by their event_time, epoch seconds) the filter admits; None: not a filter
    time_mask evaluates (see in_memory)."""
    if not in_memory(node):
        return None
    return _mask(node, times)


def _mask(node: Node | None, times: Floats) -> Mask:
    if node is None:
        return np.ones(len(times), np.bool_)
    if isinstance(node, Cond):
        return _OPS[node.op](times, float(node.value))
    masks = [_mask(item, times) for item in node.items]
    if not masks:
        return np.full(len(times), node.op == "and", np.bool_)  # an empty and admits all, an empty or none
    out = masks[0].copy()
    for m in masks[1:]:
        out = out & m if node.op == "and" else out | m
    return out
