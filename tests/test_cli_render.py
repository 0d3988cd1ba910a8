"""What the CLI prints, at 80 columns, without a terminal and as JSON lines, with the longest names PostgreSQL
allows (63 characters each side of the dot).

- in a terminal of 80 columns every line fits, and the figures (rows, MB, rate, time left, counts) are whole:
  names give way, in their middle or onto a line of their own;
- without a terminal (CI, a log, a PaaS console): a timestamped line per event, progress throttled, no escape
  sequence and no carriage return;
- with --json: every line of stdout is a JSON object, the report last.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from pghaul import events as ev
from pghaul.cli import say
from pghaul.cli.fit import Figures, Line, middle
from pghaul.cli.progress_view import ProgressView, Row, layout
from pghaul.cli.render import render_report
from pghaul.cli.sync_report import render_sync_summary
from pghaul.cli.views import PLAIN_PROGRESS_SECONDS, PlainView
from pghaul.kinds import Phase
from tests.conftest import run_sql

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 80
LONG_TABLE = "customer_lifetime_value_snapshots_partitioned_by_region_and_day"
LONG_SCHEMA = "reporting_warehouse_schema_for_quarterly_financial_statements_x"
BIG = f"public.{LONG_TABLE}"  # 12,345 rows
WIDE = f"{LONG_SCHEMA}.{LONG_TABLE}"  # 5,432 rows, an index
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")
ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")

SCHEMA = f"""
CREATE SCHEMA {LONG_SCHEMA};
CREATE TABLE public.{LONG_TABLE} (id int PRIMARY KEY, v text);
INSERT INTO public.{LONG_TABLE} SELECT g, md5(g::text) FROM generate_series(1, 12345) g;
CREATE TABLE {LONG_SCHEMA}.{LONG_TABLE} (id int PRIMARY KEY, v text);
INSERT INTO {LONG_SCHEMA}.{LONG_TABLE} SELECT g, md5(g::text) FROM generate_series(1, 5432) g;
CREATE INDEX ON {LONG_SCHEMA}.{LONG_TABLE} (v);
CREATE TABLE public.users (id int PRIMARY KEY, name text);
INSERT INTO public.users SELECT g, 'user ' || g FROM generate_series(1, 100) g;
"""
# After the migration: one insert, one update, one delete in the big table.
CHANGES = f"""
INSERT INTO public.{LONG_TABLE} VALUES (20000, 'new');
UPDATE public.{LONG_TABLE} SET v = 'changed' WHERE id = 7;
DELETE FROM public.{LONG_TABLE} WHERE id = 9;
"""


def test_names_are_the_longest_postgresql_allows() -> None:
    assert len(LONG_TABLE) == 63 and len(LONG_SCHEMA) == 63


def fits(lines: list[str], width: int = WIDTH) -> None:
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, "\n".join(too_wide)


def whole(figure: str, lines: list[str]) -> None:
    """``figure`` stands whole on one line (not cut, not broken over two)."""
    assert any(figure in line for line in lines), f"{figure!r} not whole in:\n" + "\n".join(lines)


# --- fitting, without a server ------------------------------------------------------------------------------------


def test_a_name_gives_up_its_middle_and_keeps_both_ends() -> None:
    name = "public.very_long_table_name_for_the_orders_of_last_year_table_name"
    short = middle(name, 26)
    assert len(short) == 26 and short.startswith("public.very_l") and short.endswith("_table_name")
    assert "…" in short
    assert middle("public.orders", 26) == "public.orders"


def test_a_line_that_stays_puts_its_figures_under_a_long_name_rather_than_cut_either() -> None:
    line = say.table_synced(_synced(BIG), 3, 12)
    lines = [t.plain for t in line.fit(WIDTH)]
    fits(lines)
    whole(BIG, lines)
    whole("+1,000 ~2,000 -3,000", lines)
    assert line.fit(200)[0].plain == "  [3/12] " + line.plain().removeprefix("sync [3/12] ")


@pytest.mark.parametrize("width", [80, 100, 60])
def test_live_rows_fit_and_their_figures_are_whole(width: int) -> None:
    rows = (
        Row(WIDE, say.progress_figures(4_102_000, 10_000_000, 3_300_000_000, 123_456.0), 0.41),
        Row(BIG, say.progress_figures(4_102, 12_345, 3_300_000, 12_000.0), 0.33),
        Row(f"index {LONG_TABLE}_v_idx", Figures(("1,234/5,678", "loading tuples in tree"), "index"), 0.2),
        Row("all tables", say.progress_figures(4_106_102, 10_012_345, 3_303_300_000, 120_000.0), 0.41),
    )
    lines = [t.plain for t in layout(rows, width)]
    fits(lines, width)
    for figure in ("4,102,000/10,000,000 rows", "3.1 GB", "123,456 rows/s", "eta 0:00:48", "4,102/12,345 rows",
                   "3.1 MB", "12,000 rows/s", "1,234/5,678", "4,106,102/10,012,345 rows"):
        whole(figure, lines)


def test_the_verify_report_fits_80_columns_with_every_count_whole(tmp_path: Path) -> None:
    from pghaul.verify.report import KeyRange, SequenceCheck, SequencePosition, TableCheck, VerifyReport

    report = VerifyReport("u@h/src", "u@h/dst", tables=[
        TableCheck(BIG, ("id",), 123_456_789, 123_456_788, 1_234, False, (KeyRange(1, ("5",), None, 5, 4),)),
        TableCheck(WIDE, ("id",), 5_432, 5_432, 6, True),
        TableCheck("public.users", ("id",), None, None, 1, False, error="permission denied for table users"),
    ], sequences=[SequenceCheck(f"public.{LONG_TABLE[:56]}_id_seq", SequencePosition(123_456_789, True),
                                SequencePosition(10, True))])
    lines = _render(render_report(report))
    fits(lines)
    for figure in ("123,456,789", "123,456,788", "1 of 1,234", "5,432", "0 of 6", "DIFFERS", "error"):
        whole(figure, lines)
    assert "permission denied for table users" in " ".join(" ".join(lines).split())  # said among the differences


def test_plain_progress_is_a_line_per_table_every_few_seconds_with_start_and_finish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("pghaul.cli.views.time.monotonic", lambda: clock[0])
    out = io.StringIO()
    view = PlainView(Console(file=out, width=WIDTH))
    view(ev.PhaseStarted(Phase.DATA, "1 table"))
    view(ev.TableStarted(BIG, 1_000_000))
    for chunk in range(1, 1001):  # a million rows in chunks of 1,000 over 62.5 seconds
        clock[0] += 0.0625
        view(ev.TableProgress(BIG, chunk * 1000, 1_000_000, chunk * 80_000, 16_666.0))
    view(ev.TableFinished(BIG, 1_000_000, 0, 80_000_000, 62.5))
    view(ev.PhaseFinished(Phase.DATA, 62.5))
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()
    assert all(STAMP.match(line) for line in lines)
    progress = [line for line in lines if f"table {BIG}  " in line]
    assert len(progress) == int(62.5 / PLAIN_PROGRESS_SECONDS)  # 12, not a thousand
    assert any(f"table {BIG} started  ~1,000,000 rows" in line for line in lines)
    assert any(f"table {BIG} copied  1,000,000 rows  76.3 MB  62.5 s  16,000 rows/s" in line for line in lines)
    whole("480,000/1,000,000 rows  36.6 MB  16,666 rows/s  eta 0:00:31", progress)


def test_an_index_build_is_a_live_row_until_its_step_applies_and_a_line_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pghaul.kinds import StepKind, StepOutcome

    index = f"{LONG_TABLE}_v_idx"[:63]
    build = [ev.IndexProgress(index, "building index: scanning table", n * 100, 1000) for n in range(1, 11)]
    build += [ev.IndexProgress(index, "building index: loading tuples in tree", 500, 1000)]
    applied = ev.StepApplied(Phase.POST_DATA, StepKind.INDEX, index, StepOutcome.APPLIED)
    late = ev.IndexProgress(index, "building index: loading tuples in tree", 1000, 1000)  # the watcher's last poll

    live = ProgressView(Console(file=io.StringIO(), width=WIDTH, force_terminal=True, record=True))
    for event in build:
        live(event)
    frame = [t.plain for t in layout(live.rows, WIDTH)]
    fits(frame)
    whole("500/1,000", frame)
    whole("loading tuples in tree", frame)
    live(applied)
    live(late)
    assert live.rows == ()  # built: no row left behind
    assert live.console.export_text().count(f"✓ index {index}") == 1

    clock = [0.0]
    monkeypatch.setattr("pghaul.cli.views.time.monotonic", lambda: clock[0])
    out = io.StringIO()
    plain = PlainView(Console(file=out, width=WIDTH))
    for event in build:
        clock[0] += 0.5
        plain(event)
    plain(applied)
    plain(late)
    lines = out.getvalue().splitlines()
    # ten polls in 5 s within a phase: only the first; then the phase that changed, then the end, once
    assert [line.split("Z ", 1)[1] for line in lines] == [
        f"index {index}  scanning table  100/1,000",
        f"index {index}  loading tuples in tree  500/1,000",
        f"index {index} built",
    ]


# --- on real servers ----------------------------------------------------------------------------------------------


def test_migrate_sync_and_their_reports_in_an_80_column_terminal(source_url: str, target_url: str) -> None:
    """The engine's own events through the terminal view: each live frame and each line fits 80 columns."""
    from pghaul.engine import MigrateOptions, migrate
    from pghaul.sync import sync

    run_sql(source_url, SCHEMA)
    out = io.StringIO()
    console = Console(file=out, width=WIDTH, force_terminal=True, record=True)
    view = ProgressView(console)  # not entered: no live refresh thread, the frames are checked one by one below
    frames: list[list[str]] = []

    def listener(event: ev.Event) -> None:
        view(event)
        frame = [t.plain for t in layout(view.rows, WIDTH)]
        fits(frame)
        for row in view.rows:
            whole(row.figures.slots[0], frame)  # rows of estimated rows, tables verified, …
        frames.append(frame)

    result = migrate(source_url, target_url, MigrateOptions(batch_size=1000, workers=2), listener=listener)
    assert result.ok
    assert any(any(BIG[:20] in line for line in frame) for frame in frames)  # the big table had a live row
    assert result.verify_report is not None
    for part in render_report(result.verify_report):
        console.print(part)
    run_sql(source_url, CHANGES)
    report = sync(source_url, target_url, listener=view)
    for part in render_sync_summary(report):
        console.print(part)

    lines = console.export_text().splitlines()
    fits(lines)
    whole("12,345 rows", lines)  # the big table's finished line (under its name)
    whole("5,432 rows", lines)
    whole("+1 ~1 -1", lines)  # the big table's sync line
    whole("rows: 1 inserted, 1 updated, 1 deleted", lines)
    assert not any(line.startswith(" ") and "…" in line for line in lines)  # lines that stay are never shortened


def test_migrate_in_a_real_80_column_terminal(source_url: str, target_url: str) -> None:
    """Through a pseudo-terminal: live bars, then lines that stay; no written line is wider than 80 columns."""
    run_sql(source_url, SCHEMA)
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, WIDTH, 0, 0))
    env = {**os.environ, "COLUMNS": str(WIDTH), "LINES": "24", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pghaul", "migrate", "--source", source_url, "--target", target_url, "--yes",
         "--batch-size", "1000"],
        stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, cwd=ROOT, env=env,
    )
    os.close(terminal)
    raw = _read_all(controller)
    assert proc.wait(timeout=60) == 0, raw.decode(errors="replace")
    text = raw.decode()
    assert "\x1b[" in text  # a terminal: it draws live
    visible = ESCAPE.sub("", text)
    fits(re.split(r"[\r\n]", visible))
    after_live = visible.replace("\r", "\n").splitlines()
    whole("12,345 rows", after_live)
    whole("5,432 rows", after_live)
    assert "migration complete" in visible


def test_without_a_terminal_each_event_is_a_plain_timestamped_line(source_url: str, target_url: str) -> None:
    run_sql(source_url, SCHEMA)
    started = time.monotonic()
    migrate = _run("migrate", "--source", source_url, "--target", target_url, "--yes", "--batch-size", "500")
    seconds = time.monotonic() - started
    run_sql(source_url, CHANGES)
    synced = _run("sync", "--source", source_url, "--target", target_url)
    verified = _run("verify", "--source", source_url, "--target", target_url)
    cutover = _run("cutover", "--source", source_url, "--target", target_url, "--writes-paused")
    listing = _run("tables", "--source", source_url, "--target", target_url, "--exact")
    status = _run("status", "--target", target_url)
    for proc in (migrate, synced, verified, cutover, listing, status):
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "\x1b" not in proc.stdout + proc.stderr and "\r" not in proc.stdout + proc.stderr
        report = [line for line in proc.stdout.splitlines() if not STAMP.match(line)]
        fits(report)  # what is not a log line is a report, drawn for 80 columns

    lines = migrate.stdout.splitlines()
    events = [line for line in lines if STAMP.match(line)]
    assert any("phase data started" in line for line in events)
    whole(f"table {BIG} started  ~12,345 rows", events)
    whole(f"table {BIG} copied  12,345 rows", events)
    whole(f"table {WIDE} copied  5,432 rows", events)
    # 25 chunks of the big table: at most a progress line per table every few seconds, not one per chunk
    progress = [line for line in events if f"table {BIG}  " in line]
    assert len(progress) <= 1 + seconds / PLAIN_PROGRESS_SECONDS
    whole("12,345", lines)  # in the report
    assert "migration complete" in migrate.stdout

    sync_lines = [line for line in synced.stdout.splitlines() if STAMP.match(line)]
    assert any(f"{BIG}  row versions: " in line and "ranges differed  +1 ~1 -1" in line for line in sync_lines)
    whole("rows: 1 inserted, 1 updated, 1 deleted", synced.stdout.splitlines())
    verify_lines = [line for line in verified.stdout.splitlines() if STAMP.match(line)]
    whole("verify [3/3]", verify_lines)
    whole("Verified: source and target match", verified.stdout.splitlines())
    assert "Switch now" in cutover.stdout
    whole("12,345", listing.stdout.splitlines())  # the exact count (the sync inserted one row, deleted one)
    whole("done", status.stdout.splitlines())


def test_json_is_an_event_per_line_then_the_report(source_url: str, target_url: str) -> None:
    run_sql(source_url, SCHEMA)
    dry = _run("migrate", "--source", source_url, "--target", target_url, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    [planned] = [json.loads(line) for line in dry.stdout.splitlines()]
    assert planned["event"] == "Report" and planned["dryRun"] is True and BIG in planned["plan"]["tables"]
    migrate = _run("migrate", "--source", source_url, "--target", target_url, "--yes", "--batch-size", "1000",
                   "--json")
    run_sql(source_url, CHANGES)
    synced = _run("sync", "--source", source_url, "--target", target_url, "--json")
    verified = _run("verify", "--source", source_url, "--target", target_url, "--json")
    cutover = _run("cutover", "--source", source_url, "--target", target_url, "--writes-paused", "--json")
    reports = {}
    for name, proc in (("migrate", migrate), ("sync", synced), ("verify", verified), ("cutover", cutover)):
        assert proc.returncode == 0, proc.stdout + proc.stderr
        events = [json.loads(line) for line in proc.stdout.splitlines()]  # every line is JSON
        assert all(isinstance(e, dict) and e.get("event") for e in events)
        assert events[-1]["event"] == "Report"
        assert "Report" not in [e["event"] for e in events[:-1]]
        reports[name] = events
    kinds = [e["event"] for e in reports["migrate"]]
    assert {"PhaseStarted", "TableStarted", "TableProgress", "TableFinished", "PhaseFinished"} <= set(kinds)
    finished = {e["table"]: e for e in reports["migrate"] if e["event"] == "TableFinished"}
    assert finished[BIG]["rows_copied"] == 12_345 and finished[WIDE]["rows_copied"] == 5_432
    # every chunk's progress is there for a script (no throttling in JSON)
    assert sum(1 for e in reports["migrate"] if e["event"] == "TableProgress" and e["table"] == BIG) >= 12
    assert reports["migrate"][-1]["ok"] is True and reports["migrate"][-1]["rowsCopied"] == 12_345 + 5_432 + 100
    assert next(e for e in reports["sync"] if e["event"] == "TableSynced" and e["table"] == BIG)["rows_updated"] == 1
    assert reports["sync"][-1]["rows_inserted"] == 1
    assert reports["verify"][-1]["ok"] is True
    assert reports["cutover"][-1]["cutover"]["ok"] is True

    status = _run("status", "--target", target_url, "--json")
    assert status.returncode == 0 and len(status.stdout.splitlines()) == 1
    assert json.loads(status.stdout)["state"] == "done"
    listing = _run("tables", "--source", source_url, "--json")
    assert [json.loads(line) for line in listing.stdout.splitlines()]

    nowhere = "postgresql://nobody:s3cret@127.0.0.1:1/nowhere?connect_timeout=2"
    failed = _run("verify", "--source", nowhere, "--target", target_url, "--json")
    assert failed.returncode == 1
    last = json.loads(failed.stdout.splitlines()[-1])
    assert last["event"] == "Error" and "source" in last["error"] and last["exitCode"] == 1
    assert "s3cret" not in failed.stdout + failed.stderr


# --- helpers ------------------------------------------------------------------------------------------------------


def _synced(table: str) -> object:
    from pghaul.kinds import SyncMethod
    from pghaul.sync.progress import TableSynced

    return TableSynced(table, SyncMethod.CHECKSUM, 1_234, 12, 1_000, 2_000, 3_000, 4.2)


def _render(parts: list) -> list[str]:
    console = Console(file=io.StringIO(), width=WIDTH, record=True)
    for part in parts:
        console.print(part)
    return console.export_text().splitlines()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(WIDTH), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "pghaul", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=180, check=False)


def _read_all(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the terminal's other end closed, the command ended
            break
        if not chunk:
            break
        out += chunk
    os.close(fd)
    return out


def test_line_plain_is_what_a_log_gets() -> None:
    line = Line("public.orders", "4,102/10,000 rows", word="table ", mark="✓ ", after="copied")
    assert line.plain() == "table public.orders copied  4,102/10,000 rows"
    assert line.fit(WIDTH)[0].plain == "✓ public.orders  4,102/10,000 rows"
