"""Engine progress in a terminal: live bars for what is in flight, a line that stays for what ended.

The live part holds one row per table being copied, per index being built, for large objects, for the tables
being verified, and one for all tables. A finished table leaves it with a line of its own above it, so a run of
five hundred tables never outgrows the screen and what happened stays in the scrollback.

Each row fits the terminal's width: the figures (rows of estimated rows, MB, rate, time left) whole and lined up
from row to row, the bar only where there is room, the name shortened in its middle when it must be
(``public.very_lo…_table_name``), and below its name when even that does not fit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.text import Text

from pghaul import events as ev
from pghaul.cli import say
from pghaul.cli.fit import MIN_NAME, Figures, Line, middle
from pghaul.cli.views import View
from pghaul.follow.events import ReplicationCatchUp
from pghaul.kinds import Phase
from pghaul.verify.progress import TablesToVerify, TableVerified

BAR_MIN, BAR_MAX = 10, 40
# A terminal repaints the live rows this often: smooth enough to watch, cheap enough for a busy machine.
REFRESHES_PER_SECOND = 4


@dataclass(frozen=True)
class Row:
    """One live row: a name, its figures' slots, how far along it is (None: unknown)."""

    name: str
    figures: Figures
    fraction: float | None
    style: str = "bold"


class Rows:
    """The live rows as one renderable, laid out at whatever width the console has when it draws them.

    It reads only ``rows``, a tuple the view replaces whole: rich draws from its own refresh thread, and a
    renderable that took the view's lock could deadlock with a worker thread printing a line under it.
    """

    def __init__(self) -> None:
        self.rows: tuple[Row, ...] = ()

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from layout(self.rows, options.max_width)


def layout(rows: tuple[Row, ...], width: int) -> list[Text]:
    """The rows at ``width``: name, bar, figures on one line each when a name of ``MIN_NAME`` fits beside the
    figures, else each name on a line and its figures indented below it."""
    if not rows:
        return []
    figures = Figures.align([r.figures for r in rows])
    figures_width = max(len(f) for f in figures)
    names_width = max(len(r.name) for r in rows)
    room = width - figures_width - 2  # two spaces before the figures
    if room < min(MIN_NAME, names_width):
        lines = []
        for row, text in zip(rows, figures, strict=True):
            lines.append(Text(middle(row.name, width), style=row.style))
            figures_line = Text("    ")
            bar = min(BAR_MAX, width - 6 - figures_width)
            if bar >= BAR_MIN:
                figures_line.append_text(draw_bar(row.fraction, bar)).append("  " + text.rjust(figures_width))
                lines.append(figures_line)
            else:  # narrower still: as many whole figures on each line as fit
                lines.extend(Text("    " + part) for part in pack(row.figures.slots, width - 4))
        return lines
    # The bar only beside whole names: when a name must be shortened, its characters are worth more than a bar.
    bar = min(BAR_MAX, room - names_width - 1) if room >= names_width + 1 + BAR_MIN else 0
    name_width = min(names_width, room)
    lines = []
    for row, text in zip(rows, figures, strict=True):
        line = Text(middle(row.name, name_width).ljust(name_width), style=row.style)
        if bar:
            line.append(" ")
            line.append_text(draw_bar(row.fraction, bar))
        line.append("  " + text.rjust(figures_width))
        lines.append(line)
    return lines


def pack(slots: tuple[str, ...], width: int) -> list[str]:
    """The figures on as few lines of ``width`` as they fit on, never one broken over two."""
    lines: list[str] = []
    for slot in (s for s in slots if s):
        if lines and len(lines[-1]) + 2 + len(slot) <= width:
            lines[-1] += "  " + slot
        else:
            lines.append(slot)
    return lines


def draw_bar(fraction: float | None, width: int) -> Text:
    if fraction is None:
        return Text("━" * width, style="bar.back")
    filled = round(min(max(fraction, 0.0), 1.0) * width)
    return Text("━" * filled, style="bar.finished" if filled == width else "bar.complete").append(
        "━" * (width - filled), style="bar.back")


@dataclass
class Flow:
    """Something in flight: done of total (total 0: unknown), bytes, its own rate, when it started."""

    done: int = 0
    total: int = 0
    bytes: int | None = None
    rate: float = 0.0
    started: float = 0.0

    def fraction(self) -> float | None:
        return min(self.done / self.total, 1.0) if self.total else None


class ProgressView(View):
    """The listener for a terminal; use as a context manager around the engine's call."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self._rows = Rows()
        self._live = Live(self._rows, console=console, refresh_per_second=REFRESHES_PER_SECOND, transient=True,
                          redirect_stdout=False, redirect_stderr=False)
        self._tables: dict[str, Flow] = {}  # in flight, in the order they started
        self._copied: dict[str, tuple[int, int]] = {}  # every table seen: rows done (finished or not), bytes
        self._estimated: dict[str, int] = {}
        self._finished: set[str] = set()
        self._indexes: dict[str, tuple[str, int, int]] = {}
        self._built: set[str] = set()  # the watcher may poll once more after the build: it stays built
        self._large_objects: Flow | None = None
        self._verify: tuple[int, int] | None = None  # tables verified of tables to verify, while it runs
        self._data_started: float | None = None
        self._lag: tuple[int, ReplicationCatchUp] | None = None  # the cutover's wait: the first lag, the latest

    @property
    def rows(self) -> tuple[Row, ...]:
        """The live rows as they are now (what the next refresh draws)."""
        return self._rows.rows

    def __enter__(self) -> ProgressView:
        self._live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.stop()

    # --- lines ---------------------------------------------------------------------------------------------------

    def say(self, *lines: Line) -> None:
        width = self.console.width
        for line in lines:
            for text in line.fit(width):
                self.console.print(text, highlight=False)

    def verified(self, event: TableVerified, line: Line) -> None:
        if not event.ok:  # the counter row shows the rest; the report lists every table at the end
            self.say(line)

    def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.PhaseStarted) and event.phase == Phase.DATA:
            self._data_started = time.monotonic()
        if isinstance(event, ev.PhaseFinished) and event.phase == Phase.DATA:
            self._data_started = None
        if isinstance(event, ev.Retrying):
            self._forget_in_flight()
        if isinstance(event, TablesToVerify):
            self._verify = (0, event.tables) if event.tables else None
        elif isinstance(event, TableVerified) and self._verify is not None:
            done, total = self._verify
            self._verify = (done + 1, total) if done + 1 < total else None
        super().handle(event)
        self._redraw()

    def _forget_in_flight(self) -> None:
        """A lost connection ended the run: what was in flight stopped with it (its line says so); the next run
        draws its rows again as it goes, and the tables' totals stay, what is committed being kept."""
        self._tables.clear()
        self._indexes.clear()
        self._large_objects = None
        self._verify = None
        self._data_started = None
        self._lag = None

    # --- progress ------------------------------------------------------------------------------------------------

    def progress(self, event: ev.Event) -> None:
        now = time.monotonic()
        if isinstance(event, ev.TableStarted):
            self._finished.discard(event.table)  # a sync copying a table again
            flow = self._tables.setdefault(event.table, Flow(started=now))
            flow.total = max(flow.total, event.rows_estimated)
            self._estimated[event.table] = max(event.rows_estimated, self._estimated.get(event.table, 0))
        elif isinstance(event, ev.TableProgress):
            if event.table in self._finished:  # a straggler from another range's worker: the table is done
                return
            flow = self._tables.setdefault(event.table, Flow(started=now))
            flow.done, flow.bytes = event.rows_done, event.bytes_done
            flow.total = max(event.rows_estimated, event.rows_done)
            flow.rate = event.rows_per_second
            self._copied[event.table] = (event.rows_done, event.bytes_done)
            self._estimated[event.table] = max(flow.total, self._estimated.get(event.table, 0))
        elif isinstance(event, ev.TableFinished):
            self._tables.pop(event.table, None)
            self._finished.add(event.table)
            done = event.rows_copied + event.rows_skipped
            self._copied[event.table] = (done, event.bytes_done)
            self._estimated[event.table] = done
            self.say(say.table_finished(event))
        elif isinstance(event, ev.IndexProgress):
            if event.index not in self._built:
                self._indexes[event.index] = (event.phase, event.done, event.total)
        elif isinstance(event, ev.StepApplied):
            if self._indexes.pop(event.name, None) is not None:
                self._built.add(event.name)
                self.say(say.index_built(event.name))
        elif isinstance(event, ev.LargeObjectsProgress):
            flow = self._large_objects or Flow(started=now)
            flow.done, flow.total, flow.bytes = event.done, event.total, event.bytes_done
            elapsed = now - flow.started
            flow.rate = event.done / elapsed if elapsed > 1 else 0.0
            self._large_objects = None if event.total and event.done >= event.total else flow
            if self._large_objects is None:
                self.say(say.large_objects(event))
        elif isinstance(event, ReplicationCatchUp):
            first = event.lag_bytes if self._lag is None else self._lag[0]
            self._lag = None if event.reached else (first, event)
            if event.reached:
                self.say(say.replication_catch_up(event))

    def _redraw(self) -> None:
        rows: list[Row] = []
        for name, flow in self._tables.items():
            rows.append(Row(name, say.progress_figures(flow.done, flow.total, flow.bytes or 0, flow.rate),
                            flow.fraction()))
        for name, (phase, done, total) in self._indexes.items():
            count = f"{done:,}/{total:,}" if total else ""
            rows.append(Row(f"index {name}", Figures((count, say.index_phase(phase)), "index"),
                            done / total if total else None, style="bold magenta"))
        if self._large_objects is not None:
            lo = self._large_objects
            rows.append(Row("large objects", say.progress_figures(lo.done, lo.total, lo.bytes, lo.rate, "objects"),
                            lo.fraction()))
        if self._verify is not None:
            done, total = self._verify
            rows.append(Row("tables verified", Figures((f"{done:,}/{total:,} tables",), "verify"), done / total,
                            style="bold cyan"))
        if self._lag is not None:
            first, lag = self._lag
            rows.append(Row("replication lag", Figures((f"{say.wal_bytes(lag.lag_bytes)} left",
                                                        f"{lag.seconds_waited:.1f} s"), "lag"),
                            1 - lag.lag_bytes / first if first else None, style="bold cyan"))
        if self._data_started is not None and self._copied:
            rows.append(self._overall())
        self._rows.rows = tuple(rows)

    def _overall(self) -> Row:
        done = sum(rows for rows, _ in self._copied.values())
        total = max(sum(self._estimated.values()), done)
        elapsed = time.monotonic() - (self._data_started or time.monotonic())
        per_second = done / elapsed if elapsed > 1 else 0.0
        figures = say.progress_figures(done, total, sum(b for _, b in self._copied.values()), per_second)
        return Row("all tables", figures, done / total if total else None, style="bold green")
