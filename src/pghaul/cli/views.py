"""The listeners the CLI draws the engine's events with, and which one a command gets.

- a terminal: ``ProgressView`` (``progress_view.py``), live bars for what is in flight and a line for what ended;
- no terminal (CI, a log, a PaaS console): ``PlainView``, a timestamped line per event, progress at most every few
  seconds per table, no control characters;
- ``--json``: ``JsonView``, one JSON object per line for every event, flushed as it happens.

What each event says is ``say.py``'s, so the terminal and the log tell the same story.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console

from pghaul import events as ev
from pghaul.cli import say
from pghaul.cli.fit import Line
from pghaul.engine.cutover import CatchUpRound
from pghaul.follow.events import FollowStartChosen, ReplicationCatchUp, ReplicationObjectChanged
from pghaul.sync.progress import SyncFinished, TablesToSync, TableSynced
from pghaul.verify.progress import TablesToVerify, TableVerified

# A log gets a progress line per table (and per index build, and for large objects) at most this often: a
# million-row table copied in 1,000-row chunks would otherwise write a thousand lines nobody reads. Its start
# and its end are always written.
PLAIN_PROGRESS_SECONDS = 5.0


class View:
    """A listener used as a context manager around an engine call. Events may come from the engine's worker
    threads: each is handled whole under one lock, so lines never interleave."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._synced = self._to_sync = 0
        self._verified = self._to_verify = 0

    def __enter__(self) -> View:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            self.handle(event)

    def handle(self, event: ev.Event) -> None:
        """Events that are a line in every view; the rest go to ``progress``."""
        if isinstance(event, ev.PhaseStarted):
            self.say(say.phase_started(event))
        elif isinstance(event, ev.PhaseFinished):
            self.say(say.phase_finished(event))
        elif isinstance(event, ev.Notice):
            self.say(*say.notice(event))
        elif isinstance(event, TablesToSync):
            self._to_sync, self._synced = event.tables, 0
            self.say(say.tables_to_sync(event))
        elif isinstance(event, TableSynced):
            self._synced += 1
            self.say(say.table_synced(event, self._synced, self._to_sync))
        elif isinstance(event, CatchUpRound):
            self.say(say.catch_up_round(event))
        elif isinstance(event, FollowStartChosen):
            self.say(say.follow_start(event))
        elif isinstance(event, ReplicationObjectChanged):
            self.say(say.replication_object(event))
        elif isinstance(event, TablesToVerify):
            self._to_verify, self._verified = event.tables, 0
            self.say(say.tables_to_verify(event))
        elif isinstance(event, TableVerified):
            self._verified += 1
            self.verified(event, say.table_verified(event, self._verified, self._to_verify))
        elif not isinstance(event, SyncFinished):  # the command prints the report's summary itself
            self.progress(event)

    def say(self, *lines: Line) -> None:
        raise NotImplementedError

    def verified(self, event: TableVerified, line: Line) -> None:
        self.say(line)

    def progress(self, event: ev.Event) -> None:
        """Tables, index builds, large objects, the replication lag: bars in a terminal, throttled lines in a
        log."""


def view_for(console: Console, as_json: bool) -> View:
    """The view for a command's progress: JSON lines, live bars in a terminal, or timestamped lines."""
    if as_json:
        return JsonView()
    if console.is_terminal and not console.is_dumb_terminal:
        from pghaul.cli.progress_view import ProgressView  # it builds on View: imported once View exists

        return ProgressView(console)
    return PlainView(console)


def utc_stamp(now: float | None = None) -> str:
    """``2026-12-01T18:56:07Z``: the moment a log line was written, in UTC whatever the server's zone."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))


class PlainView(View):
    """A timestamped line per event, written whole (never wrapped, never shortened: a log has no width) and
    flushed, with no colour, cursor movement or carriage return."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self._last: dict[str, float] = {}  # what last had a progress line written ("table x", "index y") -> when
        self._indexes: dict[str, str] = {}  # index builds seen, -> their last phase
        self._built: set[str] = set()  # the watcher may poll once more after the build: it stays built

    def say(self, *lines: Line) -> None:
        stamp = utc_stamp()
        self._write("".join(f"{stamp} {line.plain()}\n" for line in lines))

    def _write(self, text: str) -> None:
        file: TextIO = self.console.file
        file.write(text)
        file.flush()

    def _due(self, key: str, *, force: bool = False) -> bool:
        now = time.monotonic()
        if force or now - self._last.get(key, -PLAIN_PROGRESS_SECONDS) >= PLAIN_PROGRESS_SECONDS:
            self._last[key] = now
            return True
        return False

    def progress(self, event: ev.Event) -> None:
        if isinstance(event, ev.TableStarted):
            self._last[f"table {event.table}"] = time.monotonic()  # the start line counts as its first
            self.say(say.table_started(event))
        elif isinstance(event, ev.TableProgress):
            if self._due(f"table {event.table}"):
                self.say(say.table_progress(event))
        elif isinstance(event, ev.TableFinished):
            self._last.pop(f"table {event.table}", None)
            self.say(say.table_finished(event))
        elif isinstance(event, ev.IndexProgress):
            if event.index in self._built:
                return
            # A build's phase changing is news; its counts within a phase are progress.
            changed = self._indexes.get(event.index) != event.phase
            self._indexes[event.index] = event.phase
            if self._due(f"index {event.index}", force=changed):
                self.say(say.index_progress(event))
        elif isinstance(event, ev.StepApplied):
            if self._indexes.pop(event.name, None) is not None:
                self._built.add(event.name)
                self.say(say.index_built(event.name))
        elif isinstance(event, ev.LargeObjectsProgress):
            if self._due("large objects", force=event.done in (0, event.total)):
                self.say(say.large_objects(event))
        elif isinstance(event, ReplicationCatchUp):
            # The first poll (how far behind the pause left it) and the moment it is reached are always written.
            first = "replication lag" not in self._last
            if self._due("replication lag", force=first or event.reached):
                self.say(say.replication_catch_up(event))


class JsonView(View):
    """Every event as one line of JSON (``event.to_dict()``) on stdout, flushed: what a script reads while the
    run goes on. The command writes its report last, as ``{"event": "Report", …}`` (``json_line``)."""

    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__()
        self._out = out

    def handle(self, event: ev.Event) -> None:
        json_line(event.to_dict(), self._out)

    def say(self, *lines: Line) -> None:  # pragma: no cover - handle() writes every event itself
        pass


def json_line(data: dict[str, Any] | list[Any], out: TextIO | None = None) -> None:
    """One JSON value on one line, flushed; values JSON has no type for (datetimes, enums) as their text."""
    file = out or sys.stdout
    file.write(json.dumps(data, default=str, separators=(",", ":")) + "\n")
    file.flush()


def report_line(kind: str, data: dict[str, Any], out: TextIO | None = None) -> None:
    """The last line of a ``--json`` run: ``{"event": "Report", …}`` with the report's own fields beside."""
    json_line({"event": kind, **data}, out)
