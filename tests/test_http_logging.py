"""The secret and the database passwords never reach a log line: a whole migration through a real uvicorn server
(access log included, which records query strings), every record captured at DEBUG and searched."""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import quote

import httpx
import pytest

from pghaul.http.scrubbing import LogScrubber, ScrubFilter
from pghaul.http.server import bind_address, build_server
from pghaul.sample import fill_sample_database
from tests.test_http_helpers import AUTH, PASSWORD, SECRET, make_settings

LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "pghaul", "psycopg", "psycopg.pool", "fastapi")


def _wait_for(predicate, timeout: float = 240.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition never held")


def test_a_full_run_logs_neither_secret_nor_password(
    source_url: str, target_url: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    fill_sample_database(source_url, users=4, memories_per_user=2)
    server = build_server("127.0.0.1", 0, make_settings(source_url, target_url))
    caplog.set_level(logging.DEBUG)
    # uvicorn's own loggers do not propagate to the root: listen on them directly too.
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
        if name.startswith("uvicorn"):
            logging.getLogger(name).addHandler(caplog.handler)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: server.started, 30)
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/admin", timeout=60) as client:
            # The pasted-URL fallback puts the secret in the query string, which the access log records.
            assert client.get("/db-tables", params={"secret": SECRET}).status_code == 200
            assert client.get("/db-tables", params={"secret": SECRET + "-wrong"}).status_code == 401
            # Refused beyond the old walk-through, but the access log records the URL all the same.
            assert client.get("/db-status", params={"secret": SECRET}).status_code == 401
            assert client.get(f"/db-tables?x=1&secret={quote(SECRET)}").status_code == 200
            assert client.get("/db-migrate-data", params={"table": PASSWORD}, headers=AUTH).status_code == 404
            started = client.post("/db-migrate-all", headers=AUTH).json()
            assert started["state"] == "running"
            status = _wait_for(
                lambda: (s := client.get("/db-status", headers=AUTH).json())["state"] != "running" and s
            )
            assert status["state"] == "done", status
            assert client.get("/db-verify", headers=AUTH).json()["ok"] is True
            responses = [client.get(path, headers=AUTH).text for path in ("/db-preflight", "/db-status")]
    finally:
        server.should_exit = True
        thread.join(30)
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(caplog.handler)
    out, err = capfd.readouterr()
    logged = "\n".join(
        [caplog.text, out, err, *(r.getMessage() for r in caplog.records),
         *(str(r.args) for r in caplog.records), *responses]
    )
    assert "db-status" in logged and "secret=***" in logged  # the access log was captured, and scrubbed
    for forbidden in (SECRET, quote(SECRET), PASSWORD):
        assert forbidden not in logged


def test_the_scrubbing_covers_query_strings_urls_and_conninfo() -> None:
    scrubber = LogScrubber("Another-Secret-Value-77", "host=h password=kv-pass-1 dbname=d")
    text = scrubber.text(
        "GET /x?secret=anything-at-all&y=1 postgresql://bob:url-pass-2@db:5432/app password=kv-pass-1 "
        "Another-Secret-Value-77 Another%2DSecret"
    )
    for leaked in ("anything-at-all", "url-pass-2", "kv-pass-1", "Another-Secret-Value-77"):
        assert leaked not in text
    assert "y=1" in text and "bob" in text

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("1.2.3.4:5", "GET", "/api/admin/db-status?secret=zzz-top", "1.1", 200), None)
    assert ScrubFilter(scrubber).filter(record)
    assert "zzz-top" not in record.getMessage() and record.args[4] == 200  # type: ignore[index]


def test_known_secrets_go_first_and_query_values_are_matched_whole_with_decoded_keys() -> None:
    scrubber = LogScrubber("Known;Part-Two-Secret9")
    lines = {
        "GET /x?secret=guess-abc;guess-def&y=1": "guess-def",  # the value runs to "&", not to ";"
        "GET /x?secret=Known;Part-Two-Secret9&y=1": "Part-Two",  # the known value whole, before any pattern
        "GET /x?%73ecret=guess-one&y=1": "guess-one",  # a percent-encoded key
        "GET /x?SECRET=guess-two&y=1": "guess-two",
        "GET /x?secre%74=guess-three&y=1": "guess-three",
        "GET /x?%2573ecret=guess-four&y=1": "guess-four",  # encoded twice
        "GET /x?secret%3Dguess-five&y=1": "guess-five",  # the "=" encoded
        "GET /x?next=%2Fdb%3Fsecret%3Dguess-six&y=1": "guess-six",  # a URL inside a value
        "MIGRATION_SECRET=guess-seven y=1": "guess-seven",
    }
    for line, leaked in lines.items():
        cleaned = scrubber.text(line)
        assert leaked not in cleaned and "y=1" in cleaned, (line, cleaned)
    # What is no secret stays readable: the access log of a batch keeps its table, cursor and batch size.
    batch = "GET /api/admin/db-migrate-data?table=users&cursor=eyJ0.abc&batchSize=7 HTTP/1.1"
    assert scrubber.text(batch) == batch
    hint = "send it in the header (or as ?secret= in a pasted URL)"  # nothing after "=": nothing to hide
    assert scrubber.text(hint) == hint


def test_job_errors_in_db_status_are_scrubbed(source_url: str, target_url: str) -> None:
    from fastapi.testclient import TestClient

    from pghaul.connect import connect_target
    from pghaul.copy import state
    from pghaul.engine import jobs
    from pghaul.http import create_app

    # A failed job as any pghaul may have recorded it on the target (a command-line run with other settings too),
    # its message quoting a URL with a password, a secret in a query and the secret itself.
    with connect_target(target_url) as conn:
        state.ensure_state(conn)
        job = jobs.new_job_id()
        jobs.start_job(conn, job)
        jobs.finish_job(
            conn, job, "failed",
            f"could not reach postgresql://app:{PASSWORD}@db.internal/app after GET /x?secret=guess-a;guess-b "
            f"with {SECRET}",
            None, hint=f"check password={PASSWORD} and try again",
        )
    with TestClient(create_app(make_settings(source_url, target_url))) as client:
        response = client.get("/api/admin/db-status", headers=AUTH)
    assert response.status_code == 200, response.text
    assert "could not reach" in response.text and "db.internal" in response.text  # the error is shown …
    for leaked in (PASSWORD, SECRET, "guess-b"):
        assert leaked not in response.text  # … without what must stay secret


def test_scrubbing_is_installed_only_while_the_api_serves_and_each_router_has_its_own_throttle() -> None:
    import subprocess
    import sys

    # In a fresh interpreter, so nothing else changed logging before.
    code = (
        "import gc, logging\n"
        "import pghaul.http, pghaul.http.guard, pghaul.http.throttle, pghaul.http.forwarded, pghaul.http.server\n"
        "assert logging.getLogRecordFactory() is logging.LogRecord, 'installed by an import'\n"
        "from pghaul.settings import Settings\n"
        "one = pghaul.http.create_router(Settings(migration_secret='host-app-Secret-5d8e2f71c3'))\n"
        "two = pghaul.http.create_router(Settings(migration_secret='host-app-Secret-5d8e2f71c3'))\n"
        "assert one.throttle is not two.throttle, 'a throttle shared between routers'\n"
        "assert logging.getLogRecordFactory() is logging.LogRecord, 'installed by creating a router'\n"
        "del one, two\n"
        "gc.collect()\n"
        "assert logging.getLogRecordFactory() is logging.LogRecord, 'a dropped router left logging changed'\n"
        "assert not [f for f in logging.getLogger().filters + logging.getLogger('uvicorn').filters]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_served_api_scrubs_its_own_secrets_and_puts_logging_back_when_it_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from fastapi.testclient import TestClient

    from pghaul.http import create_app

    before = logging.getLogRecordFactory()
    app = create_app(make_settings("postgresql://u@127.0.0.1:1/a", "postgresql://u@127.0.0.1:1/b"))
    assert logging.getLogRecordFactory() is before  # created, not serving: nothing changed yet
    with caplog.at_level(logging.INFO), TestClient(app):
        assert logging.getLogRecordFactory() is not before
        logging.getLogger("host.app").info("a host app logged %s and %s", SECRET, f"password={PASSWORD}")
    assert logging.getLogRecordFactory() is before  # stopped: the factory it found is back
    with caplog.at_level(logging.INFO):
        logging.getLogger("host.app").info("after: %s", SECRET)
    served, after = (r.getMessage() for r in caplog.records if r.name == "host.app")
    assert SECRET not in served and PASSWORD not in served and "a host app logged" in served
    assert SECRET in after  # no scrubbing left behind: a later app's logs are its own business


def test_scrubbers_installed_one_over_the_other_leave_no_wrapper_behind() -> None:
    before = logging.getLogRecordFactory()
    outer, inner = LogScrubber("Outer-Secret-Value-1"), LogScrubber("Inner-Secret-Value-2")
    outer.install()
    inner.install()
    outer.uninstall()  # wrapped by inner: outer's factory passes records on from now
    record = logging.getLogRecordFactory()("x", logging.INFO, __file__, 1, "%s %s",
                                           ("Outer-Secret-Value-1", "Inner-Secret-Value-2"), None)
    assert record.getMessage() == "Outer-Secret-Value-1 ***"
    inner.uninstall()
    assert logging.getLogRecordFactory() is before


def test_port_env_binds_every_interface() -> None:
    assert bind_address(None, None, {}) == ("127.0.0.1", 8000)
    assert bind_address(None, None, {"PORT": "5123"}) == ("0.0.0.0", 5123)
    assert bind_address("127.0.0.1", 9000, {"PORT": "5123"}) == ("127.0.0.1", 9000)
    assert bind_address(None, 9000, {}) == ("127.0.0.1", 9000)


def test_serve_leaves_forwarded_headers_to_pghaul_and_reads_trusted_proxy_hops(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from pghaul.settings import Settings

    monkeypatch.delenv("TRUSTED_PROXY_HOPS", raising=False)
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    default = build_server("127.0.0.1", 0, Settings())
    # uvicorn would believe the client's own leftmost X-Forwarded-For entry once the proxy is trusted ("*").
    assert default.config.proxy_headers is False
    assert Settings().trusted_proxy_hops == 1  # one platform proxy in front (Railway, Render, Heroku, Fly)
    for value, expected in (("0", 0), (" 2 ", 2), ("", 1)):
        monkeypatch.setenv("TRUSTED_PROXY_HOPS", value)
        assert Settings().trusted_proxy_hops == expected
    for bad in ("-1", "11", "many"):
        monkeypatch.setenv("TRUSTED_PROXY_HOPS", bad)
        with pytest.raises(ValueError):
            Settings()
    monkeypatch.delenv("TRUSTED_PROXY_HOPS")
    # The variable the guide once recommended ("*") does nothing any more, and start-up says so.
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    with caplog.at_level(logging.INFO, logger="pghaul.http"):
        assert build_server("127.0.0.1", 0, Settings()).config.proxy_headers is False
    assert "FORWARDED_ALLOW_IPS is no longer used" in caplog.text and "TRUSTED_PROXY_HOPS" in caplog.text
