"""The replies are typed: each endpoint declares its pydantic model, the guarded openapi.json documents it, and
the wire names are the camelCase ones the page and the old walk-through read (no database needed here)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from pghaul.http import create_app
from pghaul.http.replies import BatchReply, StartReply, TableRow, VerifyReply
from tests.test_http_helpers import AUTH, make_settings

DOCUMENTED = {
    ("get", "/api/admin/db-tables"): {"TablesReply"},
    ("get", "/api/admin/db-schema"): {"SchemaReply", "PostPhaseReply"},
    ("get", "/api/admin/db-migrate-data"): {"BatchReply"},
    ("post", "/api/admin/db-migrate-all"): {"PreviewReply", "StartReply"},
    ("get", "/api/admin/db-status"): {"StatusReply"},
    ("get", "/api/admin/db-verify"): {"VerifyReply"},
    ("post", "/api/admin/db-verify"): {"StartReply"},
    ("get", "/api/admin/db-preflight"): {"PreflightReply"},
}


def _models(schema: dict) -> set[str]:  # type: ignore[type-arg]
    refs = [schema, *schema.get("anyOf", [])]
    return {r["$ref"].rsplit("/", 1)[-1] for r in refs if "$ref" in r}


def test_every_endpoint_documents_its_reply_model() -> None:
    app = create_app(make_settings("postgresql://u@127.0.0.1:1/a", "postgresql://u@127.0.0.1:1/b"))
    with TestClient(app) as client:
        document = client.get("/api/admin/openapi.json", headers=AUTH).json()
    for (method, path), models in DOCUMENTED.items():
        schema = document["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert _models(schema) == models, (method, path, schema)
    status = document["components"]["schemas"]["StatusReply"]["properties"]
    assert {"jobId", "rowsDone", "rowsTotal", "etaSeconds", "verifyJob", "postData", "live"} <= set(status)


def test_wire_names_are_the_old_ones_and_unset_fields_stay_out() -> None:
    row = TableRow(name="t", row_count=1, primary_key="id", pk_data_type="integer", pk_is_numeric=True,
                   exists_in_new_db=False, schema_="public", primary_key_columns=["id"], size_bytes=8,
                   row_count_exact=True)
    assert set(row.model_dump()) == {"name", "rowCount", "primaryKey", "pkDataType", "pkIsNumeric", "existsInNewDB",
                                     "schema", "primaryKeyColumns", "sizeBytes", "rowCountExact"}
    batch = BatchReply(table="t", batch_size=5, inserted_count=5, skipped_count=0, next_cursor=None, has_more=False,
                       dry_run=False)
    assert batch.model_dump(exclude_unset=True) == {
        "success": True, "table": "t", "batchSize": 5, "insertedCount": 5, "skippedCount": 0, "nextCursor": None,
        "hasMore": False, "dryRun": False,
    }
    assert StartReply(job_id="j", state="running", started=False).model_dump(exclude_unset=True) == {
        "success": True, "jobId": "j", "state": "running", "started": False,
    }
    assert VerifyReply.model_validate({"state": "done", "from": "migration", "ok": True}).model_dump(
        exclude_unset=True) == {"success": True, "state": "done", "from": "migration", "ok": True}


def test_the_engines_stored_reports_read_into_the_replies_whole() -> None:
    """db-status and db-verify answer with what the engine stored on the target: a field it adds or renames must
    show up here, not vanish from the replies."""
    from pghaul.copy.parallel import TableStats
    from pghaul.engine import MigrationResult
    from pghaul.http.replies import MigrationReport, VerifyReport
    from pghaul.plan.steps import Plan
    from pghaul.verify import report as r

    verified = r.VerifyReport(
        source="u@a/db", target="u@b/db",
        tables=[r.TableCheck("public.t", ("id",), 3, 2, 2, False, (r.KeyRange(1, (5,), None, 2, 1),))],
        sequences=[r.SequenceCheck("public.t_id_seq", r.SequencePosition(3, True), r.SequencePosition(2, True)),
                   r.SequenceCheck("public.u_id_seq", r.SequencePosition(9, True), r.SequencePosition(5, True),
                                   copied=r.SequencePosition(4, True))],
        schema_diff=[r.SchemaDifference("indexes", "public.t_idx", "differs", ("definition",))],
        extensions=[r.ExtensionCheck("vector", "0.8.0", "0.8.1", "newer on target")],
        vector_checks=[r.VectorCheck("public.t", "v", "t_v_idx", "<->", 10, 5, ("row 1",))],
        large_objects=r.LargeObjectCheck(1, 1, 1, 10, different=(r.LargeObjectDifference(7, "content differs"),)),
        as_of=r.SourceAsOf(datetime(2026, 12, 1, 18, 0, tzinfo=UTC), ("public.t",), 3),
    )
    result = MigrationResult("job", Plan(), tables=[TableStats("public.t", 3, 0, 30)], verify_report=verified)
    stored = result.to_dict()
    assert MigrationReport.model_validate(stored).model_dump(exclude_unset=True) == stored
    assert VerifyReport.model_validate(stored["verify"]).model_dump(exclude_unset=True) == stored["verify"]
