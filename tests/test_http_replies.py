"""The replies are typed: each endpoint declares its pydantic model, the guarded openapi.json documents it, and
the wire names are the camelCase ones the page and the old walk-through read (no database needed here)."""

from __future__ import annotations

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
