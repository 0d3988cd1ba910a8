"""The admin API's routes: the three endpoints of the system pghaul replaces, and what browser-only users need.

Methods: a GET never starts or changes anything, except on the three endpoints of the old walk-through
(``db-tables``, ``db-schema``, ``db-migrate-data``), whose contract was GET with ``?secret=`` and stays so. Every
other endpoint that starts work takes POST and the secret in the ``X-Migration-Secret`` header only.

Handlers are thin: they check the request (``Guard``), borrow connections from the pools, and call the engine.
No SQL here. Handlers are plain ``def`` so FastAPI runs them in its thread pool and blocking database calls never
stall the event loop.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from pghaul import events
from pghaul.http import adopting, cutover, following, legacy, migration, syncing
from pghaul.http.errors import json_error_route
from pghaul.http.guard import SECRET_HEADER, FailureThrottle, Guard, plain_http, refuse_weak_secret
from pghaul.http.health import create_health_router
from pghaul.http.page import Page
from pghaul.http.replies import (
    BatchReply,
    CutoverReply,
    CutoverRequest,
    CutoverStartReply,
    FollowJobReply,
    MigrateAllRequest,
    PostPhaseReply,
    PreflightReply,
    PreviewReply,
    SchemaReply,
    StartReply,
    StatusReply,
    StopFollowReply,
    SyncReply,
    TablesReply,
    UnfreezeReply,
    VerifyReply,
)
from pghaul.http.runtime import Runtime
from pghaul.settings import Settings

MIN_BATCH = 1
MAX_BATCH = 50_000
DEFAULT_BATCH = 1000

DryRun = Annotated[bool, Query(alias="dryRun", description="true: show what would happen and write nothing")]
TableParam = Annotated[
    str | None, Query(max_length=300, description="table name as db-tables lists it (`name` or `schema.name`)")
]


def _reply(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _no_store(response: Response) -> None:
    """Replies describe a database at one moment (and come only with the secret): never kept by a cache."""
    response.headers["Cache-Control"] = "no-store"


# Each reply leaves out the optional fields it did not set, as the old endpoints did (pghaul.http.replies).
REPLY = {"response_model_exclude_unset": True}


class AdminRouter(APIRouter):
    """An APIRouter that also holds what it runs on (pools, background jobs, the wrong-secret throttle), for
    inspection and tests."""

    runtime: Runtime
    throttle: FailureThrottle


def _header_secret(
    x_migration_secret: Annotated[
        str | None, Header(alias=SECRET_HEADER, description="the value of MIGRATION_SECRET")
    ] = None,
) -> None:
    """Only documents how to send the secret; ``Guard`` reads it from the request."""


def _header_or_query_secret(
    x_migration_secret: Annotated[
        str | None, Header(alias=SECRET_HEADER, description="the value of MIGRATION_SECRET")
    ] = None,
    secret: Annotated[
        str | None, Query(description="fallback for pasted URLs of the old walk-through; prefer the header")
    ] = None,
) -> None:
    """Only documents the two ways to send the secret; ``Guard`` reads them from the request."""


def create_router(settings: Settings, *, listener: events.Listener = events.ignore,
                  throttle: FailureThrottle | None = None, include_in_schema: bool = False) -> AdminRouter:
    """The admin API; mount it with ``app.include_router(router, prefix="/api/admin")``.

    Refuses to be created (UsageError) while unlocked with a guessable MIGRATION_SECRET. The router brings its own
    lifespan (pools opened at startup, background jobs stopped and pools closed at shutdown); FastAPI runs it as
    part of the host app's. ``listener`` also receives the background jobs' events;
    ``throttle`` replaces the wrong-secret throttle's default limits (pghaul.http.throttle).

    The routes stay out of the host app's OpenAPI document (its public ``/docs``) unless ``include_in_schema``:
    a map of the admin API is of use to whoever guesses at it, not to the host app's visitors.
    """
    refuse_weak_secret(settings)  # before anything is opened or installed
    runtime = Runtime(settings, listener)
    # One throttle for both guards: a guess counts the same whichever endpoint it is sent to.
    throttle = throttle if throttle is not None else FailureThrottle()

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        # Log scrubbing for as long as the API serves (under create_app, pghaul serve or a host app): a router
        # created and dropped, or stopped, leaves logging as it found it.
        runtime.scrubber.install()
        try:
            runtime.open()
            yield
        finally:
            try:
                runtime.close()
            finally:
                runtime.scrubber.uninstall()

    router = AdminRouter(route_class=json_error_route(runtime.scrubber), lifespan=lifespan, tags=["migration"],
                         include_in_schema=include_in_schema)
    router.runtime = runtime
    router.throttle = throttle
    _add_page(router, settings)
    walk_through = [Depends(_header_or_query_secret), Depends(Guard(settings, throttle, query_secret=True)),
                    Depends(_no_store)]
    _add_walk_through(router, runtime, walk_through)
    secured = [Depends(_header_secret), Depends(Guard(settings, throttle)), Depends(_no_store)]
    _add_background_work(router, runtime, secured)
    _add_sync_and_cutover(router, runtime, secured)
    return router


def _add_page(router: APIRouter, settings: Settings) -> None:
    page = Page()

    @router.get("/migrate", response_class=HTMLResponse, include_in_schema=False)
    def migration_page(request: Request) -> HTMLResponse:
        # The page holds no data and no secret; it asks for the secret and sends it with each API call.
        # Over plain http or locked, a browser gets a sentence saying what to do instead of the API's JSON 403.
        if plain_http(request, settings):
            return page.insecure_response()
        if not settings.allow_db_migration:
            return page.locked_response()
        return page.response()


def _add_walk_through(router: APIRouter, runtime: Runtime, walk_through: list[Any]) -> None:
    """The old walk-through's three GETs, which alone also take ?secret= (their guides had people paste URLs)."""

    @router.get("/db-tables", dependencies=walk_through, summary="Tables of the source, with their size and key",
                **REPLY)
    def db_tables(
        exact: Annotated[bool, Query(description="count small tables exactly (big ones are always estimated)")] = True,
    ) -> TablesReply:
        return legacy.tables_reply(runtime, exact)

    @router.get("/db-schema", dependencies=walk_through, summary="Create the tables (pre-data) or the rest (post)",
                **REPLY)
    def db_schema(
        dry_run: DryRun = False,
        table: TableParam = None,
        phase: Annotated[Literal["pre", "post"], Query(description="pre: what data needs; post: the rest")] = "pre",
    ) -> SchemaReply | PostPhaseReply:
        if phase == "post":
            return legacy.post_data_reply(runtime, dry_run)
        return legacy.schema_reply(runtime, dry_run, table)

    @router.get("/db-migrate-data", dependencies=walk_through, summary="Copy one batch of one table", **REPLY)
    def db_migrate_data(
        table: Annotated[str, Query(max_length=300, description="table name as db-tables lists it")],
        cursor: Annotated[str | None, Query(max_length=8192, description="nextCursor of the previous reply")] = None,
        batch_size: Annotated[int, Query(alias="batchSize", ge=MIN_BATCH, le=MAX_BATCH)] = DEFAULT_BATCH,
        dry_run: DryRun = False,
    ) -> BatchReply:
        return legacy.batch_reply(runtime, table, cursor or None, batch_size, dry_run)


def _add_background_work(router: APIRouter, runtime: Runtime, secured: list[Any]) -> None:
    """What browser-only users need beyond the old three: secret in the header only; POST starts, GET reads."""

    # POST only: a GET that starts a migration can be fired by a pasted link, a link previewer or a prefetch.
    @router.post("/db-migrate-all", dependencies=secured,
                 summary="Start (or resume, or show) the whole migration as a background job", **REPLY)
    def db_migrate_all(
        dry_run: DryRun = False,
        batch_size: Annotated[
            int | None, Query(alias="batchSize", ge=MIN_BATCH, le=MAX_BATCH, description="rows per committed chunk")
        ] = None,
        body: MigrateAllRequest | None = None,  # optional: no body is a migration without follow, as always
    ) -> PreviewReply | StartReply:
        return migration.start_reply(runtime, dry_run, batch_size, follow=body is not None and body.follow,
                                     max_rate=body.max_rate if body is not None else None)

    @router.get("/db-status", dependencies=secured, summary="State of the migration job, per table", **REPLY)
    def db_status() -> StatusReply:
        # Job errors come from the target's records, written by any pghaul (a CLI run too): scrubbed on the way out.
        return runtime.scrubber.model(migration.status_reply(runtime))

    @router.get("/db-verify", dependencies=secured, summary="The latest verification's report (starts nothing)",
                **REPLY)
    def db_verify() -> VerifyReply:
        return migration.verify_reply(runtime)

    # Verification reads both databases whole: background work (one job at a time), followed in db-status.
    @router.post("/db-verify", dependencies=secured, summary="Start comparing source and target in the background",
                 **REPLY)
    def db_verify_start() -> StartReply:
        return migration.start_verify_reply(runtime)

    @router.get("/db-preflight", dependencies=secured, summary="What to check before migrating", **REPLY)
    def db_preflight(
        follow: Annotated[bool, Query(description="also whether the target can follow the source with logical "
                                                  "replication, and why not (its probe may take seconds)")] = False,
    ) -> PreflightReply:
        return migration.preflight_reply(runtime, follow)


def _add_sync_and_cutover(router: APIRouter, runtime: Runtime, secured: list[Any]) -> None:
    """After the migration: syncs, and the guided cutover with its undo of the freeze. POST starts or changes,
    GET reads; the secret in the header only."""

    @router.post("/db-sync", dependencies=secured,
                 summary="Start a sync: bring the target up to date with what changed on the source", **REPLY)
    def db_sync_start() -> StartReply:
        return syncing.start_sync_reply(runtime)

    @router.get("/db-sync", dependencies=secured, summary="The latest sync: each table as it finishes, then its report",
                **REPLY)
    def db_sync() -> SyncReply:
        return syncing.sync_reply(runtime)

    @router.post("/db-cutover", dependencies=secured,
                 summary="Start a cutover step: catch-up while the app writes, or finish once writes are paused "
                         "(on a target that follows the source: wait for zero lag, verify, take follow down)",
                 **REPLY)
    def db_cutover_start(request: CutoverRequest) -> CutoverStartReply:
        # The owner sends "finish" once the app's writes are paused: the window is measured from this moment.
        writes_paused_at = time.monotonic()
        return cutover.start_cutover_reply(runtime, request, writes_paused_at)

    @router.get("/db-cutover", dependencies=secured,
                summary="Where the cutover stands: catch-up rounds, the finish's report, whether the source is frozen",
                **REPLY)
    def db_cutover() -> CutoverReply:
        return cutover.cutover_reply(runtime)

    @router.post("/db-unfreeze", dependencies=secured,
                 summary="Make the source writable again after a cutover froze it", **REPLY)
    def db_unfreeze() -> UnfreezeReply:
        return cutover.unfreeze_reply(runtime)

    @router.post("/db-follow", dependencies=secured,
                 summary="Start following on a target migrated without follow: a replication slot and a publication "
                         "on the source, sync in the slot's snapshot, a subscription on the target", **REPLY)
    def db_follow_start() -> StartReply:
        return adopting.start_follow_reply(runtime)

    @router.get("/db-follow", dependencies=secured,
                summary="The latest follow start: its sync while it runs, its report once done", **REPLY)
    def db_follow() -> FollowJobReply:
        return adopting.follow_reply(runtime)

    @router.post("/db-stop-follow", dependencies=secured,
                 summary="Give follow up: drop the subscription, the replication slot and the publication", **REPLY)
    def db_stop_follow() -> StopFollowReply:
        return following.stop_reply(runtime)


def create_app(settings: Settings | None = None, *, listener: events.Listener = events.ignore) -> FastAPI:
    """A standalone app with the admin API at ``/api/admin`` (what ``pghaul serve`` runs).

    Its OpenAPI document is at ``/api/admin/openapi.json`` behind the same guard as the API (secret in the header);
    FastAPI's own unguarded one and its docs pages are off (Swagger UI would also load scripts from a CDN).
    """
    from pghaul import __version__
    from pghaul.http.errors import install_exception_handlers

    settings = settings if settings is not None else Settings()
    app = FastAPI(title="pghaul admin API", version=__version__, openapi_url=None, docs_url=None, redoc_url=None)
    admin = create_router(settings, listener=listener, include_in_schema=True)
    # The router's scrubber: installed into logging while the app serves (the router's lifespan); pghaul serve
    # also puts it on uvicorn's handlers.
    app.state.scrubber = admin.runtime.scrubber
    install_exception_handlers(app, admin.runtime.scrubber)
    app.include_router(admin, prefix="/api/admin")
    schema = APIRouter(route_class=json_error_route(admin.runtime.scrubber))

    @schema.get("/api/admin/openapi.json", include_in_schema=False,
                dependencies=[Depends(Guard(settings, admin.throttle))])
    def openapi() -> JSONResponse:
        return _reply(app.openapi())

    app.include_router(schema)
    app.include_router(create_health_router())  # GET /healthz: for the platform's and the image's health checks
    return app
