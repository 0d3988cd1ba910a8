"""The three endpoints of the system pghaul replaces — db-tables, db-schema, db-migrate-data — on pghaul's engine.

Field names and shapes are those of the old API (existing guides and bookmarks use them); fields pghaul adds
are extra keys only.
"""

from __future__ import annotations

from typing import Any

from pghaul.errors import SchemaConflict
from pghaul.http import migration
from pghaul.http.names import api_name, find_table
from pghaul.http.runtime import Runtime
from pghaul.inspect.model import Table

# Key types whose values the old API called numeric (its guide used them to pick a batching strategy).
_NUMERIC_TYPES = ("smallint", "integer", "bigint", "numeric", "real", "double precision")


def _is_numeric(type_name: str) -> bool:
    return type_name.split("(")[0].strip() in _NUMERIC_TYPES


def tables_reply(rt: Runtime, exact: bool) -> dict[str, Any]:
    from pghaul.tables import list_tables

    with rt.pools.source() as src, rt.pools.target() as tgt:
        infos = list_tables(src, tgt, exact=exact)
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


def _plan(rt: Runtime, table: Table | None) -> Any:
    from pghaul.inspect import inspect_catalog
    from pghaul.plan import PlanOptions, build_plan

    source = rt.source_catalog(fresh=True)
    with rt.pools.target() as tgt:
        target = inspect_catalog(tgt)
    options = PlanOptions(include=(f"{table.schema}.{table.name}",)) if table is not None else PlanOptions()
    return source, build_plan(source, target, options)


def _refuse_conflicts(plan: Any, phase: str) -> None:
    conflicts = [s for s in plan.conflicts if s.phase == phase]
    if conflicts:
        raise SchemaConflict(
            f"{len(conflicts)} object(s) already exist on the target with a different definition",
            "pghaul never overwrites: drop or rename them on the target (or start from an empty target), then retry",
            [f"{s.kind} {s.name}" for s in conflicts],
        )


def _table_step(plan: Any, table: Table) -> Any | None:
    for step in plan.steps:
        if step.kind == "table" and (step.table == table.key or step.name == table.display_name):
            return step
    return None


def schema_reply(rt: Runtime, dry_run: bool, requested: str | None) -> dict[str, Any]:
    from pghaul.apply import apply_steps

    table = find_table(rt.source_catalog(fresh=True).tables.values(), requested) if requested else None
    source, plan = _plan(rt, table)
    pre = [s for s in plan.steps if s.phase == "pre-data"]
    post = [s for s in plan.steps if s.phase == "post-data"]
    _refuse_conflicts(plan, "pre-data")
    applied: set[str] = set()
    if not dry_run:
        with rt.pools.target() as tgt:
            result = apply_steps(tgt, [s for s in pre if s.status == "create"])
        applied = {s.name for s in getattr(result, "applied", [])} if hasattr(result, "applied") else {
            s.name for s in pre if s.status == "create"
        }
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
    del source
    return reply


def post_data_reply(rt: Runtime, dry_run: bool) -> dict[str, Any]:
    if dry_run:
        _, plan = _plan(rt, None)
        post = [s for s in plan.steps if s.phase == "post-data"]
        return {
            "success": True, "dryRun": True, "phase": "post",
            "postData": {"steps": [s.to_dict() for s in post], "sql": plan.render_sql("post-data")},
        }
    work = migration.start_post_data(rt)
    return {"success": True, "dryRun": False, "phase": "post", "postData": "started", "jobId": work.job_id}


def batch_reply(rt: Runtime, requested: str, cursor: str | None, batch_size: int, dry_run: bool) -> dict[str, Any]:
    from pghaul.copy.batch import move_batch

    catalog = rt.source_catalog()
    table = find_table(catalog.copyable_tables(), requested)
    with rt.pools.source() as src, rt.pools.target() as tgt:
        result = move_batch(src, tgt, table, cursor, batch_size, dry_run=dry_run, cursor_key=rt.cursor_key)
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
    if not result.has_more and not dry_run:
        rt.tables_finished.add(table.key)
        if all(t.key in rt.tables_finished for t in catalog.copyable_tables()):
            migration.start_post_data(rt)
            reply["postData"] = "started"
    return reply
