"""Who may use the admin API: the lock switch, the configuration, the secret, and a brake on guessing it.

Checks run in this order so a request learns no more than it must: plain http through the proxy (403)
→ locked (403) → server not configured (503) → secret missing (401) → secret wrong (401, answered late; 429
when it would be too late: pghaul.http.throttle) → database URLs missing (503). The right secret is compared
before the throttle is consulted and never waits for it, so nobody's wrong guesses can lock the owner out.

Where the secret may come from: the ``X-Migration-Secret`` header everywhere; ``?secret=`` only on the three
endpoints of the old walk-through (``db-tables``, ``db-schema``, ``db-migrate-data``), whose guides had people
paste URLs. A URL ends up in platform router logs, browser history and link previewers, so every other endpoint
ignores the query form and answers as if no secret had been sent.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

import anyio
from fastapi import Request

from pghaul.errors import UsageError
from pghaul.http.errors import ApiError
from pghaul.http.forwarded import client_address, client_key, forwarded_proto, is_local
from pghaul.http.throttle import FailureThrottle
from pghaul.settings import MIN_SECRET_LENGTH, SECRET_ADVICE, Settings, secret_problem

log = logging.getLogger("pghaul.http")

SECRET_HEADER = "X-Migration-Secret"
# The endpoints of the old walk-through, the only ones that accept the secret as ?secret= in the URL.
QUERY_SECRET_ENDPOINTS = ("db-tables", "db-schema", "db-migrate-data")


def plain_http(request: Request, settings: Settings) -> bool:
    """Whether the trusted proxy says the client reached it over plain http (requests to localhost excepted).

    Only the proxy's word counts (pghaul.http.forwarded): pghaul itself speaks plain http to the proxy, which
    is the platform's own network.
    """
    return forwarded_proto(request, settings.trusted_proxy_hops) == "http" and not is_local(request)


def check_https(request: Request, settings: Settings) -> None:
    if plain_http(request, settings):
        raise ApiError(
            403,
            "this address uses plain http, so the migration secret would cross the internet unencrypted",
            "use the https address of this service (the same address starting with https://), and change "
            "MIGRATION_SECRET if it was already sent over http",
        )


def check_unlocked(settings: Settings) -> None:
    if not settings.allow_db_migration:
        raise ApiError(
            403,
            "the migration API is locked",
            "set the environment variable ALLOW_DB_MIGRATION=true on this service to unlock it, "
            "and remove it again when the migration is done",
        )


def check_secret_configured(settings: Settings) -> str:
    secret = settings.secret
    if not secret:
        raise ApiError(503, "MIGRATION_SECRET is not set on the server",
                       f"{SECRET_ADVICE} (at least {MIN_SECRET_LENGTH} characters)")
    problem = secret_problem(secret)
    if problem:
        # Start-up refuses this already (refuse_weak_secret); here for settings unlocked after start-up.
        raise ApiError(503, f"MIGRATION_SECRET {problem}", SECRET_ADVICE)
    return secret


def refuse_weak_secret(settings: Settings) -> None:
    """At start-up (create_router, so create_app and ``pghaul serve`` too): a guessable secret stops the start.

    Only while the API is unlocked: locked, the secret opens nothing, and a host app that keeps the router mounted
    must not fail to boot over a variable left behind; it is said in the log instead. Unset is no reason to stop
    either: every request then answers 503 saying which variable to set, which a person sees on the page.
    """
    secret = settings.secret
    problem = secret_problem(secret) if secret is not None else None
    if problem is None:
        return
    if settings.allow_db_migration:
        raise UsageError(f"MIGRATION_SECRET {problem}", SECRET_ADVICE)
    log.warning("MIGRATION_SECRET %s: the migration API will refuse to start with it once ALLOW_DB_MIGRATION=true "
                "(%s)", problem, SECRET_ADVICE)


def check_databases_configured(settings: Settings) -> None:
    for variable, value, role in (
        ("DATABASE_URL", settings.source_url, "source (the database to copy from)"),
        ("NEW_DATABASE_URL", settings.target_url, "target (the new database to copy into)"),
    ):
        if not value:
            raise ApiError(
                503,
                f"{variable} is not set on the server",
                f"set the environment variable {variable} to the connection URL of the {role} and restart",
            )


def _same(given: str, expected: str) -> bool:
    # Digests first: compare_digest on equal-length inputs does not reveal the secret's length either.
    return hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest(),
        hashlib.sha256(expected.encode("utf-8", "surrogatepass")).digest(),
    )


class Guard:
    """The dependency every API route runs before it touches a database.

    Async so that holding a wrong answer (the throttle's delay) takes no worker thread: the handlers' database
    work runs in the thread pool, and a guesser must not be able to fill it with sleeping requests.
    """

    def __init__(self, settings: Settings, throttle: FailureThrottle | None = None, *,
                 query_secret: bool = False) -> None:
        self.settings = settings
        self.throttle = throttle if throttle is not None else FailureThrottle()
        # Only the old walk-through's endpoints set this (see the module's docstring).
        self.query_secret = query_secret

    async def __call__(self, request: Request) -> None:
        check_https(request, self.settings)
        check_unlocked(self.settings)
        expected = check_secret_configured(self.settings)
        given = request.headers.get(SECRET_HEADER)
        if given is None and self.query_secret:
            given = request.query_params.get("secret")
        if not given:
            # Not a guess: nothing to count, nothing learnt.
            raise ApiError(401, "the migration secret is missing", self._how_to_send(request),
                           headers={"WWW-Authenticate": SECRET_HEADER})
        if not _same(given, expected):
            await self._refuse_wrong(request)
        check_databases_configured(self.settings)

    async def _refuse_wrong(self, request: Request) -> None:
        key = client_key(client_address(request, self.settings.trusted_proxy_hops))
        slowdown = self.throttle.failure(key)
        if slowdown.retry_after:
            raise ApiError(
                429,
                "too many wrong secrets",
                f"wait {slowdown.retry_after} seconds, then send the exact value of MIGRATION_SECRET; "
                "the right secret is always accepted at once",
                headers={"Retry-After": str(slowdown.retry_after)},
            )
        if slowdown.hold > 0:
            await anyio.sleep(slowdown.hold)
        raise ApiError(401, "the migration secret is wrong", self._how_to_send(request),
                       headers={"WWW-Authenticate": SECRET_HEADER})

    def _how_to_send(self, request: Request) -> str:
        if self.query_secret:
            return f"send the value of MIGRATION_SECRET in the {SECRET_HEADER} header (or as ?secret= in a pasted URL)"
        if "secret" in request.query_params:
            # Said without looking at the value: whether it was right must not be learnable from a URL.
            return (
                f"this endpoint takes the secret only in the {SECRET_HEADER} header; ?secret= in an address is "
                f"accepted only by {', '.join(QUERY_SECRET_ENDPOINTS)} (the migration page sends the header for you)"
            )
        return f"send the value of MIGRATION_SECRET in the {SECRET_HEADER} header"
