"""What to verify and how finely."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VerifyOptions:
    # fnmatch patterns on "schema.table" (empty: every table), resolved as the plan resolves them
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # Ranges per table: enough to narrow a difference to a few thousand rows, few enough that the per-row
    # range lookup (a CASE over the boundaries) stays cheap next to hashing the row.
    rows_per_range: int = 10_000
    max_ranges: int = 64
    data: bool = True  # rows and sequence positions; False after a schema-only migration, which copies neither
    schema: bool = True
    vector_samples: int = 10  # source rows used as queries per vector index
    vector_k: int = 10  # neighbours compared per query
