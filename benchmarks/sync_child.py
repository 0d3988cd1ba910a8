"""Runs one pghaul sync, or one guided cutover, in its own process (as the migrations run in pghaul_child.py).

Usage: sync_child.py sync|cutover SOURCE_URL TARGET_URL OPTIONS_JSON (``SyncOptions`` fields). The last line of
stdout is one JSON object with the seconds inside the engine's calls (the process's start-up and imports left
out) and the engine's reports. ``cutover`` runs ``catch_up`` and then, with nothing writing to the source any
more, ``finish`` with the writes paused from that moment. Exit code ENGINE_MISSING: the API is not there (yet).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script, Python puts benchmarks/ itself on the path; the shared exit code lives in the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.pghaul_child import ENGINE_MISSING

ACTIONS = ("sync", "cutover")


def _sync(source_url: str, target_url: str, options: Any) -> dict[str, Any]:
    from pghaul.sync import sync

    started = time.perf_counter()
    report = sync(source_url, target_url, options)
    return {"seconds": time.perf_counter() - started, "report": report.to_dict()}


def _cutover(source_url: str, target_url: str, options: Any) -> dict[str, Any]:
    from pghaul.engine.cutover import catch_up, finish

    started = time.perf_counter()
    caught = catch_up(source_url, target_url, options)
    catch_up_seconds = time.perf_counter() - started
    # Nothing writes to the source from here on: the app's writes count as paused from this moment.
    report = finish(source_url, target_url, options, freeze=False, writes_paused_at=time.monotonic())
    verified = report.verify
    return {
        "catch_up_seconds": catch_up_seconds,
        "catch_up": caught.to_dict(),
        "write_freeze_seconds": report.write_freeze_seconds,
        "ok": report.ok,
        "final_sync": None if report.sync is None else report.sync.to_dict(),
        "verify_seconds": None if verified is None else verified.seconds,
        "differences": [] if verified is None or verified.ok else verified.differences(),
    }


def main() -> int:
    action, source_url, target_url, options_json = sys.argv[1:5]
    if action not in ACTIONS:
        print(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        return 2
    try:
        from pghaul.engine.cutover import catch_up, finish  # noqa: F401
        from pghaul.sync import SyncOptions
    except Exception as exc:  # the engine is being built; the harness reports the reason and goes on
        print(f"pghaul.sync / pghaul.engine.cutover are not available: {type(exc).__name__}: {exc}")
        return ENGINE_MISSING
    options = SyncOptions(**json.loads(options_json))
    run = _sync if action == "sync" else _cutover
    print(json.dumps(run(source_url, target_url, options), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
