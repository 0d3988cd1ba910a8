"""The benchmark harness still runs: every method moves the whole tiny dataset, the sync section's syncs carry
exactly the changes made, and the follow section's cutovers verify and leave nothing behind (correctness only:
seconds are never asserted)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from benchmarks.changes import ROUNDS, change_round, holes
from benchmarks.dataset import parse_scale

ROOT = Path(__file__).resolve().parent.parent
TINY = "0.002"  # 2,000 mixed rows and 270 memories: 20 and 3 rows changed per round
SYNC_KEYS = ("migrate", "migrate-verify", "sync-unchanged", "sync-changed", "catch-up", "write-freeze")
FOLLOW_KEYS = {"follow-full-migrate": 1, "follow-migrate": 2, "follow-window-rows": 1, "follow-window-schema": 1}
EVERY_PART_BUT = "pghaul,dump-restore,dump-psql,keyset-insert,binary-stream,raw-floor,sync,follow,pgcopydb,batch,memory"


def _run_benchmark(tmp_path: Path, skip: str, timeout: float = 300,
                   extra: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--scale", TINY, "--runs", "1", "--skip", skip, "--json", str(out),
         *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )
    results = json.loads(out.read_text()) if out.exists() else {}
    return proc, results


def _methods(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["key"]: m for group in results["groups"].values() for m in group}


@pytest.mark.slow
def test_every_benchmark_method_moves_the_whole_dataset(tmp_path: Path) -> None:
    proc, results = _run_benchmark(tmp_path, "pgcopydb,sync,follow")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    methods = _methods(results)
    expected = {"pghaul", "dump-restore", "dump-psql", "keyset-insert", "binary-stream", "raw-floor"}
    assert expected <= set(methods)
    for key in expected:
        # The harness counts rows (and indexes) on the target after each run and marks a short one as failed.
        assert methods[key]["failed"] is None and methods[key]["skipped"] is None, methods[key]
        assert len(methods[key]["seconds"]) == 1
    assert results["figures"]["batch latency ratio"] > 0


@pytest.mark.slow
def test_sync_section_runs_and_its_syncs_carry_exactly_the_changes_made(tmp_path: Path) -> None:
    skip = "pghaul,dump-restore,dump-psql,keyset-insert,raw-floor,follow,pgcopydb,batch,memory"
    proc, results = _run_benchmark(tmp_path, skip)
    log = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert results, log
    # The harness's own correctness checks (which also set its exit status), each failure on a line of its own.
    assert not results["failures"], "\n".join(results["failures"])
    assert proc.returncode == 0, log
    methods = _methods(results)
    for key in SYNC_KEYS:
        assert methods[key]["failed"] is None and methods[key]["skipped"] is None, methods[key]
        assert len(methods[key]["seconds"]) == 1

    scale = parse_scale(TINY)
    first, second = (change_round(scale, True, r) for r in ROUNDS)
    (run,) = results["sync_runs"]
    assert run["sync_unchanged"]["changes"] == 0
    reported = {t["table"]: {k: t[f"rows_{k}"] for k in ("inserted", "updated", "deleted")}
                for t in run["sync_changed"]["tables"]}
    assert reported == first.counts()
    assert min(c for counts in reported.values() for c in counts.values()) >= 1  # every kind, in every table
    cutover = run["cutover"]
    assert cutover["ok"] is True, cutover["differences"]
    final = cutover["final_sync"]
    carried = sum(r["rows_changed"] for r in cutover["catch_up"]["rounds"]) + sum(
        final[f"rows_{k}"] for k in ("inserted", "updated", "deleted"))
    assert carried == second.rows
    (issue_13,) = [lines for title, lines in results["targets"].items() if "issue 13" in title]
    assert len(issue_13) == 5  # each judged on this run's figures (met or MISSED: timing is not asserted)


@pytest.mark.slow
@pytest.mark.timeout(600)  # four cutovers, each with the writer running 2 s after replication caught up
def test_follow_section_runs_and_its_cutovers_verify_and_leave_nothing(tmp_path: Path) -> None:
    """At two scales, twice each (the cutover with and without verify_rows): a writer during migrate with follow,
    the lag sampled, the cutover verified, no slot, publication or subscription left, the target's rows equal to
    the source's (the harness's own checks, which also set its exit status)."""
    proc, results = _run_benchmark(tmp_path, EVERY_PART_BUT.replace(",follow", ""), timeout=600,
                                   extra=("--follow-steady-seconds", "2"))
    log = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert results, log
    assert not results["failures"], "\n".join(results["failures"])
    assert proc.returncode == 0, log
    big, small = results["follow_scales"]
    assert (big, small) == (TINY, f"{float(TINY) / 10:g}")
    groups = [rows for name, rows in results["groups"].items() if name.startswith("Follow at scale")]
    assert len(groups) == 2
    for rows in groups:
        by_key = {row["key"]: row for row in rows}
        for key, count in FOLLOW_KEYS.items():
            assert by_key[key]["failed"] is None and by_key[key]["skipped"] is None, by_key[key]
            assert len(by_key[key]["seconds"]) == count

    runs = results["follow_runs"]
    assert sorted((r["scale"], r["verify_rows"]) for r in runs) == sorted(
        (scale, verify_rows) for scale in (big, small) for verify_rows in (True, False))
    for run in runs:
        assert run["writer"]["error"] is None and run["writer"]["inserts"] > 0 and run["writer"]["updates"] > 0
        assert run["migrate"]["follow"]["start"] == "fresh" and run["migrate"]["follow"]["subscription"] == "created"
        assert "streaming" in run["lag"]["states"] and run["lag"]["samples"] > 0
        assert run["lag"]["steady_seconds"] == 2.0 and run["lag"]["steady_samples"] > 0
        cutover = run["cutover"]
        assert cutover["ok"] is True, cutover["differences"]
        assert sorted(cutover["report"]["teardown"]["dropped"]) == ["publication", "replication slot", "subscription"]
        # verify_rows off compares the schema only: no table's rows inside the window.
        assert (cutover["tables_compared"] > 0) is run["verify_rows"]
        assert not any(run["left_behind"].values()) and run["rows_equal"] is True
    (issue_14,) = [lines for title, lines in results["targets"].items() if "issue 14" in title]
    # Judged on this run's figures (met or MISSED: timing is not asserted), and the peak lag reported.
    assert sum(line.endswith(("— met", "— MISSED")) for line in issue_14) == 3
    assert any(line.startswith("peak lag") for line in issue_14)


def test_each_round_changes_a_third_each_spread_over_the_keys_and_rounds_never_overlap() -> None:
    scale = parse_scale("small")
    rows = {"public.events_mixed": scale.mixed_rows, "public.persistent_memories": scale.memories_rows}
    first, second = (change_round(scale, True, r) for r in ROUNDS)
    freed = holes(scale, True)
    for a, b in zip(first.tables, second.tables, strict=True):
        keys_a = {*a.inserts, *a.updates, *a.deletes}
        keys_b = {*b.inserts, *b.updates, *b.deletes}
        assert not keys_a & keys_b
        assert len(keys_a) == round(rows[a.table] / 100)
        assert max(a.counts.values()) - min(a.counts.values()) <= 1
        # Spread over the whole key range, inserts included: one key of each kind every three steps.
        step = rows[a.table] / len(keys_a)
        for kind in (a.inserts, a.updates, a.deletes):
            edges = [0, *kind, rows[a.table]]
            assert max(later - earlier for earlier, later in itertools.pairwise(edges)) <= 3 * step + 1
        assert set(freed[a.table.split(".")[1]]) == {*a.inserts, *b.inserts}
