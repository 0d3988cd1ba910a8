"""What each engine event says in one line, for a terminal and for a log alike: the terminal draws a
``Line`` fitted to its width (``Line.fit``), a log writes it whole after a timestamp (``Line.plain``).

Figures are formatted here, once: rows and counts with thousands separators, MB to one decimal, rates in
whole rows per second, time left as h:mm:ss.
"""

from __future__ import annotations

from pghaul import events as ev
from pghaul.cli.fit import Figures, Line
from pghaul.engine.cutover import CatchUpRound
from pghaul.follow.events import FollowStartChosen, ObjectAction, ReplicationCatchUp, ReplicationObjectChanged
from pghaul.sync.progress import TablesToSync, TableSynced
from pghaul.verify.progress import TablesToVerify, TableVerified

MB = 1024 * 1024
_NOTICE_STYLES = {"warning": "yellow", "error": "red"}


def wal_bytes(n: int) -> str:
    """An amount of WAL (a replication lag, what a slot retains): bytes while under a megabyte, then MB or GB."""
    return f"{n:,} bytes" if n < MB else megabytes(n)


def megabytes(n: int) -> str:
    """Bytes in MB to one decimal; from 1 GB on in GB, so a size stays short in a row of figures."""
    if n >= 1024 * MB:
        return f"{n / (1024 * MB):,.1f} GB"
    return f"{n / MB:,.1f} MB"


def rate(per_second: float, unit: str = "rows") -> str:
    return f"{per_second:,.0f} {unit}/s"


def clock(seconds: float) -> str:
    seconds = max(int(seconds + 0.5), 0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02}:{seconds % 60:02}"


def time_left(done: int, total: int, per_second: float) -> str:
    if total and done >= total:
        return "done"
    if per_second <= 0 or not total:
        return ""
    return f"eta {clock((total - done) / per_second)}"


def of(done: int, total: int | None, unit: str) -> str:
    """``4,102/10,000 rows``; ``4,102 rows`` while the total is unknown."""
    return f"{done:,}/{total:,} {unit}" if total else f"{done:,} {unit}"


def progress_figures(done: int, total: int | None, bytes_done: int | None, per_second: float,
                     unit: str = "rows") -> Figures:
    """The four slots of a progress row: count of total, MB, rate, time left."""
    return Figures((
        of(done, total, unit),
        "" if bytes_done is None else megabytes(bytes_done),
        rate(per_second, unit) if per_second > 0 else "",
        time_left(done, total or 0, per_second),
    ), "flow")


def index_phase(phase: str) -> str:
    """PostgreSQL's ``building index: loading tuples in tree`` as ``loading tuples in tree``."""
    return phase.split(": ", 1)[-1]


def changes_text(inserted: int, updated: int, deleted: int) -> str:
    return f"+{inserted:,} ~{updated:,} -{deleted:,}"


def counter(done: int, total: int) -> str:
    return f"[{done}/{total}] " if total else ""


# --- lines -------------------------------------------------------------------------------------------------------


def phase_started(event: ev.PhaseStarted) -> Line:
    return Line(str(event.phase), event.detail, mark="▶ ", word="phase ", style="bold cyan",
                figures_style="cyan", after="started", prose=True)


def phase_finished(event: ev.PhaseFinished) -> Line:
    return Line(str(event.phase), f"{event.seconds:.1f} s", mark="✓ ", word="phase ", style="green",
                figures_style="dim", after="finished")


def table_started(event: ev.TableStarted) -> Line:
    size = f", {megabytes(event.bytes_estimated)}" if event.bytes_estimated else ""
    return Line(event.table, f"~{event.rows_estimated:,} rows{size}", word="table ", after="started")


def table_progress(event: ev.TableProgress) -> Line:
    figures = progress_figures(event.rows_done, max(event.rows_estimated, event.rows_done), event.bytes_done,
                               event.rows_per_second)
    return Line(event.table, figures.plain(), word="table ")


def table_finished(event: ev.TableFinished) -> Line:
    done = event.rows_copied + event.rows_skipped
    per_second = done / event.seconds if event.seconds > 0 else 0.0
    skipped = f" ({event.rows_skipped:,} already there)" if event.rows_skipped else ""
    figures = [f"{done:,} rows{skipped}", megabytes(event.bytes_done), f"{event.seconds:.1f} s"]
    if per_second:
        figures.append(rate(per_second))
    return Line(event.table, "  ".join(figures), mark="✓ ", word="table ", after="copied",
                figures_style="dim")


def index_progress(event: ev.IndexProgress) -> Line:
    count = f"  {event.done:,}/{event.total:,}" if event.total else ""
    return Line(event.index, f"{index_phase(event.phase)}{count}", word="index ")


def index_built(name: str) -> Line:
    return Line(name, "", mark="✓ index ", word="index ", after="built", figures_style="dim")


def large_objects(event: ev.LargeObjectsProgress) -> Line:
    return Line("large objects", f"{event.done:,}/{event.total:,}  {megabytes(event.bytes_done)}"
                                 f" of {megabytes(event.bytes_total)}")


def notice(event: ev.Notice) -> list[Line]:
    style = _NOTICE_STYLES.get(event.level, "blue")
    word = "" if event.level == "info" else f"{event.level}: "
    first = Line(event.message, mark="• ", word=f"notice {word}", style=style, prose=True)
    return [first, *(Line(detail, mark="    ", word="    ", prose=True) for detail in event.details)]


def tables_to_sync(event: TablesToSync) -> Line:
    return Line(f"comparing {event.tables} table(s) range by range", mark="  ", word="sync ", prose=True)


def table_synced(event: TableSynced, done: int, total: int) -> Line:
    """``[3/12] public.orders  checksum: 2 of 40 ranges differed  +1 ~2 -2  0.4 s``; dim when nothing changed."""
    changed = event.rows_inserted + event.rows_updated + event.rows_deleted
    figures = (f"{event.method}: {event.ranges_differing:,} of {event.ranges_compared:,} ranges differed  "
               f"{changes_text(event.rows_inserted, event.rows_updated, event.rows_deleted)}  {event.seconds:.1f} s")
    return Line(event.table, figures, mark=f"  {counter(done, total)}", word=f"sync {counter(done, total)}",
                style="" if changed else "dim")


def catch_up_round(event: CatchUpRound) -> Line:
    """``round 2: 134 changes carried (120 rows), shrinking  1.2 s``."""
    trend = "shrinking" if event.shrinking else "no longer shrinking"
    if event.round == 1:
        trend = "the first pass"
    return Line(f"round {event.round}: {event.changes:,} changes carried ({event.rows_changed:,} rows), {trend}",
                f"{event.seconds:.1f} s", word="cutover ", style="bold", prose=True)


def follow_start(event: FollowStartChosen) -> Line:
    """``follow: fresh start: a new slot, and the copy in its snapshot``."""
    return Line(f"{event.start} start: {event.reason}", mark="▶ follow: ", word="follow ", style="bold",
                prose=True)


_OBJECT_STYLES = {ObjectAction.DROPPED: "yellow", ObjectAction.REUSED: "dim"}


def replication_object(event: ReplicationObjectChanged) -> Line:
    """``✓ replication slot pghaul_0123456789abcdef created on the source  consistent point 0/1A2B3C4``."""
    return Line(f"{event.kind} {event.name} {event.action} on the {event.server}", event.detail, mark="✓ ",
                word="follow ", style=_OBJECT_STYLES.get(event.action, "green"), figures_style="dim", prose=True)


def replication_catch_up(event: ReplicationCatchUp) -> Line:
    """``replication lag: 12,345 bytes left  0.5 s``; once reached, ``✓ replication lag zero …``."""
    if event.reached:
        return Line("replication lag zero: the target applied every change up to "
                    f"{event.target_lsn}", f"{event.seconds_waited:.1f} s", mark="✓ ", word="cutover ",
                    style="green", figures_style="dim", prose=True)
    return Line("replication lag", f"{wal_bytes(event.lag_bytes)} left  {event.seconds_waited:.1f} s",
                word="cutover ")


def tables_to_verify(event: TablesToVerify) -> Line:
    return Line(f"verifying {event.tables} table(s): every row's checksum on both servers", mark="  ", prose=True)


def table_verified(event: TableVerified, done: int, total: int) -> Line:
    """``[3/12] public.orders  10,000 rows  ok  0.3 s``; both counts when they differ
    (``1,000 rows, target 999  DIFFERS in 1 range(s)``)."""
    if event.rows_source == event.rows_target:
        rows = f"{event.rows_source:,} rows" if event.rows_source is not None else "rows not counted"
    else:
        rows = f"{_count(event.rows_source)} rows, target {_count(event.rows_target)}"
    ranges = f" in {event.differing_ranges:,} range(s)" if event.differing_ranges else ""
    verdict = "ok" if event.ok else f"DIFFERS{ranges}"
    return Line(event.table, f"{rows}  {verdict}  {event.seconds:.1f} s", mark=f"  {counter(done, total)}",
                word=f"verify {counter(done, total)}", style="" if event.ok else "red")


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"
