"""PostgreSQL 16 + pgvector 0.6 to PostgreSQL 18 + pgvector 0.8: embeddings and nearest neighbours equal."""

from __future__ import annotations

import psycopg

from pghaul import events
from pghaul.engine import MigrateOptions, migrate
from tests.conftest import run_sql
from tests.fixtures_data import VECTOR_TABLE, fill, has_state_schema, table_digest

NEAREST = (
    "SELECT array_agg(m.id ORDER BY m.embedding <=> q.probe, m.id) FROM public.memories m,"
    " (SELECT embedding AS probe FROM public.memories WHERE id = %s) q"
    " WHERE m.id IN (SELECT n.id FROM public.memories n ORDER BY n.embedding <=> q.probe, n.id LIMIT 5)"
)


def test_embeddings_and_neighbours_equal_across_versions(pg16_source_url: str, target_url: str) -> None:
    fill(pg16_source_url, VECTOR_TABLE)
    seen: list[events.Event] = []
    result = migrate(pg16_source_url, target_url, MigrateOptions(batch_size=64, workers=2), listener=seen.append)
    assert result.ok, result.verify_report.differences() if result.verify_report else result.notices
    assert table_digest(target_url, "public.memories") == table_digest(pg16_source_url, "public.memories")
    assert not has_state_schema(pg16_source_url)
    applied = [e.name for e in seen if isinstance(e, events.StepApplied) and e.outcome == "applied"]
    assert "public.memories_embedding" in applied
    with psycopg.connect(pg16_source_url) as src, psycopg.connect(target_url) as tgt:
        for probe in (1, 77, 300):
            assert tgt.execute(NEAREST, (probe,)).fetchone() == src.execute(NEAREST, (probe,)).fetchone()
        method = tgt.execute(
            "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'memories_embedding'"
        ).fetchone()
        assert method == ("hnsw",)


def test_vector_builds_get_more_memory_and_parallel_workers_only_where_safe(target_url: str) -> None:
    from pghaul.connect import connect_target
    from pghaul.copy.indexes import choose_vector_settings

    with connect_target(target_url) as conn:
        without = choose_vector_settings(conn)
        assert without.parallel_workers == 0  # no pgvector here: nothing known to be safe
        conn.execute("CREATE EXTENSION vector SCHEMA public")
        chosen = choose_vector_settings(conn)
        current_kb = conn.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem')) / 1024").fetchone()
        assert current_kb is not None and chosen.maintenance_work_mem_kb >= current_kb[0]
        assert chosen.maintenance_work_mem_kb <= 1024 * 1024
        assert chosen.parallel_workers >= 1  # pgvector 0.8.6 has the parallel HNSW build fix
        assert choose_vector_settings(conn, requested_kb=2048).maintenance_work_mem_kb == 2048


def test_index_build_progress_is_reported_while_it_builds(target_url: str) -> None:
    """The build waits (inside its own index expression) on a lock the test holds until progress was seen."""
    from pghaul.connect import connect_target
    from pghaul.copy.indexes import watch_index_build

    run_sql(target_url, """
        CREATE TABLE public.slow (id int PRIMARY KEY);
        INSERT INTO public.slow SELECT generate_series(1, 10);
        CREATE FUNCTION public.wait_for_test(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
          $$ BEGIN PERFORM pg_advisory_lock_shared(4242); PERFORM pg_advisory_unlock_shared(4242); RETURN x; END $$;
    """)
    seen: list[events.IndexProgress] = []
    with psycopg.connect(target_url, autocommit=True) as gate, connect_target(target_url) as builder:
        gate.execute("SELECT pg_advisory_lock(4242)")

        def listener(event: events.Event) -> None:
            if isinstance(event, events.IndexProgress):
                if not seen:
                    gate.execute("SELECT pg_advisory_unlock(4242)")
                seen.append(event)

        with watch_index_build(target_url, builder.info.backend_pid, "public.slow_expr", listener):
            builder.execute("CREATE INDEX slow_expr ON public.slow (public.wait_for_test(id))")
    assert seen and seen[0].index == "public.slow_expr" and seen[0].phase.startswith("building index")


def test_vector_build_memory_is_sized_from_the_table_and_a_graph_that_outgrows_it_is_reported(target_url: str) -> None:
    from pghaul.connect import connect_target
    from pghaul.copy.indexes import choose_vector_settings, estimate_graph_kb, hnsw_m
    from pghaul.copy.parallel import build_vector_index
    from pghaul.plan import POST_DATA, Step

    run_sql(target_url, """
        CREATE EXTENSION vector SCHEMA public;
        CREATE TABLE public.mem (id int PRIMARY KEY, e public.vector(384));
        INSERT INTO public.mem SELECT i, (SELECT array_agg(random())::real[]::public.vector FROM generate_series(1, 384)
          WHERE i > 0) FROM generate_series(1, 3000) i;
    """)
    index_sql = "CREATE INDEX mem_e ON public.mem USING hnsw (e public.vector_cosine_ops) WITH (m='8')"
    assert hnsw_m(index_sql) == 8 and hnsw_m("CREATE INDEX x ON t USING hnsw (m public.vector_l2_ops)") == 16
    assert estimate_graph_kb(135_000, 1_600) > 256 * 1024  # the benchmark's table outgrew 2 × shared_buffers
    with connect_target(target_url) as conn:
        conn.execute("SET maintenance_work_mem = '1MB'")
        table_bytes = conn.execute("SELECT pg_table_size('public.mem')").fetchone()
        assert table_bytes is not None
        sized = choose_vector_settings(conn, table=("public", "mem"), rows=3000, step_sql=index_sql)
        assert sized.reason == "estimated"
        assert sized.maintenance_work_mem_kb == estimate_graph_kb(3000, table_bytes[0] // 3000, 8)
        huge = choose_vector_settings(conn, table=("public", "mem"), rows=10**10, step_sql=index_sql)
        assert huge.reason.startswith("capped") and huge.maintenance_work_mem_kb == huge.cap_kb
        counted = choose_vector_settings(conn, table=("public", "mem"), step_sql=index_sql)
        assert counted.maintenance_work_mem_kb == sized.maintenance_work_mem_kb  # rows counted on the target
        assert choose_vector_settings(conn, 4096, table=("public", "mem"), rows=10**10).maintenance_work_mem_kb == 4096

        seen: list[events.Event] = []
        step = Step(POST_DATA, "vector index", "public.mem_e", index_sql, ("public", "mem"))
        build_vector_index(conn, target_url, step, lambda c, s, listener: [c.execute(x.sql) for x in s], seen.append,
                           memory_kb=1024)
        notices = [e for e in seen if isinstance(e, events.Notice)]
        assert "maintenance_work_mem 1 MB (requested)" in notices[0].message
        assert notices[-1].level == "warning" and "outgrew maintenance_work_mem" in notices[-1].message
        assert conn.execute("SHOW maintenance_work_mem").fetchone() == ("1MB",)  # the session's own value back

        conn.execute("DROP INDEX public.mem_e")
        seen.clear()
        build_vector_index(conn, target_url, step, lambda c, s, listener: [c.execute(x.sql) for x in s], seen.append,
                           rows=3000)
        assert [e.level for e in seen if isinstance(e, events.Notice)] == ["info"]
