"""The three endpoints of the system pghaul replaces — db-tables, db-schema, db-migrate-data — on pghaul's engine.

Field names and shapes are those of the old API (existing guides and bookmarks use them); fields pghaul adds
are extra keys only.
"""

from __future__ import annotations

import glob

import psycopg

from pghaul.errors import SafetyError, SchemaConflict
from pghaul.http import migration
from pghaul.http.jobs import JobConflict, JobKind
from pghaul.http.names import api_name, find_table
from pghaul.http.replies import (
    BatchReply,
    PostDataPlan,
    PostPhaseReply,
    SchemaReply,
    SchemaResult,
    StepReply,
    TableRow,
    TablesReply,
)
from pghaul.http.runtime import Runtime
from pghaul.inspect.model import Catalog, Table
from pghaul.plan.steps import Plan, Step

# Key types whose values the old API called numeric (its guide used them to pick a batching strategy).
_NUMERIC_TYPES = ("smallint", "integer", "bigint", "numeric", "real", "double precision")


def _is_numeric(type_name: str) -> bool:
    return type_name.split("(")[0].strip() in _NUMERIC_TYPES


def tables_reply(rt: Runtime, exact: bool) -> TablesReply:
    from pghaul.tables import SMALL_TABLES, list_tables

    # Never count(*) a big table inside a request: small ones are counted, the rest keep the catalog's estimate
    # (rowCountExact says which).
    with rt.pools.source() as src, rt.pools.target() as tgt:
        infos = list_tables(src, tgt, exact=exact, limit=SMALL_TABLES)
    tables = []
    for info in infos:
        key = tuple(info.primary_key)
        types = tuple(info.primary_key_types)
        rows = info.rows_exact if exact and info.rows_exact is not None else info.rows_estimated
        tables.append(
            TableRow(
                name=api_name(info.schema, info.name),
                row_count=int(rows),
                primary_key=", ".join(key) if key else None,
                pk_data_type=", ".join(types) if types else None,
                pk_is_numeric=bool(types) and all(_is_numeric(t) for t in types),
                exists_in_new_db=bool(info.exists_on_target),
                schema_=info.schema,
                primary_key_columns=list(key),
                size_bytes=int(info.size_bytes),
                row_count_exact=bool(exact and info.rows_exact is not None),
            )
        )
    return TablesReply(tables=tables, total_tables=len(tables), total_rows=sum(t.row_count for t in tables))


def _plan(rt: Runtime, table: Table | None) -> Plan:
    from pghaul.plan import PlanOptions, build_plan

    source = rt.source_catalog(fresh=True)
    target = rt.target_catalog(fresh=True)
    # The name is a pattern to the planner: escaped, so a table called "a*" selects only itself.
    options = PlanOptions(include=(glob.escape(f"{table.schema}.{table.name}"),)) if table else PlanOptions()
    return build_plan(source, target, options)


def _refuse_conflicts(plan: Plan, phase: str) -> None:
    conflicts = [s for s in plan.conflicts if s.phase == phase]
    if conflicts:
        raise SchemaConflict(
            f"{len(conflicts)} object(s) already exist on the target with a different definition",
            "pghaul never overwrites: drop or rename them on the target (or start from an empty target), then retry",
            [f"{s.kind} {s.name}" for s in conflicts],
        )


def _table_step(plan: Plan, table: Table) -> Step | None:
    for step in plan.steps:
        if step.kind == "table" and (step.table == table.key or step.name == table.display_name):
            return step
    return None


def _steps(steps: list[Step]) -> list[StepReply]:
    return [StepReply.of(s) for s in steps]


def _post_data_plan(plan: Plan) -> PostDataPlan:
    return PostDataPlan(steps=_steps([s for s in plan.steps if s.phase == "post-data"]),
                        sql=plan.render_sql("post-data"))


def schema_reply(rt: Runtime, dry_run: bool, requested: str | None) -> SchemaReply:
    from pghaul.engine import create_pre_data

    table = find_table(rt.source_catalog(fresh=True).tables.values(), requested) if requested else None
    plan = _plan(rt, table)
    pre = [s for s in plan.steps if s.phase == "pre-data"]
    _refuse_conflicts(plan, "pre-data")
    applied: set[str] = set()
    if not dry_run:
        target_catalog = rt.target_catalog(fresh=True)
        with rt.pools.source() as src, rt.pools.target() as tgt:
            # Refuses a target that is the source, and rehearses every step of the walk-through (post-data
            # included), before its first write.
            applied = {s.name for s in create_pre_data(src, tgt, plan, target_catalog)}
    results = []
    for t in plan.tables:
        step = _table_step(plan, t)
        results.append(
            SchemaResult(
                table=api_name(t.schema, t.name),
                success=step is None or step.status != "conflict",
                columns=len(t.columns),
                primary_key=", ".join(t.primary_key) if t.primary_key else None,
                created=bool(step is not None and step.name in applied),
                sql=step.sql if step is not None else "",
                status=step.status if step is not None else "exists",
            )
        )
    reply = SchemaReply(dry_run=dry_run, results=results, pre_data=_steps(pre), notes=list(plan.notes),
                        sql=plan.render_sql("pre-data"))
    if dry_run:
        reply.post_data = _post_data_plan(plan)
    return reply


def post_data_reply(rt: Runtime, dry_run: bool) -> PostPhaseReply:
    if dry_run:
        return PostPhaseReply(dry_run=True, post_data=_post_data_plan(_plan(rt, None)))
    work = migration.start_post_data(rt)
    return PostPhaseReply(dry_run=False, post_data="started", job_id=work.job_id)


def batch_reply(rt: Runtime, requested: str, cursor: str | None, batch_size: int, dry_run: bool) -> BatchReply:
    # A migration job copies every table itself; a batch beside it could insert a keyless table's rows twice.
    with rt.work.batch():
        return _batch(rt, requested, cursor, batch_size, dry_run)


def _refuse_during_migration(tgt: psycopg.Connection) -> None:
    """A migration run by another process (a second replica, the CLI) holds the target too."""
    from pghaul.engine.jobs import migration_job_running

    if migration_job_running(tgt):
        raise JobConflict(
            JobKind.MIGRATE, "another pghaul migration into this target is running",
            "it copies every table itself: follow it in db-status instead of sending batches",
        )


def _batch(rt: Runtime, requested: str, cursor: str | None, batch_size: int, dry_run: bool) -> BatchReply:
    catalog = rt.source_catalog()
    table = find_table(catalog.copyable_tables(), requested)
    from pghaul.copy.batch import move_batch

    target_table = rt.target_catalog().tables.get(table.key)
    if target_table is None or target_table.primary_key != table.primary_key:  # maybe changed since it was read
        target_table = rt.target_catalog(fresh=True).tables.get(table.key)
    if target_table is None:
        raise SafetyError(
            f"table {api_name(table.schema, table.name)} does not exist on the target yet",
            "create the schema first: open db-schema (or db-schema?table=NAME), then retry this batch",
        )
    with rt.pools.source() as src, rt.pools.target() as tgt:
        _refuse_during_migration(tgt)
        result = move_batch(src, tgt, table, cursor, batch_size, dry_run=dry_run, cursor_key=rt.cursor_key,
                            target_table=target_table)
    reply = BatchReply(
        table=api_name(table.schema, table.name), batch_size=batch_size, inserted_count=int(result.inserted),
        skipped_count=int(result.skipped), next_cursor=result.next_cursor, has_more=bool(result.has_more),
        dry_run=dry_run,
    )
    if not dry_run and _last_batch(rt, catalog, table, result.inserted, result.skipped, result.has_more):
        try:
            migration.start_post_data(rt)
            reply.post_data = "started"
        except JobConflict as conflict:
            # This batch still succeeded. A full migration does the post-data phase itself; after another job
            # the phase is asked for again with db-schema?phase=post.
            reply.post_data = (
                "left to the running migration" if conflict.running == JobKind.MIGRATE
                else f"not started: {conflict.message}; open db-schema?phase=post once it finished"
            )
    return reply


def _last_batch(rt: Runtime, catalog: Catalog, table: Table, inserted: int, skipped: int, has_more: bool) -> bool:
    """Whether this batch was the last of the last table: the engine notes it in the target's checkpoints (so a
    restarted server still knows) and says when the post-data phase may start."""
    from pghaul.engine import record_batch

    with rt.pools.target() as tgt:
        return record_batch(tgt, table, catalog.copyable_tables(), inserted, skipped, has_more)
