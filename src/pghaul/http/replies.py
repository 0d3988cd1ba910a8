"""The admin API's replies as types: one pydantic model per reply, one name per field, camelCase on the wire.

Python attributes are snake_case and the wire names are generated from them (``to_camel``), so nothing builds a
camelCase dict by hand; the few names the old walk-through spelled differently (``existsInNewDB``, ``from``)
carry an explicit alias. Routes declare these as ``response_model`` so the guarded openapi.json documents them.

Replies leave out the fields they did not set (routes use ``response_model_exclude_unset``): an optional field
such as ``postData`` on a batch is absent, not null, exactly as the old endpoints answered. Reports the engine
stored on the target (a migration's result, a verification) are read back into these models; their fields have
defaults so a report written by an older pghaul still reads.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from pghaul.engine.freeze import UnfreezeOutcome
from pghaul.errors import ErrorCode
from pghaul.follow.events import ObjectAction, ReplicationObject, Server, StartKind
from pghaul.follow.preflight import FollowBlocker, FollowCaveat
from pghaul.follow.status import FollowState, TableReplicationState
from pghaul.kinds import SyncMethod
from pghaul.plan.steps import Plan, Step


class Reply(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)

    # Fields with a default that every reply of the kind carries even when not passed (unset ones are left out).
    always: ClassVar[tuple[str, ...]] = ()

    def model_post_init(self, context: Any, /) -> None:
        self.model_fields_set.update(self.always)


class Ok(Reply):
    always = ("success",)

    success: bool = True


# --- the old walk-through: db-tables, db-schema, db-migrate-data ------------------------------------------------


class TableRow(Reply):
    name: str
    row_count: int
    primary_key: str | None
    pk_data_type: str | None
    pk_is_numeric: bool
    exists_in_new_db: bool = Field(alias="existsInNewDB")  # the old API's spelling
    schema_: str = Field(alias="schema")  # "schema" would shadow BaseModel's own attribute
    primary_key_columns: list[str]
    size_bytes: int
    row_count_exact: bool


class TablesReply(Ok):
    tables: list[TableRow]
    total_tables: int
    total_rows: int


class StepReply(Reply):
    phase: str
    kind: str
    name: str
    sql: str
    table: list[str] | None
    status: str

    @classmethod
    def of(cls, step: Step) -> StepReply:
        return cls(phase=step.phase, kind=step.kind, name=step.name, sql=step.sql,
                   table=list(step.table) if step.table else None, status=step.status)


class SchemaResult(Reply):
    table: str
    success: bool
    columns: int
    primary_key: str | None
    created: bool
    sql: str
    status: str


class PostDataPlan(Reply):
    steps: list[StepReply]
    sql: str


class SchemaReply(Ok):
    dry_run: bool
    results: list[SchemaResult]
    pre_data: list[StepReply]
    notes: list[str]
    sql: str
    post_data: PostDataPlan | None = None  # with dryRun only


class PostPhaseReply(Ok):
    """db-schema?phase=post: the plan (dry run) or the job that started."""

    always = ("success", "phase")

    dry_run: bool
    phase: Literal["post"] = "post"
    post_data: PostDataPlan | Literal["started"]
    job_id: str | None = None


class BatchReply(Ok):
    table: str
    batch_size: int
    inserted_count: int
    skipped_count: int
    next_cursor: str | None
    has_more: bool
    dry_run: bool
    post_data: str | None = None  # after the last batch: whether the post-data phase started


# --- starting background work ------------------------------------------------------------------------------------


class PlanSummary(Reply):
    steps: list[StepReply]
    notes: list[str]
    conflicts: list[str]
    tables: list[str]

    @classmethod
    def of(cls, plan: Plan) -> PlanSummary:
        return cls(steps=[StepReply.of(s) for s in plan.steps], notes=list(plan.notes),
                   conflicts=[s.name for s in plan.conflicts], tables=[t.display_name for t in plan.tables])


class PreviewReply(Ok):
    """POST db-migrate-all?dryRun=true: the whole plan and its SQL."""

    always = ("success", "dry_run")

    dry_run: Literal[True] = True
    plan: PlanSummary
    sql: str


class MigrateAllRequest(BaseModel):
    """POST db-migrate-all's optional body: ``{"follow": true}`` keeps the target following the source with
    PostgreSQL's logical replication from the copy's moment until the cutover (db-preflight?follow=true says
    whether it can). No body: a migration without follow, as always."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    follow: bool = False
    # ``{"maxRate": 20}``: read the source at most 20 MB/s, all workers together (the CLI's --max-rate).
    max_rate: float | None = Field(default=None, gt=0, allow_inf_nan=False,
                                   description="cap on reading the source, in MB/s (all workers together)")


class StartReply(Ok):
    """A background job started, or the one already running (``started`` false), or the migration already done."""

    job_id: str | None
    state: str
    started: bool
    resumed: bool | None = None
    hint: str | None = None


# --- verification ------------------------------------------------------------------------------------------------


class KeyRangeReply(Reply):
    index: int
    after: list[Any] | None = None
    up_to: list[Any] | None = None
    rows_source: int | None = None
    rows_target: int | None = None


class TableCheckReply(Reply):
    table: str
    primary_key: list[str] = []
    rows_source: int | None = None
    rows_target: int | None = None
    ranges: int = 1
    checksum_match: bool = False
    differing_ranges: list[KeyRangeReply] = []
    error: str | None = None
    ok: bool = False


class SequenceCheckReply(Reply):
    sequence: str
    source_last_value: int | None = None
    source_is_called: bool | None = None
    target_last_value: int | None = None
    target_is_called: bool | None = None
    # migrate's own verification: the position it set (a target at or past it is ok while the source moves on)
    copied_last_value: int | None = None
    copied_is_called: bool | None = None
    error: str | None = None
    ok: bool = False


class SourceAsOfReply(Reply):
    """The moment of the source migrate's verification compared (its copy's snapshot), and what changed since."""

    taken_at: str
    changed: list[str] = []
    server_writes: int | None = None


class SchemaDifferenceReply(Reply):
    kind: str
    name: str
    change: str
    fields: list[str] = []


class ExtensionCheckReply(Reply):
    name: str
    source_version: str | None = None
    target_version: str | None = None
    status: str = ""
    ok: bool = False


class VectorCheckReply(Reply):
    table: str
    column: str
    index: str = ""
    operator: str = ""
    k: int = 0
    samples: int = 0
    mismatches: list[str] = []
    note: str | None = None
    error: str | None = None
    ok: bool = False


class LargeObjectDifferenceReply(Reply):
    oid: int
    detail: str


class LargeObjectCheckReply(Reply):
    objects_source: int = 0
    objects_target: int = 0
    compared: int = 0
    bytes_source: int = 0
    missing_on_target: list[int] = []
    extra_on_target: list[int] = []
    different: list[LargeObjectDifferenceReply] = []
    missing_count: int = 0
    extra_count: int = 0
    different_count: int = 0
    error: str | None = None
    note: str | None = None
    ok: bool = False


class VerifyReport(Reply):
    """pghaul.verify.VerifyReport as JSON (its ``to_dict``, which the engine also stores with a migration)."""

    ok: bool | None = None
    source: str | None = None
    target: str | None = None
    tables: list[TableCheckReply] = []
    sequences: list[SequenceCheckReply] = []
    schema_diff: list[SchemaDifferenceReply] = []
    extensions: list[ExtensionCheckReply] = []
    vector_checks: list[VectorCheckReply] = []
    large_objects: LargeObjectCheckReply | None = None
    differences: list[str] = []
    notes: list[str] = []
    source_transactions_during_verify: int = 0
    as_of: SourceAsOfReply | None = None
    seconds: float = 0.0


class VerifyProgress(Reply):
    tables_checked: int
    tables_total: int


class VerifyReply(VerifyReport):
    """GET db-verify: the latest report (``from`` says which job made it), or where the running one stands."""

    always = ("success",)

    success: bool = True
    state: Literal["idle", "running", "done", "failed"]
    origin: Literal["verify", "post-data", "migration"] | None = Field(default=None, alias="from")
    job_id: str | None = None
    verify_progress: VerifyProgress | None = None
    error: str | None = None
    hint: str | None = None


# --- follow: PostgreSQL's logical replication until the cutover (pghaul.follow) ------------------------------------


class FollowReasonReply(Reply):
    """Why follow is not possible (a blocker), or what it does not carry (a caveat), with what to do."""

    code: FollowBlocker | FollowCaveat
    message: str
    hint: str
    objects: list[str] = []  # the tables (or roles) concerned


class FollowPreflightReply(Reply):
    """pghaul.follow.FollowPreflight as JSON (its ``to_dict``): whether the target can follow the source."""

    possible: bool
    name: str  # the slot and the publication follow creates on the source, and the subscription on the target
    probed: bool  # whether the target's server was asked to reach the source (not when a blocker stood first)
    blockers: list[FollowReasonReply] = []
    caveats: list[FollowReasonReply] = []


class FollowStartedReply(Reply):
    """What a migration with follow did (pghaul.follow.FollowStarted): how it started, the subscription."""

    name: str
    start: StartKind
    consistent_lsn: str | None = None  # the slot's consistent point: the copy's moment in the source's WAL
    tables: int = 0
    subscription: ObjectAction | None = None


class SlotReply(Reply):
    active: bool
    wal_status: str | None
    confirmed_flush_lsn: str | None
    retained_bytes: int | None  # WAL the slot keeps on the source's disk


class SubscriptionReply(Reply):
    name: str
    enabled: bool
    worker_running: bool
    received_lsn: str | None
    reported_lsn: str | None
    last_message_seconds: float | None
    last_report_seconds: float | None
    apply_errors: int


class TableReplicationReply(Reply):
    table: str
    state: TableReplicationState


class FollowStatusReply(Reply):
    """pghaul.follow.FollowStatus as JSON (its ``to_dict``): where follow stands, the lag, each table."""

    name: str
    state: FollowState
    copied: bool  # the copy finished in the slot's snapshot
    lag_bytes: int | None  # the source's WAL since the position the target confirmed (None: source not asked)
    lag_seconds: float | None  # the source's WAL sender's replay lag (None once it has been idle a while)
    source_known: bool  # false: only the target could be asked (no slot, no byte lag)
    problems: list[str] = []
    slot: SlotReply | None = None
    subscription: SubscriptionReply | None = None
    tables: list[TableReplicationReply] = []


class ReplicationObjectReply(Reply):
    """Follow created, changed or dropped one of its objects (a ReplicationObjectChanged event)."""

    kind: ReplicationObject
    name: str
    server: Server
    action: ObjectAction
    detail: str = ""


class ReplicationLagReply(Reply):
    """The cutover's wait for zero lag (the latest ReplicationCatchUp event): the source's WAL position when writes
    paused, what the target confirmed so far, and the bytes between them."""

    target_lsn: str
    confirmed_lsn: str | None
    lag_bytes: int
    seconds_waited: float
    reached: bool


class FollowRefusal(Reply):
    """The failed migration asked for follow, which is not possible: every reason (pghaul.follow.FollowNotPossible).
    Nothing was written; a migration without follow (then db-sync and the cutover) works instead."""

    preflight: FollowPreflightReply


# --- db-status ---------------------------------------------------------------------------------------------------


class IndexBuild(Reply):
    """One index build as pg_stat_progress_create_index reports it (``phase`` is PostgreSQL's own)."""

    phase: str
    done: int
    total: int
    finished: bool = False  # its step was applied (progress is no longer reported once the build ends)


class LargeObjectsLive(Reply):
    done: int
    total: int
    bytes_done: int
    bytes_total: int


class NoticeReply(Reply):
    level: str
    message: str
    details: list[str] = []


class LiveReply(Reply):
    """What the process running a job knows that the target does not record yet."""

    phase: str | None
    indexes: dict[str, IndexBuild]
    large_objects: LargeObjectsLive | None
    notices: list[NoticeReply]
    elapsed_seconds: float
    verify_progress: VerifyProgress | None
    # With follow: the slot, the publication and the subscription as the job created (or dropped) them.
    replication: list[ReplicationObjectReply] = []
    # The follow cutover's wait for zero lag, while it waits.
    replication_lag: ReplicationLagReply | None = None


class JobReply(LiveReply):
    """A background job of this process: the post-data phase or a verification."""

    job_id: str
    kind: str
    state: str
    error: str | None
    hint: str | None


class PostDataJobReply(JobReply):
    verified: bool | None  # whether the verification that ends the phase found both databases equal


class VerifyJobReply(JobReply):
    ok: bool | None


class TableProgressReply(Reply):
    table: str  # schema.name
    name: str  # as db-tables names it
    rows_done: int
    rows_total: int
    bytes: int
    done: bool
    rate: float
    eta_seconds: float | None


class ErrorItem(Reply):
    error: str | None
    hint: str | None


class CopiedTable(Reply):
    table: str
    rows_copied: int = 0
    rows_skipped: int = 0
    bytes: int = 0
    seconds: float = 0.0
    rows_estimated: int = 0
    ranges: int = 0
    format: str = "binary"
    already_done: bool = False


class LargeObjectStats(Reply):
    objects: int = 0
    copied: int = 0
    skipped: int = 0
    bytes_copied: int = 0
    seconds: float = 0.0


class PlanCount(Reply):
    notes: list[str] = []
    steps: int = 0


class MigrationReport(Reply):
    """pghaul.engine.MigrationResult as the engine stores it with the job on the target."""

    job_id: str | None = None
    ok: bool | None = None
    seconds: float = 0.0
    resumed: bool = False
    snapshot_reused: bool = True
    workers: int = 0
    rows_copied: int = 0
    rows_skipped: int = 0
    sequences_set: int = 0
    tables: list[CopiedTable] = []
    notices: list[str] = []
    large_objects: LargeObjectStats | None = None
    plan: PlanCount | None = None
    verify: VerifyReport | None = None
    follow: FollowStartedReply | None = None  # with follow: how it started, the subscription


class StatusReply(Ok):
    always = ("success", "follow")

    job_id: str | None
    state: str
    phase: str | None
    error: str | None
    hint: str | None
    report: MigrationReport | None
    started_at: str | None
    updated_at: str | None
    finished_at: str | None
    tables: list[TableProgressReply]
    rows_done: int
    rows_total: int
    bytes_done: int
    rate: float
    eta_seconds: float | None
    errors: list[ErrorItem]
    verify: VerifyReport | None
    live: LiveReply | None
    post_data: PostDataJobReply | None
    verify_job: VerifyJobReply | None
    # Follow's state (null when the target follows nothing): the lag, each table's replication state, problems.
    follow: FollowStatusReply | None = None
    # Only when this server's latest migration asked for follow and was refused before writing: every reason.
    follow_refused: FollowRefusal | None = None


# --- db-preflight ------------------------------------------------------------------------------------------------


class ServerReply(Reply):
    server: str  # host, port and database: never a password
    version_num: int
    version: str
    system_identifier: str
    database: str
    encoding: str


class ExtensionReply(Reply):
    name: str
    source_version: str
    target_installed: str | None
    target_available: list[str]
    problem: str | None
    ok: bool


class PreflightReply(Ok):
    source: ServerReply
    target: ServerReply
    target_is_source: bool
    extensions: list[ExtensionReply]
    ok: bool
    target_empty: bool
    target_tables: list[str]
    tables_without_primary_key: list[str]
    tables: int
    rows_estimated: int
    total_bytes: int
    vector_indexes: list[str]
    estimate_seconds: float
    warnings: list[str]
    # Only with ?follow=true (the probe may take seconds): whether the target can follow the source, and why not.
    follow: FollowPreflightReply | None = None


# --- db-sync -----------------------------------------------------------------------------------------------------


class JobState(StrEnum):
    """Where a sync or a cutover step of this server stands."""

    IDLE = "idle"  # none since this server started
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class TableSyncReply(Reply):
    """One table a sync compared (pghaul.sync.report.TableSync, or its TableSynced event while it runs)."""

    table: str
    method: SyncMethod
    ranges_compared: int = 0
    ranges_differing: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    rows_changed: int = 0
    seconds: float = 0.0


class LargeObjectSyncReply(Reply):
    objects: int = 0  # on the source
    added: int = 0
    replaced: int = 0
    removed: int = 0
    comments_set: int = 0
    bytes_copied: int = 0
    left_alone: list[int] = []  # only on the target and not pghaul's: never removed


class SequenceSyncReply(Reply):
    sequence: str
    source_value: int
    target_value: int  # before the sync
    advanced: bool


class SyncReport(Reply):
    """pghaul.sync.SyncReport as JSON (its ``to_dict``)."""

    source: str | None = None
    target: str | None = None
    summary: str = ""
    ranges_compared: int = 0
    ranges_differing: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    sequences_advanced: int = 0
    changes: int = 0  # everything the sync wrote: 0 means the target was already caught up
    tables: list[TableSyncReply] = []
    tables_created: list[str] = []
    columns_added: list[str] = []
    large_objects: LargeObjectSyncReply | None = None
    sequences: list[SequenceSyncReply] = []
    notices: list[str] = []
    seconds: float = 0.0


class SyncProgress(Reply):
    """A running sync (or catch-up round): the tables it compares, and each one finished so far with its counts."""

    tables_total: int | None  # known once the sync has listed its tables
    tables_done: list[TableSyncReply]
    large_objects: LargeObjectsLive | None


class JobOutcome(Reply):
    """How a background job of this server stands, and why it failed: ``error`` and ``hint`` as an error reply
    says them, ``code`` its kind (pghaul.errors.ErrorCode) and ``status`` the HTTP status a request refused for
    the same reason is answered with (409 for a safety refusal); both null for an internal error."""

    state: JobState
    job_id: str | None = None
    error: str | None = None
    hint: str | None = None
    code: ErrorCode | None = None
    status: int | None = None
    elapsed_seconds: float | None = None  # since the job started, while it runs


class SyncReply(JobOutcome, Ok):
    """GET db-sync: the latest sync of this server, its progress while it runs, its report once done."""

    always = ("success", "state")

    progress: SyncProgress | None = None
    report: SyncReport | None = None


class FollowStartReport(Reply):
    """pghaul.follow.FollowMigrated as JSON (its ``to_dict``): follow started on a migrated target."""

    follow: FollowStartedReply
    sync: SyncReport | None = None  # None: continued an earlier start whose sync was recorded complete
    earlier_dropped: list[str] = []  # an earlier, unfinished start's objects, taken down first
    notices: list[str] = []
    seconds: float = 0.0


class FollowJobReply(JobOutcome, Ok):
    """GET db-follow: the latest follow start of this server (POST db-follow): its sync's progress while it runs,
    its report once done; where follow stands afterwards is db-status's ``follow``."""

    always = ("success", "state")

    progress: SyncProgress | None = None
    report: FollowStartReport | None = None
    # Only when follow was not possible (refused before anything was written): every reason.
    follow_refused: FollowRefusal | None = None


# --- db-cutover, db-unfreeze -------------------------------------------------------------------------------------


class CutoverStep(StrEnum):
    CATCH_UP = "catch-up"  # sync rounds while the app still writes, until what is left stops shrinking
    FINISH = "finish"  # writes paused: optionally freeze the source, then the method's last catch-up and a verify


class CutoverMethod(StrEnum):
    """How the finish brings the target level with the paused source. Not chosen by the client: the target says
    it — a target that follows the source has replication carrying every change (a sync would race it), one that
    does not has nothing else."""

    SYNC = "sync"  # a last sync, then a full verify (pghaul.engine.cutover.finish)
    FOLLOW = "follow"  # zero replication lag, sequences, large objects, verify, teardown (pghaul.follow.finish_follow)


class CutoverRequest(BaseModel):
    """POST db-cutover's body: ``{"step": "catch-up"}``, then ``{"step": "finish", "freezeSource": true}``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    step: CutoverStep
    # Only with "finish": make the source read-only for new sessions and end its open ones first (the one write
    # pghaul makes to it; POST db-unfreeze undoes it).
    freeze_source: bool = False
    # Only with "finish" on a target that follows the source: false compares the schema only inside the window
    # (the rows were verified against the copy's snapshot, and replication applied every change since), so the
    # window no longer grows with the database's size (pghaul.follow.FollowCutoverOptions.verify_rows).
    verify_rows: bool = True


class CutoverStage(StrEnum):
    """Where the cutover stands, as the page walks it."""

    IDLE = "idle"  # nothing yet: catch up first
    CATCHING_UP = "catching-up"
    CAUGHT_UP = "caught-up"  # pause the app's writes, then finish
    FINISHING = "finishing"  # writes paused: the last sync and the verify run
    FINISHED = "finished"  # the report says whether to switch (``ok``) and how
    FAILED = "failed"  # the latest step failed: ``error`` and ``hint``, ``step`` says which


class CutoverStartReply(StartReply):
    step: CutoverStep
    method: CutoverMethod | None = None  # with the finish: how it brings the target level (the target decides)


class CatchUpRoundReply(Reply):
    round: int
    changes: int  # what the round carried: about what was left when it started
    rows_changed: int
    seconds: float
    shrinking: bool  # carried less than the round before


class CatchUpReply(Reply):
    rounds: list[CatchUpRoundReply] = []
    left: int = 0  # what the last round carried: about what the final sync will carry if writes pause now


class SwitchInstructionsReply(Reply):
    variable: str  # the app's variable to change (DATABASE_URL)
    new_value_from: str  # the variable holding its new value (NEW_DATABASE_URL): a name, never a URL
    steps: list[str]
    rollback: list[str]


class CutoverReport(Reply):
    """pghaul.engine.cutover.CutoverReport as JSON (its ``to_dict``): the finish with a last sync."""

    always = ("method",)

    method: Literal[CutoverMethod.SYNC] = CutoverMethod.SYNC
    ok: bool = False
    write_freeze_seconds: float = 0.0  # from the finish request ("writes paused") to verified
    sync: SyncReport | None = None
    verify: VerifyReport | None = None
    freeze: str | None = None  # what the freeze did, the server named without a password
    instructions: SwitchInstructionsReply | None = None  # only when verified
    notices: list[str] = []


class FollowCatchUpReply(Reply):
    target_lsn: str  # the source's WAL position when the wait began: every paused write is before it
    seconds: float
    lag_bytes_when_paused: int  # how far behind the target was when writes paused


class TeardownReply(Reply):
    name: str
    dropped: list[ReplicationObject]  # what existed and is gone: subscription, replication slot, publication


class FollowCutoverReport(Reply):
    """pghaul.follow.FollowCutoverReport as JSON (its ``to_dict``): the finish of a target that follows the source.
    Verified, follow is taken down (``teardown``: no slot stays on the source); not verified, nothing is dropped
    and the notices say the slot stays."""

    always = ("method",)

    method: Literal[CutoverMethod.FOLLOW] = CutoverMethod.FOLLOW
    ok: bool = False
    name: str = ""  # the slot, the publication and the subscription
    write_freeze_seconds: float = 0.0  # from the finish request ("writes paused") to verified and torn down
    catch_up: FollowCatchUpReply | None = None
    sequences: list[SequenceSyncReply] = []
    large_objects: LargeObjectSyncReply | None = None
    verify: VerifyReport | None = None
    freeze: str | None = None
    teardown: TeardownReply | None = None  # only when verified
    instructions: SwitchInstructionsReply | None = None  # only when verified
    notices: list[str] = []


class CutoverReply(JobOutcome, Ok):
    """GET db-cutover: the stage, the latest step's job, the catch-up's rounds, the finish's report, and whether
    the source is frozen now (null when the source could not be asked)."""

    always = ("success", "state", "stage", "frozen")

    stage: CutoverStage
    step: CutoverStep | None = None  # the step of the latest job
    catch_up: CatchUpReply | None = None  # the latest catch-up: its rounds so far while it runs
    progress: SyncProgress | None = None  # the running round's (or the finish's sync's) tables
    # While a follow finish waits for zero lag: how far the target still is behind the paused source.
    lag: ReplicationLagReply | None = None
    # The latest finish, by its method.
    report: Annotated[CutoverReport | FollowCutoverReport, Field(discriminator="method")] | None = None
    frozen: bool | None = None


class StopFollowOutcome(StrEnum):
    STOPPED = "stopped"  # follow's objects were there and are dropped
    NOT_FOLLOWING = "not following"  # nothing of follow was there


class StopFollowReply(Ok):
    """POST db-stop-follow: follow given up without a cutover; the target keeps its rows, db-sync takes over."""

    outcome: StopFollowOutcome
    name: str
    dropped: list[ReplicationObject]
    message: str


class UnfreezeReply(Ok):
    outcome: UnfreezeOutcome
    message: str  # the server named without a password
    frozen: bool
