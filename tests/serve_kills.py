"""`pghaul serve` as a PaaS runs it (a process configured by environment variables), killed with SIGKILL at random
moments of a migration and started again, driven through the admin API the way the migration page drives it:
POST db-migrate-all to start, GET db-status to follow, and after a restart, when db-status says the job stopped,
POST db-migrate-all again (the page's Resume button). Shared by tests/test_serve_kills.py (a few kills) and
reliability/scenario_serve_kills.py (twenty and more per migration).

The check at the end is made without pghaul: every table's row count and an md5 over its rows' text, each
large object's md5, every sequence's position, read from both databases.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from tests.fixtures_data import database_digest

API = "/api/admin"
HEALTHZ = "/healthz"
START_TIMEOUT = 60.0
# The page polls db-status about this often while a job runs.
POLL_SECONDS = 0.3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """One `pghaul serve` at a time on a fixed port (a redeploy keeps its address), started and killed at will."""

    def __init__(self, source_url: str, target_url: str, secret: str, log_dir: Path | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DATABASE_URL": source_url, "NEW_DATABASE_URL": target_url,
                    "MIGRATION_SECRET": secret, "ALLOW_DB_MIGRATION": "true"}
        self.env.pop("PORT", None)
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="pghaul-serve-kills-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"serve-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pghaul", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pghaul serve exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if httpx.get(self.base + HEALTHZ, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"pghaul serve did not answer {HEALTHZ} within {START_TIMEOUT:.0f} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind, as an out-of-memory kill or a host that vanished."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def log_tail(self, chars: int = 3000) -> str:
        path = self.log_dir / f"serve-{self.starts}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


@dataclass
class KillRun:
    """What one migration under kills did."""

    kills: int = 0
    starts: int = 0  # POST db-migrate-all that started (or resumed) the job
    phases: Counter[str] = field(default_factory=Counter)  # the phase db-status showed last before each kill
    job_errors: list[str] = field(default_factory=list)  # failures other than "interrupted" (worth a look)
    state: str = ""
    verified: bool | None = None
    seconds: float = 0.0


@dataclass
class Driver:
    """The page's way, from a script: start, poll, and after each restart resume a stopped job."""

    serve: ServeProcess
    secret: str
    rng: random.Random
    log: Callable[[str], None]
    body: dict[str, Any] | None = None  # db-migrate-all's JSON body (the page sends none without follow)
    batch_size: int | None = None
    timeout: float = 600.0

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.serve.base + API, headers={"X-Migration-Secret": self.secret}, timeout=60)

    def status(self) -> dict[str, Any]:
        with self.client() as client:
            reply = client.get("/db-status")
        reply.raise_for_status()
        return dict(reply.json())

    def start_job(self, run: KillRun) -> bool:
        """POST db-migrate-all once the job is not running; False when the migration is already done."""
        deadline = time.monotonic() + self.timeout
        while True:
            status = self.status()
            if status["state"] == "done":
                return False
            if status["state"] != "running":
                # A stopped job's error: "interrupted" after a kill; anything else is worth reporting.
                error = status.get("error") or ""
                if status["state"] == "failed" and error and not error.startswith("interrupted"):
                    run.job_errors.append(error)
                    self.log(f"  job failed on its own: {error}")
                params = {"batchSize": str(self.batch_size)} if self.batch_size else None
                with self.client() as client:
                    reply = client.post("/db-migrate-all", params=params, json=self.body)
                reply.raise_for_status()
                started = reply.json()
                if started.get("started"):
                    run.starts += 1
                    return True
                if started.get("state") == "done":
                    return False
            # The killed process's sessions may still hold the target's lock for a moment: db-status says running.
            if time.monotonic() > deadline:
                raise AssertionError(f"the job never became startable: {status}")
            time.sleep(POLL_SECONDS)

    def run_with_kills(self, kills: int, delay: tuple[float, float]) -> KillRun:
        """Start the migration, kill it ``kills`` times at random moments (restarting and resuming each time), then
        let it finish (resuming after any failure, as the page's Resume button would)."""
        run = KillRun()
        started = time.monotonic()
        self.serve.start()
        try:
            self.kill_cycles(run, kills, delay)
            self.finish(run)
        finally:
            self.serve.stop()
        run.seconds = time.monotonic() - started
        return run

    def kill_cycles(self, run: KillRun, kills: int, delay: tuple[float, float]) -> None:
        """``kills`` times (fewer if the migration ends first): (re)start the job, wait a random moment of ``delay``
        seconds polling db-status, SIGKILL the server, start it again."""
        for _ in range(kills):
            if not self.start_job(run):
                return
            phase = self._poll_for(self.rng.uniform(*delay))
            if phase is None:  # done before the kill: the migration ended
                return
            self.serve.kill()
            run.kills += 1
            run.phases[phase] += 1
            self.log(f"  kill {run.kills} in {phase}")
            self.serve.start()

    def kill_in_phases(self, run: KillRun, aims: list[set[str]], delay: tuple[float, float]) -> None:
        """For each set of phases in ``aims``: (re)start the job, poll db-status quickly until it shows one of them,
        wait a random moment of ``delay`` seconds and SIGKILL the server (the later phases are short: a random moment
        from the start rarely lands in them). Stops when the migration ends first."""
        for phases in aims:
            if not self.start_job(run):
                return
            while (status := self.status())["state"] == "running" and status.get("phase") not in phases:
                time.sleep(0.05)
            if status["state"] == "done":
                return
            time.sleep(self.rng.uniform(*delay))
            self.serve.kill()
            run.kills += 1
            phase = str(status.get("phase") or status["state"])
            run.phases[phase] += 1
            self.log(f"  kill {run.kills} in {phase} (aimed)")
            self.serve.start()

    def _poll_for(self, seconds: float) -> str | None:
        """Poll db-status like the page for ``seconds``; the phase last seen, or None once the job is done."""
        end = time.monotonic() + seconds
        phase = "starting"
        while True:
            status = self.status()
            if status["state"] == "done":
                return None
            phase = status.get("phase") or phase
            left = end - time.monotonic()
            if left <= 0:
                return phase
            time.sleep(min(POLL_SECONDS, left))

    def finish(self, run: KillRun) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            self.start_job(run)
            status = self.status()
            while status["state"] == "running" and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                status = self.status()
            if status["state"] == "done":
                run.state = "done"
                report = status.get("report") or {}
                verify = report.get("verify") if isinstance(report, dict) else None
                run.verified = bool(verify and verify.get("ok"))
                return
        raise AssertionError(f"the migration did not finish within {self.timeout:.0f} s")


def new_secret() -> str:
    return secrets.token_hex(32)


# --- the independent check ------------------------------------------------------------------------------------


def large_object_digest(url: str) -> dict[int, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT oid::int8, md5(lo_get(oid)) FROM pg_largeobject_metadata ORDER BY 1").fetchall()
    return {int(oid): str(md5) for oid, md5 in rows}


def sequence_positions(url: str) -> dict[str, tuple[int | None, bool]]:
    with psycopg.connect(url, autocommit=True) as conn:
        names = conn.execute(
            "SELECT schemaname, sequencename FROM pg_sequences WHERE schemaname <> 'pghaul' ORDER BY 1, 2"
        ).fetchall()
        out: dict[str, tuple[int | None, bool]] = {}
        for schema, name in names:
            row = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(schema, name)))
            found = row.fetchone()
            assert found is not None
            out[f"{schema}.{name}"] = (found[0], found[1])
    return out


@dataclass(frozen=True)
class Comparison:
    tables: int
    rows: int
    large_objects: int
    sequences: int
    mismatches: list[str]


def compare_databases(source_url: str, target_url: str) -> Comparison:
    """Counts and digests of every table, large object and sequence, read from both databases without pghaul."""
    src, tgt = database_digest(source_url), database_digest(target_url)
    mismatches = [f"table {t}: source {src.get(t)} target {tgt.get(t)}" for t in sorted(set(src) | set(tgt))
                  if src.get(t) != tgt.get(t)]
    src_lo, tgt_lo = large_object_digest(source_url), large_object_digest(target_url)
    mismatches += [f"large object {oid}" for oid in sorted(set(src_lo) | set(tgt_lo))
                   if src_lo.get(oid) != tgt_lo.get(oid)]
    src_seq, tgt_seq = sequence_positions(source_url), sequence_positions(target_url)
    mismatches += [f"sequence {s}: source {src_seq.get(s)} target {tgt_seq.get(s)}"
                   for s in sorted(set(src_seq) | set(tgt_seq)) if src_seq.get(s) != tgt_seq.get(s)]
    return Comparison(len(src), sum(count for count, _ in src.values()), len(src_lo), len(src_seq), mismatches)
