"""Rich rendering of engine progress events for the terminal: one bar per table and one overall."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from pghaul import events as ev
from pghaul.kinds import Phase

_MB = 1024 * 1024


class ProgressView:
    """A listener that draws progress bars; use as a context manager around ``engine.migrate``.

    Events may arrive from the engine's worker threads: rich's Progress is thread-safe, and the
    bookkeeping here is guarded by a lock.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("[bold]{task.description}", justify="left"),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TextColumn("{task.fields[mb]:>8.1f} MB"),
            TextColumn("{task.fields[rate]:>9,.0f} rows/s"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._tables: dict[str, TaskID] = {}
        self._table_rows: dict[str, int] = {}
        self._table_bytes: dict[str, int] = {}
        self._overall: TaskID | None = None
        self._large_objects_task: TaskID | None = None
        self._started = time.monotonic()

    def __enter__(self) -> ProgressView:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def _overall_task(self) -> TaskID:
        if self._overall is None:
            self._overall = self._progress.add_task("all tables", total=None, mb=0.0, rate=0.0)
        return self._overall

    def _refresh_overall(self) -> None:
        overall = self._overall_task()
        rows = sum(self._table_rows.values())
        total = sum(
            int(self._progress.tasks[i].total or 0) for i in range(len(self._progress.tasks))
            if self._progress.tasks[i].id in self._tables.values()
        )
        elapsed = max(time.monotonic() - self._started, 1e-6)
        self._progress.update(
            overall,
            completed=rows,
            total=max(total, rows) or None,
            mb=sum(self._table_bytes.values()) / _MB,
            rate=rows / elapsed,
        )

    def _large_objects(self, event: ev.LargeObjectsProgress) -> None:
        if self._large_objects_task is None:
            self._large_objects_task = self._progress.add_task("large objects", total=None, mb=0.0, rate=0.0)
        elapsed = max(time.monotonic() - self._started, 1e-6)
        self._progress.update(self._large_objects_task, completed=event.done, total=max(event.total, 1),
                              mb=event.bytes_done / _MB, rate=event.done / elapsed)

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            self._handle(event)

    def _handle(self, event: ev.Event) -> None:
        console = self._progress.console
        if isinstance(event, ev.PhaseStarted):
            detail = f" — {event.detail}" if event.detail else ""
            console.print(f"[bold cyan]▶ {event.phase}[/]{detail}")
            if event.phase == Phase.DATA:
                self._started = time.monotonic()
                self._overall_task()
        elif isinstance(event, ev.PhaseFinished):
            console.print(f"[green]✓ {event.phase}[/] [dim]{event.seconds:.1f} s[/]")
        elif isinstance(event, ev.TableStarted):
            if event.table not in self._tables:
                self._tables[event.table] = self._progress.add_task(
                    event.table, total=max(event.rows_estimated, 1), mb=0.0, rate=0.0
                )
            self._refresh_overall()
        elif isinstance(event, ev.TableProgress):
            task = self._tables.get(event.table)
            if task is None:
                task = self._tables[event.table] = self._progress.add_task(event.table, total=None, mb=0.0, rate=0.0)
            self._table_rows[event.table] = event.rows_done
            self._table_bytes[event.table] = event.bytes_done
            self._progress.update(
                task,
                completed=event.rows_done,
                total=max(event.rows_estimated, event.rows_done, 1),
                mb=event.bytes_done / _MB,
                rate=event.rows_per_second,
            )
            self._refresh_overall()
        elif isinstance(event, ev.TableFinished):
            task = self._tables.get(event.table)
            done = event.rows_copied + event.rows_skipped
            self._table_rows[event.table] = done
            self._table_bytes[event.table] = event.bytes_done
            if task is not None:
                self._progress.update(
                    task, completed=done, total=max(done, 1), mb=event.bytes_done / _MB,
                    rate=done / event.seconds if event.seconds > 0 else 0.0,
                )
            self._refresh_overall()
        elif isinstance(event, ev.LargeObjectsProgress):
            self._large_objects(event)
        elif isinstance(event, ev.IndexProgress):
            if event.total:
                console.print(f"  [dim]index {event.index}: {event.phase} {event.done}/{event.total}[/]")
        elif isinstance(event, ev.Notice):
            style = {"warning": "yellow", "error": "red"}.get(event.level, "blue")
            console.print(f"[{style}]• {event.message}[/]")
            for line in event.details:
                console.print(f"    {line}")
