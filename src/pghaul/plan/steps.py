"""What a plan is made of: ordered steps of DDL, each with what the target already has."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pghaul.inspect.model import Table
from pghaul.kinds import Phase, StepKind, StepStatus

# The names the plan's callers have always imported, now the typed members (equal to the same strings).
PRE_DATA = Phase.PRE_DATA
POST_DATA = Phase.POST_DATA
PHASES = (PRE_DATA, POST_DATA)

CREATE = StepStatus.CREATE
EXISTS = StepStatus.EXISTS
CONFLICT = StepStatus.CONFLICT


@dataclass(frozen=True)
class PlanOptions:
    """Which tables take part: fnmatch patterns on "schema.table" (empty include = every table); whether owners
    (``ALTER … OWNER TO``) and privileges (grants, default privileges) are carried."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    owners: bool = False
    privileges: bool = False
    # ANALYZE of each copied table after its rows and indexes are in (``Plan.analyze_steps``).
    analyze: bool = False


@dataclass(frozen=True)
class Step:
    phase: Phase  # PRE_DATA or POST_DATA
    # A StepKind for the kinds pghaul treats specially; pg_dump's own name for any other ("aggregate", "rule").
    kind: StepKind | str
    name: str  # the object, for people: "public.items", "public.items.items_pkey"
    sql: str  # one or more complete statements, each ending with ";"
    # The table a post-data index or constraint belongs to, so it can be built as soon as that table's data is in.
    # Foreign keys name none: they need the referenced table's data too, so they wait for all tables.
    table: tuple[str, str] | None = None
    status: StepStatus = CREATE
    # For steps from pg_dump's archive: its id for the object, the ids of the objects it needs, the object's
    # kind, schema and name as pg_dump names them, and the md5 of the source's statement (pghaul.created_objects).
    entry_id: int | None = None
    needs: tuple[int, ...] = ()
    identity: tuple[str, str, str] | None = None
    statement_md5: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "kind": self.kind,
            "name": self.name,
            "sql": self.sql,
            "table": list(self.table) if self.table else None,
            "status": self.status,
        }


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The tables selected for this run (partitioned parents included; only kind "r" tables hold rows).
    tables: list[Table] = field(default_factory=list)
    # One ANALYZE per copied table (with PlanOptions.analyze), run with that table's post-data steps. Kept beside
    # ``steps``, not in them: the dry run and the plan replies show the DDL, and say in a line that ANALYZE follows.
    analyze_steps: list[Step] = field(default_factory=list)

    @property
    def conflicts(self) -> list[Step]:
        return [s for s in self.steps if s.status == CONFLICT]

    def phase(self, phase: str) -> list[Step]:
        return [s for s in self.steps if s.phase == phase]

    def render_sql(self, phase: str | None = None) -> str:
        """The plan as one SQL script, grouped by phase; skipped and conflicting steps appear as comments.

        The whole plan opens with its notes (what is not copied, tables without a key) and shows the data phase
        between pre-data and post-data, so the script reads in the order a migration runs.
        """
        out: list[str] = []
        if phase is None and self.notes:
            out.append("".join(f"-- note: {line}\n" for note in self.notes for line in note.splitlines()))
        for name in PHASES if phase is None else (phase,):
            steps = self.phase(name)
            if name == POST_DATA and phase is None:
                out.append(self._render_data())
            if not steps:
                continue
            out.append(f"-- {name}\n")
            for step in steps:
                if step.status == CREATE:
                    out.append(f"-- {step.kind} {step.name}\n{step.sql}\n")
                elif step.status == EXISTS:
                    out.append(f"-- {step.kind} {step.name}: already on the target, skipped\n")
                else:
                    out.append(f"-- CONFLICT {step.kind} {step.name}: on the target with another definition\n")
        if phase is None and any(t.kind == "r" for t in self.tables):
            out.append("-- and ANALYZE of each copied table once its rows and indexes are in, so the target's planner "
                       "has statistics\n")
        return "\n".join(out)

    def _render_data(self) -> str:
        lines = ["-- data: rows copied with COPY, in key-ordered chunks, each committed with its checkpoint"]
        for table in self.tables:
            if table.kind != "r":
                continue
            if table.primary_key:
                how = f"keyset on ({', '.join(table.primary_key)})"
            else:
                how = "no primary key: copied whole in one transaction"
            lines.append(f"--   {table.display_name}: ~{table.rows_estimated:,} rows, {how}")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": [s.to_dict() for s in self.steps],
            "notes": list(self.notes),
            "conflicts": [s.name for s in self.conflicts],
            "tables": [t.display_name for t in self.tables],
        }
