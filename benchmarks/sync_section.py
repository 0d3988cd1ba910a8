"""The sync and cutover section: a fresh full migrate, then sync and the cutover into its target, every run.

Each run works on its own copy of the source (``CREATE DATABASE … TEMPLATE``, untimed) and does, in order:

1. ``pghaul migrate`` with verify on and with verify off, each into an empty target (the order alternates from
   run to run); the verified one's target is the one synced into, as after a default ``pghaul migrate``;
2. ``sync()`` with nothing changed;
3. 1% of every table's rows changed on the source (benchmarks/changes.py, round 1), then ``sync()``: its counts
   must equal the changes made;
4. another 1% changed (round 2), ``catch_up()``, then ``finish()`` with the writes paused from that moment: its
   ``write_freeze_seconds`` (final sync + full verify) is the window, and it must verify.

Every figure is the seconds inside the engine's call, measured in its child process (start-up left out), so the
ratios compare the engine's work alike. Counts that differ from the changes made, or a cutover that does not
verify, are wrong results: they go to ``Results.failures`` and the run exits non-zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from benchmarks.changes import ChangeRound, apply_round, change_round, punch_holes
from benchmarks.counts import check_target, index_count, row_counts
from benchmarks.dataset import Scale
from benchmarks.methods import Context, MethodSkipped
from benchmarks.methods.pghaul_migrate import CALL_SECONDS, PghaulMigrate, VerifyFailed, engine_problem
from benchmarks.methods.pghaul_sync import PghaulSync, sync_problem
from benchmarks.report import (
    SYNC_CATCH_UP,
    SYNC_CHANGED,
    SYNC_FREEZE,
    SYNC_GROUP,
    SYNC_MIGRATE,
    SYNC_MIGRATE_VERIFIED,
    SYNC_UNCHANGED,
    Results,
    Row,
    one_line,
)

TEMPLATE_DB = "bench_sync_template"
SOURCE_DB = "bench_sync_source"
SCRATCH_TARGET_DB = "bench_sync_scratch_target"
LABELS = {
    SYNC_MIGRATE: "pghaul migrate, verify off (the full migrate the rows below are compared with)",
    SYNC_MIGRATE_VERIFIED: "pghaul migrate, verify on",
    SYNC_UNCHANGED: "sync(), nothing changed since the migrate",
    SYNC_CHANGED: "sync() after 1% of every table's rows changed",
    SYNC_CATCH_UP: "cutover: catch_up() after another 1% change (writes not paused yet)",
    SYNC_FREEZE: "cutover: write-freeze window of finish() (final sync + full verify)",
}
_REPORTED = ("inserted", "updated", "deleted")


@dataclass
class SyncSection:
    results: Results
    ctx: Context  # the main run's servers and workers; its source database is the template's origin
    scale: Scale
    workers: int | None  # --workers, else None: pghaul's default for both the migrations and the syncs
    say: Callable[[str], None]
    rows: dict[str, Row] = field(default_factory=dict)

    def measure(self, runs: int) -> None:
        self.rows = {k: self.results.row(SYNC_GROUP, k, v, is_pghaul=k == SYNC_MIGRATE) for k, v in LABELS.items()}
        problem = engine_problem() or sync_problem()
        if problem:
            self._skip(problem)
            return
        self.say("sync section: a copy of the source with the inserts' keys freed (untimed)")
        template_url = self.ctx.source.copy_database(TEMPLATE_DB, self.ctx.source_db)
        punch_holes(template_url, self.scale, self.ctx.with_vectors)
        try:
            for run in range(1, runs + 1):
                try:
                    self._run_once(run, runs)
                except MethodSkipped as exc:
                    self._skip(str(exc))
                    return
                except Exception as exc:
                    self._fail(run, exc)
                    return
        finally:
            self.ctx.source.drop_database(SOURCE_DB)
            self.ctx.source.drop_database(TEMPLATE_DB)
            self.ctx.target.recreate_database(self.ctx.target_db)

    def _run_once(self, run: int, runs: int) -> None:
        ctx = self.ctx
        ctx.source.copy_database(SOURCE_DB, TEMPLATE_DB)
        sctx = Context(ctx.source, ctx.target, SOURCE_DB, ctx.target_db, ctx.workers, ctx.with_vectors, ctx.work_dir)
        detail: dict[str, Any] = {"run": run}
        self.results.sync_runs.append(detail)
        self._migrations(sctx, run, runs, detail)
        syncer = PghaulSync(self.workers)

        self.say(f"run {run}/{runs}: sync with nothing changed …")
        unchanged = syncer.sync(sctx)
        self._record(SYNC_UNCHANGED, unchanged["seconds"])
        detail["sync_unchanged"] = _sync_detail(unchanged)
        if unchanged["report"]["changes"] != 0:
            self._wrong(f"run {run}: sync right after the migrate changed something: {_summary(unchanged)}")

        first = change_round(self.scale, ctx.with_vectors, 1)
        apply_round(sctx.source_url, first, ctx.with_vectors)
        self.say(f"run {run}/{runs}: sync after a 1% change ({first.describe()}) …")
        changed = syncer.sync(sctx)
        self._record(SYNC_CHANGED, changed["seconds"])
        detail["sync_changed"] = {**_sync_detail(changed), "expected": first.counts()}
        self._check_counts(run, first, changed)

        second = change_round(self.scale, ctx.with_vectors, 2)
        apply_round(sctx.source_url, second, ctx.with_vectors)
        self.say(f"run {run}/{runs}: cutover after another 1% change: catch_up, then finish …")
        cutover = syncer.cutover(sctx)
        self._record(SYNC_CATCH_UP, cutover["catch_up_seconds"])
        self._record(SYNC_FREEZE, cutover["write_freeze_seconds"])
        detail["cutover"] = {**cutover, "expected_rows": second.rows}
        self._check_cutover(run, second, cutover)

    def _migrations(self, sctx: Context, run: int, runs: int, detail: dict[str, Any]) -> None:
        """Both migrations into an empty target each, checked (rows, indexes); the order alternates from run to run.
        The verified one's target is the one synced into, as after a default ``pghaul migrate`` (its tables carry
        the sync baselines that verification against the copy's snapshot leaves); the other goes into a scratch
        database on the same server, dropped afterwards."""
        expected_rows, expected_indexes = row_counts(sctx.source_url, sctx.with_vectors), index_count(sctx.source_url)
        order = (True, False) if run % 2 else (False, True)
        detail["migrate_order"] = ["verify on" if verify else "verify off" for verify in order]
        for verify in order:
            key = SYNC_MIGRATE_VERIFIED if verify else SYNC_MIGRATE
            into = sctx if verify else replace(sctx, target_db=SCRATCH_TARGET_DB)
            into.target.recreate_database(into.target_db)
            self.say(f"run {run}/{runs}: {LABELS[key]} …")
            try:
                outcome = PghaulMigrate(workers=self.workers, verify=verify).run(into)
            except VerifyFailed as exc:
                self._wrong(f"run {run}: {exc}")
                outcome = exc.outcome
            check_target(into, expected_rows, expected_indexes)
            self._record(key, outcome.extras[CALL_SECONDS])
        sctx.target.drop_database(SCRATCH_TARGET_DB)

    def _check_counts(self, run: int, change: ChangeRound, synced: dict[str, Any]) -> None:
        reported = _reported_counts(synced)
        methods = {t["table"]: t["method"] for t in synced["report"]["tables"]}
        expected = change.counts()
        for table, counts in expected.items():
            have = reported.get(table, dict.fromkeys(_REPORTED, 0))
            verdict = "equal to the changes made" if have == counts else f"BUT {_counts_text(counts)} were made"
            self._note(f"run {run}: sync after the 1% change, {table} (found by {methods.get(table, '?')}): "
                       f"{_counts_text(have)} — {verdict}")
        self._note(f"run {run}: that sync compared {synced['report']['ranges_compared']:,} key ranges, of which "
                   f"{synced['report']['ranges_differing']:,} differed")
        if {t: reported.get(t) for t in expected} != expected:
            self._wrong(f"run {run}: sync reported {reported} for the changes {expected}")

    def _check_cutover(self, run: int, change: ChangeRound, cutover: dict[str, Any]) -> None:
        rounds = cutover["catch_up"]["rounds"]
        final = cutover["final_sync"] or {}
        carried = sum(r["rows_changed"] for r in rounds) + sum(final.get(f"rows_{k}", 0) for k in _REPORTED)
        per_round = ", then ".join(f"{r['rows_changed']:,}" for r in rounds)
        self._note(
            f"run {run}: cutover: catch_up {len(rounds)} round(s) carrying {per_round} rows "
            f"in {cutover['catch_up_seconds']:.2f} s; "
            f"window {cutover['write_freeze_seconds']:.2f} s = final sync {final.get('seconds', 0):.2f} s "
            f"({final.get('changes', 0)} changes) + verify {cutover['verify_seconds'] or 0:.2f} s; "
            f"verified: {'yes' if cutover['ok'] else 'NO'}"
        )
        if carried != change.rows:
            self._wrong(f"run {run}: the cutover's syncs carried {carried} rows, {change.rows} were changed")
        if not cutover["ok"]:
            self._wrong(f"run {run}: the cutover did not verify: {'; '.join(cutover['differences'][:5])}")

    def _record(self, key: str, seconds: float) -> None:
        self.rows[key].seconds.append(float(seconds))
        self.say(f"  {LABELS[key]}: {seconds:.2f} s")

    def _note(self, line: str) -> None:
        self.results.notes.setdefault(SYNC_GROUP, []).append(line)

    def _wrong(self, line: str) -> None:
        self.results.failures.append(line)
        self.say(f"WRONG RESULT: {line}")

    def _skip(self, reason: str) -> None:
        for row in self.rows.values():
            row.skipped = reason
        self.say(f"skip the sync section: {reason}")

    def _fail(self, run: int, exc: Exception) -> None:
        """The rows this run had not measured yet fail with the error; earlier runs' figures stay."""
        for row in self.rows.values():
            if len(row.seconds) < run:
                row.failed = one_line(exc)
        self.say(f"FAILED the sync section in run {run}: {one_line(exc)}")


def _reported_counts(synced: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {t["table"]: {k: int(t[f"rows_{k}"]) for k in _REPORTED} for t in synced["report"]["tables"]}


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[k]:,} {k}" for k in _REPORTED)


def _summary(synced: dict[str, Any]) -> str:
    return str(synced["report"].get("summary", ""))


def _sync_detail(synced: dict[str, Any]) -> dict[str, Any]:
    report = synced["report"]
    keys = ("ranges_compared", "ranges_differing", "rows_inserted", "rows_updated", "rows_deleted", "changes")
    return {"seconds": synced["seconds"], **{k: report[k] for k in keys}, "tables": report["tables"]}
