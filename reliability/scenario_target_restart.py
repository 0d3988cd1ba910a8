"""The target server restarted mid-copy: ``pg_ctl restart`` (fast or immediate, at random) at a random moment after
the copy's rows start to move, once or twice per migration; each migration must end verified through pghaul's
retries alone, with every row there once (counts and an md5 of every table's rows, and each sequence's position,
read without pghaul on both servers), or stop with one clear error and be finished by a plain rerun (counted as
``stopped``). An immediate stop is a crash to PostgreSQL: the target replays its WAL, and
pghaul's chunks (committed with ``synchronous_commit = off``) lose their checkpoints together with their rows.

The source is on a PostgreSQL 18 server of the scenario's own, the target on a second one that is restarted.

Run alone: ``./run reliability --only target_restart [--rounds N] [--seed S]``.
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

NAME = "target_restart"
DESCRIPTION = "the target server restarted (fast or immediate) at random moments mid-copy, many migrations"
DEFAULT_ROUNDS = 50
ROWS = 150_000
RESTARTS_PER_RUN = (1, 2)
DELAY = (0.0, 1.5)  # after the copy's first progress, or after the previous restart
MODES = ["fast", "immediate"]


@dataclass
class Restarts:
    """The restarts of one migration: a thread that waits for the copy to move, then restarts the target."""

    server: TestServer
    planned: list[tuple[float, str]]
    moving: threading.Event = field(default_factory=threading.Event)
    done: list[str] = field(default_factory=list)  # the phase each restart happened in
    failures: list[str] = field(default_factory=list)
    retries: int = 0
    phase: str = ""

    def __call__(self, event: Any) -> None:
        from pghaul import events

        if isinstance(event, events.PhaseStarted):
            self.phase = str(event.phase)
        elif isinstance(event, events.TableProgress):
            self.moving.set()
        elif isinstance(event, events.Retrying):
            self.retries += 1

    def run(self) -> None:
        from tests.fault_helpers import restart

        if not self.moving.wait(120):
            self.failures.append("the copy never started")
            return
        for delay, mode in self.planned:
            time.sleep(delay)
            try:
                phase = self.phase
                restart(self.server, mode)
                self.done.append(phase)
            except Exception as exc:  # the round counts it as a mismatch: a restart that did not happen
                self.failures.append(str(exc))


def run(rounds: int, seed: int, log: Callable[[str], None]) -> dict[str, int | float | str]:
    from tests.logical_servers import start_cluster
    from tests.servers import start_pg18, stop

    rng = random.Random(seed)
    source = start_pg18()
    target = start_cluster("restart-target", {})
    totals: Counter[str] = Counter()
    started = time.monotonic()
    try:
        for number in range(1, rounds + 1):
            figures = _round(source, target, rng)
            totals.update(figures)
            log(f"run {number}/{rounds}: {dict(figures)}")
    finally:
        stop(target)
        stop(source)
    out: dict[str, int | float | str] = {key: totals[key] for key in (
        "runs", "restarts", "restarts_in_data", "retries", "stopped", "reruns_verified", "unclear_errors",
        "rows_checked", "tables_checked", "mismatches")}
    out["seconds"] = int(time.monotonic() - started)
    return out


def _round(source: TestServer, target: TestServer, rng: random.Random) -> Counter[str]:
    from reliability.fault_runs import judge
    from tests.fault_helpers import fill_source

    from pghaul.engine import MigrateOptions, RetryPolicy, migrate

    source_url, target_url = source.create_database("src"), target.create_database("dst")
    try:
        fill_source(source_url, ROWS)
        planned = [(rng.uniform(*DELAY), rng.choice(MODES)) for _ in range(rng.randint(*RESTARTS_PER_RUN))]
        restarts = Restarts(target, planned)
        restarter = threading.Thread(target=restarts.run, name="restarter", daemon=True)
        restarter.start()

        def faulted() -> Any:
            try:
                return migrate(source_url, target_url, MigrateOptions(workers=2, batch_size=2_000), restarts,
                               retry=RetryPolicy(attempts=8, first_wait=0.5, max_wait=4.0))
            finally:
                restarter.join(timeout=120)

        figures = judge(source_url, target_url, faulted)
        figures.update(restarts=len(restarts.done), restarts_in_data=restarts.done.count("data"),
                       retries=restarts.retries, mismatches=len(restarts.failures))
        return figures
    finally:
        source.drop_database(source_url)
        _drop_when_up(target, target_url)


def _drop_when_up(server: TestServer, url: str) -> None:
    import psycopg

    for _ in range(60):
        try:
            server.drop_database(url)
            return
        except psycopg.OperationalError:
            time.sleep(0.5)

