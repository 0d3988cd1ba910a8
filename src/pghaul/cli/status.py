"""`pghaul status`: the job on a target as pghaul recorded it there, for a second terminal or after a crash, and,
when the target follows its source, the replication's state (``follow_report.py`` draws that section).

Everything shown is read from the target (``pghaul.engine.jobs.read_status``): the job row (its phase, how it
ended, its error and hint, the report it left) and the checkpoints (per table: rows copied of estimated, key
ranges done). So it works from any machine that can reach the target, while the run goes on or long after its
process died. What only the running process knows (its rate, an index build's progress) is not on the target;
``pghaul serve``'s page shows that for the runs it starts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from pghaul.cli.fit import compact_table, figure_column, name_column
from pghaul.cli.say import megabytes
from pghaul.engine.jobs import JobStatus, TableStatus

if TYPE_CHECKING:
    from pghaul.follow import FollowStatus

# read_status reports a job marked running whose process no longer holds the migration lock as failed, with
# this opening its error (jobs.fail_stale_jobs writes the same once another run starts): the CLI names that
# state ``interrupted``, the one failure where the next step is always simply to run again.
INTERRUPTED_PREFIX = "interrupted"
_STATE_STYLES = {"running": "bold cyan", "done": "bold green", "failed": "bold red", "interrupted": "bold yellow"}


def shown_state(status: JobStatus) -> str:
    """``idle`` (nothing ran here), ``running``, ``done``, ``failed`` or ``interrupted``."""
    if status.state == "failed" and (status.error or "").startswith(INTERRUPTED_PREFIX):
        return "interrupted"
    return status.state


def status_dict(status: JobStatus) -> dict[str, Any]:
    """The status as ``db-status`` replies it, with the state the command shows (``interrupted`` included)."""
    return {**status.to_dict(), "state": shown_state(status)}


def render_status(status: JobStatus, target: str, follow: FollowStatus | None = None,
                  source_error: str | None = None) -> list[RenderableType]:
    """The job, then (when the target follows its source) the follow section (``follow_report.py``);
    ``source_error``: why the source's side of it could not be read."""
    parts = _job(status, target)
    if follow is not None:
        from pghaul.cli.follow_report import render_follow_status

        parts.extend(render_follow_status(follow))
        if source_error:
            parts.append(Text.assemble(("  source not read: ", "yellow"), source_error))
    return parts


def _job(status: JobStatus, target: str) -> list[RenderableType]:
    state = shown_state(status)
    if status.job_id is None and not status.tables:
        return [Text(f"nothing has run here: no pghaul job on {target}")]
    parts: list[RenderableType] = []
    if status.job_id is None:
        parts.append(Text(f"no migration job recorded on {target}; checkpoints of copied tables:"))
    else:
        head = Text(f"job {status.job_id}  ")
        head.append(state, style=_STATE_STYLES.get(state, "bold"))
        if status.phase and state != "done":
            head.append(f"  phase {status.phase}")
        parts.append(head)
        parts.append(Text(_times(status), style="dim"))
    if status.tables:
        parts.append(_totals(status.tables))
        parts.append(_tables(status.tables))
    if status.error:
        parts.append(Text.assemble(("error: ", "bold red"), status.error))
    if status.hint:
        parts.append(Text.assemble(("hint: ", "dim"), status.hint))
    if status.report:
        parts.extend(_summary(status.report))
    return parts


def _times(status: JobStatus) -> str:
    times = [f"started {_utc(status.started_at)}"]
    if status.finished_at:
        times.append(f"finished {_utc(status.finished_at)}")
        took = _seconds_between(status.started_at, status.finished_at)
        if took is not None:
            times.append(f"took {took:,.1f} s")
    elif status.updated_at:
        times.append(f"last recorded {_utc(status.updated_at)}")
    return "   ".join(times)


def _utc(value: str | None) -> str:
    """``2026-12-01T18:56:07Z`` from the target's timestamp, whatever the zone it was written in."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _totals(tables: list[TableStatus]) -> Text:
    done = sum(1 for t in tables if t.done)
    rows = sum(t.rows_copied + t.rows_skipped for t in tables)
    estimated = sum(max(t.rows_estimated, t.rows_copied + t.rows_skipped) for t in tables)
    return Text(f"tables: {done:,} of {len(tables):,} done   rows: {rows:,} of ~{estimated:,}   "
                f"{megabytes(sum(t.bytes for t in tables))}", style="bold")


def _tables(tables: list[TableStatus]) -> Table:
    table = compact_table()
    name_column(table, "table")
    figure_column(table, "rows\ncopied")
    figure_column(table, "of rows\nestimated")
    figure_column(table, "ranges\ndone")
    figure_column(table, "size")
    figure_column(table, "", "left")
    for t in tables:
        rows = t.rows_copied + t.rows_skipped
        mark = Text("done", style="green") if t.done else Text(f"{_percent(rows, t.rows_estimated)}", style="cyan")
        table.add_row(Text(t.table), f"{rows:,}", f"~{max(t.rows_estimated, rows):,}",
                      f"{t.ranges_done:,}/{t.ranges:,}", megabytes(t.bytes), mark)
    return table


def _percent(done: int, total: int) -> str:
    return f"{min(done / total, 1.0):.0%}" if total else "…"


def _summary(report: dict[str, Any]) -> list[RenderableType]:
    """What the finished job's report says in a few lines: rows, tables, large objects, the verification."""
    parts: list[RenderableType] = [Text("summary", style="bold")]
    tables = report.get("tables") or []
    parts.append(Text(f"  tables: {len(tables):,}   rows inserted: {report.get('rowsCopied', 0):,}   "
                      f"in {float(report.get('seconds') or 0):,.1f} s"))
    parts.append(Text(f"  rows already on the target (skipped): {report.get('rowsSkipped', 0):,}"))
    objects = report.get("largeObjects")
    if objects and objects.get("objects"):
        parts.append(Text(f"  large objects copied: {objects.get('copied', 0):,}   already on the target: "
                          f"{objects.get('skipped', 0):,}"))
    verify = report.get("verify")
    if verify is None:
        parts.append(Text("  not verified (run `pghaul verify` to compare source and target)", style="yellow"))
    elif verify.get("ok"):
        parts.append(Text("  verified: source and target match", style="green"))
    else:
        differences = verify.get("differences") or []
        parts.append(Text(f"  verification found {len(differences)} difference(s):", style="red"))
        parts.extend(Text(f"    {line}", style="red") for line in differences[:20])
        if len(differences) > 20:
            parts.append(Text(f"    … and {len(differences) - 20} more (`pghaul verify` lists them all)", style="red"))
    parts.extend(Text(f"  note: {notice}", style="yellow") for notice in report.get("notices") or [])
    return parts
