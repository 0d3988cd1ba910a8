"""Who may use the admin API: the lock switch, the configuration, the secret, and a brake on guessing it.

Checks run in this order so a request learns no more than it must: locked (403) → server not configured (503)
→ too many recent failures from this client (429) → secret missing or wrong (401) → database URLs missing (503).

Where the secret may come from: the ``X-Migration-Secret`` header everywhere; ``?secret=`` only on the three
endpoints of the old walk-through (``db-tables``, ``db-schema``, ``db-migrate-data``), whose guides had people
paste URLs. A URL ends up in platform router logs, browser history and link previewers, so every other endpoint
ignores the query form and answers as if no secret had been sent.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque

from fastapi import Request

from pghaul.http.errors import ApiError
from pghaul.settings import MIN_SECRET_LENGTH, Settings

SECRET_HEADER = "X-Migration-Secret"
# The endpoints of the old walk-through, the only ones that accept the secret as ?secret= in the URL.
QUERY_SECRET_ENDPOINTS = ("db-tables", "db-schema", "db-migrate-data")

# Five wrong guesses a minute per client is plenty for a person retyping a secret and useless for guessing one.
FAILURES_ALLOWED = 5
FAILURE_WINDOW_SECONDS = 60.0
# Bounds memory when many addresses fail: the oldest clients are forgotten first.
MAX_TRACKED_CLIENTS = 10_000


class FailureThrottle:
    """A sliding window of recent authentication failures per client address, in memory."""

    def __init__(self, allowed: int = FAILURES_ALLOWED, window: float = FAILURE_WINDOW_SECONDS) -> None:
        self.allowed = allowed
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client)
        if times is None:
            return deque()
        while times and now - times[0] > self.window:
            times.popleft()
        if not times:
            del self._failures[client]
        return times

    def retry_after(self, client: str) -> int:
        """Seconds until this client may try again; 0 when it may try now."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.allowed:
                return 0
            return max(1, int(self.window - (now - times[0])) + 1)

    def record_failure(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if not times:
                if len(self._failures) >= MAX_TRACKED_CLIENTS:
                    self._failures.pop(next(iter(self._failures)))
                self._failures[client] = times
            times.append(now)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


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
        raise ApiError(
            503,
            "MIGRATION_SECRET is not set on the server",
            f"set the environment variable MIGRATION_SECRET to a random string of at least {MIN_SECRET_LENGTH} "
            "characters (for example the output of `openssl rand -hex 24`) and restart the service",
        )
    if len(secret) < MIN_SECRET_LENGTH:
        raise ApiError(
            503,
            f"MIGRATION_SECRET is too short (fewer than {MIN_SECRET_LENGTH} characters)",
            f"set MIGRATION_SECRET to a random string of at least {MIN_SECRET_LENGTH} characters "
            "(for example the output of `openssl rand -hex 24`) and restart the service",
        )
    return secret


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
    """The dependency every API route runs before it touches a database."""

    def __init__(self, settings: Settings, throttle: FailureThrottle | None = None, *,
                 query_secret: bool = False) -> None:
        self.settings = settings
        self.throttle = throttle or FailureThrottle()
        # Only the old walk-through's endpoints set this (see the module's docstring).
        self.query_secret = query_secret

    def __call__(self, request: Request) -> None:
        check_unlocked(self.settings)
        expected = check_secret_configured(self.settings)
        client = client_address(request)
        wait = self.throttle.retry_after(client)
        if wait:
            raise ApiError(
                429,
                "too many wrong secrets from this address",
                f"wait {wait} seconds, then send the exact value of MIGRATION_SECRET in the {SECRET_HEADER} header",
                headers={"Retry-After": str(wait)},
            )
        given = request.headers.get(SECRET_HEADER)
        if given is None and self.query_secret:
            given = request.query_params.get("secret")
        if not given or not _same(given, expected):
            self.throttle.record_failure(client)
            raise ApiError(
                401,
                "the migration secret is wrong" if given else "the migration secret is missing",
                self._how_to_send(request),
                headers={"WWW-Authenticate": SECRET_HEADER},
            )
        check_databases_configured(self.settings)

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
