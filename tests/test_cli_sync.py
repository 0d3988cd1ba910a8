"""`pghaul sync`, `pghaul cutover`, `pghaul freeze` and `pghaul unfreeze` end to end on real servers: what they
print, their exit codes, what they change, and that no password ever shows."""

from __future__ import annotations

import json
import os
import pty
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from typer.testing import CliRunner, Result

from pghaul.cli import app
from tests.conftest import run_sql

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
# Test setup still writes to a frozen source, as an administrator would: it asks for a writable session.
WRITABLE = "-c default_transaction_read_only=off"

SCHEMA = """
CREATE TABLE public.accounts (id serial PRIMARY KEY, email text UNIQUE NOT NULL, name text);
CREATE TABLE public.orders (id int PRIMARY KEY, account_id int NOT NULL REFERENCES public.accounts (id)
                            ON DELETE CASCADE, total numeric(12, 2));
INSERT INTO public.accounts (email, name) SELECT 'user' || i || '@example.com', 'user ' || i
  FROM generate_series(1, 300) AS i;
INSERT INTO public.orders SELECT i, 1 + i % 300, i * 1.25 FROM generate_series(1, 600) AS i;
SELECT lo_from_bytea(7001, 'first'::bytea);
ALTER DATABASE {db} SET work_mem = '8MB';
"""

# What the app writes after the migration: accounts +1 ~2, orders -1, one large object more, the sequence moves.
CHANGES = """
INSERT INTO public.accounts (email, name) VALUES ('new@example.com', 'new');
UPDATE public.accounts SET name = 'renamed' WHERE id IN (10, 200);
DELETE FROM public.orders WHERE id = 5;
SELECT lo_from_bytea(7002, 'second'::bytea);
"""


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False, env=env)


def json_report(stdout: str) -> dict:
    """The report a ``--json`` run ends with: its last line, ``{"event": "Report", …}``, after one per event."""
    lines = stdout.splitlines()
    report = json.loads(lines[-1])
    assert report["event"] == "Report", lines[-1]
    return report


def flat(text: str) -> str:
    """The output with every run of whitespace as one space: rich wraps long lines at the terminal's width."""
    return " ".join(text.split())


def admin(url: str, statement: str, *names: str | sql.Composable) -> list[tuple]:
    """One statement as the test's superuser in a writable session; strings in ``names`` are identifiers."""
    args = [sql.Identifier(n) if isinstance(n, str) else n for n in names]
    with psycopg.connect(url, autocommit=True, options=WRITABLE) as conn:
        cur = conn.execute(sql.SQL(statement).format(*args, db=sql.Identifier(conn.info.dbname)))
        return cur.fetchall() if cur.description else []


def setup_source(url: str) -> None:
    admin(url, SCHEMA)


def migrated(source_url: str, target_url: str) -> None:
    """The source filled and migrated with the command, then changed by the app."""
    setup_source(source_url)
    result = invoke("migrate", "--source", source_url, "--target", target_url, "--yes", "--no-verify")
    assert result.exit_code == 0, result.output
    admin(source_url, CHANGES)


def role_settings(url: str) -> list[tuple]:
    return admin(url, "SELECT s.setrole, s.setconfig FROM pg_db_role_setting s JOIN pg_database d "
                      "ON d.oid = s.setdatabase WHERE d.datname = current_database() ORDER BY s.setrole")


@contextmanager
def password_urls(source_url: str, target_url: str) -> Iterator[tuple[str, str, str]]:
    """A superuser role with a password (superuser: it owns nothing, and freeze needs the database's owner or a
    superuser), and postgresql:// URLs of both databases as it, the password in plain sight."""
    name, password = f"pghaul_cli_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(16)
    admin(source_url, "CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}", name, sql.Literal(password))

    def as_role(url: str) -> str:
        p = conninfo_to_dict(url)
        return f"postgresql://{name}:{password}@/{p['dbname']}?host={p.get('host', '')}&port={p.get('port', 5432)}"

    try:
        yield password, as_role(source_url), as_role(target_url)
    finally:
        for url in (source_url, target_url):
            admin(url, "REASSIGN OWNED BY {} TO CURRENT_USER", name)
            admin(url, "DROP OWNED BY {}", name)
        admin(source_url, "DROP ROLE {}", name)


def can_write(url: str) -> bool:
    """Whether a new, ordinary session on ``url`` may write (the write is rolled back)."""
    with psycopg.connect(url) as conn:
        try:
            conn.execute("INSERT INTO public.orders VALUES (100000, 1, 1)")
        except psycopg.errors.ReadOnlySqlTransaction:
            return False
        finally:
            conn.rollback()
    return True


def test_sync_prints_a_line_per_table_and_the_counts_then_the_target_verifies(
    source_url: str, target_url: str
) -> None:
    migrated(source_url, target_url)
    result = invoke("sync", "--source", source_url, "--target", target_url)
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "public.accounts checksum:" in out and "+1 ~2 -0" in out
    assert "public.orders checksum:" in out and "+0 ~0 -1" in out
    assert "rows: 1 inserted, 2 updated, 1 deleted" in out
    assert "ranges compared:" in out and "ranges that differed:" in out
    assert "large objects: 1 added, 0 replaced, 0 removed (of 2 on the source)" in out
    assert "sequences: 1 of 1 moved forward" in out
    assert "synced:" in out and "Traceback" not in out

    verified = invoke("verify", "--source", source_url, "--target", target_url)
    assert verified.exit_code == 0, verified.output
    again = invoke("sync", "--source", source_url, "--target", target_url, "--full")
    assert again.exit_code == 0, again.output
    assert "already up to date" in flat(again.output)


def test_sync_json_holds_the_report_and_nothing_else_on_stdout(source_url: str, target_url: str) -> None:
    migrated(source_url, target_url)
    result = invoke("sync", "--source", source_url, "--target", target_url, "--json", "--include", "public.*")
    assert result.exit_code == 0, result.output
    report = json_report(result.stdout)
    assert (report["rows_inserted"], report["rows_updated"], report["rows_deleted"]) == (1, 2, 1)
    assert report["sequences_advanced"] == 1 and report["changes"] >= 4
    tables = {t["table"]: t for t in report["tables"]}
    assert tables["public.accounts"]["rows_changed"] == 3 and tables["public.orders"]["rows_deleted"] == 1
    # limited to some tables: large objects are left for a full sync, and the report says so
    assert report["large_objects"] is None and report["notices"]
    # before the report, the events as they happened: a line per table synced, nothing else on stdout
    events = [json.loads(line) for line in result.stdout.splitlines()[:-1]]
    synced = [e["table"] for e in events if e["event"] == "TableSynced"]
    assert sorted(synced) == ["public.accounts", "public.orders"]
    assert "public.accounts" not in result.stderr  # progress is not said twice


def test_env_vars_are_the_default_urls_and_exclude_leaves_a_table_alone(source_url: str, target_url: str) -> None:
    migrated(source_url, target_url)
    env = {"DATABASE_URL": source_url, "NEW_DATABASE_URL": target_url}
    result = invoke("sync", "--exclude", "public.orders", "--workers", "1", "--json", env=env)
    assert result.exit_code == 0, result.output
    assert [t["table"] for t in json_report(result.stdout)["tables"]] == ["public.accounts"]


def test_a_refused_sync_prints_the_message_and_hint_without_a_traceback_or_password(
    source_url: str, target_url: str
) -> None:
    migrated(source_url, target_url)
    run_sql(source_url, "ALTER TABLE public.orders DROP COLUMN total")
    with password_urls(source_url, target_url) as (password, source, target):
        result = invoke("sync", "--source", source, "--target", target)
    assert result.exit_code == 1
    assert "error:" in result.stderr and "public.orders" in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.output and password not in result.output
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.orders").fetchone() == (600,)  # nothing applied


def test_no_password_in_any_output_of_sync(source_url: str, target_url: str) -> None:
    migrated(source_url, target_url)
    with password_urls(source_url, target_url) as (password, source, target):
        text = invoke("sync", "--source", source, "--target", target)
        as_json = invoke("sync", "--source", source, "--target", target, "--json", "--full")
        nowhere = source.split("@")[0] + "@127.0.0.1:1/nowhere?connect_timeout=2"
        unreachable = invoke("sync", "--source", nowhere, "--target", target)
    assert text.exit_code == 0 and as_json.exit_code == 0, text.output + as_json.output
    assert unreachable.exit_code == 1
    report = json_report(as_json.stdout)
    assert report["source"].startswith("pghaul_cli_") and "@" in report["source"]
    for result in (text, as_json, unreachable):
        assert password not in result.output


def test_cutover_with_writes_paused_freezes_the_source_verifies_and_says_how_to_switch(
    source_url: str, target_url: str
) -> None:
    migrated(source_url, target_url)
    before = role_settings(source_url)
    with password_urls(source_url, target_url) as (password, source, target):
        result = invoke("cutover", "--source", source, "--target", target, "--writes-paused", "--freeze-source")
        try:
            assert result.exit_code == 0, result.output
            out = flat(result.output)
            assert "the one write pghaul makes to the source" in out
            assert out.index("the one write pghaul makes") < out.index("is frozen: new sessions are read-only")
            assert "Verified: source and target match" in out
            assert "writes paused for" in out and "s: from pause to verified" in out
            assert "Switch now: set DATABASE_URL to the value of NEW_DATABASE_URL" in out
            assert "The way back:" in out and "pghaul unfreeze" in out
            assert "final sync:" in out and "1 inserted, 2 updated, 1 deleted" in out
            assert password not in result.output
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), psycopg.connect(source_url) as conn:
                conn.execute("INSERT INTO public.orders VALUES (100000, 1, 1)")
        finally:
            undone = invoke("unfreeze", "--source", source)
        assert undone.exit_code == 0, undone.output
        assert "is unfrozen: new sessions may write again" in flat(undone.output)
        assert password not in undone.output
    assert can_write(source_url)
    assert role_settings(source_url) == before
    again = invoke("unfreeze", "--source", source_url)
    assert again.exit_code == 0 and "was not frozen: nothing changed" in flat(again.output)


def test_cutover_json_is_the_report(source_url: str, target_url: str) -> None:
    migrated(source_url, target_url)
    result = invoke("cutover", "--source", source_url, "--target", target_url, "--writes-paused", "--json")
    assert result.exit_code == 0, result.output
    outcome = json_report(result.stdout)
    assert outcome["catch_up"] is None  # writes were already paused: no catch-up rounds
    cutover = outcome["cutover"]
    assert cutover["ok"] is True and cutover["freeze"] is None and cutover["writeFreezeSeconds"] > 0
    assert cutover["sync"]["rows_updated"] == 2
    assert cutover["instructions"]["variable"] == "DATABASE_URL"
    assert "writes already paused" in flat(result.stderr)


def test_cutover_that_does_not_verify_says_not_to_switch_and_exits_1(source_url: str, target_url: str) -> None:
    migrated(source_url, target_url)
    # Something a sync does not carry and a verify sees: an index only the target has.
    run_sql(target_url, "CREATE INDEX only_on_target ON public.orders (total)")
    result = invoke("cutover", "--source", source_url, "--target", target_url, "--writes-paused")
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert "only_on_target" in out
    assert "Do not switch" in out and "verification found differences: do not switch" in out
    assert "Switch now" not in out and "Traceback" not in out


def test_cutover_without_a_terminal_needs_writes_paused_or_yes(source_url: str, target_url: str) -> None:
    migrated(source_url, target_url)
    result = invoke("cutover", "--source", source_url, "--target", target_url)
    assert result.exit_code == 2
    assert "--writes-paused" in result.output
    with psycopg.connect(target_url) as conn:  # nothing synced
        assert conn.execute("SELECT count(*) FROM public.orders").fetchone() == (600,)


def read_until(fd: int, wanted: bytes, seconds: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + seconds
    while wanted not in seen:
        assert time.monotonic() < deadline, f"no {wanted!r} in time; output so far:\n{seen.decode()}"
        chunk = os.read(fd, 65536)
        assert chunk, f"the command ended before {wanted!r}; output:\n{seen.decode()}"
        seen += chunk
    return seen


def _as_from_a_fresh_terminal() -> None:
    """Ctrl-C as a user's shell would deliver it: whatever an earlier test left in this process (a blocked or
    ignored SIGINT is inherited across exec) must not decide what the command under test does with it."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(*args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "pghaul", *args], stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd=ROOT, env=env, preexec_fn=_as_from_a_fresh_terminal)


def test_cutover_catches_up_then_waits_for_enter_in_a_terminal(source_url: str, target_url: str) -> None:
    migrated(source_url, target_url)
    controller, terminal = pty.openpty()  # stdin is a terminal, so the command asks
    proc = spawn("cutover", "--source", source_url, "--target", target_url, stdin=terminal)
    try:
        assert proc.stdout is not None
        before_enter = read_until(proc.stdout.fileno(), b"Press Enter once writes are paused", 120).decode()
        # what is left to write lands between the catch-up and the final sync
        admin(source_url, "UPDATE public.accounts SET name = 'during the pause' WHERE id = 3")
        time.sleep(0.5)
        os.write(controller, b"\n")
        rest, _ = proc.communicate(timeout=120)
    finally:
        os.close(controller)
        os.close(terminal)
        if proc.poll() is None:
            proc.kill()
    out = flat(before_enter + rest.decode())
    assert proc.returncode == 0, out
    assert "Step 1 of 3: catch up while the app still writes" in out
    assert "round 1: 6 changes carried (4 rows)" in out  # 4 rows, a large object and a sequence
    assert "round 2:" not in out  # 6 is little enough: no second round
    assert "Now pause your app's writes: turn on maintenance mode, or scale the app to zero" in out
    assert "heroku ps:scale web=0" in out
    final = out[out.index("Step 3 of 3: final sync"):]
    assert "rows: 0 inserted, 1 updated, 0 deleted" in final or "+0 ~1 -0" in final
    assert "Verified: source and target match" in final and "writes paused for" in final


def test_ctrl_c_at_the_prompt_stops_before_anything_is_frozen(source_url: str, target_url: str) -> None:
    migrated(source_url, target_url)
    before = role_settings(source_url)
    controller, terminal = pty.openpty()
    proc = spawn("cutover", "--source", source_url, "--target", target_url, "--freeze-source", stdin=terminal)
    try:
        assert proc.stdout is not None
        seen = read_until(proc.stdout.fileno(), b"Press Enter once writes are paused", 120)
        proc.send_signal(signal.SIGINT)
        # Generous: once, on a machine loaded far beyond CI's, the exit took longer than a minute.
        rest, _ = proc.communicate(timeout=180)
    finally:
        os.close(controller)
        os.close(terminal)
        if proc.poll() is None:
            proc.kill()
    out = flat((seen + rest).decode())
    assert proc.returncode == 1, out
    assert "Traceback" not in out and "is frozen" not in out and "Step 3 of 3" not in out
    assert can_write(source_url) and role_settings(source_url) == before


def test_ctrl_c_stops_a_sync_at_the_next_table_and_the_next_sync_finishes(source_url: str, target_url: str) -> None:
    tables = 30
    run_sql(source_url, ";".join(
        f"CREATE TABLE public.t{i:02} (id int PRIMARY KEY, v text);"
        f"INSERT INTO public.t{i:02} SELECT g, md5(g::text) FROM generate_series(1, 3000) g" for i in range(tables)))
    result = invoke("migrate", "--source", source_url, "--target", target_url, "--yes", "--no-verify")
    assert result.exit_code == 0, result.output
    run_sql(source_url, ";".join(f"UPDATE public.t{i:02} SET v = 'changed' WHERE id = 7" for i in range(tables)))

    proc = spawn("sync", "--source", source_url, "--target", target_url, "--workers", "1", "--full")
    assert proc.stdout is not None
    seen = read_until(proc.stdout.fileno(), b"[1/30]", 120)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    out = flat((seen + rest).decode())
    assert proc.returncode == 1, out
    assert "stopping once the work in progress is committed" in out
    assert "error: stopped" in out and "hint: run the same sync again" in out
    assert "Traceback" not in out and "[30/30]" not in out

    finished = invoke("sync", "--source", source_url, "--target", target_url)
    assert finished.exit_code == 0, finished.output
    assert invoke("verify", "--source", source_url, "--target", target_url).exit_code == 0


def test_freeze_command_and_unfreeze(source_url: str, target_url: str) -> None:
    setup_source(source_url)
    before = role_settings(source_url)
    refused = invoke("freeze", "--source", source_url)
    assert refused.exit_code == 2 and "--yes" in refused.output  # no terminal to ask in
    frozen = invoke("freeze", "--source", source_url, "--yes")
    try:
        assert frozen.exit_code == 0, frozen.output
        assert "is frozen: new sessions are read-only" in flat(frozen.output)
        assert not can_write(source_url)
    finally:
        assert invoke("unfreeze", "--source", source_url).exit_code == 0
    assert can_write(source_url) and role_settings(source_url) == before
