"""Medians, ratios to pghaul, the issue's targets, and the same table as text or markdown."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

E2E_GROUP = "End to end into an empty target (PostgreSQL 18; verify excluded)"
DATA_GROUP = "Data phase only (rows into tables pre-created with their primary keys)"
PG15_GROUP = "PostgreSQL 15 pair, tables without vectors, end to end"
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


def target_checks(results: Results) -> list[str]:
    """The issue's targets, judged only on figures this run measured."""
    checks: list[str] = []

    def judge(name: str, value: float | None, limit: float, at_most: bool = True) -> None:
        if value is None:
            return
        met = value <= limit if at_most else value >= limit
        sign = "≤" if at_most else "≥"
        checks.append(f"{name}: {value:.2f} (target {sign} {limit}) — {'met' if met else 'MISSED'}")

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    pghaul_data = results.pghaul_median(DATA_GROUP)
    pghaul_e2e = results.pghaul_median(E2E_GROUP)
    judge(
        "data phase, pghaul / raw binary stream", ratio(pghaul_data, results.median(DATA_GROUP, "binary-stream")), 1.25
    )
    judge("end to end, pghaul / pg_dump | psql", ratio(pghaul_e2e, results.median(E2E_GROUP, "dump-psql")), 0.4)
    judge(
        "end to end, pghaul / pg_dump + pg_restore", ratio(pghaul_e2e, results.median(E2E_GROUP, "dump-restore")), 0.3
    )
    judge(
        "PostgreSQL 15, pghaul / pgcopydb clone",
        ratio(results.pghaul_median(PG15_GROUP), results.median(PG15_GROUP, "pgcopydb")),
        0.8,
    )
    judge(
        "data phase, keyset + INSERT / pghaul",
        ratio(results.median(DATA_GROUP, "keyset-insert"), pghaul_data),
        6.0,
        at_most=False,
    )
    for name, value in results.figures.items():
        if name.startswith("peak RSS"):
            judge(f"{name} (MB)", value, 300)
    judge("one-batch endpoint, last / first batch", results.figures.get("batch latency ratio"), 1.5)
    return checks


def render_text(results: Results) -> str:
    lines = [f"pghaul benchmark — {results.date}", f"machine: {results.machine}", f"dataset: {results.dataset}"]
    lines += [f"note: {results.note}", ""] if results.note else [""]
    for group, rows in results.groups.items():
        reference = results.pghaul_median(group)
        lines.append(group)
        width = max(len(r.label) for r in rows)
        lines.append(f"  {'method'.ljust(width)}  {'median s':>9}  {'× pghaul':>8}  runs")
        for row in rows:
            lines.append(
                f"  {row.label.ljust(width)}  {_seconds(row.median):>9}  {_ratio(row.median, reference):>8}  "
                f"{_status(row)}"
            )
        lines.append("")
    if results.separately:
        lines.append("Separately")
        lines.extend(f"  {line}" for line in results.separately)
        lines.append("")
    checks = target_checks(results)
    if checks:
        lines.append("Targets of issue 6 (set for the default scale)")
        lines.extend(f"  {line}" for line in checks)
    return "\n".join(lines).rstrip() + "\n"


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
    for group, rows in results.groups.items():
        reference = results.pghaul_median(group)
        lines += [f"## {group}", "", "| method | median s | × pghaul | runs (s) |", "|---|---:|---:|---|"]
        for row in rows:
            label = row.label.replace("|", "\\|")
            status = _status(row).replace("|", "\\|")
            lines.append(f"| {label} | {_seconds(row.median)} | {_ratio(row.median, reference)} | {status} |")
        lines.append("")
    if results.separately:
        lines += ["## Separately", ""]
        lines += [f"- {line}" for line in results.separately]
        lines.append("")
    checks = target_checks(results)
    if checks:
        lines += ["## Targets of issue 6 (set for the default scale)", ""]
        lines += [f"- {line}" for line in checks]
        lines.append("")
    return "\n".join(lines)


def write_json(results: Results, path: Path) -> None:
    data = asdict(results)
    data["medians"] = {group: {row.key: row.median for row in rows} for group, rows in results.groups.items()}
    data["targets"] = target_checks(results)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
