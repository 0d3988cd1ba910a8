"""Sync and cutover in a terminal: a line per table as it is synced, each catch-up round, and the summaries.

The engine's other events (migrate's, when a sync creates new tables; large objects; notices) are drawn by
``ProgressView``, which this view wraps.
"""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console, RenderableType
from rich.text import Text

from pghaul import events as ev
from pghaul.cli.progress_view import ProgressView
from pghaul.engine.cutover import CatchUpRound
from pghaul.sync.progress import SyncFinished, TablesToSync, TableSynced
from pghaul.sync.report import LargeObjectSync, SyncReport
from pghaul.verify.progress import TablesToVerify, TableVerified


def changes_text(inserted: int, updated: int, deleted: int) -> str:
    return f"+{inserted:,} ~{updated:,} -{deleted:,}"


def table_line(event: TableSynced, done: int, total: int) -> Text:
    """``[3/12] public.orders  2 of 40 ranges differed  +1 ~2 -2  0.4 s``; dim when nothing changed."""
    changed = event.rows_inserted + event.rows_updated + event.rows_deleted
    counter = f"[{done}/{total}] " if total else ""
    return Text(
        f"  {counter}{event.table}  {event.method}: {event.ranges_differing:,} of {event.ranges_compared:,} "
        f"ranges differed  {changes_text(event.rows_inserted, event.rows_updated, event.rows_deleted)}  "
        f"{event.seconds:.1f} s",
        style="" if changed else "dim",
    )


def round_line(event: CatchUpRound) -> Text:
    """``round 2: 134 changes carried, shrinking``."""
    trend = "shrinking" if event.shrinking else "no longer shrinking"
    if event.round == 1:
        trend = "the first pass"
    return Text(f"round {event.round}: {event.changes:,} changes carried ({event.rows_changed:,} rows), {trend}"
                f"  {event.seconds:.1f} s", style="bold")


class SyncView:
    """A listener for ``sync``, ``catch_up`` and ``finish``; use as a context manager, as ``ProgressView``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress = ProgressView(console)
        self._lock = threading.Lock()
        self._tables = 0
        self._synced = 0

    def __enter__(self) -> SyncView:
        self._progress.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            if not self._handle(event):
                self._progress(event)

    def _handle(self, event: ev.Event) -> bool:
        """Draw the events this view knows; False hands the event on to the progress bars."""
        if isinstance(event, TablesToSync):
            self._tables, self._synced = event.tables, 0
            self.console.print(f"  comparing {event.tables} table(s) range by range")
        elif isinstance(event, TableSynced):
            self._synced += 1
            self.console.print(table_line(event, self._synced, self._tables), highlight=False)
        elif isinstance(event, CatchUpRound):
            self.console.print(round_line(event), highlight=False)
        elif isinstance(event, TablesToVerify):
            self.console.print(f"  verifying {event.tables} table(s): every row's checksum on both servers")
        elif isinstance(event, TableVerified):
            if not event.ok:
                self.console.print(Text(f"  {event.table} differs", style="red"), highlight=False)
        elif not isinstance(event, SyncFinished):  # the command prints the report's summary itself
            return False
        return True


def render_sync_summary(report: SyncReport) -> list[RenderableType]:
    """The whole sync in a few lines: ranges, rows, large objects, sequences, time, and what it noticed."""
    lo = report.large_objects
    parts: list[RenderableType] = [
        Text(f"ranges compared: {report.ranges_compared:,}   ranges that differed: {report.ranges_differing:,}"),
        Text(f"rows: {report.rows_inserted:,} inserted, {report.rows_updated:,} updated, "
             f"{report.rows_deleted:,} deleted"),
        Text(_large_objects_line(lo)),
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


def _large_objects_line(lo: LargeObjectSync | None) -> str:
    if lo is None:
        return "large objects: not synced"
    if not lo.objects and not (lo.added or lo.replaced or lo.removed):
        return "large objects: none on the source"
    line = (f"large objects: {lo.added:,} added, {lo.replaced:,} replaced, {lo.removed:,} removed "
            f"(of {lo.objects:,} on the source)")
    if lo.left_alone:
        line += f"; {len(lo.left_alone)} only on the target, not written by pghaul, left alone"
    return line
