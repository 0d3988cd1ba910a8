"""The follow section (issue 14): a writer at a fixed rate during ``migrate`` with follow, the replication lag
sampled throughout, then the cutover's write-freeze window — at the run's scale and at a smaller one.

Follow needs a source with ``wal_level = logical``. The main pair keeps PostgreSQL's defaults (``replica``), so this
section starts a pair of its own from the same embedded binaries: the source with ``wal_level = logical`` (its only
setting; the default room for ten slots and WAL senders is plenty), the target at the defaults (a subscription needs
none of its own). The main pair, and every other section's figures, are untouched. The dataset is built on that
source at both scales (untimed). Each run, at each scale:

1. **the full migrate**: ``migrate`` with verify off into an empty target, no writer — the reference of the scale's
   ratios (the ``× pghaul`` column);
2. twice, on a fresh copy of the dataset into an empty target — once for each cutover below, the order alternating
   from run to run: the **writer** (``benchmarks/follow_writer.py``, its own process, ``WRITES_PER_SECOND`` inserts
   and updates, each its own transaction) starts; ``migrate(follow=True)`` runs (the engine's defaults: verify on,
   against the copy's snapshot), ``follow_status()`` sampled every ``SAMPLE_SECONDS`` from before it starts; once
   it returns (its subscription created) the writer goes on until the lag stayed at most ``CAUGHT_UP_BYTES`` for
   ``CAUGHT_UP_SAMPLES`` samples in a row (at most ``CATCH_UP_LIMIT_SECONDS``), and for ``STEADY_SECONDS`` more
   (``--follow-steady-seconds``);
   then the writer stops ("writes paused") and ``finish_follow`` runs (``benchmarks/follow_child.py``) with
   ``verify_rows`` on (the engine's default: every row compared inside the window) or off (the schema only: the
   window that does not grow with the database). The window is its ``write_freeze_seconds``.

Logical replication cannot apply anything during the bulk copy: pghaul subscribes once the copy is verified, and the
slot keeps every change the writer made since the copy's snapshot. The lag therefore peaks when the subscription
starts (it is the writer's WAL of the whole migration); "keeps up" means it then falls under the bound and stays
there while the writer goes on.

Wrong results (listed first, exit status 1): migrate's own verification failing, a run that did not start follow,
a cutover that did not verify, a replication slot, publication or subscription left on either server afterwards,
the target's rows differing from the source's after the cutover (counts and a digest of every column the writer
touches, computed independently of pghaul), a writer that failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from benchmarks import dataset, servers
from benchmarks.counts import check_target, index_count, row_counts
from benchmarks.dataset import Scale
from benchmarks.methods import Context, MethodSkipped
from benchmarks.methods.binary_stream import BinaryStream
from benchmarks.methods.pghaul_migrate import (
    CALL_SECONDS,
    PghaulMigrate,
    VerifyFailed,
    engine_problem,
    last_json_line,
    last_lines,
)
from benchmarks.pghaul_child import ENGINE_MISSING
from benchmarks.report import (
    FOLLOW_FULL_MIGRATE,
    FOLLOW_MIGRATE,
    FOLLOW_WINDOW_ROWS,
    FOLLOW_WINDOW_SCHEMA,
    Results,
    Row,
    follow_group,
    one_line,
)

# The source's only setting besides PostgreSQL's defaults.
SOURCE_SETTINGS = {"wal_level": "logical"}
SOURCE_DB = "bench_follow_source"
TARGET_DB = "bench_follow_target"
TEMPLATE_DBS = ("bench_follow_template", "bench_follow_template_smaller")

WRITES_PER_SECOND = 200
SAMPLE_SECONDS = 0.5
CAUGHT_UP_BYTES = 1_000_000
CAUGHT_UP_SAMPLES = 3
CATCH_UP_LIMIT_SECONDS = 300.0
STEADY_SECONDS = 10.0

WRITER = Path(__file__).resolve().parent / "follow_writer.py"
CUTOVER_CHILD = Path(__file__).resolve().parent / "follow_child.py"
_WRITER_STOP_SECONDS = 30

LABELS = {
    FOLLOW_FULL_MIGRATE: "pghaul migrate, verify off, no writer (the full migrate the rows below are compared with)",
    FOLLOW_MIGRATE: f"migrate with follow, verify on, a writer at {WRITES_PER_SECOND} writes/s (both runs below)",
    FOLLOW_WINDOW_ROWS: "write-freeze window of finish_follow, verify_rows on (the default: every row compared)",
    FOLLOW_WINDOW_SCHEMA: "write-freeze window of finish_follow, verify_rows off (schema only: size-independent)",
}

# Every column the writer touches (the vectors are left out: the writer never changes them, and reading 384 floats
# a row as text would dominate the check). An order-independent sum of row hashes, with the row count.
DIGEST_SQL = {
    dataset.MIXED_TABLE: "SELECT count(*), coalesce(sum(('x' || left(md5(ROW(id, name, payload, happened_at, amount, "
                         "tags)::text), 15))::bit(60)::bigint), 0) FROM public.events_mixed",
    dataset.MEMORIES_TABLE: "SELECT count(*), coalesce(sum(('x' || left(md5(ROW(id, user_id, content, metadata, "
                            "created_at)::text), 15))::bit(60)::bigint), 0) FROM public.persistent_memories",
}


def follow_problem() -> str | None:
    try:
        from pghaul.follow import FollowCutoverOptions, finish_follow, follow_status  # noqa: F401
    except Exception as exc:
        return f"pghaul.follow is not available yet ({type(exc).__name__}: {exc})"
    return None


@dataclass(frozen=True)
class LagSample:
    t: float  # time.monotonic() when the status was read
    state: str
    lag_bytes: int | None
    lag_seconds: float | None


class LagSampler:
    """``follow_status()`` every ``SAMPLE_SECONDS`` from its own thread (the engine runs in another process)."""

    def __init__(self, source_url: str, target_url: str) -> None:
        self.source_url = source_url
        self.target_url = target_url
        self.samples: list[LagSample] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="follow-lag-sampler", daemon=True)

    def __enter__(self) -> LagSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        from pghaul.follow import follow_status

        due = time.monotonic()
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                status = follow_status(self.source_url, self.target_url)
                self.samples.append(LagSample(t, str(status.state), status.lag_bytes, status.lag_seconds))
            except Exception as exc:
                self.errors.append(one_line(exc))
            due += SAMPLE_SECONDS
            self._stop.wait(max(0.0, due - time.monotonic()))

    def after(self, t: float) -> list[LagSample]:
        return [s for s in list(self.samples) if s.t >= t]


class Writer:
    """``follow_writer.py`` in its own process: started, it has committed its first write; stopped, it says what it
    did."""

    def __init__(self, source_url: str, scale: Scale) -> None:
        argv = [sys.executable, str(WRITER), source_url, str(WRITES_PER_SECOND), str(scale.mixed_rows),
                str(scale.memories_rows)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if first != "ready":
            said = self.stop()
            raise RuntimeError(f"the writer did not start: {first or said.get('error')}")

    def stop(self) -> dict[str, Any]:
        """Stop writing; return as soon as the writer says its last write committed (then it exits)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        said = ""
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
            said = self.proc.stdout.readline()
        except OSError:
            pass  # it ended already: what it said is read below
        try:
            out, err = self.proc.communicate(timeout=_WRITER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        try:
            return last_json_line(said + out)
        except Exception:
            return {"writes": 0, "error": f"the writer said nothing: {last_lines(err)}"}


class CutoverChild:
    """``follow_child.py``: started and ready (pghaul imported), it calls ``finish_follow`` when told to."""

    def __init__(self, ctx: Context, verify_rows: bool) -> None:
        argv = [sys.executable, str(CUTOVER_CHILD), ctx.source_url, ctx.target_url,
                json.dumps({"verify_rows": verify_rows})]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        self.first = self.proc.stdout.readline().strip()

    def go(self) -> dict[str, Any]:
        """Writes are paused: the cutover, and what it reported."""
        out, err = self.proc.communicate(input="go\n" if self.first == "ready" else None)
        if self.proc.returncode == ENGINE_MISSING:
            raise MethodSkipped(self.first or "pghaul.follow is not available")
        if self.proc.returncode != 0:
            raise RuntimeError(f"finish_follow exited with {self.proc.returncode}: {last_lines(err or out)}")
        return last_json_line(out)


@dataclass
class FollowSection:
    results: Results
    root: Path  # where the section's servers keep their data
    work_dir: Path
    scales: tuple[Scale, Scale]  # the run's scale, and the smaller second one
    workers: int  # the workers of the run (only the Context needs them: pghaul's own are ``pghaul_workers``)
    pghaul_workers: int | None  # --workers, else None: pghaul's default for every migration of the section
    started: list[servers.Server]  # the harness stops these at the end
    say: Callable[[str], None]
    steady_seconds: float = STEADY_SECONDS  # how long the writer goes on once replication caught up
    rows: dict[str, dict[str, Row]] = field(default_factory=dict)

    def measure(self, runs: int) -> None:
        self.results.follow_scales = [scale.label for scale in self.scales]
        for scale in self.scales:
            group = follow_group(scale.label)
            self.rows[scale.label] = {
                k: self.results.row(group, k, v, is_pghaul=k == FOLLOW_FULL_MIGRATE) for k, v in LABELS.items()}
        problem = engine_problem() or follow_problem()
        if problem:
            self._skip(problem)
            return
        try:
            source, target = self._servers()
        except Exception as exc:
            self._fail(1, exc)
            return
        try:
            for run in range(1, runs + 1):
                for scale, template in zip(self.scales, TEMPLATE_DBS, strict=True):
                    ctx = Context(source, target, SOURCE_DB, TARGET_DB, self.workers, True, self.work_dir)
                    try:
                        self._run_once(ctx, template, scale, run, runs)
                    except MethodSkipped as exc:
                        self._skip(str(exc))
                        return
                    except Exception as exc:
                        self._fail(run, exc)
                        return
        finally:
            _drop_replication(target.url(TARGET_DB), source.url(SOURCE_DB))
            source.drop_database(SOURCE_DB)
            target.drop_database(TARGET_DB)

    def _servers(self) -> tuple[servers.Server, servers.Server]:
        """The section's own pair, the dataset built on its source at both scales (untimed)."""
        self.say("follow section: starting a source with wal_level = logical and a target (the same binaries)")
        source = servers.start_embedded_configured(self.root, "follow-source", SOURCE_SETTINGS)
        self.started.append(source)
        target = servers.start_embedded_configured(self.root, "follow-target", {})
        self.started.append(target)
        for scale, template in zip(self.scales, TEMPLATE_DBS, strict=True):
            self.say(f"follow section: building the dataset at scale {scale.label} on that source (untimed)")
            dataset.build_source(source.recreate_database(template), scale, with_vectors=True)
        # As for the main pair: a fresh server zero-fills its WAL segments during its first load, and recycles
        # them afterwards; one untimed stream of the rows first, so the first timed migrate is not the one slowed.
        self.say("follow section: warm-up, one untimed binary stream into that target …")
        warm_up = Context(source, target, TEMPLATE_DBS[0], TARGET_DB, self.workers, True, self.work_dir)
        target.recreate_database(TARGET_DB)
        stream = BinaryStream(self.workers)
        stream.prepare(warm_up)
        stream.run(warm_up)
        return source, target

    def _run_once(self, ctx: Context, template: str, scale: Scale, run: int, runs: int) -> None:
        tag = f"run {run}/{runs}, scale {scale.label}"
        ctx.source.copy_database(SOURCE_DB, template)
        expected_rows, expected_indexes = row_counts(ctx.source_url, True), index_count(ctx.source_url)
        ctx.target.recreate_database(ctx.target_db)
        self.say(f"{tag}: {LABELS[FOLLOW_FULL_MIGRATE]} …")
        outcome = PghaulMigrate(workers=self.pghaul_workers).run(ctx)
        check_target(ctx, expected_rows, expected_indexes)
        self._record(scale, FOLLOW_FULL_MIGRATE, outcome.extras[CALL_SECONDS])
        order = (True, False) if run % 2 else (False, True)
        for verify_rows in order:
            self._follow_once(ctx, template, scale, run, tag, verify_rows, expected_indexes)

    def _follow_once(self, ctx: Context, template: str, scale: Scale, run: int, tag: str, verify_rows: bool,
                     expected_indexes: int) -> None:
        mode = "verify_rows on" if verify_rows else "verify_rows off"
        detail: dict[str, Any] = {"run": run, "scale": scale.label, "verify_rows": verify_rows}
        self.results.follow_runs.append(detail)
        ctx.source.copy_database(SOURCE_DB, template)
        ctx.target.recreate_database(ctx.target_db)
        self.say(f"{tag}: writer at {WRITES_PER_SECOND}/s, migrate with follow (cutover {mode} next) …")
        migrate = PghaulMigrate(workers=self.pghaul_workers, verify=True, follow=True, key="pghaul-follow")
        writer = Writer(ctx.source_url, scale)
        try:
            with LagSampler(ctx.source_url, ctx.target_url) as sampler:
                try:
                    outcome = migrate.run(ctx)
                except VerifyFailed as exc:
                    self._wrong(f"{tag}: migrate with follow: {exc}")
                    outcome = exc.outcome
                self._record(scale, FOLLOW_MIGRATE, outcome.extras[CALL_SECONDS])
                moments = _moments(migrate.said, migrate.events)
                self._wait_until_caught_up(sampler, moments["subscribed"])
            # Started while the writer still writes (its start-up is no part of the window), told to go once the
            # writer's last write has committed.
            cutover_child = CutoverChild(ctx, verify_rows)
            self.say(f"{tag}: stopping the writer (writes paused), then finish_follow ({mode}) …")
        finally:
            wrote = writer.stop()
        paused = time.monotonic()
        cutover = cutover_child.go()
        cutover["writer_stopped_to_call_seconds"] = cutover.pop("called_monotonic") - paused
        detail["writer"] = wrote
        detail["migrate"] = {"seconds": outcome.extras[CALL_SECONDS], "follow": migrate.said.get("follow"),
                             **{k: v - moments["started"] for k, v in moments.items() if k != "started"}}
        detail["lag"] = _lag_figures(sampler, moments, self.steady_seconds)
        detail["sampler_errors"] = sampler.errors[:5]
        if wrote.get("error"):
            self._wrong(f"{tag}: the writer failed: {wrote['error']}")
        if not migrate.said.get("follow"):
            self._wrong(f"{tag}: migrate with follow returned without starting follow")
        detail["cutover"] = cutover
        self._record(scale, FOLLOW_WINDOW_ROWS if verify_rows else FOLLOW_WINDOW_SCHEMA,
                     cutover["write_freeze_seconds"])
        self._check(ctx, tag, mode, cutover, detail, expected_indexes)
        self._note(scale, _describe_run(tag, mode, detail))

    def _wait_until_caught_up(self, sampler: LagSampler, subscribed: float) -> None:
        """The writer goes on: until the lag is under the bound for a few samples in a row (or the limit passed),
        then ``steady_seconds`` more."""
        deadline = subscribed + CATCH_UP_LIMIT_SECONDS
        while time.monotonic() < deadline:
            caught = _caught_up_at(sampler.after(subscribed))
            if caught is not None:
                time.sleep(max(0.0, caught[1] + self.steady_seconds - time.monotonic()))
                return
            time.sleep(SAMPLE_SECONDS / 2)

    def _check(self, ctx: Context, tag: str, mode: str, cutover: dict[str, Any], detail: dict[str, Any],
               expected_indexes: int) -> None:
        if not cutover["ok"]:
            self._wrong(f"{tag}: finish_follow ({mode}) did not verify: {'; '.join(cutover['differences'])}")
        left = _replication_left(ctx.source_url, ctx.target_url)
        detail["left_behind"] = left
        if any(left.values()):
            self._wrong(f"{tag}: after finish_follow ({mode}) these remain: {_left_text(left)}")
        source_digest, target_digest = _digest(ctx.source_url), _digest(ctx.target_url)
        detail["rows_equal"] = source_digest == target_digest
        if source_digest != target_digest:
            self._wrong(f"{tag}: after finish_follow ({mode}) the target's rows differ from the source's "
                        f"(count, digest per table): source {source_digest}, target {target_digest}")
        indexes = index_count(ctx.target_url)
        if indexes != expected_indexes:
            self._wrong(f"{tag}: the target has {indexes} valid indexes, the source {expected_indexes}")

    def _record(self, scale: Scale, key: str, seconds: float) -> None:
        self.rows[scale.label][key].seconds.append(float(seconds))
        self.say(f"  {LABELS[key]}: {seconds:.2f} s")

    def _note(self, scale: Scale, line: str) -> None:
        self.results.notes.setdefault(follow_group(scale.label), []).append(line)
        self.say(f"  {line}")

    def _wrong(self, line: str) -> None:
        self.results.failures.append(line)
        self.say(f"WRONG RESULT: {line}")

    def _all_rows(self) -> list[Row]:
        return [row for rows in self.rows.values() for row in rows.values()]

    def _skip(self, reason: str) -> None:
        for row in self._all_rows():
            row.skipped = reason
        self.say(f"skip the follow section: {reason}")

    def _fail(self, run: int, exc: Exception) -> None:
        """The rows this run had not measured yet fail with the error; earlier runs' figures stay."""
        for row in self._all_rows():
            wanted = 2 * run if row.key == FOLLOW_MIGRATE else run
            if len(row.seconds) < wanted:
                row.failed = one_line(exc)
        self.say(f"FAILED the follow section in run {run}: {one_line(exc)}")


def _moments(said: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, float]:
    """When (``time.monotonic()``) the migration started, created its slot, finished copying rows, created the
    subscription and returned; from its events' times, missing ones from the next known moment."""
    started = float(said.get("started_monotonic", time.monotonic()))
    returned = started + float(said.get("migrate_seconds", 0.0))

    def first(predicate: Callable[[dict[str, Any]], bool], default: float) -> float:
        return next((started + e["t"] for e in events if predicate(e)), default)

    def created(kind: str) -> Callable[[dict[str, Any]], bool]:
        return lambda e: (e["event"] == "ReplicationObjectChanged" and e.get("kind") == kind
                          and e.get("action") == "created")

    subscribed = first(created("subscription"), returned)
    finished = [started + e["t"] for e in events if e["event"] == "TableFinished"]
    return {"started": started, "slot_created": first(created("replication slot"), started),
            "rows_copied": max(finished) if finished else subscribed, "subscribed": subscribed, "returned": returned}


def _caught_up_at(samples: list[LagSample]) -> tuple[float, float] | None:
    """The first ``CAUGHT_UP_SAMPLES`` samples in a row that were streaming with the lag under the bound: the
    times of the first and the last of them."""
    for i in range(len(samples) - CAUGHT_UP_SAMPLES + 1):
        window = samples[i:i + CAUGHT_UP_SAMPLES]
        if all(s.state == "streaming" and s.lag_bytes is not None and s.lag_bytes <= CAUGHT_UP_BYTES
               for s in window):
            return window[0].t, window[-1].t
    return None


def _lag_figures(sampler: LagSampler, moments: dict[str, float], steady_for: float) -> dict[str, Any]:
    samples = list(sampler.samples)
    subscribed = moments["subscribed"]
    with_bytes = [s for s in samples if s.lag_bytes is not None]
    peak = max(with_bytes, key=lambda s: s.lag_bytes or 0, default=None)
    caught = _caught_up_at([s for s in samples if s.t >= subscribed])
    # Once caught up (the samples that showed it left out): the writer goes on for steady_for.
    steady = [s for s in samples if caught is not None and caught[1] < s.t <= caught[1] + steady_for]
    seconds = [s.lag_seconds for s in samples if s.lag_seconds is not None]
    steady_seconds = [s.lag_seconds for s in steady if s.lag_seconds is not None]
    return {
        "samples": len(samples),
        "samples_before_subscription": sum(1 for s in samples if s.t < subscribed),
        "peak_bytes": None if peak is None else peak.lag_bytes,
        "peak_at_from_subscription": None if peak is None else peak.t - subscribed,
        "peak_seconds": max(seconds, default=None),
        "held_back_seconds": subscribed - moments["slot_created"],
        "caught_up_after_seconds": None if caught is None else caught[0] - subscribed,
        "caught_up_bytes": CAUGHT_UP_BYTES,
        "caught_up_limit_seconds": CATCH_UP_LIMIT_SECONDS,
        "steady_seconds": steady_for if caught is not None else 0.0,
        "steady_samples": len(steady),
        "steady_max_bytes": max((s.lag_bytes or 0 for s in steady), default=None),
        "steady_max_seconds": max(steady_seconds, default=None),
        "states": sorted({s.state for s in samples}),
    }


def _describe_run(tag: str, mode: str, detail: dict[str, Any]) -> str:
    lag, wrote, cutover, migrate = detail["lag"], detail["writer"], detail["cutover"], detail["migrate"]
    caught = lag["caught_up_after_seconds"]
    steady = lag["steady_seconds"]
    caught_text = (f"under {_mb(CAUGHT_UP_BYTES)} {caught:.1f} s after the subscription started, then at most "
                   f"{_mb(lag['steady_max_bytes'])} / {_s(lag['steady_max_seconds'])} over {steady:.0f} s"
                   if caught is not None else f"NOT under {_mb(CAUGHT_UP_BYTES)} within {CATCH_UP_LIMIT_SECONDS:.0f} s")
    catch_up = cutover["report"].get("catchUp") or {}
    return (
        f"{tag}, cutover {mode}: writer {wrote.get('writes', 0):,} writes at {wrote.get('rate', 0):.0f}/s "
        f"(at most {wrote.get('max_behind_seconds', 0):.2f} s behind its schedule); rows copied "
        f"{migrate['rows_copied']:.1f} s and subscription {migrate['subscribed']:.1f} s into the migrate; peak lag "
        f"{_mb(lag['peak_bytes'])} (changes held back up to {lag['held_back_seconds']:.1f} s until the "
        f"subscription), peak lag_seconds {_s(lag['peak_seconds'])}; lag {caught_text}; window "
        f"{cutover['write_freeze_seconds']:.2f} s = lag {catch_up.get('lagBytesWhenPaused', 0):,} bytes at the pause "
        f"caught up in {catch_up.get('seconds', 0):.2f} s + verify {cutover['verify_seconds'] or 0:.2f} s "
        f"({cutover['tables_compared']} tables' rows compared) + sequences and teardown; verified: "
        f"{'yes' if cutover['ok'] else 'NO'}; left on the servers: {_left_text(detail['left_behind']) or 'nothing'}; "
        f"rows equal to the source's: {'yes' if detail['rows_equal'] else 'NO'}"
    )


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value / 1e6:.2f} MB"


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _left_text(left: dict[str, list[str]]) -> str:
    return "; ".join(f"{kind} {', '.join(names)}" for kind, names in left.items() if names)


def _replication_left(source_url: str, target_url: str) -> dict[str, list[str]]:
    """Replication slots of the whole source server, publications of the source database, subscriptions of the
    whole target server (the section's servers hold nothing else)."""
    with psycopg.connect(source_url, autocommit=True) as conn:
        slots = [r[0] for r in conn.execute("SELECT slot_name FROM pg_replication_slots ORDER BY 1")]
        publications = [r[0] for r in conn.execute("SELECT pubname FROM pg_publication ORDER BY 1")]
    with psycopg.connect(target_url, autocommit=True) as conn:
        subscriptions = [r[0] for r in conn.execute("SELECT subname FROM pg_subscription ORDER BY 1")]
    return {"replication slots on the source": slots, "publications on the source": publications,
            "subscriptions on the target": subscriptions}


def _digest(url: str) -> dict[str, list[int]]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        out = {}
        for table, query in DIGEST_SQL.items():
            row = conn.execute(query).fetchone()  # type: ignore[call-overload]
            out[table] = [int(row[0]), int(row[1])] if row else []
        return out


def _drop_replication(target_url: str, source_url: str) -> None:
    """What a failed run may have left, so the section's databases can be dropped: the subscription (a database
    that has one cannot be dropped, and it would hold the slot), then the source's slots and publications."""
    try:
        with psycopg.connect(target_url, autocommit=True) as conn:
            for (name,) in conn.execute("SELECT subname FROM pg_subscription WHERE subdbid = "
                                        "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchall():
                ident = sql.Identifier(name)
                conn.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(ident))
                conn.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(ident))
                conn.execute(sql.SQL("DROP SUBSCRIPTION {}").format(ident))
    except psycopg.OperationalError:
        pass  # no such database: nothing there
    try:
        with psycopg.connect(source_url, autocommit=True) as conn:
            for _ in range(50):
                slots = conn.execute("SELECT slot_name, active_pid FROM pg_replication_slots").fetchall()
                if not slots:
                    break
                for name, pid in slots:
                    if pid is None:
                        conn.execute("SELECT pg_drop_replication_slot(%s)", [name])
                    else:
                        conn.execute("SELECT pg_terminate_backend(%s)", [pid])
                time.sleep(0.1)
    except psycopg.OperationalError:
        pass
