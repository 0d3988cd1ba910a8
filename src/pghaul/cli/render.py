"""The verify report for a terminal: rich tables, green where source and target agree, red where they do not.

Every table fits the console's width: the figures (row counts, ranges, versions, positions) are never wrapped
or cut; a long name (up to 63 characters each side of the dot) wraps within its column instead (``fit.py``).
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from pghaul.cli.fit import compact_table, figure_column, name_column
from pghaul.verify.report import VerifyReport

_OK = Text("ok", style="bold green")
_BAD = Text("DIFFERS", style="bold red")


def _mark(ok: bool) -> Text:
    return _OK if ok else _BAD


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def render_report(report: VerifyReport) -> list[RenderableType]:
    """Everything in the report, in order: ``for part in render_report(report): console.print(part)``."""
    parts: list[RenderableType] = [_tables(report)]
    if report.sequences:
        parts.append(_sequences(report))
    parts.append(_extensions(report))
    if report.vector_checks:
        parts.append(_vectors(report))
    parts.extend(_large_objects(report))
    if report.schema_diff:
        parts.append(Text("Schema differences", style="bold"))
        parts.extend(Text(f"  {d.describe()}", style="red") for d in report.schema_diff)
    else:
        parts.append(Text("Schema: identical", style="green"))
    parts.extend(_verdict(report))
    return parts


def _tables(report: VerifyReport) -> Table:
    tables = compact_table("Tables")
    name_column(tables, "table")
    figure_column(tables, "rows\nsource")
    figure_column(tables, "rows\ntarget")
    figure_column(tables, "ranges\ndiffering")
    figure_column(tables, "", "left")
    for t in report.tables:
        # An error is a sentence: it is said in full among the differences below, not squeezed in here.
        verdict = Text("error", style="bold red") if t.error else _mark(t.ok)
        ranges = f"{len(t.differing_ranges):,} of {t.ranges:,}"
        tables.add_row(Text(t.table), _count(t.rows_source), _count(t.rows_target), ranges, verdict)
    return tables


def _sequences(report: VerifyReport) -> Table:
    sequences = compact_table("Sequences")
    name_column(sequences, "sequence")
    figure_column(sequences, "source")
    sequences.add_column("target", overflow="fold")  # a position, or the error reading it
    sequences.add_column("")
    for s in report.sequences:
        sequences.add_row(
            Text(s.sequence),
            s.source.describe() if s.source else "—",
            Text(s.target.describe() if s.target else (s.error or "—")),
            _mark(s.ok),
        )
    return sequences


def _extensions(report: VerifyReport) -> Table:
    extensions = compact_table("Extensions")
    name_column(extensions, "extension")
    figure_column(extensions, "source", "left")
    figure_column(extensions, "target", "left")
    extensions.add_column("status", overflow="fold")
    for e in report.extensions:
        style = "green" if e.status == "same" else ("yellow" if e.ok else "red")
        extensions.add_row(Text(e.name), e.source_version or "—", e.target_version or "—", Text(e.status, style=style))
    return extensions


def _vectors(report: VerifyReport) -> Table:
    vectors = compact_table("Vector search (exact nearest neighbours)")
    name_column(vectors, "table.column")
    name_column(vectors, "index")
    figure_column(vectors, "operator", "left")
    figure_column(vectors, "samples × k")
    vectors.add_column("", overflow="fold")
    for v in report.vector_checks:
        status = Text(f"skipped: {v.note}", style="yellow") if v.note else _mark(v.ok)
        vectors.add_row(Text(f"{v.table}.{v.column}"), Text(v.index), v.operator, f"{v.samples} × {v.k}", status)
    return vectors


def _large_objects(report: VerifyReport) -> list[RenderableType]:
    large = report.large_objects
    if large is None or large.note is not None:
        return []
    if large.error is not None:
        return [Text(f"Large objects: {large.error}", style="red")]
    if large.objects_source == 0 and large.objects_target == 0:
        return [Text("Large objects: none on either server", style="green")]
    return [Text(f"Large objects: {large.summary()}: ").append_text(_mark(large.ok))]


def _verdict(report: VerifyReport) -> list[RenderableType]:
    parts: list[RenderableType] = [Text(f"note: {note}", style="yellow") for note in report.notes()]
    differences = report.differences()
    if report.ok:
        parts.append(Text(f"Verified: source and target match ({report.seconds:.1f} s)", style="bold green"))
    else:
        parts.append(Text(f"{len(differences)} difference(s):", style="bold red"))
        parts.extend(Text(f"  {line}", style="red") for line in differences)
    return parts
