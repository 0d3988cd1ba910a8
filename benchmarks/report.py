"""Medians, ratios to pghaul, the issue's targets, and the same table as text or markdown."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

E2E_GROUP = "End to end into an empty target (PostgreSQL 18; verify excluded)"
DATA_GROUP = "Data phase only (rows into tables pre-created with their primary keys)"
PG15_GROUP = "PostgreSQL 15 pair, tables without vectors, end to end"
SYNC_GROUP = (
    "Sync and cutover into the target of a fresh pghaul migrate (seconds inside the engine's calls; "
    "× pghaul = × that migrate, verify off)"
)
# The keys of the sync section's rows, which its targets are judged on.
SYNC_MIGRATE = "migrate"
SYNC_MIGRATE_VERIFIED = "migrate-verify"
SYNC_UNCHANGED = "sync-unchanged"
SYNC_CHANGED = "sync-changed"
SYNC_CATCH_UP = "catch-up"
SYNC_FREEZE = "write-freeze"
# The keys of the follow section's rows (one group per scale: ``follow_group``).
FOLLOW_FULL_MIGRATE = "follow-full-migrate"
FOLLOW_MIGRATE = "follow-migrate"
FOLLOW_WINDOW_ROWS = "follow-window-rows"
FOLLOW_WINDOW_SCHEMA = "follow-window-schema"
# Issue 14's targets: the window (the schema-only one: the one that does not grow with the data) under 5% of the
# full migrate at the run's scale; "independent of the size" read as growing by at most this factor from the
# second scale to the run's (ten times the data by default).
FOLLOW_WINDOW_SHARE = 0.05
FOLLOW_SIZE_GROWTH = 1.5
_FAILURE_CHARS = 240  # the whole message is in the JSON output and in the run's log lines


@dataclass
class Row:
    key: str
    label: str
    is_pghaul: bool = False
    seconds: list[float] = field(default_factory=list)
    skipped: str | None = None
    failed: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


@dataclass
class Results:
    command: str
    date: str
    machine: str
    dataset: str
    note: str = ""
    groups: dict[str, list[Row]] = field(default_factory=dict)
    separately: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)  # named single figures the targets are judged on
    notes: dict[str, list[str]] = field(default_factory=dict)  # lines printed under a group's table
    # Wrong results (a sync's counts that differ from the changes made, a cutover that did not verify): the run
    # reports them first and exits non-zero.
    failures: list[str] = field(default_factory=list)
    sync_runs: list[dict[str, Any]] = field(default_factory=list)  # each sync-section run's counts, for the JSON
    follow_scales: list[str] = field(default_factory=list)  # the follow section's two scales, the run's first
    follow_runs: list[dict[str, Any]] = field(default_factory=list)  # each follow run's lag, writer and cutover

    def row(self, group: str, key: str, label: str, is_pghaul: bool = False) -> Row:
        rows = self.groups.setdefault(group, [])
        for row in rows:
            if row.key == key:
                return row
        row = Row(key, label, is_pghaul)
        rows.append(row)
        return row

    def median(self, group: str, key: str) -> float | None:
        for row in self.groups.get(group, []):
            if row.key == key:
                return row.median
        return None

    def pghaul_median(self, group: str) -> float | None:
        return next((r.median for r in self.groups.get(group, []) if r.is_pghaul), None)


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "—"
    return f"{value / reference:.2f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _status(row: Row) -> str:
    if row.skipped:
        return f"skipped: {row.skipped}"
    if row.failed:
        return f"failed: {row.failed[:_FAILURE_CHARS]}"
    return " ".join(_seconds(s) for s in row.seconds)


def follow_group(scale_label: str) -> str:
    return (f"Follow at scale {scale_label} (issue 14; its own pair, source with wal_level = logical; seconds inside "
            "the engine's calls; × pghaul = × the full migrate at this scale)")


class _Checks(list[str]):
    """Target lines: the value measured, the target, met or MISSED."""

    def inform(self, name: str, value: float | None, why: str) -> None:
        if value is not None:
            self.append(f"{name}: {value:.2f} ({why})")

    def judge(self, name: str, value: float | None, limit: float, at_most: bool = True) -> None:
        if value is None:
            return
        met = value <= limit if at_most else value >= limit
        sign = "≤" if at_most else "≥"
        self.append(f"{name}: {value:.2f} (target {sign} {limit}) — {'met' if met else 'MISSED'}")


def _ratio_of(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def target_checks(results: Results) -> list[str]:
    """The targets of issue 6, judged only on figures this run measured."""
    checks = _Checks()
    pghaul_data = results.pghaul_median(DATA_GROUP)
    pghaul_e2e = results.pghaul_median(E2E_GROUP)
    checks.judge(
        "data phase, pghaul / raw binary stream",
        _ratio_of(pghaul_data, results.median(DATA_GROUP, "binary-stream")),
        1.25,
    )
    checks.judge("end to end, pghaul / pg_dump | psql", _ratio_of(pghaul_e2e, results.median(E2E_GROUP, "dump-psql")),
                 0.4)
    checks.judge(
        "end to end, pghaul / pg_dump + pg_restore",
        _ratio_of(pghaul_e2e, results.median(E2E_GROUP, "dump-restore")),
        0.3,
    )
    checks.judge(
        "PostgreSQL 15, pghaul / pgcopydb clone",
        _ratio_of(results.pghaul_median(PG15_GROUP), results.median(PG15_GROUP, "pgcopydb")),
        0.8,
    )
    checks.judge(
        "data phase, keyset + INSERT / pghaul",
        _ratio_of(results.median(DATA_GROUP, "keyset-insert"), pghaul_data),
        6.0,
        at_most=False,
    )
    for name, value in results.figures.items():
        if name.startswith("peak RSS"):
            checks.judge(f"{name} (MB)", value, 300)
    checks.judge("one-batch endpoint, last / first batch", results.figures.get("batch latency ratio"), 1.5)
    return checks


def sync_target_checks(results: Results) -> list[str]:
    """The targets of issue 13 (sync and cutover), on the sync section's medians and the raw stream's."""
    checks = _Checks()

    def sync_median(key: str) -> float | None:
        return results.median(SYNC_GROUP, key)

    migrate = sync_median(SYNC_MIGRATE)
    changed = sync_median(SYNC_CHANGED)
    checks.judge("sync, nothing changed / full migrate", _ratio_of(sync_median(SYNC_UNCHANGED), migrate), 0.05)
    checks.judge("sync after a 1% change / full migrate", _ratio_of(changed, migrate), 0.1)
    checks.judge(
        "sync after a 1% change / raw binary stream of all rows",
        _ratio_of(changed, results.median(DATA_GROUP, "binary-stream")),
        2.0,
    )
    checks.judge("cutover write-freeze window after a 1% change / full migrate",
                 _ratio_of(sync_median(SYNC_FREEZE), migrate), 0.1)
    checks.judge("migrate with verify / migrate --no-verify", _ratio_of(sync_median(SYNC_MIGRATE_VERIFIED), migrate),
                 1.1)
    return checks


def follow_target_checks(results: Results) -> list[str]:
    """The targets of issue 14 (follow), on the follow section's medians and its runs' lag figures."""
    checks = _Checks()
    if len(results.follow_scales) != 2:
        return checks
    big, small = results.follow_scales
    at_big, at_small = follow_group(big), follow_group(small)
    full = results.median(at_big, FOLLOW_FULL_MIGRATE)
    schema_big = results.median(at_big, FOLLOW_WINDOW_SCHEMA)
    schema_small = results.median(at_small, FOLLOW_WINDOW_SCHEMA)
    checks.judge(f"write-freeze window with follow (verify_rows off: schema-only check, the window the issue means) "
                 f"/ full migrate, scale {big}", _ratio_of(schema_big, full), FOLLOW_WINDOW_SHARE)
    checks.judge(f"that window at scale {big} / at scale {small} (independent of the database's size)",
                 _ratio_of(schema_big, schema_small), FOLLOW_SIZE_GROWTH)
    checks.inform(f"for comparison: the same window / full migrate at scale {small}",
                  _ratio_of(schema_small, results.median(at_small, FOLLOW_FULL_MIGRATE)),
                  "no target: the second scale's own full migrate")
    checks.inform(f"for comparison: the same window / the main pair's full migrate (the sync section's, verify off), "
                  f"scale {big}", _ratio_of(schema_big, results.median(SYNC_GROUP, SYNC_MIGRATE)),
                  "no target: the reference above is the follow pair's own")
    checks.inform(f"for comparison: the window with the engine's default full verify (verify_rows on) / full "
                  f"migrate, scale {big}", _ratio_of(results.median(at_big, FOLLOW_WINDOW_ROWS), full),
                  "no target: it compares every row, so it grows with the data")
    runs = [r for r in results.follow_runs if r.get("scale") == big and "lag" in r]
    if runs:
        lags = [r["lag"] for r in runs]
        caught = [lag["caught_up_after_seconds"] for lag in lags]
        limit, bound = lags[0]["caught_up_limit_seconds"], lags[0]["caught_up_bytes"]
        rate = max((r["writer"].get("rate", 0.0) for r in runs), default=0.0)
        name = (f"replication keeps up with a writer at {rate:.0f} writes/s, scale {big}: lag ≤ {bound / 1e6:.2f} MB "
                f"after the subscription starts (seconds, max of {len(runs)} runs)")
        if None in caught:
            checks.append(f"{name}: not within {limit:.0f} s in {caught.count(None)} run(s) — MISSED")
        else:
            checks.judge(name, max(caught), limit)
        peak = max((lag["peak_bytes"] or 0 for lag in lags), default=0)
        peak_seconds = [lag["peak_seconds"] for lag in lags if lag["peak_seconds"] is not None]
        held = max(lag["held_back_seconds"] for lag in lags)
        steady = [lag["steady_max_bytes"] for lag in lags if lag["steady_max_bytes"] is not None]
        streaming = f"; lag_seconds at most {max(peak_seconds):.2f} s once streaming" if peak_seconds else ""
        checks.append(
            f"peak lag, scale {big} (max of runs; reported, no target): {peak / 1e6:.2f} MB (the slot keeps every "
            f"change from the copy's snapshot until the subscription starts: up to {held:.1f} s of writes){streaming}")
        if steady:
            checks.append(f"afterwards, with the writer still writing: lag at most {max(steady) / 1e6:.2f} MB")
    return checks


TARGET_LISTS: dict[str, Callable[[Results], list[str]]] = {
    "Targets of issue 6 (set for the default scale)": target_checks,
    "Targets of issue 13: sync and cutover (set for the default scale)": sync_target_checks,
    "Targets of issue 14: follow (set for the default scale)": follow_target_checks,
}


def _table_text(results: Results, group: str, rows: list[Row]) -> list[str]:
    reference = results.pghaul_median(group)
    width = max(len(r.label) for r in rows)
    lines = [group, f"  {'method'.ljust(width)}  {'median s':>9}  {'× pghaul':>8}  runs"]
    for row in rows:
        lines.append(
            f"  {row.label.ljust(width)}  {_seconds(row.median):>9}  {_ratio(row.median, reference):>8}  "
            f"{_status(row)}"
        )
    lines += [f"  {note}" for note in results.notes.get(group, [])]
    return [*lines, ""]


def render_text(results: Results) -> str:
    lines = [f"pghaul benchmark — {results.date}", f"command: {results.command}", f"machine: {results.machine}",
             f"dataset: {results.dataset}"]
    lines += [f"note: {results.note}", ""] if results.note else [""]
    if results.failures:
        lines.append("WRONG RESULTS (correctness failures; the run exits with status 1)")
        lines.extend(f"  {line}" for line in results.failures)
        lines.append("")
    for group, rows in results.groups.items():
        lines += _table_text(results, group, rows)
    if results.separately:
        lines.append("Separately")
        lines.extend(f"  {line}" for line in results.separately)
        lines.append("")
    for title, checks_of in TARGET_LISTS.items():
        checks = checks_of(results)
        if checks:
            lines.append(title)
            lines.extend(f"  {line}" for line in checks)
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _table_markdown(results: Results, group: str, rows: list[Row]) -> list[str]:
    reference = results.pghaul_median(group)
    lines = [f"## {group}", "", "| method | median s | × pghaul | runs (s) |", "|---|---:|---:|---|"]
    for row in rows:
        label = row.label.replace("|", "\\|")
        status = _status(row).replace("|", "\\|")
        lines.append(f"| {label} | {_seconds(row.median)} | {_ratio(row.median, reference)} | {status} |")
    notes = results.notes.get(group, [])
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return [*lines, ""]


def render_markdown(results: Results) -> str:
    lines = [
        "# pghaul benchmark results",
        "",
        f"- Machine: {results.machine}",
        f"- Date: {results.date}",
        f"- Command: `{results.command}`",
        f"- Dataset: {results.dataset}",
        *([f"- Note: {results.note}"] if results.note else []),
        "",
    ]
    if results.failures:
        lines += ["## WRONG RESULTS (correctness failures)", "", *(f"- {line}" for line in results.failures), ""]
    for group, rows in results.groups.items():
        lines += _table_markdown(results, group, rows)
    if results.separately:
        lines += ["## Separately", ""]
        lines += [f"- {line}" for line in results.separately]
        lines.append("")
    for title, checks_of in TARGET_LISTS.items():
        checks = checks_of(results)
        if checks:
            lines += [f"## {title}", "", *(f"- {line}" for line in checks), ""]
    return "\n".join(lines)


def write_json(results: Results, path: Path) -> None:
    data = asdict(results)
    data["medians"] = {group: {row.key: row.median for row in rows} for group, rows in results.groups.items()}
    data["targets"] = {title: checks_of(results) for title, checks_of in TARGET_LISTS.items()}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def one_line(exc: BaseException) -> str:
    """An exception as one line for a row of the report (the whole message stays in the run's log lines)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:400]}"
