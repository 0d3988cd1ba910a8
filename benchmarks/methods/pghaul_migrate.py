"""``pghaul migrate`` with default settings (verification off unless asked), in a child process whose peak memory
is read.

Two ways in: the engine (``pghaul.engine.migrate`` in benchmarks/pghaul_child.py, which also records progress
events, so the data phase and the HNSW build can be timed) or the CLI (``pghaul migrate --yes``, total time only).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.dataset import HNSW_INDEX_NAME
from benchmarks.methods import END_TO_END, Context, MethodSkipped, Outcome
from benchmarks.pghaul_child import ENGINE_MISSING

CHILD = Path(__file__).resolve().parent.parent / "pghaul_child.py"
DEFAULT_WORKERS_IF_UNKNOWN = 2
_ERROR_LINES = 3  # a traceback's last lines name the exception; earlier ones are mostly warnings and frames

CALL_SECONDS = "seconds inside migrate()"  # the engine's call alone, without the child's start-up (engine only)
DATA_SECONDS = "rows seconds"
DATA_STAGE_SECONDS = "data stage seconds"
HNSW_SECONDS = "HNSW build seconds"
PEAK_RSS_MB = "peak RSS MB"
# A directory to keep each run's progress events in (per-table timings, notices), for looking into a run.
KEEP_EVENTS_ENV = "PGHAUL_BENCH_EVENTS_DIR"


class VerifyFailed(RuntimeError):
    """The migration ran with verification on, and verification found differences: a correctness failure. The
    run itself finished, so its outcome is kept."""

    def __init__(self, message: str, outcome: Outcome) -> None:
        super().__init__(message)
        self.outcome = outcome


def engine_problem() -> str | None:
    try:
        from pghaul.engine import MigrateOptions, migrate  # noqa: F401
    except Exception as exc:
        return f"pghaul.engine.migrate is not available yet ({type(exc).__name__}: {exc})"
    return None


def default_workers(source_url: str, target_url: str) -> tuple[int, str]:
    """pghaul's own default worker count for these servers, so the parallel dump gets the same; and its origin."""
    if engine_problem() is None:
        from pghaul import engine

        workers = getattr(engine.MigrateOptions(), "workers", None)
        if isinstance(workers, int) and workers > 0:
            return workers, "pghaul's default"
        choose = getattr(engine, "default_workers", None)
        if callable(choose):
            from pghaul.connect import connect_source, connect_target

            with connect_source(source_url) as src, connect_target(target_url) as tgt:
                return int(choose(src, tgt)), "pghaul's default for these servers"
    return DEFAULT_WORKERS_IF_UNKNOWN, "pghaul's default not readable; assumed"


def cli_executable() -> str | None:
    beside_python = Path(sys.executable).with_name("pghaul")
    return str(beside_python) if beside_python.exists() else shutil.which("pghaul")


@dataclass
class PghaulMigrate:
    via: str = "engine"  # or "cli"
    workers: int | None = None  # None: pghaul's default
    key: str = "pghaul"
    label: str = "pghaul migrate (default settings, verify off)"
    measures: str = END_TO_END
    verify: bool = False
    follow: bool = False  # MigrateOptions.follow (the follow section, on servers with wal_level = logical)
    # What the engine's child said last (its JSON line) and the progress events of the last run (engine only).
    said: dict[str, Any] = field(default_factory=dict, repr=False)
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def unavailable(self, ctx: Context) -> str | None:
        if self.via == "engine":
            return engine_problem()
        exe = cli_executable()
        if exe is None:
            return "no pghaul executable found"
        helped = subprocess.run([exe, "migrate", "--help"], capture_output=True, text=True, check=False)
        if helped.returncode != 0:
            return "`pghaul migrate` does not exist yet"
        return None

    def prepare(self, ctx: Context) -> None:
        pass

    def run(self, ctx: Context) -> Outcome:
        events = ctx.work_dir / "pghaul-events.jsonl"
        events.unlink(missing_ok=True)
        argv = self._engine_argv(ctx, events) if self.via == "engine" else self._cli_argv(ctx)
        seconds, exit_code, peak_kb, out, err = run_measured(argv, ctx.work_dir)
        if exit_code == ENGINE_MISSING and self.via == "engine":
            raise MethodSkipped(out.strip() or "pghaul.engine.migrate is not available")
        if exit_code != 0:
            raise RuntimeError(f"pghaul exited with {exit_code}: {last_lines(err or out)}")
        extras: dict[str, float] = {PEAK_RSS_MB: peak_kb / 1024}
        said = last_json_line(out) if self.via == "engine" else {}
        self.said, self.events = said, []
        if "migrate_seconds" in said:
            extras[CALL_SECONDS] = float(said["migrate_seconds"])
        keep = os.environ.get(KEEP_EVENTS_ENV)
        if keep and events.exists():
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(events, Path(keep) / f"{self.key}-{time.strftime('%H%M%S')}.jsonl")
        if events.exists():
            self.events = _read_events(events)
            extras.update(_figures_from_events(self.events))
        if not said.get("ok", True):
            message = "pghaul migrate's own verification found differences between source and target"
            raise VerifyFailed(message, Outcome(seconds, extras))
        return Outcome(seconds, extras)

    def _engine_argv(self, ctx: Context, events: Path) -> list[str]:
        options: dict[str, Any] = {"verify": self.verify}
        if self.follow:
            options["follow"] = True
        if self.workers is not None:
            options["workers"] = self.workers
        return [sys.executable, str(CHILD), ctx.source_url, ctx.target_url, str(events), json.dumps(options)]

    def _cli_argv(self, ctx: Context) -> list[str]:
        exe = cli_executable()
        assert exe is not None
        argv = [exe, "migrate", "--yes", "--source", ctx.source_url, "--target", ctx.target_url]
        helped = subprocess.run([exe, "migrate", "--help"], capture_output=True, text=True, check=False).stdout
        if not self.verify and "--no-verify" in helped:
            argv.append("--no-verify")
        if self.workers is not None and "--workers" in helped:
            argv += ["--workers", str(self.workers)]
        return argv


def run_measured(argv: list[str], work_dir: Path) -> tuple[float, int, int, str, str]:
    """Wall seconds, exit code, peak RSS in KiB (this child and the children it waited for), stdout, stderr."""
    out_path, err_path = work_dir / "pghaul.out", work_dir / "pghaul.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        # wait4 gives this one child's resource usage; getrusage(RUSAGE_CHILDREN) would mix in pg_dump and others.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (
        seconds,
        proc.returncode,
        usage.ru_maxrss,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
    )


def last_json_line(stdout: str) -> dict[str, Any]:
    """What a child process said last: one JSON object on the last non-empty line of its stdout."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError("the child process printed nothing")
    said = json.loads(lines[-1])
    assert isinstance(said, dict)
    return said


def last_lines(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-_ERROR_LINES:])


def _read_events(path: Path) -> list[dict[str, Any]]:
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            events.append(json.loads(line))
    return events


def _figures_from_events(events: list[dict[str, Any]]) -> dict[str, float]:
    figures: dict[str, float] = {}
    rows = _rows_seconds(events)
    if rows is not None:
        figures[DATA_SECONDS] = rows
    stage = _phase_seconds(events, "data")
    if stage is not None:
        figures[DATA_STAGE_SECONDS] = stage
    hnsw = _hnsw_seconds(events)
    if hnsw is not None:
        figures[HNSW_SECONDS] = hnsw
    return figures


def _rows_seconds(events: list[dict[str, Any]]) -> float | None:
    """First table started to last table finished: the rows alone. pghaul's "data" stage also builds each
    table's indexes (HNSW included) once its rows are in, which the raw stream it is compared with does not."""
    starts = [e["t"] for e in events if e["event"] == "TableStarted"]
    ends = [e["t"] for e in events if e["event"] == "TableFinished"]
    if not starts or not ends:
        return None
    return float(max(ends) - min(starts))


def _phase_seconds(events: list[dict[str, Any]], phase: str) -> float | None:
    started = None
    for event in events:
        if event.get("phase") != phase:
            continue
        if event["event"] == "PhaseStarted":
            started = event["t"]
        elif event["event"] == "PhaseFinished":
            if event.get("seconds"):
                return float(event["seconds"])
            if started is not None:
                return float(event["t"] - started)
    return None


def _hnsw_seconds(events: list[dict[str, Any]]) -> float | None:
    """From the first progress poll of the index to the step that reports it built; without progress events,
    the gap before that step (steps run one after the other)."""
    progress = [e["t"] for e in events if e["event"] == "IndexProgress" and HNSW_INDEX_NAME in str(e.get("index"))]
    applied = [
        (i, e["t"])
        for i, e in enumerate(events)
        if e["event"] == "StepApplied" and HNSW_INDEX_NAME in str(e.get("name"))
    ]
    if progress:
        end = max([*progress, *(t for _, t in applied)])
        return float(end - min(progress))
    if applied and applied[0][0] > 0:
        i, t = applied[0]
        return float(t - events[i - 1]["t"])
    return None
