"""Concurrency: one background job at a time (checked and started in one step), no one-batch copy beside a
migration (in this process or another), and a post-data phase that holds the target's migration lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pghaul import events
from pghaul.errors import SafetyError
from pghaul.http import create_app, create_router
from pghaul.http.jobs import BackgroundWork
from pghaul.sample import fill_sample_database
from tests.conftest import run_sql
from tests.test_http_helpers import AUTH, make_settings, poll_status
from tests.test_source_never_written import dump

RUNNING = "is running on this target"


def _work(started: Any) -> Any:
    return started[0] if isinstance(started, tuple) else started


def test_concurrent_starts_of_any_kind_start_exactly_one_job() -> None:
    background = BackgroundWork()
    release = threading.Event()
    kinds = ["migrate", "post-data", "verify"] * 4
    barrier = threading.Barrier(len(kinds))
    outcomes: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def body(_work: Any, _listener: Any) -> dict[str, Any]:
        release.wait(30)
        return {}

    def attempt(index: int, kind: str) -> None:
        barrier.wait()
        try:
            outcome: tuple[str, Any] = ("started", _work(background.start(kind, f"job-{index}", body)))  # type: ignore[arg-type]
        except SafetyError as exc:
            outcome = ("refused", exc)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(i, k)) for i, k in enumerate(kinds)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    try:
        started = {id(w): w for tag, w in outcomes if tag == "started"}
        assert len(started) == 1, sorted(w.kind for w in started.values())
        (winner,) = started.values()
        for tag, value in outcomes:
            if tag == "refused":
                assert RUNNING in value.message and "db-status" in value.hint
            else:
                assert value is winner  # the same kind again shows the running job
        assert sum(tag == "started" for tag, _ in outcomes) == kinds.count(winner.kind)
    finally:
        release.set()


@contextmanager
def _mounted(source_url: str, target_url: str, listener: events.Listener, **settings: Any) -> Iterator[
    tuple[TestClient, Any]
]:
    router = create_router(make_settings(source_url, target_url, **settings), listener=listener)
    app = FastAPI()
    app.include_router(router, prefix="/api/admin")
    with TestClient(app) as client:
        yield client, router.runtime


def _held_at(kinds: tuple[type[events.Event], ...], release: threading.Event, held: threading.Event
             ) -> events.Listener:
    def listener(event: events.Event) -> None:
        if isinstance(event, kinds) and not release.is_set():
            held.set()
            release.wait(60)

    return listener


def _slow(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, seconds: float) -> None:
    """A target some distance away: this call takes ``seconds`` longer, as it would across a network."""
    original = getattr(module, name)

    def slowed(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, slowed)


def test_concurrent_requests_start_one_background_job(
    source_url: str, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pghaul.engine import jobs

    fill_sample_database(source_url, users=3, memories_per_user=1)
    before = dump(source_url)
    _slow(monkeypatch, jobs, "read_status", 0.3)
    release, held = threading.Event(), threading.Event()
    calls: list[tuple[str, str, dict[str, str]]] = (
        [("POST", "/api/admin/db-migrate-all", {})] * 3 + [("GET", "/api/admin/db-schema", {"phase": "post"})] * 3
    )
    with _mounted(source_url, target_url, _held_at((events.PhaseStarted,), release, held)) as (client, runtime):
        barrier = threading.Barrier(len(calls))
        replies: list[httpx.Response] = []

        def call(method: str, path: str, params: dict[str, str]) -> None:
            barrier.wait()
            replies.append(client.request(method, path, params=params, headers=AUTH))

        threads = [threading.Thread(target=call, args=c) for c in calls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        try:
            assert held.wait(30)
            running = [k for k in ("migrate", "post-data", "verify")
                       if (w := runtime.work.current(k)) is not None and w.running]
            assert len(running) == 1, running
            accepted = [r.json() for r in replies if r.status_code == 200]
            assert len({body["jobId"] for body in accepted}) == 1, accepted
            for refused in (r for r in replies if r.status_code != 200):
                assert refused.status_code == 409 and RUNNING in refused.json()["error"], refused.text
        finally:
            release.set()
        poll_status(client, lambda s: s["state"] != "running" and (s["postData"] or {}).get("state") != "running")
    assert dump(source_url) == before


def test_a_batch_is_refused_while_a_migration_job_runs_here_or_elsewhere(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=20, memories_per_user=2)
    before = dump(source_url)
    release, held = threading.Event(), threading.Event()
    # One worker (pool size 3), held after its first committed chunk: the target stands still meanwhile.
    listener = _held_at((events.TableProgress,), release, held)
    with _mounted(source_url, target_url, listener, pool_size=3) as (client, _):
        started = client.post("/api/admin/db-migrate-all", params={"batchSize": 10}, headers=AUTH).json()
        assert started["state"] == "running", started
        try:
            assert held.wait(120), "the job never copied a chunk"
            target_before = dump(target_url)
            batch = client.get("/api/admin/db-migrate-data", params={"table": "users"}, headers=AUTH)
            assert batch.status_code == 409, batch.text
            assert RUNNING in batch.json()["error"] and "db-status" in batch.json()["hint"]
            # Another pghaul process on the same databases (a second replica) finds the job on the target.
            with TestClient(create_app(make_settings(source_url, target_url))) as elsewhere:
                other = elsewhere.get("/api/admin/db-migrate-data", params={"table": "users"}, headers=AUTH)
                assert other.status_code == 409, other.text
                assert "another pghaul migration into this target is running" in other.json()["error"]
            assert dump(target_url) == target_before
        finally:
            release.set()
        status = poll_status(client, lambda s: s["state"] in ("done", "failed"))
        assert status["state"] == "done", status
    assert dump(source_url) == before


def test_a_migration_is_refused_while_a_batch_is_copied(
    source_url: str, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pghaul.copy import batch as batch_module

    fill_sample_database(source_url, users=3, memories_per_user=1)
    before = dump(source_url)
    inside, release = threading.Event(), threading.Event()
    original: Callable[..., Any] = batch_module.move_batch

    def held_batch(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        release.wait(30)
        return original(*args, **kwargs)

    with _mounted(source_url, target_url, events.ignore) as (client, runtime):
        assert client.get("/api/admin/db-schema", headers=AUTH).status_code == 200
        monkeypatch.setattr(batch_module, "move_batch", held_batch)
        reply: list[httpx.Response] = []
        sender = threading.Thread(target=lambda: reply.append(
            client.get("/api/admin/db-migrate-data", params={"table": "audit_log"}, headers=AUTH)))
        sender.start()
        try:
            assert inside.wait(30)
            target_before = dump(target_url)
            refused = client.post("/api/admin/db-migrate-all", headers=AUTH)
            assert refused.status_code == 409, refused.text
            assert "one-batch copy" in refused.json()["error"]
            assert runtime.work.current("migrate") is None
            assert dump(target_url) == target_before
        finally:
            release.set()
            sender.join(30)
        assert reply[0].status_code == 200, reply[0].text
    assert dump(source_url) == before


SCHEMA = """
CREATE TABLE public.parent (id integer PRIMARY KEY, label text);
CREATE TABLE public.child (id integer PRIMARY KEY, parent_id integer, note text);
"""


def test_the_post_data_phase_holds_the_migration_lock(source_url: str, target_url: str) -> None:
    from pghaul.engine import MigrateOptions, finish_post_data, migrate

    run_sql(source_url, SCHEMA + "ALTER TABLE public.child ADD FOREIGN KEY (parent_id) REFERENCES public.parent;"
                                 "CREATE INDEX child_note ON public.child (note);")
    run_sql(target_url, SCHEMA)  # the walk-through's pre-data: tables and keys, no index, no foreign key yet
    before = dump(source_url)
    release, held = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def first() -> None:
        try:
            finish_post_data(source_url, target_url, listener=_held_at((events.PhaseStarted,), release, held))
        except BaseException as exc:  # reported below
            failures.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert held.wait(60)
        target_before = dump(target_url)
        with pytest.raises(SafetyError, match="another pghaul migration into this target is running"):
            finish_post_data(source_url, target_url)
        with pytest.raises(SafetyError, match="another pghaul migration into this target is running"):
            migrate(source_url, target_url, MigrateOptions(workers=1, data_only=True, verify=False))
        assert dump(target_url) == target_before
    finally:
        release.set()
        thread.join(60)
    assert failures == []
    assert b"CREATE INDEX child_note" in dump(target_url) and b"FOREIGN KEY (parent_id)" in dump(target_url)
    assert dump(source_url) == before
