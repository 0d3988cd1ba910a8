"""What a run is asked to do (``MigrateOptions``) and what it reports (``MigrationResult``, ``PostDataResult``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pghaul.copy.large_objects import LargeObjectStats
from pghaul.copy.parallel import TableStats
from pghaul.copy.rate_limit import RateLimit
from pghaul.errors import UsageError
from pghaul.limits import DEFAULT_CHUNK_ROWS, MAX_CHUNK_ROWS
from pghaul.plan import Plan, PlanOptions

if TYPE_CHECKING:
    from pghaul.follow.start import FollowStarted

# Tables estimated above this many rows, or this many bytes, are split into key ranges that workers copy in
# parallel: by bytes too, so that a table of few wide rows (embeddings) does not become one long tail.
DEFAULT_SPLIT_ROWS = 200_000
SPLIT_BYTES = 64 * 1024 * 1024
MAX_DEFAULT_WORKERS = 8
# Index builds on tables this big take long enough to report their progress (a poll costs a connection).
WATCH_INDEX_BUILDS_FROM_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class MigrateOptions:
    batch_size: int = DEFAULT_CHUNK_ROWS  # rows per committed chunk (and checkpoint)
    include: tuple[str, ...] = ()  # fnmatch patterns on "schema.table"
    exclude: tuple[str, ...] = ()
    schema_only: bool = False
    data_only: bool = False
    workers: int | None = None  # None: from the machine's cores and the servers' free connections
    verify: bool = True
    job_id: str | None = None
    split_rows: int = DEFAULT_SPLIT_ROWS
    maintenance_work_mem_kb: int | None = None  # for vector index builds; None: chosen from the target
    analyze: bool = True
    owners: bool = False  # ALTER … OWNER TO as on the source (the roles must exist on the target)
    privileges: bool = False  # grants and default privileges as on the source
    # Keep the target following the source with PostgreSQL's logical replication until the cutover (pghaul.follow):
    # a slot and a publication on the source, a subscription on the target, started from the copy's snapshot.
    follow: bool = False
    # The source as the target's *server* reaches it (the subscription's connection string, password included),
    # when that differs from the URL pghaul uses (a platform's private network). None: the source URL. Kept out of
    # the repr, so printing the options never shows a password.
    follow_source_url: str | None = field(default=None, repr=False)
    # At most this many MB/s read from the source, all workers together (rows and large objects); None: no cap.
    max_rate: float | None = None
    # The run's one bucket for max_rate, shared by every reader of a run with these options (not an option).
    source_rate: RateLimit | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_rate", RateLimit.megabytes(self.max_rate))

    def for_job(self, job_id: str) -> MigrateOptions:
        """These options for the job ``job_id``, reading through this one's bucket: every run of a retried
        migration is held to one ``max_rate``, and the caller's ``source_rate`` counts all of them."""
        chosen = replace(self, job_id=job_id)
        object.__setattr__(chosen, "source_rate", self.source_rate)
        return chosen

    @property
    def load_notes(self) -> list[str]:
        """What the plan says about the load the run puts on the source."""
        if self.max_rate is None or self.schema_only:
            return []
        return [f"the source is read at most {self.max_rate:g} MB/s, all workers together (--max-rate): rows and "
                "large objects; verification's checksums are computed on the source and are not capped"]

    @property
    def plan_options(self) -> PlanOptions:
        """What the dry run shows: the DDL (it says in a line that ANALYZE follows each copied table)."""
        return PlanOptions(self.include, self.exclude, owners=self.owners, privileges=self.privileges)

    @property
    def run_plan_options(self) -> PlanOptions:
        """What a run follows: the DDL and, unless turned off or there are no rows to copy, the ANALYZE steps."""
        return replace(self.plan_options, analyze=self.analyze and not self.schema_only)

    def subscription_url(self, source_url: str) -> str:
        """The connection string follow's subscription uses to reach the source."""
        return self.follow_source_url or source_url


def check_options(options: MigrateOptions) -> None:
    if options.schema_only and options.data_only:
        raise UsageError("schema-only and data-only exclude each other", "pick one, or neither for a full migration")
    if not 1 <= options.batch_size <= MAX_CHUNK_ROWS:
        raise UsageError(
            f"batch size {options.batch_size} is out of range", f"use 1 to {MAX_CHUNK_ROWS:,} rows per chunk"
        )
    if options.follow and options.schema_only:
        raise UsageError("follow replicates rows, which a schema-only run does not copy",
                         "leave out --schema-only, or --follow")
    if options.workers is not None and options.workers < 1:
        raise UsageError("workers must be at least 1", "pass --workers 1 or more, or leave it out")
    check_max_rate(options.max_rate)


def check_max_rate(max_rate: object) -> None:
    """``--max-rate`` is a positive, finite number of MB/s (a cap of 0 would never finish)."""
    if max_rate is None:
        return
    if isinstance(max_rate, bool) or not isinstance(max_rate, int | float) or not 0 < max_rate < float("inf"):
        raise UsageError(f"max rate {max_rate!r} is not a positive number of MB/s",
                         "pass --max-rate with a number above 0, e.g. --max-rate 20 for 20 MB/s, or leave it out")


@dataclass
class MigrationResult:
    job_id: str
    plan: Plan
    tables: list[TableStats] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    # False when a resumed run read the rest of the data at a later moment than the rows copied before.
    snapshot_reused: bool = True
    resumed: bool = False
    sequences_set: int = 0
    workers: int = 0
    large_objects: LargeObjectStats | None = None
    verify_report: Any | None = None  # pghaul.verify.VerifyReport
    seconds: float = 0.0
    ok: bool = True
    follow: FollowStarted | None = None  # with MigrateOptions.follow: the slot, how it started, the subscription

    @property
    def rows_copied(self) -> int:
        return sum(t.rows_copied for t in self.tables)

    @property
    def rows_skipped(self) -> int:
        return sum(t.rows_skipped for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id, "ok": self.ok, "seconds": round(self.seconds, 3), "resumed": self.resumed,
            "snapshotReused": self.snapshot_reused, "workers": self.workers, "rowsCopied": self.rows_copied,
            "rowsSkipped": self.rows_skipped, "sequencesSet": self.sequences_set,
            "tables": [t.to_dict() for t in self.tables], "notices": list(self.notices),
            "largeObjects": _large_object_dict(self.large_objects),
            "plan": {"notes": list(self.plan.notes), "steps": len(self.plan.steps)},
            "verify": self.verify_report.to_dict() if self.verify_report is not None else None,
            "follow": self.follow.to_dict() if self.follow is not None else None,
        }


def _large_object_dict(stats: LargeObjectStats | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {"objects": stats.objects, "copied": stats.copied, "skipped": stats.skipped,
            "bytesCopied": stats.bytes_copied, "seconds": round(stats.seconds, 3)}


@dataclass
class PostDataResult:
    applied: list[str] = field(default_factory=list)
    sequences_set: int = 0
    large_objects: LargeObjectStats | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"applied": list(self.applied), "sequencesSet": self.sequences_set,
                "largeObjects": _large_object_dict(self.large_objects)}
