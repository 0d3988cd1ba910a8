"""Runs one pghaul migration in its own process, so its peak memory can be read on its own.

Usage: pghaul_child.py SOURCE_URL TARGET_URL EVENTS_FILE OPTIONS_JSON. Writes each progress event as a JSON line
with ``t``, seconds since the migration started. The last line of stdout is a JSON object: the seconds inside
``migrate`` (start-up and imports left out), ``ok`` (false only when its verification found differences), when
``migrate`` started on the machine's monotonic clock (``started_monotonic``, for placing the events on another
process's ``time.monotonic()``) and, with follow, what follow started (``FollowStarted.to_dict()``).
Exit code 3 means the engine is not there (yet).
"""

from __future__ import annotations

import json
import sys
import threading
import time

ENGINE_MISSING = 3


def main() -> int:
    source_url, target_url, events_path, options_json = sys.argv[1:5]
    try:
        from pghaul.engine import MigrateOptions, migrate
    except Exception as exc:  # the engine is being built; the harness reports the reason and goes on
        print(f"pghaul.engine.migrate is not available: {type(exc).__name__}: {exc}")
        return ENGINE_MISSING
    options = MigrateOptions(**json.loads(options_json))
    lock = threading.Lock()  # workers may emit from their own threads
    started = time.perf_counter()
    started_monotonic = time.monotonic()
    with open(events_path, "w", encoding="utf-8") as out:

        def listener(event: object) -> None:
            line = json.dumps({"t": time.perf_counter() - started, **event.to_dict()}, default=str)  # type: ignore[attr-defined]
            with lock:
                out.write(line + "\n")

        result = migrate(source_url, target_url, options, listener=listener)
    seconds = time.perf_counter() - started
    follow = getattr(result, "follow", None)
    print(json.dumps({"migrate_seconds": seconds, "ok": bool(getattr(result, "ok", True)),
                      "started_monotonic": started_monotonic,
                      "follow": None if follow is None else follow.to_dict()}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
