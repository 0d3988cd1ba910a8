"""The application of the follow section: writes to the source at a fixed rate, in its own process, until told to
stop.

Usage: follow_writer.py SOURCE_URL WRITES_PER_SECOND MIXED_ROWS MEMORIES_ROWS. Each write is its own transaction
(autocommit), due at ``start + i / rate`` (a writer that falls behind writes without pausing until it is on time
again): every second write inserts a new ``events_mixed`` row (keys from ``NEW_KEYS_FROM`` on, above the dataset's),
the others update an existing row's non-indexed columns, alternately in ``events_mixed`` (``amount``,
``payload``) and in ``persistent_memories`` (``metadata``), at keys spread over each table. It prints ``ready``
once its first write committed; a line on stdin (or its end) stops it, and it prints one JSON object: the writes,
how long it wrote, the rate reached, how far behind its schedule it fell at most, and an error if one stopped it.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import psycopg

NEW_KEYS_FROM = 1_000_000_000_000

INSERT = """
INSERT INTO public.events_mixed (id, name, payload, happened_at, amount, tags)
VALUES (%(key)s, 'written during follow ' || %(i)s, jsonb_build_object('kind', 'follow', 'write', %(i)s::int),
        now(), %(i)s::numeric / 100, ARRAY['follow', 'write' || %(i)s])
"""
UPDATE_MIXED = """
UPDATE public.events_mixed
   SET amount = coalesce(amount, 0) + 1, payload = payload || jsonb_build_object('w', %(i)s::int)
 WHERE id = %(key)s
"""
UPDATE_MEMORIES = """
UPDATE public.persistent_memories SET metadata = metadata || jsonb_build_object('w', %(i)s::int) WHERE id = %(key)s
"""


def _spread(i: int, rows: int) -> int:
    """A key in 1..rows; consecutive writes land far apart (a large prime step)."""
    return (i * 7_919_993) % rows + 1


def main() -> int:
    url, rate, mixed_rows, memories_rows = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    stop = threading.Event()

    def wait_for_stop() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    writes = inserts = updates = 0
    behind = 0.0
    error = None
    started = time.monotonic()
    try:
        with psycopg.connect(url, autocommit=True, application_name="pghaul-bench-writer") as conn:
            started = time.monotonic()
            while not stop.is_set():
                due = started + writes / rate
                now = time.monotonic()
                if due > now:
                    if stop.wait(due - now):
                        break
                else:
                    behind = max(behind, now - due)
                i = writes + 1
                if i % 2:
                    conn.execute(INSERT, {"key": NEW_KEYS_FROM + inserts, "i": i})
                    inserts += 1
                elif i % 4:
                    conn.execute(UPDATE_MIXED, {"key": _spread(i, mixed_rows), "i": i})
                    updates += 1
                else:
                    conn.execute(UPDATE_MEMORIES, {"key": _spread(i, memories_rows), "i": i})
                    updates += 1
                writes = i
                if writes == 1:
                    print("ready", flush=True)
    except Exception as exc:  # reported to the harness, which counts it as a wrong result
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        if writes == 0:
            print("ready", flush=True)  # the harness waits for this line; the error follows
    seconds = time.monotonic() - started
    print(json.dumps({"writes": writes, "inserts": inserts, "updates": updates, "seconds": seconds,
                      "rate": writes / seconds if seconds else 0.0, "max_behind_seconds": behind, "error": error}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
