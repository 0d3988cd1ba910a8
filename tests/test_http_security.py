"""Who may use the admin API, and how every refusal looks: each rule on real servers, the target left unchanged."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

import psycopg
import pytest
from fastapi.testclient import TestClient

from pghaul.errors import UsageError
from pghaul.http import create_app, create_router
from pghaul.http.page import content_security_policy
from pghaul.http.server import build_server
from pghaul.sample import fill_sample_database
from pghaul.settings import Settings, secret_problem
from tests.test_http_helpers import AUTH, PASSWORD, SECRET, database_state, make_settings, user_relations

ENDPOINTS = [
    ("GET", "/api/admin/db-tables"),
    ("GET", "/api/admin/db-schema"),
    ("GET", "/api/admin/db-schema?phase=post"),
    ("GET", "/api/admin/db-migrate-data?table=users"),
    ("POST", "/api/admin/db-migrate-all"),
    ("GET", "/api/admin/db-status"),
    ("GET", "/api/admin/db-verify"),
    ("GET", "/api/admin/db-preflight"),
]
WRITING = [e for e in ENDPOINTS if "db-schema" in e[1] or "migrate" in e[1]]


@pytest.fixture
def source(source_url: str) -> str:
    fill_sample_database(source_url, users=4, memories_per_user=2)
    return source_url


def assert_error(response, status: int, *words: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"] and isinstance(body["hint"], str)
    text = body["error"] + " " + body["hint"]
    for word in words:
        assert word in text, (word, body)
    assert "Traceback" not in response.text and SECRET not in response.text and PASSWORD not in response.text
    return body


def test_locked_api_answers_403_with_how_to_unlock(source: str, target_url: str) -> None:
    app = create_app(make_settings(source, target_url, allow_db_migration=False))
    with TestClient(app) as client:
        for method, path in ENDPOINTS:
            response = client.request(method, path, headers=AUTH)
            assert_error(response, 403, "locked", "ALLOW_DB_MIGRATION=true")
            assert response.headers["content-type"].startswith("application/json")
        # A person opening the page gets a sentence, not JSON: the same lock, said in HTML, under the strict policy.
        page = client.get("/api/admin/migrate", headers={"Accept": "text/html"})
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        text = re.sub(r"<[^>]+>", "", re.sub(r"<style\b.*?</style>", "", page.text, flags=re.DOTALL))
        assert "locked" in text and "ALLOW_DB_MIGRATION" in text and "true" in text
        assert "<script" not in page.text.lower() and "{" not in text
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'none'" in csp and "default-src 'self'" in csp and "unsafe" not in csp
        for body in re.findall(r"<style\b[^>]*>(.*?)</style>", page.text, re.DOTALL | re.IGNORECASE):
            assert f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'" in csp
        assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"
    assert user_relations(target_url) == []


@pytest.mark.parametrize(("value", "unlocked"), [("true", True), ("TRUE", True), ("yes", False), ("1", False),
                                                  ("", False), ("false", False)])
def test_only_the_word_true_unlocks(monkeypatch: pytest.MonkeyPatch, value: str, unlocked: bool) -> None:
    monkeypatch.setenv("ALLOW_DB_MIGRATION", value)
    assert Settings().allow_db_migration is unlocked


def test_settings_read_the_contract_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://a:pw1@h1/db1")
    monkeypatch.setenv("NEW_DATABASE_URL", "postgresql://b:pw2@h2/db2")
    monkeypatch.setenv("MIGRATION_SECRET", SECRET)
    monkeypatch.setenv("ALLOW_DB_MIGRATION", "true")
    settings = Settings()
    assert settings.source_url == "postgresql://a:pw1@h1/db1"
    assert settings.target_url == "postgresql://b:pw2@h2/db2"
    assert settings.secret == SECRET and settings.allow_db_migration
    assert settings.pool_size == 5 and settings.connect_timeout == 10
    assert "pw1" not in repr(settings) and SECRET not in repr(settings)


def test_missing_secret_answers_503_naming_the_variable(source: str, target_url: str) -> None:
    for secret in (None, ""):
        app = create_app(make_settings(source, target_url, migration_secret=secret))
        with TestClient(app) as client:
            for method, path in ENDPOINTS:
                response = client.request(method, path, headers={"X-Migration-Secret": secret or "x"})
                body = assert_error(response, 503, "MIGRATION_SECRET")
                assert "token_urlsafe" in body["hint"]
    assert user_relations(target_url) == []


WEAK_SECRETS = [
    "too-short-15chr",  # short
    "aaaaaaaaaaaaaaaa",  # one character
    " " * 24,  # only spaces
    "  s3cr3t-Migration-Token-4217",  # spaces the page would remove: never typeable
    "Aa1!Aa1!Aa1!Aa1!Aa1!",  # few different characters
    "passwordpassword", "qwertyqwertyqwerty", "Summer2024Summer2024!", "Passw0rd!Passw0rd!x",  # repeats
    "1234567890123456", "abcdefghijklmnopqrstuvwxyz", "MigrationSecret2024!",  # runs and common words
]
STRONG_SECRETS = [SECRET, "page-static-Secret-0042abcd", "page-test-Secret-7f3a9c2e41",
                  "correct-horse-battery-staple-91", secrets.token_urlsafe(32), secrets.token_hex(24)]


@pytest.mark.parametrize("secret", WEAK_SECRETS)
def test_a_weak_secret_is_refused_at_start_up_with_how_to_make_a_good_one(
    secret: str, source: str, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = database_state(source)
    settings = make_settings(source, target_url, migration_secret=secret)
    assert settings.secret == secret  # spaces are kept, to be refused, not taken for "not set"
    for start in (create_app, create_router, lambda s: build_server("127.0.0.1", 0, s)):
        with pytest.raises(UsageError) as refused:
            start(settings)
        message, hint = refused.value.message, refused.value.hint
        assert message.startswith("MIGRATION_SECRET ") and "token_urlsafe(32)" in hint
        assert not secret.strip() or secret.strip() not in message + hint  # the secret is never quoted back
    # The same through the environment, as `pghaul serve` reads it on a PaaS.
    monkeypatch.setenv("MIGRATION_SECRET", secret)
    monkeypatch.setenv("ALLOW_DB_MIGRATION", "true")
    with pytest.raises(UsageError):
        build_server("127.0.0.1", 0, Settings())
    # Locked, the secret opens nothing: an app that keeps the router mounted still starts, and answers 403.
    locked = make_settings(source, target_url, migration_secret=secret, allow_db_migration=False)
    with TestClient(create_app(locked)) as client:
        assert_error(client.get("/api/admin/db-status", headers={"X-Migration-Secret": secret}), 403, "locked")
        locked.allow_db_migration = True  # unlocked after start-up (a host app changing its settings): still no
        for method, path in ENDPOINTS:
            body = assert_error(client.request(method, path, headers={"X-Migration-Secret": secret}), 503)
            assert body["error"].startswith("MIGRATION_SECRET ") and "token_urlsafe(32)" in body["hint"]
    assert user_relations(target_url) == []
    assert database_state(source) == before


def test_strong_secrets_start() -> None:
    for secret in STRONG_SECRETS:
        assert secret_problem(secret) is None, secret
        create_router(Settings(migration_secret=secret, allow_db_migration=True))


def test_missing_database_url_answers_503_naming_it(source: str, target_url: str) -> None:
    cases = (("DATABASE_URL", {"database_url": None}), ("NEW_DATABASE_URL", {"new_database_url": ""}))
    for missing, overrides in cases:
        app = create_app(make_settings(source, target_url, **overrides))
        with TestClient(app) as client:
            for method, path in ENDPOINTS:
                body = assert_error(client.request(method, path, headers=AUTH), 503, missing)
                assert body["error"].startswith(missing)
    assert user_relations(target_url) == []


def test_secret_in_header_or_query_and_401_otherwise(source: str, target_url: str) -> None:
    app = create_app(make_settings(source, target_url))
    with TestClient(app) as client:
        assert client.get("/api/admin/db-status", headers=AUTH).status_code == 200
        assert client.get("/api/admin/db-tables", params={"secret": SECRET}).status_code == 200
        # The header wins over the query string when both are given.
        wrong_header = client.get("/api/admin/db-tables", params={"secret": SECRET},
                                  headers={"X-Migration-Secret": "wrong-wrong-wrong-wrong"})
        assert_error(wrong_header, 401, "X-Migration-Secret")
        assert_error(client.get("/api/admin/db-schema"), 401, "missing", "?secret= in a pasted URL")
        assert_error(client.get("/api/admin/db-schema", headers={"X-Migration-Secret": SECRET[:-1]}), 401, "wrong")
    assert user_relations(target_url) == []


WALK_THROUGH = {"/api/admin/db-tables", "/api/admin/db-schema", "/api/admin/db-migrate-data"}


def _routes(settings: Settings, method: str) -> set[str]:
    """Every path of the admin router that answers ``method``, as create_app mounts it."""
    router = create_router(settings)
    return {"/api/admin" + r.path for r in router.routes if method in (getattr(r, "methods", None) or ())}


def test_only_the_old_walk_through_takes_the_secret_in_the_url_and_no_other_get_changes_anything(
    source: str, target_url: str
) -> None:
    before = database_state(source)
    settings = make_settings(source, target_url)
    app = create_app(settings)
    gets = _routes(settings, "GET") - {"/api/admin/migrate"}
    assert WALK_THROUGH <= gets and "/api/admin/db-migrate-all" not in gets
    with TestClient(app) as client:
        # db-migrate-all starts a migration: never by GET, whatever the secret and wherever it is.
        for params, headers in (({}, AUTH), ({"secret": SECRET}, {}), ({"secret": SECRET, "dryRun": "false"}, AUTH)):
            body = assert_error(client.get("/api/admin/db-migrate-all", params=params, headers=headers), 405, "POST")
            assert "X-Migration-Secret" in body["hint"]
        # Beyond the old three, a secret in the URL is not looked at: as if none had been sent.
        for method, path in [("GET", p) for p in sorted(gets - WALK_THROUGH)] + [
            ("POST", p) for p in sorted(_routes(settings, "POST"))
        ]:
            response = client.request(method, path, params={"secret": SECRET})
            assert_error(response, 401, "missing", "only in the X-Migration-Secret header", "db-tables")
        # Every GET outside the walk-through, with the right secret in the header, reads only.
        for path in sorted(gets - WALK_THROUGH):
            assert client.get(path, headers=AUTH).status_code < 500, path
        assert client.get("/api/admin/db-status", headers=AUTH).json()["state"] == "idle"
    assert user_relations(target_url) == []
    assert database_state(source) == before
    with TestClient(create_app(make_settings(source, target_url))) as client:
        # The old walk-through keeps its pasted-URL form, field names included.
        listed = client.get("/api/admin/db-tables", params={"secret": SECRET})
        assert listed.status_code == 200 and "users" in {t["name"] for t in listed.json()["tables"]}
        dry = client.get("/api/admin/db-schema", params={"secret": SECRET, "dryRun": "true"}).json()
        assert dry["success"] and dry["dryRun"] is True
        assert user_relations(target_url) == []
        assert client.get("/api/admin/db-schema", params={"secret": SECRET}).json()["success"]
        batch = client.get("/api/admin/db-migrate-data", params={"secret": SECRET, "table": "users"}).json()
        assert batch["success"] and batch["insertedCount"] > 0 and "nextCursor" in batch and "hasMore" in batch
        started = client.post("/api/admin/db-migrate-all", params={"dryRun": "true"}, headers=AUTH).json()
        assert started["success"] and started["dryRun"] is True
    assert database_state(source) == before


def test_plain_http_through_the_proxy_is_refused_and_every_answer_pins_https(source: str, target_url: str) -> None:
    before = database_state(source)
    plain = {"X-Forwarded-Proto": "http", "X-Forwarded-For": "203.0.113.7"}
    with TestClient(create_app(make_settings(source, target_url))) as client:
        for method, path in ENDPOINTS:
            body = assert_error(client.request(method, path, headers={**AUTH, **plain}), 403, "https")
            assert "plain http" in body["error"] and "MIGRATION_SECRET" in body["hint"]
        page = client.get("/api/admin/migrate", headers=plain)
        assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
        assert "https://" in page.text and "<script" not in page.text.lower()
        assert "script-src 'none'" in page.headers["Content-Security-Policy"]
        # Only the proxy's own entry counts (the last one, with one trusted hop), not what the client wrote before.
        through = client.get("/api/admin/db-status", headers={**AUTH, "X-Forwarded-Proto": "http, https"})
        assert through.status_code == 200
        # A request to this machine itself (a local proxy in front of a test) has no network to cross.
        local = client.get("/api/admin/db-status", headers={**AUTH, **plain, "Host": "localhost:8000"})
        assert local.status_code == 200
        answers = [through, page, client.get("/api/admin/migrate"), client.get("/api/admin/db-status"),
                   client.get("/api/admin/no-such-endpoint"), client.get("/api/admin/db-migrate-all", headers=AUTH)]
        assert [r.status_code for r in answers] == [200, 403, 200, 401, 404, 405]
        for response in answers:
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000", response.url
    # With no proxy trusted (TRUSTED_PROXY_HOPS=0) the header is the client's own word, and means nothing.
    with TestClient(create_app(make_settings(source, target_url, trusted_proxy_hops=0))) as client:
        assert client.get("/api/admin/db-status", headers={**AUTH, **plain}).status_code == 200
    assert user_relations(target_url) == []
    assert database_state(source) == before


def test_the_openapi_document_is_behind_the_guard(source: str, target_url: str) -> None:
    with TestClient(create_app(make_settings(source, target_url))) as client:
        assert_error(client.get("/api/admin/openapi.json"), 401, "missing")
        assert_error(client.get("/api/admin/openapi.json", params={"secret": SECRET}), 401, "header")
        assert_error(client.get("/api/admin/openapi.json", headers={"X-Migration-Secret": "wrong-guess-abc"}), 401)
        document = client.get("/api/admin/openapi.json", headers=AUTH)
        assert document.status_code == 200 and document.headers["Cache-Control"] == "no-store"
        paths = document.json()["paths"]
        assert {"/api/admin/db-status", "/api/admin/db-migrate-all", "/api/admin/db-tables"} <= set(paths)
        assert set(paths["/api/admin/db-migrate-all"]) == {"post"}
        for public in ("/openapi.json", "/docs", "/redoc", "/api/admin/docs"):
            assert client.get(public).status_code == 404, public
    locked = make_settings(source, target_url, allow_db_migration=False)
    with TestClient(create_app(locked)) as client:
        assert_error(client.get("/api/admin/openapi.json", headers=AUTH), 403, "locked")


def test_a_table_must_be_one_inspection_found(source: str, target_url: str) -> None:
    app = create_app(make_settings(source, target_url))
    with TestClient(app) as client:
        client.get("/api/admin/db-schema", headers=AUTH).raise_for_status()
        before = user_relations(target_url)
        for name in ["nope", "users; DROP TABLE users", 'public."users"', "pg_catalog.pg_class", "pghaul.jobs"]:
            for path in ("/api/admin/db-migrate-data", "/api/admin/db-schema"):
                body = assert_error(client.get(path, params={"table": name}, headers=AUTH), 404, "users")
                assert {"users", "sessions", "audit_log"} <= set(body["validTables"])
        assert user_relations(target_url) == before
        with psycopg.connect(target_url) as conn:
            assert conn.execute("SELECT count(*) FROM public.users").fetchone() == (0,)


def test_bad_parameters_answer_400_as_json(source: str, target_url: str) -> None:
    app = create_app(make_settings(source, target_url))
    with TestClient(app) as client:
        for query in ("batchSize=0", "batchSize=50001", "batchSize=abc", "dryRun=maybe", "phase=during"):
            path = "/api/admin/db-schema" if query.startswith("phase") else "/api/admin/db-migrate-data"
            assert_error(client.get(f"{path}?table=users&{query}", headers=AUTH), 400, "invalid")
    assert user_relations(target_url) == []


def test_unreachable_database_is_a_json_error_without_the_password(source: str, target_url: str) -> None:
    bad_target = re.sub(r"dbname=\S+", "dbname=no_such_database", target_url)
    app = create_app(make_settings(source, bad_target, connect_timeout=2))
    with TestClient(app) as client:
        response = client.get("/api/admin/db-status", headers=AUTH)
        body = assert_error(response, 502, "no_such_database")
        assert "password" in body["hint"]  # the hint says what to check, without giving it


def test_unexpected_errors_answer_500_generically_and_log_scrubbed(
    source: str, target_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from pghaul.http import migration

    def explode(_: object) -> dict:
        raise RuntimeError(f"boom with secret={SECRET} and postgresql://u:{PASSWORD}@h/db")

    monkeypatch.setattr(migration, "status_reply", explode)
    app = create_app(make_settings(source, target_url))
    with caplog.at_level("DEBUG"), TestClient(app) as client:
        body = assert_error(client.get("/api/admin/db-status", headers=AUTH), 500, "internal error")
        assert "boom" not in body["error"]
        assert_error(client.get("/api/admin/no-such-endpoint", headers=AUTH), 404)
    assert "boom" in caplog.text  # logged, for the operator …
    assert SECRET not in caplog.text and PASSWORD not in caplog.text  # … without what must stay secret


def test_the_page_is_served_under_a_strict_policy(source: str, target_url: str) -> None:
    app = create_app(make_settings(source, target_url))
    with TestClient(app) as client:
        response = client.get("/api/admin/migrate")  # the page itself holds nothing secret
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    for tag in ("script", "style"):
        for body in re.findall(rf"<{tag}\b[^>]*>(.*?)</{tag}>", response.text, re.DOTALL | re.IGNORECASE):
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_policy_allows_exactly_the_inline_blocks() -> None:
    html = "<style>b{}</style><script>go()</script><script src='/x.js'></script>"
    csp = content_security_policy(html)
    for body in ("b{}", "go()"):
        assert base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() in csp
    assert csp.count("sha256-") == 2
    assert "script-src 'none'" in content_security_policy("<p>no script</p>")
