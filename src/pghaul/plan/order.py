"""Dependency order: a stable topological sort that keeps the catalog's order where nothing forces another."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def dependency_order(items: Iterable[T], key: Callable[[T], K], depends_on: Callable[[T], Iterable[K]]) -> list[T]:
    """Items with every dependency (among ``items``) before its dependents; a cycle keeps the input order."""
    items = list(items)
    by_key = {key(i): i for i in items}
    done: set[K] = set()
    visiting: set[K] = set()
    out: list[T] = []

    def visit(item: T) -> None:
        k = key(item)
        if k in done or k in visiting:
            return
        visiting.add(k)
        for dep in depends_on(item):
            if dep in by_key and dep != k:
                visit(by_key[dep])
        visiting.discard(k)
        done.add(k)
        out.append(item)

    for item in items:
        visit(item)
    return out
