"""Create and fill the sample application database on a server pghaul may write to (never a user's source)."""

from __future__ import annotations

from importlib.resources import files

import psycopg

SAMPLE_TABLES = ("users", "sessions", "conversations", "messages", "persistent_memories", "audit_log")


def _script(name: str) -> str:
    return files("pghaul.sample").joinpath(name).read_text(encoding="utf-8")


def fill_sample_database(url: str, *, users: int = 100, memories_per_user: int = 10) -> None:
    """Build the sample schema and its rows: with the defaults about 7,000 rows, 1,000 of them embeddings."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_script("schema.sql"))  # type: ignore[arg-type]
        with conn.transaction():
            conn.execute("SELECT set_config('pghaul_sample.users', %s, true)", (str(users),))
            conn.execute("SELECT set_config('pghaul_sample.memories', %s, true)", (str(memories_per_user),))
            conn.execute(_script("data.sql"))  # type: ignore[arg-type]
        conn.execute("ANALYZE")
