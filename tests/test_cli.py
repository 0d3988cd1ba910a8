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

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def catalog_snapshot(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
            " ORDER BY 1, 2"
        ).fetchall()


def test_help_lists_the_commands() -> None:
    code, out = invoke("--help")
    assert code == 0
    for command in ("migrate", "plan", "tables", "verify", "cleanup", "serve", "demo"):
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
    assert catalog_snapshot(target_url) == before


def test_migrate_verify_and_run_again(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=5, memories_per_user=2)
    code, out = invoke("migrate", "--source", source_url, "--target", target_url, "--yes")
    assert code == 0, out
    code, out = invoke("verify", "--source", source_url, "--target", target_url, "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["ok"] is True
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.persistent_memories").fetchone() == (10,)
        before = conn.execute("SELECT count(*) FROM public.audit_log").fetchone()
    code, out = invoke("migrate", "--source", source_url, "--target", target_url, "--yes")
    assert code == 0, out
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
