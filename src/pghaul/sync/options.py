"""What to sync and how finely to narrow the differences."""

from __future__ import annotations

from dataclasses import dataclass, field

from pghaul.copy.rate_limit import RateLimit


@dataclass(frozen=True)
class SyncOptions:
    # fnmatch patterns on "schema.table" (empty: every table), resolved as the plan resolves them
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    workers: int | None = None  # tables synced at once; None: as many as migrate would use
    # A differing key range holding at most this many source rows is replaced whole; a larger one is split
    # into ``fanout`` parts and compared again, so only the parts that differ are fetched.
    leaf_rows: int = 2_000
    fanout: int = 16
    # First cut of a table: about this many rows per range, at most ``max_first_ranges`` ranges.
    rows_per_range: int = 20_000
    max_first_ranges: int = 256
    # Compare every row's checksum even where the source's row versions say nothing changed since the last sync.
    full: bool = False
    job_id: str | None = None
    # Read the source in this exported snapshot, kept open by the caller, instead of one the sync exports: follow
    # on a migrated target brings the target to the source as of its replication slot's snapshot. A reader that
    # cannot import it fails the sync (its rows would be of another moment). Sequences are read live as always.
    snapshot_id: str | None = None
    # MB/s read from the source at most, all workers together (``--max-rate``, as migrate's); None: no cap.
    max_rate: float | None = None
    # The sync's one bucket for max_rate, shared by all its readers (not an option).
    source_rate: RateLimit | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_rate", RateLimit.megabytes(self.max_rate))
