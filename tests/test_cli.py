"""The `pghaul` command end to end on real servers: exit codes, messages, and what it changes."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import pytest
from typer.testing import CliRunner

from pghaul.cli import app
from pghaul.sample import fill_sample_database
from tests.conftest import run_sql
from tests.fixtures_data import relations

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def json_report(out: str) -> dict:
    """The report a ``--json`` run ends with: its last line, ``{"event": "Report", …}``, after one per event."""
    lines = out.splitlines()
    report = json.loads(lines[-1])
    assert report["event"] == "Report", lines[-1]
    assert all(json.loads(line)["event"] for line in lines[:-1])
    return report


def catalog_snapshot(url: str) -> list[tuple[str, str, str]]:
    return relations(url)


def test_help_lists_the_commands() -> None:
    code, out = invoke("--help")
    assert code == 0
    for command in ("migrate", "plan", "tables", "verify", "sync", "cutover", "freeze", "unfreeze", "cleanup", "serve",
                    "demo", "status"):
        assert command in out


def test_unknown_option_is_a_usage_error() -> None:
    code, _ = invoke("migrate", "--no-such-option")
    assert code == 2


def test_missing_source_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, out = invoke("tables")
    assert code == 2
    assert "DATABASE_URL" in out


def test_unreachable_server_message_hides_the_password() -> None:
    url = "postgresql://alice:s3cr3t-pa55word@127.0.0.1:1/nowhere?connect_timeout=2"
    code, out = invoke("tables", "--source", url)
    assert code == 1
    assert "s3cr3t-pa55word" not in out
    assert "cannot connect to the source database" in out


def test_schema_only_and_data_only_together_is_a_usage_error(source_url: str, target_url: str) -> None:
    code, out = invoke("migrate", "--source", source_url, "--target", target_url, "--schema-only", "--data-only")
    assert code == 2
    assert "exclude each other" in out


def test_plan_prints_sql_and_writes_nothing(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=3, memories_per_user=1)
    before = catalog_snapshot(target_url)
    code, out = invoke("plan", "--source", source_url, "--target", target_url)
    assert code == 0, out
    assert "CREATE TABLE" in out and "hnsw" in out
    assert "owners and grants are not copied" in out
    assert "public.audit_log: ~" in out and "no primary key" in out
    assert out.index("-- pre-data") < out.index("-- data") < out.index("-- post-data")
    assert catalog_snapshot(target_url) == before


def test_migrate_verify_and_run_again(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=5, memories_per_user=2)
    code, out = invoke("migrate", "--source", source_url, "--target", target_url, "--yes")
    assert code == 0, out
    code, out = invoke("verify", "--source", source_url, "--target", target_url, "--json")
    assert code == 0, out
    report = json_report(out)
    assert report["ok"] is True
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.persistent_memories").fetchone() == (10,)
        before = conn.execute("SELECT count(*) FROM public.audit_log").fetchone()
    code, out = invoke("migrate", "--source", source_url, "--target", target_url, "--yes")
    assert code == 0, out
    assert "rows inserted: 0" in out
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.audit_log").fetchone() == before


def test_verify_fails_on_a_difference(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=3, memories_per_user=1)
    code, out = invoke("migrate", "--source", source_url, "--target", target_url, "--yes", "--no-verify")
    assert code == 0, out
    run_sql(target_url, "UPDATE public.users SET display_name = 'changed' WHERE id = 2")
    code, out = invoke("verify", "--source", source_url, "--target", target_url)
    assert code == 1
    assert "public.users" in out


def test_tables_json_lists_keys_and_target_presence(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=2, memories_per_user=1)
    code, out = invoke("tables", "--source", source_url, "--target", target_url, "--json", "--exact")
    assert code == 0, out
    rows = {f"{r['schema']}.{r['name']}": r for r in json.loads(out)}
    assert rows["public.sessions"]["primary_key"] == [
        {"column": "user_id", "type": "bigint"},
        {"column": "session_no", "type": "integer"},
    ]
    assert rows["public.audit_log"]["primary_key"] == []
    assert rows["public.users"]["rows_exact"] == 2
    assert all(r["exists_on_target"] is False for r in rows.values())


def test_cleanup_drops_only_pghaul_schema(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=2, memories_per_user=1)
    code, out = invoke("migrate", "--source", source_url, "--target", target_url, "--yes", "--no-verify")
    assert code == 0, out
    code, out = invoke("cleanup", "--target", target_url, "--yes")
    assert code == 0, out
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'pghaul'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM public.users").fetchone() == (2,)


def test_cleanup_unfreezes_a_source_a_cutover_froze(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=2, memories_per_user=1)
    code, out = invoke("migrate", "--source", source_url, "--target", target_url, "--yes", "--no-verify")
    assert code == 0, out
    code, out = invoke("freeze", "--source", source_url, "--yes")
    assert code == 0, out
    code, out = invoke("cleanup", "--target", target_url, "--source", source_url, "--yes")
    assert code == 0, out
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.after_cleanup (id int)")  # fails while frozen
        assert conn.execute(
            "SELECT count(*) FROM pg_db_role_setting WHERE setdatabase = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchone() == (0,)


@pytest.mark.slow
def test_demo_runs_end_to_end() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pghaul", "demo"], capture_output=True, text=True, timeout=240, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "verified" in proc.stdout


def test_schema_only_creates_empty_tables_and_verifies(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=2, memories_per_user=1)
    code, out = invoke("migrate", "--source", source_url, "--target", target_url, "--yes", "--schema-only")
    assert code == 0, out
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.users").fetchone() == (0,)
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'persistent_memories_embedding_idx'"
        ).fetchone()
    assert index is not None and "hnsw" in index[0]


def test_environment_variables_are_the_default_urls(
    source_url: str, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_sample_database(source_url, users=2, memories_per_user=1)
    monkeypatch.setenv("DATABASE_URL", source_url)
    monkeypatch.setenv("NEW_DATABASE_URL", target_url)
    code, out = invoke("migrate", "--yes", "--tables", "public.users")
    assert code == 0, out
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.users").fetchone() == (2,)


def test_tables_exclude_and_batch_size_choose_what_moves(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=4, memories_per_user=1)
    code, out = invoke(
        "migrate", "--source", source_url, "--target", target_url, "--yes",
        "--tables", "public.*", "--exclude", "public.audit_log", "--exclude", "public.persistent_*",
        "--batch-size", "7", "--maintenance-work-mem", "96MB",
    )
    assert code == 0, out
    with psycopg.connect(target_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert conn.execute("SELECT count(*) FROM public.messages").fetchone() == (80,)
        chunks = conn.execute(
            "SELECT rows_copied FROM pghaul.checkpoints WHERE table_name = 'messages'"
        ).fetchall()
    assert "audit_log" not in tables and "persistent_memories" not in tables
    assert {"users", "sessions", "conversations", "messages"} <= tables
    assert sum(r[0] for r in chunks) == 80


def test_migrate_refuses_without_a_terminal_unless_yes(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=1, memories_per_user=1)
    code, out = invoke("migrate", "--source", source_url, "--target", target_url)
    assert code == 2
    assert "--yes" in out
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


def test_migrate_exits_1_when_verification_finds_a_difference(source_url: str, target_url: str) -> None:
    table = "CREATE TABLE public.items (id int PRIMARY KEY, name text);"
    run_sql(source_url, table + "INSERT INTO public.items VALUES (1, 'a')")
    # A row the source does not have, already on the target: the copy keeps it (it never deletes), verify sees it.
    run_sql(target_url, table + "INSERT INTO public.items VALUES (2, 'x')")
    code, out = invoke("migrate", "--source", source_url, "--target", target_url, "--yes")
    assert code == 1
    assert "public.items" in out
    code, out = invoke("verify", "--source", source_url, "--target", target_url, "--json")
    assert code == 1
    report = json_report(out)
    assert report["ok"] is False


def test_debug_shows_the_traceback_and_plain_mode_does_not() -> None:
    url = "postgresql://bob:hunter2hunter2@127.0.0.1:1/db?connect_timeout=2"
    code, plain = invoke("tables", "--source", url)
    assert code == 1 and "Traceback" not in plain
    code, debug = invoke("--debug", "tables", "--source", url)
    assert code == 1 and "Traceback" in debug
    assert "hunter2hunter2" not in plain


def test_a_malformed_memory_size_is_a_usage_error(source_url: str, target_url: str) -> None:
    code, out = invoke(
        "migrate", "--source", source_url, "--target", target_url, "--yes", "--maintenance-work-mem", "lots"
    )
    assert code == 2 and "1GB" in out


def test_ctrl_c_stops_a_migration_between_chunks_and_the_next_run_finishes(source_url: str, target_url: str) -> None:
    import os
    import signal

    run_sql(source_url, ";".join(
        f"CREATE TABLE public.t{i:02} (id int PRIMARY KEY, v text);"
        f"INSERT INTO public.t{i:02} SELECT g, md5(g::text) FROM generate_series(1, 20000) g" for i in range(12)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pghaul", "migrate", "--source", source_url, "--target", target_url, "--yes",
         "--workers", "1", "--batch-size", "500"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )
    assert proc.stdout is not None
    seen = b""
    while b"phase data started" not in seen:  # the data phase has begun: Ctrl-C now lands between chunks
        chunk = os.read(proc.stdout.fileno(), 65536)
        assert chunk, seen.decode()
        seen += chunk
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    out = " ".join((seen + rest).decode().split())
    assert proc.returncode == 1, out
    assert "stopping once the work in progress is committed" in out and "error: stopped" in out
    assert "Traceback" not in out and "migration complete" not in out
    code, again = invoke("migrate", "--source", source_url, "--target", target_url, "--yes")
    assert code == 0, again
