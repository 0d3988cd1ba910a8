"""The engine's other entries: the dry run, the walk-through's schema and post-data steps, the one-batch
bookkeeping, and ``cleanup``. Each refuses a target that is the source before it writes."""

from __future__ import annotations

import threading
from dataclasses import replace

import psycopg

from pghaul import created_objects
from pghaul.connect import connect_source, connect_target
from pghaul.copy import state
from pghaul.copy.large_objects import copy_large_objects, refuse_foreign_objects
from pghaul.copy.parallel import build_vector_index
from pghaul.copy.sequences import apply_positions, read_positions, selected_sequences, setval_statements
from pghaul.copy.stop_in_flight import cancel_statement_on_stop
from pghaul.dump.pg_dump import dump_schema_of
from pghaul.engine import jobs
from pghaul.engine.apply import apply_steps
from pghaul.engine.options import MigrateOptions, PostDataResult, check_options
from pghaul.engine.preflight import check_target_is_not_source, raise_conflicts
from pghaul.engine.rehearsal import rehearse_plan
from pghaul.engine.run import phase, serialized
from pghaul.errors import SafetyError, check_cancelled
from pghaul.events import Listener, ignore
from pghaul.inspect import inspect_catalog
from pghaul.inspect.model import Catalog, Table
from pghaul.kinds import Phase, StepKind, StepStatus
from pghaul.plan import Plan, PlanOptions, Step, build_plan


def _plan(src: psycopg.Connection, tgt: psycopg.Connection, options: PlanOptions) -> tuple[Catalog, Plan]:
    source_catalog = inspect_catalog(src)
    plan = build_plan(source_catalog, inspect_catalog(tgt), options)
    return source_catalog, plan


def make_plan(source_url: str | None, target_url: str | None, options: MigrateOptions = MigrateOptions()) -> Plan:
    """The dry run: the plan ``migrate`` would follow, with the sequence positions it would set. Writes nothing."""
    check_options(options)
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        return plan_with(src, tgt, options)


def plan_with(src: psycopg.Connection, tgt: psycopg.Connection, options: MigrateOptions = MigrateOptions()) -> Plan:
    """``make_plan`` on sessions the caller holds (the admin API's pools). Writes nothing."""
    check_options(options)
    source_catalog, plan = _plan(src, tgt, options.plan_options)
    if options.follow:
        from pghaul.follow.names import follow_names

        name = follow_names(tgt).name
        copied = sum(1 for t in plan.tables if t.kind == "r")
        plan.notes.append(
            f"follow writes to the source: the publication {name} (FOR TABLE the {copied} copied tables) and the "
            f"logical replication slot {name}, which keeps the source's WAL until it is dropped; on the target, the "
            f"subscription {name}. The cutover, `pghaul stop-follow` and cleanup (given both URLs) drop all three")
    if not options.schema_only:
        tables = {t.key for t in plan.tables}
        positions = read_positions(src, selected_sequences(source_catalog, tables))
        for position, statement in zip(positions, setval_statements(positions), strict=True):
            plan.steps.append(Step(Phase.POST_DATA, StepKind.SEQUENCE_POSITION, position.display_name, statement))
    return plan


def create_pre_data(
    src: psycopg.Connection, tgt: psycopg.Connection, plan: Plan, target_catalog: Catalog
) -> list[Step]:
    """The walk-through's schema step: the pre-data steps of ``plan`` that create something, after refusing a
    target that is the source and rehearsing the whole plan (post-data included) before the first write.
    Returns the steps applied."""
    check_target_is_not_source(src, tgt)
    rehearse_plan(tgt, plan, target_catalog)
    steps = [s for s in plan.phase(Phase.PRE_DATA) if s.status == StepStatus.CREATE]
    return list(apply_steps(tgt, steps).applied)


def record_batch(
    tgt: psycopg.Connection, table: Table, copyable: list[Table], inserted: int, skipped: int, has_more: bool
) -> bool:
    """The walk-through's bookkeeping of one batch of ``table`` in the target's checkpoints; True when it was the
    last batch of the last of the ``copyable`` tables, so the post-data phase may start.

    Kept on the target, not in memory, so a server restarted in the middle of the walk-through still starts
    the post-data phase after the last batch, ``db-status`` shows the walk-through's progress, and a later
    migration carries on from it (the range is marked as overlapping rows already there).
    """
    if not state.state_exists(tgt):
        state.ensure_state(tgt)
    with tgt.transaction():
        ranges = state.load_ranges(tgt, table) or state.create_ranges(
            tgt, table, [], bool(table.primary_key), table.rows_estimated, None
        )
        first = ranges[0]
        if len(ranges) == 1 and not first.done:
            state.record_chunk(tgt, first, None, inserted, skipped, 0, not has_more, None)
    if has_more:
        return False
    done = {s.table for s in jobs.table_statuses(tgt) if s.done}
    return all(t.display_name in done for t in copyable)


def finish_post_data(
    source_url: str | None,
    target_url: str | None,
    listener: Listener = ignore,
    cancel: threading.Event | None = None,
    options: MigrateOptions = MigrateOptions(),
) -> PostDataResult:
    """The post-data phase on its own, for the batch walk-through: indexes, constraints, foreign keys, views,
    triggers, refreshes, then sequence positions and ANALYZE. Steps already on the target are skipped."""
    emit = serialized(listener)
    out = PostDataResult()
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        assert source_url is not None and target_url is not None
        # Before the first write (a large object, an index, a setval): the target must not be the source.
        check_target_is_not_source(src, tgt)
        # Held by this session until it closes: no second post-data phase or migration meanwhile.
        jobs.lock_target(tgt)
        # ANALYZE always follows the walk-through's post-data steps: its rows came in without statistics.
        source_catalog, plan = _plan(src, tgt, replace(options.plan_options, analyze=True))
        raise_conflicts(plan)
        if not (options.include or options.exclude):
            # The walk-through moved the rows table by table; large objects belong to none of them.
            refuse_foreign_objects(src, tgt)
            out.large_objects = copy_large_objects(source_url, target_url, snapshot_id=None, listener=emit,
                                                   cancel=cancel)
        with phase(emit, Phase.POST_DATA):
            out.applied = _post_data_steps(tgt, target_url, plan, options, emit, cancel)
        with phase(emit, Phase.SEQUENCES):
            positions = read_positions(src, selected_sequences(source_catalog, {t.key for t in plan.tables}))
            out.sequences_set = apply_positions(tgt, positions)
        created_objects.remember_definitions(tgt, dump_schema_of(tgt))
    return out


def _post_data_steps(
    tgt: psycopg.Connection,
    target_url: str,
    plan: Plan,
    options: MigrateOptions,
    emit: Listener,
    cancel: threading.Event | None,
) -> list[str]:
    applied = []
    again = "call the post-data phase again to finish it"
    with cancel_statement_on_stop(tgt, cancel, "the post-data phase", again):
        for step in plan.phase(Phase.POST_DATA):
            if step.status != StepStatus.CREATE:
                continue
            check_cancelled(cancel, hint=again)
            if step.kind == StepKind.VECTOR_INDEX:
                build_vector_index(tgt, target_url, step, apply_steps, emit, options.maintenance_work_mem_kb)
            else:
                apply_steps(tgt, [step], emit)
            applied.append(step.name)
        apply_steps(tgt, plan.analyze_steps, emit)
    return applied


def cleanup(target_url: str | None, source_url: str | None = None) -> bool:
    """Drop pghaul's own schema from the target (``pghaul cleanup``); True if there was one. With a source, follow's
    objects go too: the subscription on the target, the replication slot and the publication on the source.

    With ``source_url`` (the CLI passes DATABASE_URL when set), a target that is that source is refused before
    anything is dropped: the source may hold a ``pghaul`` schema of its own (it was once a migration's target),
    and pghaul never writes to a source. Without one, a target that still follows a source is refused: dropping
    its record would leave the source's slot (and the WAL it keeps) behind unnoticed.
    """
    from pghaul.follow.names import follow_names
    from pghaul.follow.teardown import drop_follow_objects, refuse_follow_without_source

    if source_url:
        with connect_source(source_url) as src, connect_target(target_url) as tgt:
            try:
                check_target_is_not_source(src, tgt)
            except SafetyError as exc:
                raise SafetyError(
                    exc.message,
                    "pghaul never writes to the database it copies from. If your app has switched to this database "
                    "and you mean to drop pghaul's schema there, say there is no source: pghaul cleanup --target "
                    "URL --source '' (or run DROP SCHEMA pghaul CASCADE in its SQL console)",
                ) from None
            drop_follow_objects(src, tgt, source_url, follow_names(tgt))
            return state.drop_state(tgt)
    with connect_target(target_url) as tgt:
        refuse_follow_without_source(tgt)
        return state.drop_state(tgt)
