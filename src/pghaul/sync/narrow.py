"""Finding the key ranges that differ, without fetching rows: compare checksums, split what differs, repeat.

Both sides compute per-range row counts and checksums inside the database (``verify.checksum``, the mechanism
verify uses too), on boundaries read from the source. A differing range with few enough source rows is a leaf,
to be replaced whole; a bigger one is split into ``fanout`` parts on the source's keys and compared again, as
data-diff's bisection does. Ranges that match are never looked at again, so a change touches about
``log(rows) * fanout`` range checksums and one leaf's rows.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg

from pghaul.inspect.model import Table
from pghaul.sync.options import SyncOptions
from pghaul.verify.checksum import Boundary, KeyBounds, choose_boundaries, differing_ranges, range_sums

WHOLE_TABLE: KeyBounds = (None, None)


@dataclass
class Narrowed:
    ranges_compared: int = 0
    leaves: list[KeyBounds] = field(default_factory=list)


@dataclass(frozen=True)
class _Work:
    bounds: KeyBounds
    rows: int  # source rows in the range
    first: bool = False


def _parts(work: _Work, options: SyncOptions) -> int:
    split = min(options.fanout, math.ceil(work.rows / max(1, options.leaf_rows)))
    if work.first:
        # At least a split's worth, so a range left whole is never bigger than a leaf.
        return min(options.max_first_ranges, max(split, math.ceil(work.rows / max(1, options.rows_per_range))))
    return split


def _sub_range(bounds: KeyBounds, boundaries: list[Boundary], i: int) -> KeyBounds:
    after = boundaries[i - 1] if i > 0 else bounds[0]
    up_to = boundaries[i] if i < len(boundaries) else bounds[1]
    return (after, up_to)


def narrow(
    src: psycopg.Connection, tgt: psycopg.Connection, table: Table, source_rows: int, options: SyncOptions,
    pool: ThreadPoolExecutor, within: KeyBounds = WHOLE_TABLE,
) -> Narrowed:
    """The smallest ranges of ``within`` (holding ``source_rows`` source rows) whose rows differ between the sides.

    ``src`` reads in the sync's snapshot; the target's checksums run in ``pool`` while the source computes its own.
    """
    out = Narrowed()
    todo = [_Work(within, source_rows, first=True)]
    while todo:
        work = todo.pop()
        boundaries = choose_boundaries(src, table, work.rows, _parts(work, options), work.bounds)
        target_side = pool.submit(range_sums, tgt, table, boundaries, work.bounds)
        source_sums = range_sums(src, table, boundaries, work.bounds)
        target_sums = target_side.result()
        ranges = len(boundaries) + 1
        out.ranges_compared += ranges
        for i in differing_ranges(source_sums, target_sums, ranges):
            bounds, rows = _sub_range(work.bounds, boundaries, i), source_sums.range(i).rows
            if rows <= options.leaf_rows or ranges == 1:
                out.leaves.append(bounds)
            else:
                todo.append(_Work(bounds, rows))
    return out
