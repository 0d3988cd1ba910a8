"""The three endpoints of the system pghaul replaces — db-tables, db-schema, db-migrate-data — on pghaul's engine.

Field names and shapes are those of the old API (existing guides and bookmarks use them); fields pghaul adds
are extra keys only.
"""

from __future__ import annotations

import glob
from typing import Any

import psycopg

from pghaul.errors import SafetyError, SchemaConflict
from pghaul.http import migration
from pghaul.http.jobs import JobConflict, JobKind
from pghaul.http.names import api_name, find_table
from pghaul.http.runtime import Runtime
from pghaul.inspect.model import Catalog, Table
from pghaul.plan.steps import Plan, Step

# Key types whose values the old API called numeric (its guide used them to pick a batching strategy).
_NUMERIC_TYPES = ("smallint", "integer", "bigint", "numeric", "real", "double precision")


def _is_numeric(type_name: str) -> bool:
    return type_name.split("(")[0].strip() in _NUMERIC_TYPES


def tables_reply(rt: Runtime, exact: bool) -> dict[str, Any]:
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
            {
                "name": api_name(info.schema, info.name),
                "rowCount": int(rows),
                "primaryKey": ", ".join(key) if key else None,
                "pkDataType": ", ".join(types) if types else None,
                "pkIsNumeric": bool(types) and all(_is_numeric(t) for t in types),
                "existsInNewDB": bool(info.exists_on_target),
                "schema": info.schema,
                "primaryKeyColumns": list(key),
                "sizeBytes": int(info.size_bytes),
                "rowCountExact": bool(exact and info.rows_exact is not None),
            }
        )
    return {
        "success": True,
        "tables": tables,
        "totalTables": len(tables),
        "totalRows": sum(t["rowCount"] for t in tables),
    }


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


def schema_reply(rt: Runtime, dry_run: bool, requested: str | None) -> dict[str, Any]:
    from pghaul.engine import create_pre_data

    table = find_table(rt.source_catalog(fresh=True).tables.values(), requested) if requested else None
    plan = _plan(rt, table)
    pre = [s for s in plan.steps if s.phase == "pre-data"]
    post = [s for s in plan.steps if s.phase == "post-data"]
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
            {
                "table": api_name(t.schema, t.name),
                "success": step is None or step.status != "conflict",
                "columns": len(t.columns),
                "primaryKey": ", ".join(t.primary_key) if t.primary_key else None,
                "created": bool(step is not None and step.name in applied),
                "sql": step.sql if step is not None else "",
                "status": step.status if step is not None else "exists",
            }
        )
    reply: dict[str, Any] = {
        "success": True,
        "dryRun": dry_run,
        "results": results,
        "preData": [s.to_dict() for s in pre],
        "notes": list(plan.notes),
        "sql": plan.render_sql("pre-data"),
    }
    if dry_run:
        reply["postData"] = {"steps": [s.to_dict() for s in post], "sql": plan.render_sql("post-data")}
    return reply


def post_data_reply(rt: Runtime, dry_run: bool) -> dict[str, Any]:
    if dry_run:
        plan = _plan(rt, None)
        post = [s for s in plan.steps if s.phase == "post-data"]
        return {
            "success": True, "dryRun": True, "phase": "post",
            "postData": {"steps": [s.to_dict() for s in post], "sql": plan.render_sql("post-data")},
        }
    work = migration.start_post_data(rt)
    return {"success": True, "dryRun": False, "phase": "post", "postData": "started", "jobId": work.job_id}


def batch_reply(rt: Runtime, requested: str, cursor: str | None, batch_size: int, dry_run: bool) -> dict[str, Any]:
    # A migration job copies every table itself; a batch beside it could insert a keyless table's rows twice.
    with rt.work.batch():
        return _batch(rt, requested, cursor, batch_size, dry_run)


def _refuse_during_migration(tgt: psycopg.Connection) -> None:
    """A migration run by another process (a second replica, the CLI) holds the target too."""
    from pghaul.copy.state import migration_job_running

    if migration_job_running(tgt):
        raise JobConflict(
            JobKind.MIGRATE, "another pghaul migration into this target is running",
            "it copies every table itself: follow it in db-status instead of sending batches",
        )


def _batch(rt: Runtime, requested: str, cursor: str | None, batch_size: int, dry_run: bool) -> dict[str, Any]:
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
    reply: dict[str, Any] = {
        "success": True,
        "table": api_name(table.schema, table.name),
        "batchSize": batch_size,
        "insertedCount": int(result.inserted),
        "skippedCount": int(result.skipped),
        "nextCursor": result.next_cursor,
        "hasMore": bool(result.has_more),
        "dryRun": dry_run,
    }
    if not dry_run and _record_batch(rt, catalog, table, result.inserted, result.skipped, result.has_more):
        try:
            migration.start_post_data(rt)
            reply["postData"] = "started"
        except JobConflict as conflict:
            # This batch still succeeded. A full migration does the post-data phase itself; after another job
            # the phase is asked for again with db-schema?phase=post.
            reply["postData"] = (
                "left to the running migration" if conflict.running == JobKind.MIGRATE
                else f"not started: {conflict.message}; open db-schema?phase=post once it finished"
            )
    return reply


def _record_batch(rt: Runtime, catalog: Catalog, table: Table, inserted: int, skipped: int, has_more: bool) -> bool:
    """Note the batch in the target's checkpoints; True when this was the last batch of the last table.

    Kept on the target, not in memory, so a server restarted in the middle of the walk-through still starts
    the post-data phase after the last batch, ``db-status`` shows the walk-through's progress, and a later
    ``db-migrate-all`` carries on from it (the range is marked as overlapping rows already there).
    """
    from pghaul.copy import state

    with rt.pools.target() as tgt:
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
        done = {s.table for s in state.table_statuses(tgt) if s.done}
    return all(t.display_name in done for t in catalog.copyable_tables())
