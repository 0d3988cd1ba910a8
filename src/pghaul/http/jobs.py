"""Background work started by a request: the whole migration (``db-migrate-all``) and the post-data phase.

Each runs in a thread of the server process with a cancel event that the app's shutdown sets. The durable state
(job row, checkpoints) lives on the target, written by the engine, so a restarted server reads where the last
one stopped and a new ``db-migrate-all`` resumes from the last committed chunk.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pghaul import events
from pghaul.errors import PghaulError
from pghaul.http.live import LiveProgress
from pghaul.http.scrubbing import scrub_text

log = logging.getLogger("pghaul.http")

# How long shutdown waits for a job to reach a chunk boundary after it was told to stop.
STOP_WAIT_SECONDS = 30.0


@dataclass
class Work:
    """One background run: its thread, its cancel event, what it watches, and how it ended."""

    job_id: str
    kind: str  # "migrate" | "post-data"
    live: LiveProgress = field(default_factory=LiveProgress)
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    state: str = "running"  # running | done | failed
    error: str | None = None
    hint: str | None = None
    result: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id, "kind": self.kind, "state": "running" if self.running else self.state,
            "error": self.error, "hint": self.hint, **self.live.snapshot(),
        }


class BackgroundWork:
    """At most one run of each kind at a time in this process."""

    def __init__(self, listener: events.Listener = events.ignore) -> None:
        self._lock = threading.Lock()
        self._current: dict[str, Work] = {}
        self._listener = listener

    def current(self, kind: str) -> Work | None:
        with self._lock:
            return self._current.get(kind)

    def start(self, kind: str, job_id: str, body: Callable[[Work, events.Listener], dict[str, Any] | None]) -> Work:
        """Start ``body`` unless a run of this kind is already going; either way return the run."""
        with self._lock:
            existing = self._current.get(kind)
            if existing is not None and existing.running:
                return existing
            work = Work(job_id=job_id, kind=kind)
            listener = events.fan_out(work.live, self._listener)
            work.thread = threading.Thread(
                target=self._run, args=(work, body, listener), name=f"pghaul-{kind}-{job_id[:8]}", daemon=True
            )
            self._current[kind] = work
            work.thread.start()
            return work

    @staticmethod
    def _run(work: Work, body: Callable[[Work, events.Listener], dict[str, Any] | None],
             listener: events.Listener) -> None:
        try:
            work.result = body(work, listener)
            work.state = "failed" if work.cancel.is_set() and work.result is None else "done"
            if work.state == "failed":
                work.error = "stopped: the server shut down before the job finished"
        except PghaulError as exc:
            work.state, work.error, work.hint = "failed", scrub_text(exc.message), scrub_text(exc.hint)
            log.warning("%s job %s failed: %s", work.kind, work.job_id, scrub_text(str(exc)))
        except Exception as exc:
            work.state, work.error = "failed", "internal error: " + scrub_text(f"{type(exc).__name__}: {exc}")
            work.hint = "see the server log, then start it again: it resumes where it stopped"
            log.error("%s job %s crashed", work.kind, work.job_id, exc_info=exc)

    def stop_all(self, wait: float = STOP_WAIT_SECONDS) -> None:
        with self._lock:
            runs = list(self._current.values())
        for work in runs:
            work.cancel.set()
            if work.running:
                # Tells watchers (the page's log, a test holding the job at a chunk boundary) why it stops.
                self._listener(events.Notice(f"stopping {work.kind} job {work.job_id}: the server is shutting down",
                                             level="warning"))
        for work in runs:
            if work.thread is not None:
                work.thread.join(wait)
