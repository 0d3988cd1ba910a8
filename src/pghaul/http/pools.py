"""Connection pools for the request-sized endpoints: one per database, at most ``pool_size`` connections each.

Pools open without connecting (``min_size=0``), so a server whose database is down or misconfigured still starts
and answers with a useful error. Connections are borrowed with ``with`` only, so every path returns them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from pghaul import connect
from pghaul.connect import APPLICATION_NAME
from pghaul.http.errors import ApiError

# The same session options pghaul.connect uses: an empty search_path so catalog functions print qualified names,
# and on the source a session that PostgreSQL itself keeps read-only.

# The request pools' sessions are told apart from a background job's (which use pghaul.connect's name) in
# pg_stat_activity, so an operator sees who holds which connection and each stays within its own limit.
POOL_APPLICATION_NAME = f"{APPLICATION_NAME}-api"

# Seconds a request waits for a free connection beyond the connect timeout before we call the server busy.
_EXTRA_WAIT_SECONDS = 5.0


class Pools:
    def __init__(self, source_url: str | None, target_url: str | None, size: int, connect_timeout: float) -> None:
        self._urls = {"source": source_url, "target": target_url}
        self._size = size
        self._timeout = connect_timeout
        self._pools: dict[str, ConnectionPool] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._reached: set[str] = set()

    def open(self) -> None:
        for role, url in self._urls.items():
            if url:
                self._pool(role)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close(timeout=self._timeout)

    def _pool(self, role: str) -> ConnectionPool:
        with self._lock:
            if self._closed:
                raise ApiError(503, "the migration server is shutting down", "retry in a moment")
            pool = self._pools.get(role)
            if pool is None:
                url = self._urls[role]
                if not url:
                    variable = "DATABASE_URL" if role == "source" else "NEW_DATABASE_URL"
                    raise ApiError(503, f"{variable} is not set on the server",
                                   f"set the environment variable {variable} and restart")
                pool = ConnectionPool(
                    url,
                    # A pooler between pghaul and the source may drop the start-up options: each new source
                    # session is checked (and made) read-only before a request can use it.
                    configure=connect.prepare_source_session if role == "source" else connect.pin_session,
                    min_size=0,
                    max_size=self._size,
                    kwargs={
                        "autocommit": True,
                        "connect_timeout": max(1, int(self._timeout)),
                        "application_name": POOL_APPLICATION_NAME,
                        "options": (
                            connect.SOURCE_SESSION_OPTIONS if role == "source" else connect.TARGET_SESSION_OPTIONS
                        ),
                    },
                    check=ConnectionPool.check_connection,
                    timeout=self._timeout + _EXTRA_WAIT_SECONDS,
                    name=f"pghaul-{role}",
                    open=False,
                )
                pool.open(wait=False)
                self._pools[role] = pool
            return pool

    @contextmanager
    def connection(self, role: str) -> Iterator[psycopg.Connection]:
        pool = self._pool(role)
        if role not in self._reached:
            # Until a first connection succeeded, a pool would only say "timeout" after waiting the full
            # timeout; one direct attempt fails fast with the reason (wrong password, unknown database, …).
            self._diagnose(role)
            self._reached.add(role)
        try:
            with pool.connection() as conn:
                yield conn
        except PoolTimeout:
            # Only the borrowing can time out: a nested borrow from the other pool converts its own.
            self._diagnose(role)
            raise ApiError(
                503, f"all {self._size} connections to the {role} database are busy",
                "wait for the running requests to finish, then retry",
            ) from None

    def borrowed(self) -> dict[str, int]:
        """Connections handed out and not yet returned, per pool (0 whenever no request is running)."""
        with self._lock:
            pools = dict(self._pools)
        out = {}
        for role, pool in pools.items():
            stats = pool.get_stats()
            out[role] = stats.get("pool_size", 0) - stats.get("pool_available", 0)
        return out

    def _diagnose(self, role: str) -> None:
        """A pool timeout says nothing about why; one direct attempt gives the real, password-free reason."""
        opener = connect.connect_source if role == "source" else connect.connect_target
        with opener(self._urls[role]):
            pass

    @contextmanager
    def source(self) -> Iterator[psycopg.Connection]:
        with self.connection("source") as conn:
            yield conn

    @contextmanager
    def target(self) -> Iterator[psycopg.Connection]:
        with self.connection("target") as conn:
            yield conn
