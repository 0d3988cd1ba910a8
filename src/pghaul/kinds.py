"""The names a run is made of: its phases, the kinds of its steps, their statuses and outcomes.

StrEnums, so each member equals the string pghaul always used for it ("pre-data", "vector index", …): events,
job rows, replies and dry-run text read exactly as before, and code comparing with the plain strings keeps
working while it moves to these names.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """The phases ``migrate`` emits (``PhaseStarted``/``PhaseFinished``) and records on the job row, in order."""

    PREFLIGHT = "preflight"
    PRE_DATA = "pre-data"
    DATA = "data"
    POST_DATA = "post-data"
    SEQUENCES = "sequences"
    VERIFY = "verify"
    SYNC = "sync"  # `pghaul sync`, and each catch-up round of a cutover
    CUTOVER = "cutover"


class SyncMethod(StrEnum):
    """How sync found a table's changes."""

    CHECKSUM = "checksum"  # key ranges compared by checksums computed in each database, narrowed where they differ
    ROW_VERSIONS = "row versions"  # counts, and the source's row versions written since the last sync (xmin)
    WHOLE = "whole"  # no primary key: the table compared as a whole, and copied again if it differs
    CREATED = "created"  # new on the source: created and copied by this sync


class StepStatus(StrEnum):
    CREATE = "create"  # missing on the target: the step will run
    EXISTS = "exists"  # identical on the target: skipped
    CONFLICT = "conflict"  # on the target with another definition: reported, never overwritten


class StepOutcome(StrEnum):
    """What ``StepApplied`` says of a step."""

    APPLIED = "applied"
    SKIPPED = "skipped"
    CONFLICT = "conflict"


class StepKind(StrEnum):
    """The kinds pghaul itself treats specially. Every other kind pg_dump writes (aggregate, rule, cast, …) stays
    the plain string pg_dump's name for it gives (``plan.entries.kind_name``), so a kind pg_dump learns later
    becomes a step without a change here: a step's kind is ``StepKind | str`` (see ``step_kind``)."""

    SCHEMA = "schema"
    EXTENSION = "extension"
    TABLE = "table"
    PRIMARY_KEY = "primary key"
    INDEX = "index"
    INDEX_ATTACH = "index attach"  # a partition's index joining its parent's: built with the partition tree
    VECTOR_INDEX = "vector index"
    CONSTRAINT = "constraint"
    FOREIGN_KEY = "foreign key"
    TRIGGER = "trigger"
    EVENT_TRIGGER = "event trigger"
    COMMENT = "comment"
    REFRESH = "refresh"
    ANALYZE = "analyze"
    SEQUENCE_POSITION = "sequence position"


_KINDS = {k.value: k for k in StepKind}


def step_kind(name: str) -> StepKind | str:
    """The member for a kind pghaul knows, else the name itself: a special kind is always the enum member."""
    return _KINDS.get(name, name)
