"""Connections dropped under a migration: pghaul's sessions on the source and the target ended with
``pg_terminate_backend`` at random moments of every phase — preflight, pre-data, data (copies, index builds,
checks), post-data, sequences, verify — over many migrations; each must end verified, by pghaul's retries alone,
with every row there once: counts and an md5 of every table's rows, and each sequence's position, read without
pghaul on both servers. A run that stops instead must stop with one clear error (a ``PghaulError``) and be finished by a
plain rerun (counted as ``stopped``: a fault the retry does not cover yet).

Each round is one migration of a fresh source (a keyed table with a secondary index, a table without a key, an
expression index slow enough to be caught building, a sequence, a view and a function) into an empty target on a
PostgreSQL 18 server of the scenario's own. Before it starts, a few kills are planned: each a moment (a phase's
start, the first progress of a copy, of an index build, a table compared), a delay after it (zero: at once, from
the progress listener, so even a phase of milliseconds is hit) and whose sessions (all pghaul's, the target's, the
source's, or one at random). A planned kill is spent when it fires, so a run sees at most that many failures and
the retry policy allows more.

Run alone: ``./run reliability --only terminate_backends [--rounds N] [--seed S]``.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.servers import TestServer

NAME = "terminate_backends"
DESCRIPTION = "pghaul's backends ended with pg_terminate_backend at random moments of every phase, many migrations"
DEFAULT_ROUNDS = 50
KILLS_PER_RUN = (1, 4)
# The moments a kill is aimed at: a phase's start, the first progress of a copy or a table's comparison (from the
# progress listener), or an index build seen running in pg_stat_activity (the "index build" kills: _index_builds).
MOMENTS = ["preflight", "pre-data", "data", "copy", "index build", "table checked", "post-data", "sequences",
           "verify"]
DELAY = (0.0, 0.6)  # after the moment; a third of the kills fire at once (index builds: as soon as seen)
# Whose sessions a kill ends: all pghaul's, the target's, the source's, one at random, or the source session that
# holds the copy's exported snapshot (idle in its transaction; its last query reads the snapshot's bounds).
WHOSE = ["all", "target", "source", "one", "snapshot holder"]
ROWS = 40_000
SLOW_INDEX_ROWS = 300
EXTRA = """
    CREATE FUNCTION item_label(bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'item ' || $1 $$;
    CREATE VIEW recent AS SELECT id, item_label(id) FROM item WHERE id > 100;
    CREATE TABLE note (id serial PRIMARY KEY, item_id bigint REFERENCES item, body text);
    INSERT INTO note (item_id, body) SELECT g, repeat('n', g % 50) FROM generate_series(1, 5000) g;
"""


@dataclass
class Kill:
    phase: str
    delay: float
    whose: str
    fired: bool = False


@dataclass
class Run:
    """One migration's kills as they happen: the listener and the timers share it."""

    admin_url: str
    source_db: str
    target_db: str
    kills: list[Kill]
    rng: random.Random
    ended: int = 0
    landed: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: Any) -> None:
        from pghaul import events

        if isinstance(event, events.Retrying):
            self.retries += 1
        moment = _moment(event)
        if moment is None:
            return
        for kill in self.kills:
            if not kill.fired and kill.phase == moment:
                kill.fired = True
                if kill.delay == 0:
                    self.fire(kill)
                else:
                    threading.Timer(kill.delay, self.fire, [kill]).start()
                return  # one kill per moment: the next planned for it waits for the retry's

    def fire(self, kill: Kill) -> None:
        from tests.fault_helpers import terminate_pghaul

        databases = {"all": [self.source_db, self.target_db], "target": [self.target_db],
                     "source": [self.source_db], "one": [self.rng.choice([self.source_db, self.target_db])]}
        if kill.whose == "snapshot holder":
            ended = terminate_pghaul(self.admin_url, [self.source_db], "%txid_snapshot_xmax%",
                                     state="idle in transaction")
        else:
            ended = terminate_pghaul(self.admin_url, databases[kill.whose], one=kill.whose == "one")
        self.count(kill, ended)

    def count(self, kill: Kill, ended: int) -> None:
        with self.lock:
            self.ended += ended
            if ended:
                self.landed[kill.phase] += 1


def _moment(event: Any) -> str | None:
    from pghaul import events
    from pghaul.verify.progress import TableVerified

    if isinstance(event, events.PhaseStarted):
        return str(event.phase)
    if isinstance(event, events.TableProgress):
        return "copy"
    if isinstance(event, TableVerified):
        return "table checked"
    return None


def _index_builds(watch: Run) -> Any:
    """A watcher that ends the target session building an index, as often as kills are planned for that moment
    (the progress events of a build can come too late for one that takes a fraction of a second)."""
    from tests.fault_helpers import Watcher, terminate_pghaul

    planned = [k for k in watch.kills if k.phase == "index build"]

    def act() -> int:
        ended = terminate_pghaul(watch.admin_url, [watch.target_db], "%CREATE INDEX%")
        if ended:
            kill = next(k for k in planned if not k.fired)  # the watcher stops once each has fired
            kill.fired = True
            watch.count(kill, ended)
        return ended

    return Watcher(act, times=len(planned), interval=0.005)


def run(rounds: int, seed: int, log: Callable[[str], None]) -> dict[str, int | float | str]:
    from tests.servers import start_pg18, stop

    rng = random.Random(seed)
    server = start_pg18()
    totals: Counter[str] = Counter()
    landed: Counter[str] = Counter()
    started = time.monotonic()
    try:
        for number in range(1, rounds + 1):
            figures, phases = _round(server, rng)
            totals.update(figures)
            landed.update(phases)
            log(f"run {number}/{rounds}: {dict(figures)} kills landed in {dict(phases)}")
    finally:
        stop(server)
    out: dict[str, int | float | str] = {key: totals[key] for key in (
        "runs", "kill_moments", "terminations", "retries", "stopped", "reruns_verified", "unclear_errors",
        "rows_checked", "tables_checked", "mismatches")}
    out.update({f"landed_{moment.replace(' ', '_')}": landed[moment] for moment in MOMENTS})
    out["seconds"] = int(time.monotonic() - started)
    return out


def _round(server: TestServer, rng: random.Random) -> tuple[Counter[str], Counter[str]]:
    from reliability.fault_runs import judge
    from tests.fault_helpers import connect, dbname, fill_source

    from pghaul.engine import MigrateOptions, RetryPolicy, migrate

    source_url, target_url = server.create_database("src"), server.create_database("dst")
    try:
        fill_source(source_url, ROWS, slow_index_rows=SLOW_INDEX_ROWS)
        with connect(source_url) as conn:
            conn.execute(EXTRA)  # type: ignore[arg-type]
        kills = [Kill(rng.choice(MOMENTS), 0.0 if rng.random() < 1 / 3 else rng.uniform(*DELAY), rng.choice(WHOSE))
                 for _ in range(rng.randint(*KILLS_PER_RUN))]
        watch = Run(server.admin_url, dbname(source_url), dbname(target_url), kills, random.Random(rng.random()))
        policy = RetryPolicy(attempts=len(kills) + 3, first_wait=0.2, max_wait=2.0)

        def faulted() -> Any:
            with _index_builds(watch):
                return migrate(source_url, target_url, MigrateOptions(workers=2, batch_size=1_000), watch,
                               retry=policy)

        figures = judge(source_url, target_url, faulted)
        time.sleep(max(DELAY))  # a timer still pending fires into nothing rather than into the next round
        figures.update(kill_moments=sum(watch.landed.values()), terminations=watch.ended, retries=watch.retries)
        return figures, watch.landed
    finally:
        server.drop_database(source_url)
        server.drop_database(target_url)

