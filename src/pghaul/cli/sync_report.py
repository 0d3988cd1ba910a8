"""A sync's report in a few lines: ranges, rows, large objects, sequences, time, and what it noticed.

The lines a sync prints while it runs (one per table, each catch-up round) are ``say.py``'s, drawn by the views.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from pghaul.sync.report import LargeObjectSync, SyncReport


def render_sync_summary(report: SyncReport) -> list[RenderableType]:
    """The whole sync in a few lines: ranges, rows, large objects, sequences, time, and what it noticed."""
    lo = report.large_objects
    parts: list[RenderableType] = [
        Text(f"ranges compared: {report.ranges_compared:,}   ranges that differed: {report.ranges_differing:,}"),
        Text(f"rows: {report.rows_inserted:,} inserted, {report.rows_updated:,} updated, "
             f"{report.rows_deleted:,} deleted"),
        Text(large_objects_line(lo)),
        Text(f"sequences: {report.sequences_advanced} of {len(report.sequences)} moved forward"),
    ]
    if report.tables_created:
        parts.append(Text(f"tables created: {', '.join(report.tables_created)}"))
    if report.columns_added:
        parts.append(Text(f"columns added: {', '.join(report.columns_added)}"))
    parts.extend(Text(f"note: {notice}", style="yellow") for notice in report.notices)
    if report.changes:
        parts.append(Text(f"synced: {report.changes:,} change(s) carried in {report.seconds:.1f} s",
                          style="bold green"))
    else:
        parts.append(Text(f"already up to date: nothing changed ({report.seconds:.1f} s)", style="bold green"))
    return parts


def large_objects_line(lo: LargeObjectSync | None) -> str:
    if lo is None:
        return "large objects: not synced"
    if not lo.objects and not (lo.added or lo.replaced or lo.removed):
        return "large objects: none on the source"
    line = (f"large objects: {lo.added:,} added, {lo.replaced:,} replaced, {lo.removed:,} removed "
            f"(of {lo.objects:,} on the source)")
    if lo.left_alone:
        line += f"; {len(lo.left_alone)} only on the target, not written by pghaul, left alone"
    return line
