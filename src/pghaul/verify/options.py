"""What to verify and how finely."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class VerifyOptions:
    include: tuple[str, ...] = ()  # fnmatch patterns on "schema.table"; empty means every table
    exclude: tuple[str, ...] = ()
    # Ranges per table: enough to narrow a difference to a few thousand rows, few enough that the per-row
    # range lookup (a CASE over the boundaries) stays cheap next to hashing the row.
    rows_per_range: int = 10_000
    max_ranges: int = 64
    data: bool = True  # rows and sequence positions; False after a schema-only migration, which copies neither
    schema: bool = True
    vector_samples: int = 10  # source rows used as queries per vector index
    vector_k: int = 10  # neighbours compared per query

    def wants(self, schema: str, table: str) -> bool:
        name = f"{schema}.{table}"
        if self.include and not any(fnmatchcase(name, p) for p in self.include):
            return False
        return not any(fnmatchcase(name, p) for p in self.exclude)
