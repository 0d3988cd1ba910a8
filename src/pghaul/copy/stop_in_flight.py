"""A stop asked for while one long statement runs: that statement is cancelled, not waited for.

Between chunks a run looks at its cancel event by itself. A single post-data statement is another matter: an HNSW
build over millions of rows, or a foreign key validated over a large table, can run for an hour, and a stop asked
for meanwhile (Ctrl-C, a PaaS redeploy that tells ``pghaul serve`` to shut down) would otherwise wait for all of
it, and a server that only waits a few seconds then kills the process would leave the build running with its
migration lock held. Every such statement runs in a transaction of its own that records it as done, so
cancelling one loses nothing: the next run builds it again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from pghaul.errors import RESUME_HINT, Cancelled

# How often the watching thread looks at the cancel event while the block runs.
WATCH_SECONDS = 0.2


@contextmanager
def cancel_statement_on_stop(conn: psycopg.Connection, cancel: threading.Event | None, what: str,
                             hint: str = RESUME_HINT) -> Iterator[None]:
    """While the block runs on ``conn``, a ``cancel`` that becomes set cancels the statement in flight; the
    failure that follows is raised as ``Cancelled`` (``what``: the work, for the message)."""
    if cancel is None:
        yield
        return
    finished = threading.Event()
    fired = threading.Event()
    # Held while the cancel is sent, and to end the block: no cancel reaches a statement run after the block
    # (one that arrives while the session is idle, PostgreSQL ignores).
    sending = threading.Lock()

    def watch() -> None:
        # Woken at once when the block ends (most steps take milliseconds), else every WATCH_SECONDS.
        while not cancel.is_set():
            if finished.wait(WATCH_SECONDS):
                return
        with sending:
            if finished.is_set():
                return
            fired.set()
            try:
                conn.cancel_safe(timeout=10)
            except (psycopg.Error, OSError):
                pass  # the session is gone already: its statement with it

    watcher = threading.Thread(target=watch, name="pghaul-stop-in-flight", daemon=True)
    watcher.start()
    try:
        yield
    except Exception as exc:
        if fired.is_set():
            raise Cancelled(f"stopped on request: {what} was cancelled before it finished", hint) from exc
        raise
    finally:
        with sending:
            finished.set()
