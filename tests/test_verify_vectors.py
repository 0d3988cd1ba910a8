"""Exact nearest-neighbour answers compared across servers: PostgreSQL 16 + pgvector 0.6 vs 18 + pgvector 0.8."""

from __future__ import annotations

from pghaul.verify import VerifyOptions, verify
from tests.conftest import run_sql

# Deterministic vectors; every 50th row repeats row 1's vector, so distance ties occur.
SETUP = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE public.docs (id int PRIMARY KEY, title text, embedding public.vector(8));
INSERT INTO public.docs
SELECT g, 'doc ' || g,
       CASE WHEN g % 50 = 0 THEN '[1,2,3,4,5,6,7,8]'::public.vector
            ELSE ARRAY(SELECT round(sin(g * i)::numeric, 4)::float4 FROM generate_series(1, 8) AS i)::public.vector
       END
FROM generate_series(1, 600) AS g;
UPDATE public.docs SET embedding = '[1,2,3,4,5,6,7,8]' WHERE id = 1;
INSERT INTO public.docs VALUES (601, 'no vector', NULL);
CREATE INDEX docs_cosine ON public.docs USING hnsw (embedding public.vector_cosine_ops);
CREATE INDEX docs_l2 ON public.docs USING ivfflat (embedding public.vector_l2_ops) WITH (lists = 4);
CREATE INDEX docs_ip ON public.docs USING hnsw (embedding public.vector_ip_ops);
"""

OPTIONS = VerifyOptions(vector_samples=5, vector_k=5)


def test_nearest_neighbours_equal_from_pgvector_06_to_08(pg16_source_url: str, target_url: str) -> None:
    run_sql(pg16_source_url, SETUP)
    run_sql(target_url, SETUP)
    report = verify(pg16_source_url, target_url, OPTIONS)
    assert report.ok, report.differences()
    checks = {c.index: c for c in report.vector_checks}
    assert set(checks) == {"public.docs_cosine", "public.docs_l2", "public.docs_ip"}
    assert {c.operator for c in checks.values()} == {"<=>", "<->", "<#>"}
    assert all(c.samples == 5 and c.ok for c in checks.values())


def test_moved_vector_changes_the_neighbours(source_url: str, target_url: str) -> None:
    run_sql(source_url, SETUP)
    run_sql(target_url, SETUP)
    # Row 2 is a sample query; on the target row 300 now sits exactly on it.
    run_sql(target_url, "UPDATE public.docs SET embedding = (SELECT embedding FROM public.docs WHERE id = 2) "
                        "WHERE id = 300")
    report = verify(source_url, target_url, OPTIONS)
    assert not report.ok
    bad = [c for c in report.vector_checks if not c.ok]
    assert {c.index for c in bad} == {"public.docs_cosine", "public.docs_l2", "public.docs_ip"}
    assert all(any(m.startswith("sample 2:") for m in c.mismatches) for c in bad)
    assert any("vector search on public.docs.embedding" in line for line in report.differences())


KINDS = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE public.kinds (
    id int PRIMARY KEY, h public.halfvec(4), s public.sparsevec(6), b bit(8), v public.vector(4)
);
INSERT INTO public.kinds
SELECT g,
       ARRAY[sin(g), cos(g), sin(2 * g), cos(3 * g)]::real[]::public.halfvec,
       ('{' || (1 + g % 3) || ':' || round(sin(g)::numeric, 3) || ',' || (4 + g % 3) || ':1}/6')::public.sparsevec,
       (g % 256)::bit(8),
       ARRAY[g % 7, g % 5, g % 3, 1]::real[]::public.vector
FROM generate_series(1, 300) AS g;
CREATE INDEX kinds_h ON public.kinds USING hnsw (h public.halfvec_l2_ops);
CREATE INDEX kinds_s ON public.kinds USING hnsw (s public.sparsevec_cosine_ops);
CREATE INDEX kinds_b ON public.kinds USING hnsw (b public.bit_jaccard_ops);
CREATE INDEX kinds_bh ON public.kinds USING hnsw (b public.bit_hamming_ops);
CREATE INDEX kinds_v ON public.kinds USING hnsw (v public.vector_l1_ops);
"""


def test_every_pgvector_index_kind_is_checked(source_url: str, target_url: str) -> None:
    run_sql(source_url, KINDS)
    run_sql(target_url, KINDS)
    report = verify(source_url, target_url, OPTIONS)
    assert report.ok, report.differences()
    assert sorted((c.column, c.operator) for c in report.vector_checks) == [
        ("b", "<%>"), ("b", "<~>"), ("h", "<->"), ("s", "<=>"), ("v", "<+>")
    ]
    assert all(c.samples == 5 for c in report.vector_checks)
