"""Runs follow's cutover in its own process (as the migrations run in pghaul_child.py): ``finish_follow`` with the
writes paused from the moment it is called.

Usage: follow_child.py SOURCE_URL TARGET_URL OPTIONS_JSON (``FollowCutoverOptions`` fields). Once pghaul is
imported it prints ``ready`` and waits for a line on stdin: the harness starts it while its writer still writes,
stops the writer (its last write committed) and then sends that line. The writes count as paused from that
moment, so the window (``write_freeze_seconds``) holds all of the engine's work from the last write on (the
replication lag left at the pause included) and none of this process's start-up. The last line of
stdout is one JSON object: the window, ``ok``, when the call began (``time.monotonic()``), the verify's seconds,
the first differences, and the report (``FollowCutoverReport.to_dict()`` without the verify's details). Exit code
ENGINE_MISSING: the API is not there.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

# Run as a script, Python puts benchmarks/ itself on the path; the shared exit code lives in the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.pghaul_child import ENGINE_MISSING

DIFFERENCES_KEPT = 5


def main() -> int:
    source_url, target_url, options_json = sys.argv[1:4]
    try:
        from pghaul.follow import FollowCutoverOptions, finish_follow
    except Exception as exc:  # the engine is being built; the harness reports the reason and goes on
        print(f"pghaul.follow is not available: {type(exc).__name__}: {exc}")
        return ENGINE_MISSING
    options = FollowCutoverOptions(**json.loads(options_json))
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":  # the harness went away without a word: no cutover
        return 1
    paused = time.monotonic()  # the writer has stopped: writes are paused from here
    report = finish_follow(source_url, target_url, options, writes_paused_at=paused)
    verified = report.verify
    said = report.to_dict()
    said.pop("verify", None)
    print(json.dumps({
        "write_freeze_seconds": report.write_freeze_seconds,
        "ok": report.ok,
        "called_monotonic": paused,
        "verify_seconds": None if verified is None else verified.seconds,
        "tables_compared": None if verified is None else len(verified.tables),
        "differences": [] if verified is None or verified.ok else verified.differences()[:DIFFERENCES_KEPT],
        "report": said,
    }, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
