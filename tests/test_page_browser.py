"""The migration page in a real headless Chromium against a real server and two real databases.

Debian's ``chromium`` driven by Playwright for Python (``apt-get install -y chromium``; ``pip install playwright``);
Playwright's own browser download is not used. The page runs under the strict Content-Security-Policy the server
sends, so the tests wait with locators (run by Playwright outside the page) rather than ``wait_for_function``,
which would need ``eval`` inside it.

The screenshots land in tests/artifacts/screenshots/ (ignored by git); with PGHAUL_UPDATE_SCREENSHOTS=1 they
replace the ones in docs/screenshots/ that docs/MIGRATION_GUIDE.md shows.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi import FastAPI

from pghaul import events
from pghaul.http import create_app, create_router
from pghaul.http.server import PAAS_HOST, build_server
from pghaul.sample import SAMPLE_TABLES, fill_sample_database
from pghaul.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]
pytest_plugins = ["tests.logical_servers"]  # the follow test's servers, started only when it runs

SECRET = "page-test-Secret-7f3a9c2e41"
WRONG_SECRET = "not-the-secret-at-all-123"
CHROMIUM = "/usr/bin/chromium"
INSECURE_HOST = "pghaul.test"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # A name that is not this machine, for the page opened over plain http (resolved here, never looked up).
    f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1",
]
VIEWPORT = {"width": 1000, "height": 800}
PHONE = {"width": 390, "height": 844}
_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = (
    _ROOT / "docs" / "screenshots"
    if os.environ.get("PGHAUL_UPDATE_SCREENSHOTS") == "1"
    else _ROOT / "tests" / "artifacts" / "screenshots"
)
WAIT_MS = 120_000
READ_ENDPOINTS = {"db-status", "db-preflight", "db-tables", "db-schema", "db-verify", "db-sync", "db-cutover",
                  "db-follow"}
START_ENDPOINTS = {"db-migrate-all", "db-verify", "db-sync", "db-cutover", "db-unfreeze", "db-stop-follow",
                   "db-follow"}


def _settings(source_url: str, target_url: str) -> Settings:
    return Settings(
        database_url=source_url, new_database_url=target_url, migration_secret=SECRET, allow_db_migration=True
    )


@contextmanager
def serving(app: Any, port: int = 0) -> Iterator[str]:
    """The app under uvicorn in a thread on 127.0.0.1 (an ephemeral port unless given); yields the origin.

    Leaving the block shuts the server down the way a redeploy does: lifespan shutdown, background jobs told to stop.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", lifespan="on"))
    try:
        with _running(server, [sock]):
            yield f"http://127.0.0.1:{port}"
    finally:
        sock.close()


@contextmanager
def _running(server: uvicorn.Server, sockets: list[socket.socket] | None = None) -> Iterator[None]:
    """Run ``server`` in a thread until the block ends; fail clearly if it never starts."""
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, name="page-test-server", daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        assert server.started, "the test server did not start"
        yield
    finally:
        server.should_exit = True
        thread.join(60)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def pghaul_serve(
    monkeypatch: pytest.MonkeyPatch, source_url: str, target_url: str, listener: events.Listener = events.ignore
) -> Iterator[str]:
    """What `pghaul serve` runs on a PaaS, configured only by the platform's environment variables, in a thread
    of this process (so ``listener`` can hold the job where the test wants it); yields the origin."""
    port = _free_port()
    for name, value in (
        ("DATABASE_URL", source_url), ("NEW_DATABASE_URL", target_url), ("MIGRATION_SECRET", SECRET),
        ("ALLOW_DB_MIGRATION", "true"), ("PORT", str(port)),
    ):
        monkeypatch.setenv(name, value)
    server = build_server(None, None, Settings(), listener=listener)
    assert (server.config.host, server.config.port) == (PAAS_HOST, port)  # PORT set: every interface
    with _running(server):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: pip install playwright (its browsers are not needed)")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Watch:
    """Everything the page asked for and complained about."""

    def __init__(self, page: Any) -> None:
        self.requests: list[Any] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r))
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def assert_clean(self, origin: str, typed: tuple[str, ...] = (SECRET,)) -> None:
        netlocs = {urlsplit(r.url).netloc for r in self.requests}
        assert netlocs == {urlsplit(origin).netloc}, f"requests left the page's own server: {sorted(netlocs)}"
        schemes = {urlsplit(r.url).scheme for r in self.requests}
        assert schemes == {"http"}, schemes
        api_calls = [r for r in self.requests if r.resource_type in ("fetch", "xhr")]
        assert api_calls, "the page made no API call"
        for request in api_calls:
            assert not any(secret in request.url for secret in typed), "a secret went into a URL"
            assert request.headers.get("x-migration-secret") in typed, request.url
            # Reading is GET; whatever starts work is POST (a GET db-schema only ever as a dry run).
            url = urlsplit(request.url)
            endpoint = url.path.rsplit("/", 1)[-1]
            if request.method == "GET":
                assert endpoint in READ_ENDPOINTS, request.url
                assert endpoint != "db-schema" or "dryRun=true" in url.query, request.url
            else:
                assert request.method == "POST" and endpoint in START_ENDPOINTS, (request.method, request.url)
        assert not self.errors, self.errors
        violations = [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]
        assert not violations, violations


def shot(target: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(SCREENSHOTS / name), animations="disabled")


def unlock(page: Any, secret: str) -> None:
    page.fill("#secret", secret)
    page.press("#secret", "Enter")


class PauseAfterFirstTable:
    """A listener that holds the engine once the first table is fully copied, until the test lets it go.

    That makes "the middle of the migration" a state the test controls rather than a moment it must catch.
    """

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.TableFinished) and not self.reached.is_set():
            self.reached.set()
            self.release.wait(WAIT_MS / 1000)
        if isinstance(event, events.Notice) and "shutting down" in event.message:
            self.release.set()  # the server stops: let the job reach its chunk boundary and stop there


def test_the_page_migrates_survives_a_reload_and_shows_verify_green(
    browser: Any, source_url: str, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect

    fill_sample_database(source_url, users=30, memories_per_user=4)
    pause = PauseAfterFirstTable()
    with pghaul_serve(monkeypatch, source_url, target_url, listener=pause) as origin:
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        watch = Watch(page)
        try:
            page.goto(origin + "/api/admin/migrate")
            expect(page.locator("#unlock")).to_be_visible()
            expect(page.locator("#secret")).to_be_focused()
            shot(page.locator("#unlock"), "01-secret.png")

            # A wrong secret: a clear sentence, the form stays, nothing else shows.
            unlock(page, WRONG_SECRET)
            expect(page.locator("#secret-error")).to_contain_text("That secret is not right")
            expect(page.locator("#app")).to_be_hidden()
            shot(page.locator("#unlock"), "02-wrong-secret.png")

            unlock(page, SECRET)
            expect(page.locator("#app")).to_be_visible()
            expect(page.locator("#unlock")).to_be_hidden()

            # 1. Check
            page.click("#run-check")
            result = page.locator("#check-result")
            expect(result.locator(".notice")).to_be_visible(timeout=WAIT_MS)
            expect(result).to_contain_text("Current database (source): reachable")
            expect(result).to_contain_text("New database (target): reachable")
            expect(result).to_contain_text("Extension vector")
            expect(result.locator(".badge.bad")).to_have_count(0)
            shot(page.locator("#step-check"), "03-check.png")

            # 2. Preview: the tables and the SQL, nothing written.
            page.click("#run-preview")
            preview = page.locator("#preview-result")
            expect(preview.locator("table")).to_be_visible(timeout=WAIT_MS)
            for name in SAMPLE_TABLES:
                expect(preview.locator("tbody th", has_text=re.compile(rf"^{name}$"))).to_have_count(1)
            sql = preview.locator("pre")
            expect(sql).to_be_hidden()  # collapsed until asked for
            preview.locator("summary").click()
            expect(sql).to_contain_text("CREATE TABLE")
            expect(sql).to_contain_text("hnsw")
            shot(page.locator("#step-preview"), "04-preview.png")
            preview.locator("summary").click()

            # 3. Migrate, held in the middle after the first table.
            page.click("#start")
            assert pause.reached.wait(WAIT_MS / 1000), "the migration never finished a table"
            progress = page.locator("#table-progress")
            expect(progress.locator("li", has_text="done").first).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#job-state")).to_contain_text("Running")
            expect(page.locator("#phases li[aria-current]")).to_have_text("Data")
            done_before = progress.locator("li", has_text="done").count()
            assert 1 <= done_before < len(SAMPLE_TABLES)
            shot(page.locator("#step-migrate"), "05-progress.png")

            # A reload in the middle: no secret asked again, no Start button, the same progress.
            page.reload()
            expect(page.locator("#progress")).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#unlock")).to_be_hidden()
            expect(page.locator("#start")).to_be_hidden()
            expect(page.locator("#job-state")).to_contain_text("Running")
            expect(progress.locator("li", has_text="done")).to_have_count(done_before, timeout=WAIT_MS)
            assert not pause.release.is_set()

            # 4. Verify: green for every table once the job is let go.
            pause.release.set()
            verdict = page.locator("#verify-result")
            expect(verdict.locator(".notice.ok")).to_be_visible(timeout=WAIT_MS)
            expect(verdict).to_contain_text("Everything matches")
            expect(page.locator("#stat-percent")).to_have_text("100%")
            expect(progress.locator("li", has_text="done")).to_have_count(len(SAMPLE_TABLES))
            rows = verdict.locator("table").first.locator("tbody tr")
            expect(rows).to_have_count(len(SAMPLE_TABLES))
            for i in range(len(SAMPLE_TABLES)):
                expect(rows.nth(i)).to_have_class("ok")
                expect(rows.nth(i).locator("td.verdict")).to_have_text("✓ OK")
            expect(verdict.locator("li", has_text="Vector search on public.persistent_memories.embedding")
                   .locator(".badge.ok")).to_be_visible()
            expect(verdict.locator(".badge.bad")).to_have_count(0)
            expect(page.locator("#steps li[aria-current]")).to_have_text("Sync")  # then the cutover
            expect(page.locator("#resume")).to_be_hidden()
            shot(page.locator("#step-verify"), "06-verify.png")
            shot(page.locator("#step-next"), "07-next-steps.png")

            # Verify again: started on the server (POST), followed until its report is in, green again.
            page.click("#run-verify")
            expect(page.locator("#run-verify")).to_be_enabled(timeout=WAIT_MS)
            expect(verdict.locator(".notice.ok")).to_be_visible(timeout=WAIT_MS)
            expect(verdict.locator("table").first.locator("tbody tr")).to_have_count(len(SAMPLE_TABLES))
            assert any(r.method == "POST" and r.url.endswith("/db-verify") for r in watch.requests)

            # Usable on a phone: nothing wider than the screen.
            page.set_viewport_size(PHONE)
            page.locator("#step-migrate").scroll_into_view_if_needed()
            widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1], widths
            page.screenshot(path=str(SCREENSHOTS / "08-phone.png"))

            watch.assert_clean(origin, (SECRET, WRONG_SECRET))
        finally:
            pause.release.set()
            context.close()


def test_the_page_talks_only_to_its_own_server_under_any_prefix_and_works_by_keyboard(
    browser: Any, source_url: str, target_url: str
) -> None:
    from playwright.sync_api import expect

    fill_sample_database(source_url, users=3, memories_per_user=2)
    host = FastAPI()
    host.include_router(create_router(_settings(source_url, target_url)), prefix="/ops/db-tools")
    with serving(host) as origin:
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        watch = Watch(page)
        try:
            response = page.goto(origin + "/ops/db-tools/migrate")
            assert response is not None and response.ok
            csp = response.headers.get("content-security-policy", "")
            assert "script-src 'sha256-" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp

            # Keyboard only: the secret field has focus, Enter submits, Tab reaches every step's button.
            expect(page.locator("#secret")).to_be_focused()
            page.keyboard.type(SECRET)
            page.keyboard.press("Enter")
            expect(page.locator("#app")).to_be_visible()
            for button, done in (("#run-check", "#check-result .notice"), ("#run-preview", "#preview-result table")):
                for _ in range(30):
                    if page.evaluate("() => document.activeElement && document.activeElement.id") == button[1:]:
                        break
                    page.keyboard.press("Tab")
                expect(page.locator(button)).to_be_focused()
                page.keyboard.press("Enter")
                expect(page.locator(done)).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#start")).to_be_enabled()

            # Every control has a name a screen reader can say.
            for control in page.locator("button:visible, input:visible").all():
                assert control.evaluate("e => (e.labels && e.labels.length) || e.textContent.trim().length") > 0

            # An old bookmark with ?secret=: taken into the tab, then out of the address bar.
            page.goto(origin + "/ops/db-tools/migrate?secret=" + SECRET)
            expect(page.locator("#app")).to_be_visible()
            assert SECRET not in page.url

            docs = [r for r in watch.requests if r.resource_type == "document"]
            assert all(urlsplit(r.url).path == "/ops/db-tools/migrate" for r in docs)
            api = {urlsplit(r.url).path for r in watch.requests if r.resource_type in ("fetch", "xhr")}
            assert api >= {"/ops/db-tools/db-status", "/ops/db-tools/db-preflight", "/ops/db-tools/db-schema"}, api
            watch.assert_clean(origin)
        finally:
            context.close()


def test_a_server_restarted_mid_migration_is_noticed_and_resumed_from_the_page(
    browser: Any, source_url: str, target_url: str
) -> None:
    from playwright.sync_api import expect

    fill_sample_database(source_url, users=10, memories_per_user=2)
    settings = _settings(source_url, target_url)
    pause = PauseAfterFirstTable()
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    watch = Watch(page)
    try:
        with serving(create_app(settings, listener=pause)) as origin:
            page.goto(origin + "/api/admin/migrate")
            unlock(page, SECRET)
            page.click("#run-check")
            expect(page.locator("#check-result .notice")).to_be_visible(timeout=WAIT_MS)
            page.click("#run-preview")
            expect(page.locator("#preview-result table")).to_be_visible(timeout=WAIT_MS)
            page.click("#start")
            assert pause.reached.wait(WAIT_MS / 1000), "the migration never finished a table"
            expect(page.locator("#table-progress li", has_text="done").first).to_be_visible(timeout=WAIT_MS)
        # The server is gone (as in a redeploy): the page says so and keeps trying.
        expect(page.locator("#page-problem")).to_contain_text("Lost contact", timeout=WAIT_MS)
        expect(page.locator("#progress")).to_be_visible()

        port = int(urlsplit(origin).port or 0)
        with serving(create_app(settings), port=port):
            # The new server finds the stopped job on the target: the page explains it and offers Resume.
            expect(page.locator("#resume")).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#page-problem")).to_be_hidden()
            problem = page.locator("#job-problem")
            expect(problem).to_be_visible()
            expect(problem.locator(".msg")).not_to_be_empty()
            expect(problem.locator(".hint")).not_to_be_empty()
            assert "Traceback" not in page.locator("main").inner_text() and "{" not in problem.inner_text()
            expect(page.locator("#job-state")).to_contain_text("Resume")
            shot(page.locator("#step-migrate"), "09-stopped-resume.png")

            page.click("#resume")
            verdict = page.locator("#verify-result")
            expect(verdict.locator(".notice.ok")).to_be_visible(timeout=WAIT_MS)
            rows = verdict.locator("table").first.locator("tbody tr")
            expect(rows).to_have_count(len(SAMPLE_TABLES))
            expect(verdict.locator("tbody tr.bad")).to_have_count(0)
            expect(page.locator("#job-problem")).to_be_hidden()
            expect(page.locator("#resume")).to_be_hidden()
        watch.assert_clean(origin)
    finally:
        pause.release.set()
        context.close()


def test_the_page_sends_no_secret_over_plain_http(browser: Any, source_url: str, target_url: str) -> None:
    from playwright.sync_api import expect

    with serving(create_app(_settings(source_url, target_url))) as origin:
        port = urlsplit(origin).port
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        watch = Watch(page)
        try:
            # An old bookmark with the secret, opened over http on a name that is not this machine.
            page.goto(f"http://{INSECURE_HOST}:{port}/api/admin/migrate?secret={SECRET}")
            notice = page.locator("#insecure")
            expect(notice).to_be_visible()
            expect(notice).to_contain_text("unencrypted")
            expect(page.locator("#unlock")).to_be_hidden()
            expect(page.locator("#app")).to_be_hidden()
            link = page.locator("#https-link")
            assert link.get_attribute("href") == f"https://{INSECURE_HOST}:{port}/api/admin/migrate"
            assert SECRET not in page.url  # out of the address bar, and not kept in the tab either
            assert page.evaluate("() => sessionStorage.length") == 0
            assert [r.url for r in watch.requests if r.resource_type in ("fetch", "xhr")] == []
            assert not watch.errors, watch.errors
        finally:
            context.close()


# The engine's phases as the page's step bar labels them (pghaul.kinds.Phase, in order).
PHASE_LABELS = (("preflight", "Checks"), ("pre-data", "Structure"), ("data", "Data"), ("post-data", "Constraints"),
                ("sequences", "Sequences"), ("verify", "Verify"))
# Embeddings enough for an HNSW build that lasts several of the engine's progress polls (0.5 s apart).
EMBEDDING_ROWS = 12_000
EMBEDDING_DIMENSIONS = 384


def _embeddings(url: str) -> None:
    from tests.conftest import run_sql

    run_sql(url, f"""
        CREATE EXTENSION IF NOT EXISTS vector;
        CREATE TABLE public.embeddings (id bigint PRIMARY KEY, embedding vector({EMBEDDING_DIMENSIONS}) NOT NULL);
        INSERT INTO public.embeddings
        SELECT i, array(SELECT random()::real FROM generate_series(1, {EMBEDDING_DIMENSIONS}) WHERE i > 0)::vector
        FROM generate_series(1, {EMBEDDING_ROWS}) AS i;
        CREATE INDEX embeddings_hnsw ON public.embeddings USING hnsw (embedding vector_l2_ops);
    """)


class PhaseGate:
    """Holds the engine as each phase starts, and once in the middle of an index build, until the test has seen
    the page show it: each moment becomes a state the test controls rather than one it must catch."""

    def __init__(self) -> None:
        keys = [phase for phase, _ in PHASE_LABELS] + ["index"]
        self.reached = {key: threading.Event() for key in keys}
        self.release = {key: threading.Event() for key in keys}

    def _hold(self, key: str) -> None:
        self.reached[key].set()
        self.release[key].wait(WAIT_MS / 1000)

    def let_go(self) -> None:
        for release in self.release.values():
            release.set()

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.PhaseStarted) and str(event.phase) in self.reached:
            self._hold(str(event.phase))
        elif (isinstance(event, events.IndexProgress) and 0 < event.done < event.total
              and not self.reached["index"].is_set()):
            self._hold("index")  # the page shows this very report while the engine waits here
        elif isinstance(event, events.Notice) and "shutting down" in event.message:
            self.let_go()


def test_the_step_bar_lights_each_engine_phase_in_turn_and_shows_the_index_build(
    browser: Any, source_url: str, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx
    from playwright.sync_api import expect

    _embeddings(source_url)
    gate = PhaseGate()
    with pghaul_serve(monkeypatch, source_url, target_url, listener=gate) as origin:
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        watch = Watch(page)
        try:
            started = httpx.post(origin + "/api/admin/db-migrate-all", headers={"X-Migration-Secret": SECRET})
            assert started.json()["started"] is True, started.text
            page.goto(origin + "/api/admin/migrate")
            unlock(page, SECRET)
            expect(page.locator("#progress")).to_be_visible(timeout=WAIT_MS)
            current = page.locator("#phases li[aria-current]")
            for number, (phase, label) in enumerate(PHASE_LABELS):
                assert gate.reached[phase].wait(WAIT_MS / 1000), f"the engine never started {phase}"
                expect(current).to_have_text(label, timeout=WAIT_MS)
                expect(page.locator("#phases li.done")).to_have_count(number)
                if phase == "data":
                    gate.release[phase].set()
                    _see_the_index_build(page, gate)
                gate.release[phase].set()
            verdict = page.locator("#verify-result")
            expect(verdict.locator(".notice.ok")).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#phases li.done")).to_have_count(len(PHASE_LABELS))
            expect(page.locator("#index-progress li", has_text="embeddings_hnsw")).to_contain_text("done")
            watch.assert_clean(origin)
        finally:
            gate.let_go()
            context.close()


def _see_the_index_build(page: Any, gate: PhaseGate) -> None:
    """Every row is in and the HNSW index is being built: the page says so, with the build's percentage, and the
    overall bar has moved past the rows (it once sat at "85% · copying data" here, looking stuck)."""
    from playwright.sync_api import expect

    assert gate.reached["index"].wait(WAIT_MS / 1000), "no index build reported progress"
    build = page.locator("#index-progress li", has_text="embeddings_hnsw")
    expect(build.locator(".row1 .small")).to_have_text(re.compile(r"^\d{1,2}%$"), timeout=WAIT_MS)
    expect(build).to_contain_text("building index")  # PostgreSQL's own name for what the build is doing
    expect(page.locator("#phases li[aria-current]")).to_have_text("Data")
    expect(page.locator("#table-progress li", has_text="embeddings")).to_contain_text("done")
    expect(page.locator("#job-state")).to_contain_text(re.compile(r"Building index \S*embeddings_hnsw: \d{1,2}%"))
    percent = int(page.locator("#stat-percent").inner_text().rstrip("%"))
    assert 75 <= percent < 88, percent
    gate.release["index"].set()


# What the app writes on the source after the migration, as the page's sync then reports it per table.
APP_WRITES = """
INSERT INTO public.users (email, display_name) VALUES ('late1@example.com', 'late one'),
                                                      ('late2@example.com', 'late two');
UPDATE public.users SET display_name = 'renamed' WHERE id = 3;
INSERT INTO public.messages (conversation_id, role, content)
  SELECT id, 'user', 'written during the migration' FROM public.conversations ORDER BY id LIMIT 1;
"""


def _source_writable(url: str) -> bool:
    """Whether a new session on the source may write (a freeze makes new sessions read-only)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute("CREATE TEMP TABLE probe (x int)")
        except psycopg.errors.ReadOnlySqlTransaction:
            return False
    return True


def _migrate_from_the_page(page: Any) -> None:
    from playwright.sync_api import expect

    page.click("#run-check")
    expect(page.locator("#check-result .notice")).to_be_visible(timeout=WAIT_MS)
    page.click("#run-preview")
    expect(page.locator("#preview-result table")).to_be_visible(timeout=WAIT_MS)
    page.click("#start")
    expect(page.locator("#verify-result .notice.ok")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#steps li[aria-current]")).to_have_text("Sync")


class HoldFirstSyncAfterOneTable:
    """Holds the first sync once it has compared one table, until the test has seen the page show that table."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, event: events.Event) -> None:
        from pghaul.sync.progress import TableSynced

        if isinstance(event, TableSynced) and not self.reached.is_set():
            self.reached.set()
            self.release.wait(WAIT_MS / 1000)
        elif isinstance(event, events.Notice) and "shutting down" in event.message:
            self.release.set()


def _sync_from_the_page(page: Any, hold: HoldFirstSyncAfterOneTable) -> None:
    from playwright.sync_api import expect

    page.click("#run-sync")
    # Held after its first table: that table is listed with its counts while the rest are still compared.
    assert hold.reached.wait(WAIT_MS / 1000), "the sync never finished a table"
    expect(page.locator("#sync-tables li")).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator("#sync-tables li")).to_contain_text(re.compile(r"\d+ inserted · \d+ updated · \d+ deleted"))
    expect(page.locator("#sync-state")).to_have_text("Syncing: 1 of 6 tables compared…")
    expect(page.locator("#run-sync")).to_be_disabled()
    hold.release.set()
    result = page.locator("#sync-result")
    expect(result.locator(".notice.ok")).to_contain_text("Synced", timeout=WAIT_MS)
    for name, counts in (("users", ("2", "1", "0")), ("messages", ("1", "0", "0"))):
        row = result.locator("tbody tr", has=page.locator("th", has_text=re.compile(rf"^{name}$")))
        expect(row.locator("td.num").nth(0)).to_have_text(counts[0])  # inserted
        expect(row.locator("td.num").nth(1)).to_have_text(counts[1])  # updated
        expect(row.locator("td.num").nth(2)).to_have_text(counts[2])  # deleted
    stats = result.locator(".stats")
    expect(stats.locator(".stat", has_text="Rows inserted").locator(".v")).to_have_text("3")
    expect(stats.locator(".stat", has_text="Rows updated").locator(".v")).to_have_text("1")
    expect(page.locator("#steps li[aria-current]")).to_have_text("Cutover")
    shot(page.locator("#step-sync"), "10-sync.png")


def _finish_from_the_page(page: Any, source_url: str) -> None:
    from playwright.sync_api import expect

    page.check("#freeze-source")
    page.click("#run-finish")
    result = page.locator("#cutover-result")
    expect(result.locator(".notice.ok")).to_contain_text("Verified", timeout=WAIT_MS)
    expect(result).to_contain_text(re.compile(r"Writes paused for \d+\.\d s"))
    expect(result.locator(".switch")).to_have_text(
        "Now set DATABASE_URL in your app to the value of NEW_DATABASE_URL, then redeploy.")
    expect(result.locator("h3", has_text="Rollback")).to_be_visible()
    expect(result).to_contain_text("Unfreeze")  # the way back names the undo of the freeze
    expect(page.locator("#cutover-frozen")).to_be_visible()
    expect(page.locator("#run-unfreeze")).to_be_visible()
    expect(page.locator("#steps li[aria-current]")).to_have_text("Next steps")
    assert not _source_writable(source_url)
    shot(page.locator("#step-cutover"), "11-cutover.png")


def test_the_page_syncs_then_guides_the_cutover_with_a_freeze_and_unfreezes(
    browser: Any, source_url: str, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect

    from tests.conftest import run_sql
    from tests.test_http_helpers import PASSWORD, with_password

    fill_sample_database(source_url, users=10, memories_per_user=2)
    hold = HoldFirstSyncAfterOneTable()
    # The URLs carry a password (ignored by the test servers): the page must never show it.
    with pghaul_serve(monkeypatch, with_password(source_url), with_password(target_url), listener=hold) as origin:
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        watch = Watch(page)
        try:
            page.goto(origin + "/api/admin/migrate")
            unlock(page, SECRET)
            _migrate_from_the_page(page)
            run_sql(source_url, APP_WRITES)  # the app wrote on meanwhile
            _sync_from_the_page(page, hold)

            # Catch up while the app still writes: one round carries the last write and says what is left.
            run_sql(source_url, "UPDATE public.users SET display_name = 'once more' WHERE id = 4")
            page.click("#run-catch-up")
            catch_up = page.locator("#catch-up-result")
            expect(catch_up).to_contain_text("Left: about 1 change (what the last round carried)", timeout=WAIT_MS)
            expect(catch_up.locator("tbody tr")).to_have_count(1)
            expect(catch_up.locator("tbody tr td.num").first).to_have_text("1")

            _finish_from_the_page(page, source_url)
            page.click("#run-unfreeze")
            expect(page.locator("#unfreeze-result")).to_contain_text("unfrozen: new sessions may write again",
                                                                     timeout=WAIT_MS)
            expect(page.locator("#run-unfreeze")).to_be_hidden()
            expect(page.locator("#cutover-frozen")).to_be_hidden()
            assert _source_writable(source_url)

            html = page.content()
            assert PASSWORD not in html and SECRET not in html
            watch.assert_clean(origin)
        finally:
            hold.release.set()
            context.close()
            from pghaul.engine.freeze import unfreeze_source

            unfreeze_source(source_url)  # a failure above may have left it frozen


def _offer_follow_in_the_check(page: Any) -> None:
    """Both servers can replicate: the check offers follow, names what it creates on the old database, and the
    migrate step says the copy will be followed once it is ticked."""
    from playwright.sync_api import expect

    page.click("#run-check")
    expect(page.locator("#check-result .notice")).to_be_visible(timeout=WAIT_MS)
    offer = page.locator("#follow-offer")
    expect(offer).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#follow-unavailable")).to_be_hidden()
    expect(page.locator("#follow-name")).to_have_text(re.compile(r"^pghaul_[0-9a-f]{16}$"))
    expect(offer).to_contain_text("replication slot")
    expect(offer).to_contain_text("fills the old database's disk")
    expect(page.locator("#follow-caveats li", has_text="sequence")).to_have_count(1)
    expect(page.locator("#follow")).not_to_be_checked()
    page.check("#follow")
    shot(page.locator("#step-check"), "12-check-follow.png")
    page.click("#run-preview")
    expect(page.locator("#preview-result table")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#migrate-follow")).to_be_visible()


def _see_the_lag(page: Any, target_url: str) -> None:
    """Migrated and following: step 5 shows the replication state, the lag and each table instead of Sync, and
    the cutover's catch-up is replaced by the lag."""
    import psycopg
    from playwright.sync_api import expect

    status = page.locator("#follow-status")
    expect(status).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#follow-state")).to_have_text("following", timeout=WAIT_MS)
    expect(page.locator("#follow-lag-bytes")).to_have_text(re.compile(r"^[\d,.]+ (bytes|kB|MB|GB)$"))
    expect(status.locator("tbody tr")).to_have_count(6)  # the partitions' leaves are published one by one
    expect(status.locator("tbody tr.ok")).to_have_count(6)
    expect(page.locator("#run-sync")).to_be_hidden()
    expect(page.locator("#catch-up-step")).to_be_hidden()
    expect(page.locator("#lag-step")).to_be_visible()
    expect(page.locator("#cutover-lag")).to_have_text(re.compile(r"bytes|kB|MB"))
    expect(page.locator("#finish-text")).to_contain_text("lag zero")
    with psycopg.connect(target_url) as conn:  # the app's write arrived by replication alone
        assert conn.execute("SELECT count(*) FROM account WHERE name = 'written while following'").fetchone() == (1,)
    shot(page.locator("#step-sync"), "13-following.png")


def test_the_page_offers_follow_on_a_logical_pair_shows_the_lag_and_finishes_at_zero_lag(
    browser: Any, logical_source_url: str, logical_target_url: str
) -> None:
    import psycopg
    from playwright.sync_api import expect

    from tests.conftest import run_sql
    from tests.follow_helpers import fill_app, replication_objects

    fill_app(logical_source_url, accounts=200)
    with serving(create_app(_settings(logical_source_url, logical_target_url))) as origin:
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        watch = Watch(page)
        try:
            page.goto(origin + "/api/admin/migrate")
            unlock(page, SECRET)
            _offer_follow_in_the_check(page)
            page.click("#start")
            expect(page.locator("#verify-result .notice.ok")).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#verify-result")).to_contain_text("now follows the old one")
            run_sql(logical_source_url, "INSERT INTO account (name) VALUES ('written while following')")
            with psycopg.connect(logical_target_url) as conn:
                for _ in range(100):  # replication applies it within moments
                    if conn.execute("SELECT count(*) FROM account WHERE name = 'written while following'"
                                    ).fetchone() == (1,):
                        break
                    threading.Event().wait(0.1)
            _see_the_lag(page, logical_target_url)

            page.click("#run-finish")
            result = page.locator("#cutover-result")
            expect(result.locator(".notice.ok")).to_contain_text("Verified", timeout=WAIT_MS)
            expect(result).to_contain_text(re.compile(r"Writes paused for \d+\.\d s"))
            expect(result).to_contain_text("Replication removed")
            expect(result.locator(".switch")).to_have_text(
                "Now set DATABASE_URL in your app to the value of NEW_DATABASE_URL, then redeploy.")
            expect(page.locator("#follow-status")).to_be_hidden()
            expect(page.locator("#cutover-lag")).to_contain_text("taken down at the cutover")
            expect(page.locator("#catch-up-step")).to_be_hidden()
            expect(page.locator("#steps li[aria-current]")).to_have_text("Next steps")
            shot(page.locator("#step-cutover"), "14-cutover-follow.png")
            for url in (logical_source_url, logical_target_url):
                assert replication_objects(url, server_wide=False) == ([], [], [])
            assert any(r.method == "POST" and r.post_data == '{"follow":true}' for r in watch.requests
                       if r.url.endswith("/db-migrate-all"))
            watch.assert_clean(origin)
        finally:
            context.close()


def test_the_page_starts_following_after_a_migration_without_follow_and_stops_it(
    browser: Any, logical_source_url: str, logical_target_url: str
) -> None:
    """Migrated without follow on a pair that can replicate: step 5 offers to start following (POST db-follow),
    the new database then follows the old one, and Stop following takes the slot, publication and subscription
    down again."""
    import psycopg
    from playwright.sync_api import expect

    from tests.conftest import run_sql
    from tests.follow_helpers import fill_app, replication_objects

    fill_app(logical_source_url, accounts=100)
    with serving(create_app(_settings(logical_source_url, logical_target_url))) as origin:
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        watch = Watch(page)
        try:
            page.goto(origin + "/api/admin/migrate")
            unlock(page, SECRET)
            page.click("#run-check")
            expect(page.locator("#follow-offer")).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#follow")).not_to_be_checked()
            page.click("#run-preview")
            expect(page.locator("#preview-result table")).to_be_visible(timeout=WAIT_MS)
            page.click("#start")
            expect(page.locator("#verify-result .notice.ok")).to_be_visible(timeout=WAIT_MS)
            assert replication_objects(logical_source_url, server_wide=False) == ([], [], [])

            offer = page.locator("#follow-start-offer")
            expect(offer).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#follow-start-name")).to_have_text(re.compile(r"^pghaul_[0-9a-f]{16}$"))
            page.click("#start-follow")
            expect(page.locator("#follow-state")).to_have_text("following", timeout=WAIT_MS)
            expect(offer).to_be_hidden()
            run_sql(logical_source_url, "INSERT INTO account (name) VALUES ('after start-follow')")
            with psycopg.connect(logical_target_url, autocommit=True) as conn:
                for _ in range(100):  # replication applies it within moments
                    if conn.execute("SELECT count(*) FROM account WHERE name = 'after start-follow'"
                                    ).fetchone() == (1,):
                        break
                    threading.Event().wait(0.1)
                else:
                    raise AssertionError("the source's write never reached the target through replication")

            page.click("#stop-follow")
            expect(page.locator("#stop-follow-result")).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#follow-status")).to_be_hidden()
            for url in (logical_source_url, logical_target_url):
                assert replication_objects(url, server_wide=False) == ([], [], [])
            assert any(r.method == "POST" for r in watch.requests if r.url.endswith("/db-follow"))
            assert any(r.method == "POST" for r in watch.requests if r.url.endswith("/db-stop-follow"))
            watch.assert_clean(origin)
        finally:
            context.close()
