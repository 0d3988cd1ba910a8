"""Running a plan's steps on the target: each step in its own transaction, so a crash leaves whole steps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg

from pghaul import created_objects
from pghaul.errors import PghaulError
from pghaul.events import Listener, StepApplied, ignore
from pghaul.kinds import StepOutcome, StepStatus
from pghaul.plan.steps import Step


@dataclass
class ApplyResult:
    applied: list[Step] = field(default_factory=list)
    skipped: list[Step] = field(default_factory=list)  # already on the target, or conflicting (never touched)


class StepFailed(PghaulError):
    """A DDL step was refused by the target; the steps before it are in place, this one left nothing behind."""

    def __init__(self, step: Step, reason: str) -> None:
        super().__init__(
            f"could not create {step.kind} {step.name} on the target: {reason}",
            "fix the cause on the target (missing role, extension or permission) and run again; "
            "steps already applied are skipped",
        )
        self.step = step


# What pg_restore sets for a schema it restores: bodies are checked when they run (they may name objects
# created later), XML values in defaults parse as content, and notices stay out of the way.
STEP_SETTINGS = (
    b"SET LOCAL check_function_bodies = off; SET LOCAL xmloption = content; SET LOCAL client_min_messages = warning"
)


def apply_steps(conn: psycopg.Connection, steps: Iterable[Step], listener: Listener = ignore) -> ApplyResult:
    """Run every ``create`` step of ``steps`` on ``conn`` (the target), in order; skip the rest."""
    result = ApplyResult()
    record = created_objects.recording(conn)
    for step in steps:
        if step.status != StepStatus.CREATE:
            result.skipped.append(step)
            outcome = StepOutcome.CONFLICT if step.status == StepStatus.CONFLICT else StepOutcome.SKIPPED
            listener(StepApplied(phase=step.phase, kind=step.kind, name=step.name, outcome=outcome))
            continue
        try:
            with conn.transaction():
                # One round trip: the settings and the step's complete statements (no parameters in them).
                conn.execute(STEP_SETTINGS + b";\n" + step.sql.encode())
                if record and step.identity is not None and step.statement_md5 is not None:
                    created_objects.record(conn, step.identity, step.statement_md5)
        except psycopg.Error as exc:
            reason = (exc.diag.message_primary or str(exc)).strip()
            raise StepFailed(step, reason) from exc
        result.applied.append(step)
        listener(StepApplied(phase=step.phase, kind=step.kind, name=step.name, outcome=StepOutcome.APPLIED))
    return result
