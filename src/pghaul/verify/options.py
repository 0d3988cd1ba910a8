"""What to verify and how finely; and, for ``migrate``'s own verification, what it copied."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pghaul.inspect.model import QualifiedName
from pghaul.verify.report import SequencePosition, TableCheck


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


@dataclass(frozen=True)
class WriteMark:
    """One source relation as the server's statistics describe it at a moment: its file (a TRUNCATE or a rewrite
    gives it a new one) and the rows inserted, updated and deleted in it so far. A later mark that differs means it
    was written to in between. The counts reach the statistics when the writing session reports them (at most a
    few seconds after its commit), so a write just before the first mark may read as one after it: a change
    claimed that a sync then finds nothing for, never one missed."""

    filenode: int
    rows_written: int


@dataclass(frozen=True)
class CopiedSnapshot:
    """The moment of the source that ``migrate`` copied every row and large object in."""

    snapshot_id: str  # exported by migrate's snapshot holder, kept open until its verification has returned
    taken_at: datetime  # the source server's clock when the snapshot was taken
    # The server's next transaction id then, and the writing transactions still in progress: any transaction id
    # from there on, or one of those committed since, is a write on the source server after the snapshot.
    next_xid: int
    in_progress: tuple[int, ...]
    # Each copied table (and the large objects' catalogs, for a whole-database run), marked just before the
    # snapshot was taken: compared with their marks at the end to tell whether the source changed since.
    marks: Mapping[QualifiedName, WriteMark] = field(default_factory=dict)
    # The positions migrate read and set on the target, by sequence: sequences are not transactional.
    sequences: Mapping[QualifiedName, SequencePosition] = field(default_factory=dict)


@dataclass(frozen=True)
class Copied:
    """What ``migrate`` hands its own verification. ``tables``: tables it compared while copying (verify reports
    them and does not scan them again). ``snapshot``: the source is compared as of the copy's snapshot, sequences
    by the positions set; None: the live source is compared, as a standalone verify does."""

    tables: Mapping[QualifiedName, TableCheck] = field(default_factory=dict)
    snapshot: CopiedSnapshot | None = None
