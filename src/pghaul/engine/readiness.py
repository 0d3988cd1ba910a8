"""What the check before a migration says beyond the engine's refusals: warnings in words, the size of the work
and a rough time estimate, for any shell to show before it starts.

Computed from both catalogs, the engine's preflight report and the refusal the engine would give. How a table
is named and how a message is scrubbed of secrets are the shell's: it passes them in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pghaul.errors import PghaulError
from pghaul.inspect.model import Catalog, qualified

TableNamer = Callable[[str, str], str]
Scrub = Callable[[str], str]

# A rough, deliberately pessimistic throughput for the time estimate: the raw stream did ~160 MB/s between two
# local servers (FIELD-NOTES), but across a PaaS network 10-30 MB/s is what users see; index builds add to it.
ESTIMATE_BYTES_PER_SECOND = 20 * 1024 * 1024
# HNSW builds dominate with embeddings: ~100k rows of 384 dimensions took 16-60 s depending on memory.
ESTIMATE_VECTOR_ROWS_PER_SECOND = 3_000
# Tables without a key named in the warning; the reply lists them all.
NAMED_IN_WARNING = 20


@dataclass(frozen=True)
class Readiness:
    ok: bool  # the engine's report and its refusal agree nothing stops the migration
    target_tables: list[str]
    tables_without_primary_key: list[str]
    tables: int
    rows_estimated: int
    total_bytes: int
    vector_indexes: list[str]
    estimate_seconds: float
    warnings: list[str]


def estimate_seconds(source: Catalog) -> float:
    """The copy at ESTIMATE_BYTES_PER_SECOND, plus each vector index's build."""
    total_bytes = sum(t.size_bytes for t in source.copyable_tables())
    vector_rows = sum(
        source.tables[(i.table_schema, i.table)].rows_estimated
        for i in source.indexes.values() if i.is_vector and (i.table_schema, i.table) in source.tables
    )
    return total_bytes / ESTIMATE_BYTES_PER_SECOND + vector_rows / ESTIMATE_VECTOR_ROWS_PER_SECOND


def warnings_for(source: Catalog, target: Catalog, report: dict[str, Any], refusal: PghaulError | None,
                 scrub: Scrub, name: TableNamer = qualified) -> list[str]:
    """Each thing a person should know before starting, as one sentence, most serious first."""
    warnings: list[str] = []
    if report["target_is_source"]:
        warnings.append("the target is the source database itself: set NEW_DATABASE_URL to the new database")
    warnings.extend(str(e["problem"]) for e in report["extensions"] if not e["ok"] and e["problem"])
    if refusal is not None:
        warnings.append(scrub(f"{refusal.message} — {refusal.hint}" if refusal.hint else refusal.message))
    if target.tables:
        warnings.append(
            f"the target already has {len(target.tables)} table(s): identical ones are kept, different ones stop "
            "the migration (nothing is ever overwritten)"
        )
    no_key = _without_key(source, name)
    if no_key:
        warnings.append(
            f"{len(no_key)} table(s) have no primary key and are copied whole in one go, without resume: "
            + ", ".join(no_key[:NAMED_IN_WARNING])
            + ". One that already has rows on the target is never emptied unless pghaul's own checkpoints say "
            "pghaul filled it: the migration stops instead and says what to do"
        )
    return warnings


def _without_key(source: Catalog, name: TableNamer) -> list[str]:
    return sorted(name(t.schema, t.name) for t in source.copyable_tables() if not t.primary_key)


def readiness(source: Catalog, target: Catalog, report: dict[str, Any], refusal: PghaulError | None,
              scrub: Scrub, name: TableNamer = qualified) -> Readiness:
    """``report`` is ``pghaul.engine.preflight.preflight_report``'s; ``refusal`` is
    ``engine.refusal_before_writing``'s."""
    copied = source.copyable_tables()
    return Readiness(
        ok=bool(report["ok"]) and refusal is None,
        target_tables=sorted(name(s, n) for s, n in target.tables),
        tables_without_primary_key=_without_key(source, name),
        tables=len(copied),
        rows_estimated=sum(max(t.rows_estimated, 0) for t in copied),
        total_bytes=sum(t.size_bytes for t in copied),
        vector_indexes=[f"{i.schema}.{i.name}" for i in source.indexes.values() if i.is_vector],
        estimate_seconds=round(estimate_seconds(source), 1),
        warnings=warnings_for(source, target, report, refusal, scrub, name),
    )
