"""PostgreSQL 16 + pgvector 0.6 -> PostgreSQL 18 + pgvector 0.8: the vector schema and its HNSW index arrive."""

from __future__ import annotations

import dataclasses

from pghaul.plan import CREATE, build_plan
from tests.conftest import run_sql
from tests.test_schema_kinds import catalogs, replicate

VECTOR_SCHEMA = """
CREATE EXTENSION vector;
CREATE TABLE documents (
    id bigserial PRIMARY KEY,
    title text NOT NULL,
    embedding vector(3) NOT NULL,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_embedding_hnsw ON documents USING hnsw (embedding vector_cosine_ops)
    WITH (m = 16, ef_construction = 64);
CREATE INDEX documents_embedding_ivf ON documents USING ivfflat (embedding vector_l2_ops) WITH (lists = 1);
CREATE VIEW recent AS SELECT id, title FROM documents WHERE created > now() - interval '1 day';
INSERT INTO documents (title, embedding) VALUES ('a', '[1,2,3]'), ('b', '[3,2,1]');
"""


def test_vector_schema_from_pg16_to_pg18(pg16_source_url: str, target_url: str) -> None:
    run_sql(pg16_source_url, VECTOR_SCHEMA)

    plan, result = replicate(pg16_source_url, target_url)

    assert plan.conflicts == []
    assert any(s.kind == "vector index" and s.name == "public.documents_embedding_hnsw" for s in result.applied)
    source, target = catalogs(pg16_source_url, target_url)
    assert source.server.version_num < 170000 <= target.server.version_num
    assert source.extensions["vector"].version.startswith("0.6")
    assert target.extensions["vector"].version.startswith("0.8")  # the target's newer default, not 0.6
    hnsw = target.indexes[("public", "documents_embedding_hnsw")]
    assert hnsw.method == "hnsw" and "vector_cosine_ops" in hnsw.definition and "m='16'" in hnsw.definition
    for kind, objects in source.definitions().items():
        if kind == "extensions":
            strip = {k: dataclasses.replace(e, version="") for k, e in objects.items()}
            assert {k: dataclasses.replace(e, version="") for k, e in target.extensions.items()} == strip
        else:
            assert target.objects(kind) == objects, kind
    assert [s for s in build_plan(source, target).steps if s.status == CREATE] == []
