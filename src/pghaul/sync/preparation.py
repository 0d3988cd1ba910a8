"""Everything a sync checks before it writes: the target is a pghaul target, the tables' shape changes are ones
it carries, keyless tables hold only pghaul's rows, and how rows may be written past the target's triggers."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from pghaul.copy import state
from pghaul.copy.replica_role import check_replica_role_allowed, replica_role_need
from pghaul.copy.table_data import filled_by_pghaul
from pghaul.engine import jobs
from pghaul.engine.options import check_max_rate
from pghaul.engine.preflight import check_target_is_not_source
from pghaul.errors import PghaulError, SafetyError, UsageError
from pghaul.inspect import inspect_catalog
from pghaul.inspect.model import Catalog, QualifiedName, Table
from pghaul.kinds import Phase
from pghaul.plan import PlanOptions, select_tables
from pghaul.sync.options import SyncOptions
from pghaul.sync.schema_changes import SchemaChanges, find_changes, refuse_unsafe


@dataclass(frozen=True)
class Prepared:
    source_catalog: Catalog
    target_catalog: Catalog
    selected: dict[QualifiedName, Table]
    changes: SchemaChanges


def check_sync_options(options: SyncOptions) -> None:
    if options.workers is not None and options.workers < 1:
        raise UsageError("workers must be at least 1", "pass --workers 1 or more, or leave it out")
    if options.leaf_rows < 1 or options.fanout < 2 or options.rows_per_range < 1 or options.max_first_ranges < 1:
        raise UsageError("sync's range sizes must be positive and its fan-out at least 2",
                         "leave them at their defaults unless you measured otherwise")
    check_max_rate(options.max_rate)


# A migration that stopped in one of these left tables without their indexes, keys or later objects.
UNFINISHED_PHASES = (Phase.PRE_DATA, Phase.DATA, Phase.POST_DATA, Phase.SEQUENCES)


def _refuse_unfinished_migration(tgt: psycopg.Connection) -> None:
    status = jobs.read_status(tgt)
    if status.state in ("running", "failed") and status.phase in UNFINISHED_PHASES:
        doing = "is still running" if status.state == "running" else "stopped before it finished"
        raise SafetyError(
            f"the migration into this target {doing} (in its {status.phase} phase), so its tables may lack "
            "rows, indexes or constraints that sync does not create",
            "run the same `pghaul migrate` again to finish it (it continues from its checkpoints), then sync"
            if status.state == "failed" else "wait for it to finish, then sync",
        )


def _refuse_while_following(src: psycopg.Connection, tgt: psycopg.Connection) -> None:
    """PostgreSQL's own replication writes into a following target: a sync writing there too would race it."""
    from pghaul.follow import read_follow_status
    from pghaul.follow.status import FollowState

    status = read_follow_status(src, tgt)
    if status.state is not FollowState.NONE:
        raise SafetyError(
            f"the target follows the source through logical replication (state: {status.state}), which sync would "
            "write against",
            "finish with `pghaul cutover --follow`, or stop following first (`pghaul stop-follow`) and then sync",
        )


def _refuse_foreign_keyless_rows(tgt: psycopg.Connection, prepared: Prepared) -> None:
    for key, table in sorted(prepared.selected.items()):
        if table.kind == "r" and not table.primary_key and key in prepared.target_catalog.tables \
                and not filled_by_pghaul(tgt, table):
            raise SafetyError(
                f"table {table.display_name} has no primary key, and pghaul's checkpoints do not say it copied that "
                "table's rows on the target; sync replaces such a table whole and never deletes rows it did not write",
                f"migrate it first (or empty it on the target: TRUNCATE {table.display_name}), or leave it out with "
                "--exclude",
            )


def prepare(src: psycopg.Connection, tgt: psycopg.Connection, options: SyncOptions) -> Prepared:
    """The checks, in order; raises before any write. Nothing here writes to either side."""
    check_target_is_not_source(src, tgt)
    if not state.state_exists(tgt):
        raise SafetyError(
            "the target was not migrated by pghaul (it has no pghaul schema), so there is nothing to sync into",
            "run `pghaul migrate` first; sync then brings over what changed on the source since",
        )
    _refuse_unfinished_migration(tgt)
    _refuse_while_following(src, tgt)
    source_catalog = inspect_catalog(src, with_dump=False)
    target_catalog = inspect_catalog(tgt, with_dump=False)
    selected = select_tables(source_catalog, PlanOptions(options.include, options.exclude))
    if (options.include or options.exclude) and not selected:
        raise UsageError("no table of the source matches --include/--exclude", "check the patterns (schema.table)")
    changes = find_changes(source_catalog, target_catalog, selected)
    refuse_unsafe(changes)
    prepared = Prepared(source_catalog, target_catalog, selected, changes)
    _refuse_foreign_keyless_rows(tgt, prepared)
    return prepared


def may_use_replica_role(tgt: psycopg.Connection, target: Catalog, tables: list[Table]) -> bool:
    """Whether the writers run as a replication subscriber does (foreign keys and ordinary triggers off): only
    when the target has some, and this role may set it."""
    if not replica_role_need(target, tables).needed:
        return False
    try:
        check_replica_role_allowed(tgt)
    except PghaulError:
        return False
    return True


def triggers_to_quiet(target: Catalog, table: Table) -> tuple[str, ...]:
    """Ordinary enabled triggers of ``table`` on the target: off inside each range's transaction when replica
    role is not allowed, so the target's own triggers do not rewrite the source's values."""
    return tuple(sorted(t.name for t in target.triggers.values()
                        if (t.schema, t.table) == table.key and t.enabled == "O"))
