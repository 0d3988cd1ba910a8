"""What a sync compared and changed, per table and in total: the report and its JSON form."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pghaul.kinds import SyncMethod


@dataclass(frozen=True)
class TableSync:
    """One table: how it was compared and which rows changed on the target."""

    table: str
    method: SyncMethod
    ranges_compared: int = 0
    ranges_differing: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    seconds: float = 0.0

    @property
    def rows_changed(self) -> int:
        return self.rows_inserted + self.rows_updated + self.rows_deleted


@dataclass(frozen=True)
class LargeObjectSync:
    objects: int = 0  # on the source
    added: int = 0
    replaced: int = 0
    removed: int = 0
    comments_set: int = 0
    bytes_copied: int = 0
    left_alone: tuple[int, ...] = ()  # OIDs only on the target that pghaul did not write


@dataclass(frozen=True)
class SequenceSync:
    sequence: str
    source_value: int
    target_value: int  # before the sync
    advanced: bool


@dataclass
class SyncReport:
    source: str
    target: str
    tables: list[TableSync] = field(default_factory=list)
    tables_created: list[str] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    large_objects: LargeObjectSync | None = None
    sequences: list[SequenceSync] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ranges_compared(self) -> int:
        return sum(t.ranges_compared for t in self.tables)

    @property
    def ranges_differing(self) -> int:
        return sum(t.ranges_differing for t in self.tables)

    @property
    def rows_inserted(self) -> int:
        return sum(t.rows_inserted for t in self.tables)

    @property
    def rows_updated(self) -> int:
        return sum(t.rows_updated for t in self.tables)

    @property
    def rows_deleted(self) -> int:
        return sum(t.rows_deleted for t in self.tables)

    @property
    def rows_changed(self) -> int:
        return self.rows_inserted + self.rows_updated + self.rows_deleted

    @property
    def sequences_advanced(self) -> int:
        return sum(1 for s in self.sequences if s.advanced)

    @property
    def changes(self) -> int:
        """Everything this sync wrote: a later sync that finds 0 here found the target already caught up."""
        lo = self.large_objects or LargeObjectSync()
        return (self.rows_changed + lo.added + lo.replaced + lo.removed + lo.comments_set + self.sequences_advanced
                + len(self.tables_created) + len(self.columns_added))

    def summary(self) -> str:
        lo = self.large_objects or LargeObjectSync()
        return (
            f"{self.ranges_compared} ranges compared, {self.ranges_differing} differed; rows: "
            f"{self.rows_inserted} inserted, {self.rows_updated} updated, {self.rows_deleted} deleted; "
            f"large objects: {lo.added} added, {lo.replaced} replaced, {lo.removed} removed; "
            f"sequences advanced: {self.sequences_advanced}; {self.seconds:.1f} s"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "summary": self.summary(),
            "ranges_compared": self.ranges_compared,
            "ranges_differing": self.ranges_differing,
            "rows_inserted": self.rows_inserted,
            "rows_updated": self.rows_updated,
            "rows_deleted": self.rows_deleted,
            "sequences_advanced": self.sequences_advanced,
            "changes": self.changes,
            "tables": [{**asdict(t), "rows_changed": t.rows_changed} for t in self.tables],
            "tables_created": list(self.tables_created),
            "columns_added": list(self.columns_added),
            "large_objects": None if self.large_objects is None else asdict(self.large_objects),
            "sequences": [asdict(s) for s in self.sequences],
            "notices": list(self.notices),
            "seconds": round(self.seconds, 3),
        }
