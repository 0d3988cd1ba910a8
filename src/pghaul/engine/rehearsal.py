"""The rehearsal: every step the plan would create, run on the target in one transaction that is rolled back.

A migration must not stop halfway because of an object it could have seen coming: an event trigger the
target role may not create, a foreign server whose wrapper is missing, a role a policy names, syntax an older
source allowed. Rather than a list of such cases, pghaul asks the target itself: each step runs in its own
savepoint inside a transaction that always rolls back, so every step that would fail is known, with the
server's own reason, before the first write. The real run then repeats the same statements in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

from pghaul.copy.table_data import target_has_rows
from pghaul.engine.apply import STEP_SETTINGS
from pghaul.errors import SafetyError
from pghaul.inspect.model import Catalog
from pghaul.kinds import StepKind, StepStatus
from pghaul.plan.steps import Plan, Step
from pghaul.urls import describe_url

# Steps that read the rows rather than define an object: nothing the target could refuse is learnt from them
# before the data is there.
_DATA_KINDS = frozenset({StepKind.REFRESH, StepKind.ANALYZE, StepKind.SEQUENCE_POSITION})
# Steps that check or index the rows already there: on a resumed run they would build real indexes only to
# throw them away, and a foreign key would find the half-copied rows incomplete. The first run rehearsed them
# on empty tables.
_ROW_READING_KINDS = frozenset(
    {StepKind.INDEX, StepKind.VECTOR_INDEX, StepKind.CONSTRAINT, StepKind.PRIMARY_KEY, StepKind.FOREIGN_KEY}
)
_HINTS = {
    "42501": "the target role lacks a privilege (event triggers and publications FOR ALL TABLES need a superuser)",
    "42704": "something it names does not exist on the target (a role, a foreign-data wrapper, an extension)",
}


@dataclass(frozen=True)
class Rehearsed:
    step: Step
    reason: str
    sqlstate: str | None


def rehearse(conn: psycopg.Connection, steps: Iterable[Step], rows_on_target: bool) -> list[Rehearsed]:
    """The steps that would fail on the target, each with the server's reason; nothing stays written.
    ``rows_on_target``: some selected table already holds rows (a resumed run)."""
    failed: list[Rehearsed] = []
    left_out: set[int] = set()  # not rehearsed: neither is what needs them (a comment on an index, …)
    with conn.transaction(force_rollback=True):
        conn.execute(STEP_SETTINGS)
        for step in steps:
            if step.status != StepStatus.CREATE or step.kind in _DATA_KINDS:
                continue
            if (rows_on_target and step.kind in _ROW_READING_KINDS) or left_out.intersection(step.needs):
                if step.entry_id is not None:
                    left_out.add(step.entry_id)
                continue
            try:
                with conn.transaction():
                    conn.execute(step.sql.encode())
            except psycopg.Error as exc:
                reason = (exc.diag.message_primary or str(exc)).strip()
                failed.append(Rehearsed(step, reason, exc.diag.sqlstate))
    return failed


def refuse_failures(failed: list[Rehearsed], where: str) -> None:
    if not failed:
        return
    lines = [f"{f.step.kind} {f.step.name}: {f.reason}" for f in failed]
    causes = sorted({_HINTS[f.sqlstate] for f in failed if f.sqlstate in _HINTS})
    raise SafetyError(
        f"{len(failed)} object(s) could not be created on {where}, so nothing was written: " + "; ".join(lines[:20])
        + (" …" if len(lines) > 20 else ""),
        ("; ".join(causes) + ". " if causes else "")
        + "Fix each on the target (create the role or wrapper, connect as a role allowed to create it), or leave "
        "the tables that need it out with --exclude, then run again",
    )


def rehearse_plan(
    conn: psycopg.Connection, plan: Plan, target: Catalog, kinds_left_out: Iterable[StepKind | str] = ()
) -> None:
    """Rehearse ``plan`` on the target ``conn`` and refuse, naming each step that would fail."""
    left_out = set(kinds_left_out)
    filled = any(target_has_rows(conn, target.tables[t.key]) for t in plan.tables
                 if t.kind == "r" and t.key in target.tables)
    failed = rehearse(conn, [s for s in plan.steps if s.kind not in left_out], filled)
    refuse_failures(failed, f"the target {describe_url(conn.info.dsn)}")
