"""What verification found: one record per table, sequence, schema difference, extension and vector index, and
one for the large objects.

``VerifyReport.ok`` is true only when nothing differs; ``to_dict`` is the JSON form (the CLI's ``--json`` and
the HTTP ``db-verify`` endpoint); ``differences`` lists every problem as one line for a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pghaul.verify.checksum import Boundary


@dataclass(frozen=True)
class KeyRange:
    """A primary-key range whose rows differ: keys after ``after`` (exclusive) up to ``up_to`` (inclusive).

    ``None`` means unbounded on that side. Values are the key columns' text output, in key column order.
    """

    index: int
    after: Boundary | None
    up_to: Boundary | None
    rows_source: int
    rows_target: int

    def describe(self, key: tuple[str, ...]) -> str:
        lower = f"{_key_text(key, self.after)} <" if self.after is not None else ""
        upper = f"<= {_key_text(key, self.up_to)}" if self.up_to is not None else ""
        span = " ".join(part for part in (lower, "key", upper) if part) if (lower or upper) else "all rows"
        return f"range {self.index} ({span}): {self.rows_source} rows on source, {self.rows_target} on target"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "after": list(self.after) if self.after is not None else None,
            "upTo": list(self.up_to) if self.up_to is not None else None,
            "rowsSource": self.rows_source,
            "rowsTarget": self.rows_target,
        }


def _key_text(key: tuple[str, ...], values: Boundary) -> str:
    if len(values) == 1:
        return repr(values[0])
    return "(" + ", ".join(repr(v) for v in values) + ")"


@dataclass(frozen=True)
class TableCheck:
    table: str
    primary_key: tuple[str, ...]
    rows_source: int | None
    rows_target: int | None
    ranges: int = 1
    checksum_match: bool = False
    differing_ranges: tuple[KeyRange, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.checksum_match and self.rows_source == self.rows_target

    def problems(self) -> list[str]:
        if self.error is not None:
            return [f"table {self.table}: {self.error}"]
        lines = []
        if self.rows_source != self.rows_target:
            lines.append(f"table {self.table}: {self.rows_source} rows on source, {self.rows_target} on target")
        if not self.checksum_match:
            lines.append(
                f"table {self.table}: content differs in {len(self.differing_ranges)} of {self.ranges} key ranges"
            )
            lines.extend(f"  {r.describe(self.primary_key)}" for r in self.differing_ranges)
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "primaryKey": list(self.primary_key),
            "rowsSource": self.rows_source,
            "rowsTarget": self.rows_target,
            "ranges": self.ranges,
            "checksumMatch": self.checksum_match,
            "differingRanges": [r.to_dict() for r in self.differing_ranges],
            "error": self.error,
            "ok": self.ok,
        }


@dataclass(frozen=True)
class SequencePosition:
    last_value: int
    is_called: bool

    def describe(self) -> str:
        return f"{self.last_value}{'' if self.is_called else ' (not yet called)'}"


@dataclass(frozen=True)
class SequenceCheck:
    """The target must stand exactly where the source stood when read: behind collides, ahead means drift.

    In ``migrate``'s own verification ``copied`` is the position it read and set: sequences are not transactional,
    so the source's live position moves on with every insert. The target is then right when it stands at or ahead
    of that position (in the sequence's direction), and a source gone further is a change since the copy, not a
    failure (``moved_on``).
    """

    sequence: str
    source: SequencePosition | None
    target: SequencePosition | None
    error: str | None = None
    copied: SequencePosition | None = None
    increment: int = 1

    @property
    def ok(self) -> bool:
        if self.error is not None:
            return False
        if self.copied is None:
            return self.source == self.target
        return self.target is not None and self._beyond(self.target, self.copied) >= 0

    @property
    def moved_on(self) -> bool:
        """The source's live position is past the one copied: it handed out values since."""
        return self.copied is not None and self.source is not None and self._beyond(self.source, self.copied) > 0

    def _beyond(self, position: SequencePosition, reference: SequencePosition) -> int:
        """How far ``position`` is ahead of ``reference``, comparing the next value each hands out."""

        def next_value(p: SequencePosition) -> int:
            return p.last_value + (self.increment if p.is_called else 0)

        return (next_value(position) - next_value(reference)) * (1 if self.increment > 0 else -1)

    def problems(self) -> list[str]:
        if self.error is not None:
            return [f"sequence {self.sequence}: {self.error}"]
        if self.ok or self.target is None:
            return []
        if self.copied is not None:
            return [
                f"sequence {self.sequence}: target is behind the position copied "
                f"(copied {self.copied.describe()}, target {self.target.describe()})"
            ]
        if self.source is None:
            return []
        if self.target.last_value < self.source.last_value:
            where = "behind"
        elif self.target.last_value > self.source.last_value:
            where = "ahead of"
        else:
            where = "not at"
        return [
            f"sequence {self.sequence}: target is {where} the source "
            f"(source {self.source.describe()}, target {self.target.describe()})"
        ]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sequence": self.sequence,
            "sourceLastValue": self.source.last_value if self.source else None,
            "sourceIsCalled": self.source.is_called if self.source else None,
            "targetLastValue": self.target.last_value if self.target else None,
            "targetIsCalled": self.target.is_called if self.target else None,
            "error": self.error,
            "ok": self.ok,
        }
        if self.copied is not None:  # only migrate's verification has one: left out otherwise, as before
            out |= {"copiedLastValue": self.copied.last_value, "copiedIsCalled": self.copied.is_called}
        return out


@dataclass(frozen=True)
class SchemaDifference:
    kind: str  # a Catalog kind: tables, indexes, constraints, …
    name: str
    change: str  # "missing on target" | "extra on target" | "differs"
    fields: tuple[str, ...] = ()  # for "differs": which attributes differ

    def describe(self) -> str:
        what = self.kind.rstrip("s").replace("_", " ") if self.kind != "indexes" else "index"
        detail = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{what} {self.name}: {self.change}{detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "change": self.change, "fields": list(self.fields)}


@dataclass(frozen=True)
class ExtensionCheck:
    name: str
    source_version: str | None
    target_version: str | None
    status: str  # "same" | "newer on target" | "older on target" | "missing on target" | "only on target"

    @property
    def ok(self) -> bool:
        return self.status in ("same", "newer on target", "only on target")

    def describe(self) -> str:
        return f"extension {self.name}: {self.status} (source {self.source_version}, target {self.target_version})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sourceVersion": self.source_version,
            "targetVersion": self.target_version,
            "status": self.status,
            "ok": self.ok,
        }


@dataclass(frozen=True)
class VectorCheck:
    """Exact k-nearest-neighbour queries for sample rows, compared between source and target."""

    table: str
    column: str
    index: str
    operator: str
    k: int
    samples: int = 0
    mismatches: tuple[str, ...] = ()  # one line per sample row whose neighbours differ
    note: str | None = None  # why the check was not run (not a failure)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.mismatches

    def problems(self) -> list[str]:
        where = f"vector search on {self.table}.{self.column} ({self.operator}, index {self.index})"
        if self.error is not None:
            return [f"{where}: {self.error}"]
        return [f"{where}: {m}" for m in self.mismatches]

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "column": self.column,
            "index": self.index,
            "operator": self.operator,
            "k": self.k,
            "samples": self.samples,
            "mismatches": list(self.mismatches),
            "note": self.note,
            "error": self.error,
            "ok": self.ok,
        }


@dataclass(frozen=True)
class LargeObjectDifference:
    oid: int
    detail: str  # "size 10 on source, 12 on target", "content differs", "comment differs"

    def to_dict(self) -> dict[str, Any]:
        return {"oid": self.oid, "detail": self.detail}


@dataclass(frozen=True)
class LargeObjectCheck:
    """Every large object of both servers, by OID: size, checksum of the content (computed in each database) and
    comment. The OID lists hold the first few of each kind; the counts are exact."""

    objects_source: int = 0
    objects_target: int = 0
    compared: int = 0  # on both sides, with size, checksum and comment compared
    bytes_source: int = 0
    missing_on_target: tuple[int, ...] = ()
    extra_on_target: tuple[int, ...] = ()
    different: tuple[LargeObjectDifference, ...] = ()
    missing_count: int = 0
    extra_count: int = 0
    different_count: int = 0
    error: str | None = None
    note: str | None = None  # why they were not compared (not a failure)

    @property
    def ok(self) -> bool:
        return self.error is None and not (self.missing_count or self.extra_count or self.different_count)

    def summary(self) -> str:
        return (
            f"compared {self.compared:,} of {self.objects_source:,} large object(s) of the source "
            f"({self.bytes_source:,} bytes); {self.objects_target:,} on the target"
        )

    def problems(self) -> list[str]:
        if self.error is not None:
            return [f"large objects: {self.error}"]
        lines = []
        for count, oids, what in (
            (self.missing_count, self.missing_on_target, "missing on target"),
            (self.extra_count, self.extra_on_target, "extra on target"),
        ):
            if count:
                more = ", …" if count > len(oids) else ""
                lines.append(f"large objects: {count} {what} (OID {', '.join(str(o) for o in oids)}{more})")
        if self.different_count:
            lines.append(f"large objects: {self.different_count} differ")
            lines.extend(f"  large object {d.oid}: {d.detail}" for d in self.different)
            if self.different_count > len(self.different):
                lines.append(f"  … and {self.different_count - len(self.different)} more")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "objectsSource": self.objects_source,
            "objectsTarget": self.objects_target,
            "compared": self.compared,
            "bytesSource": self.bytes_source,
            "missingOnTarget": list(self.missing_on_target),
            "extraOnTarget": list(self.extra_on_target),
            "different": [d.to_dict() for d in self.different],
            "missingCount": self.missing_count,
            "extraCount": self.extra_count,
            "differentCount": self.different_count,
            "error": self.error,
            "note": self.note,
            "ok": self.ok,
        }


@dataclass(frozen=True)
class SourceAsOf:
    """``migrate``'s own verification compared the source as of the snapshot its rows were copied in, not the live
    source: writes the application made since are not differences, they are what a sync brings over.

    ``changed`` names what the source's statistics and sequences show written since (tables, sequences, large
    objects). ``server_writes`` counts the transactions that wrote on the source server since, in any database: it
    also catches writes too recent for the statistics (a session reports its counts up to seconds after its
    commit). None when the target is on the same server: pghaul's own writes would count there.
    """

    taken_at: datetime
    changed: tuple[str, ...] = ()
    server_writes: int | None = None

    @property
    def moment(self) -> str:
        return self.taken_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    def describe(self) -> str:
        return f"compared with the source as of {self.moment}, the snapshot its rows were copied in"

    def change_notice(self) -> str | None:
        """What to tell the user when the source was written to since the snapshot (None: it was not)."""
        sync = "run `pghaul sync --source … --target …` to bring over what changed"
        if self.changed:
            return f"the source changed while it was copied: the target holds the source as of {self.moment}; {sync}"
        if self.server_writes:
            return (
                f"the source server committed {self.server_writes} writing transaction(s) since the rows were copied "
                f"(in this database or another): the target holds the source as of {self.moment}; {sync}"
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"takenAt": self.taken_at.astimezone(UTC).isoformat(), "changed": list(self.changed),
                "serverWrites": self.server_writes}


@dataclass
class VerifyReport:
    source: str  # describe_url of the source: never a password
    target: str
    tables: list[TableCheck] = field(default_factory=list)
    sequences: list[SequenceCheck] = field(default_factory=list)
    schema_diff: list[SchemaDifference] = field(default_factory=list)
    extensions: list[ExtensionCheck] = field(default_factory=list)
    vector_checks: list[VectorCheck] = field(default_factory=list)
    large_objects: LargeObjectCheck | None = None  # None: not compared (a schema-only or table-limited run)
    seconds: float = 0.0
    # Transactions that wrote on the source server (any database) while verification read it: on a live source,
    # differences may be writes made after the copy, not copy errors.
    source_transactions_during_verify: int = 0
    # Set by migrate's own verification: the source was compared as of the copy's snapshot (None: live).
    as_of: SourceAsOf | None = None

    @property
    def ok(self) -> bool:
        return (
            all(t.ok for t in self.tables)
            and all(s.ok for s in self.sequences)
            and not self.schema_diff
            and all(e.ok for e in self.extensions)
            and all(v.ok for v in self.vector_checks)
            and (self.large_objects is None or self.large_objects.ok)
        )

    def differences(self) -> list[str]:
        lines: list[str] = []
        for t in self.tables:
            lines.extend(t.problems())
        for s in self.sequences:
            lines.extend(s.problems())
        lines.extend(f"schema: {d.describe()}" for d in self.schema_diff)
        lines.extend(e.describe() for e in self.extensions if not e.ok)
        for v in self.vector_checks:
            lines.extend(v.problems())
        if self.large_objects is not None:
            lines.extend(self.large_objects.problems())
        return lines

    def notes(self) -> list[str]:
        """Facts worth showing that are not failures: a newer extension on the target, skipped vector checks."""
        lines = [e.describe() for e in self.extensions if e.ok and e.status != "same"]
        if self.as_of is not None:
            lines.append(self.as_of.describe())
            notice = self.as_of.change_notice()
            if notice is not None:
                lines.append(f"{notice} (changed since: {_listed(self.as_of.changed)})" if self.as_of.changed
                             else notice)
        elif self.source_transactions_during_verify > 0:
            lines.append(
                f"the source server committed or started {self.source_transactions_during_verify} writing "
                "transaction(s) while it was being verified: it is live, so differences may be writes made after "
                "the copy (sync again, or verify once writes have stopped)"
            )
        lines.extend(
            f"vector search on {v.table}.{v.column} not checked: {v.note}" for v in self.vector_checks if v.note
        )
        if self.large_objects is not None and self.large_objects.note:
            lines.append(f"large objects not compared: {self.large_objects.note}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.ok,
            "source": self.source,
            "target": self.target,
            "tables": [t.to_dict() for t in self.tables],
            "sequences": [s.to_dict() for s in self.sequences],
            "schemaDiff": [d.to_dict() for d in self.schema_diff],
            "extensions": [e.to_dict() for e in self.extensions],
            "vectorChecks": [v.to_dict() for v in self.vector_checks],
            "largeObjects": None if self.large_objects is None else self.large_objects.to_dict(),
            "differences": self.differences(),
            "notes": self.notes(),
            "sourceTransactionsDuringVerify": self.source_transactions_during_verify,
            "seconds": round(self.seconds, 3),
        }
        if self.as_of is not None:  # only migrate's verification has one: left out otherwise, as before
            out["asOf"] = self.as_of.to_dict()
        return out


def _listed(names: tuple[str, ...], shown: int = 10) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
