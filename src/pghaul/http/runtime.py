"""Everything one mounted router owns while it runs: pools, background work, the cursor key, a catalog cache."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

from pghaul import events
from pghaul.http.jobs import BackgroundWork
from pghaul.http.pools import Pools
from pghaul.http.scrubbing import LogScrubber
from pghaul.inspect.model import Catalog
from pghaul.settings import Settings

# A batch request looks its table up in the source catalog; inspecting the whole catalog for each of a thousand
# batches would cost more than the batch. The schema does not change during a migration, so a short-lived copy
# is enough, and a table created meanwhile is found once this expires.
CATALOG_TTL_SECONDS = 30.0


class Runtime:
    def __init__(self, settings: Settings, listener: events.Listener = events.ignore) -> None:
        self.settings = settings
        # Changes logging only once installed (the router's lifespan), never by being created.
        self.scrubber = LogScrubber(settings.secret, settings.source_url, settings.target_url)
        self.pools = Pools(settings.source_url, settings.target_url, settings.pool_size, settings.connect_timeout)
        self.work = BackgroundWork(listener, self.scrubber)
        self._catalogs: dict[str, tuple[float, Catalog]] = {}
        self._lock = threading.Lock()

    def open(self) -> None:
        self.pools.open()

    def close(self) -> None:
        self.work.stop_all()
        self.pools.close()

    @property
    def source_url(self) -> str:
        return self.settings.source_url or ""

    @property
    def target_url(self) -> str:
        return self.settings.target_url or ""

    @property
    def cursor_key(self) -> bytes:
        # Derived from the secret so cursors survive a restart; a different secret invalidates old cursors.
        secret = (self.settings.secret or "").encode("utf-8", "surrogatepass")
        return hmac.new(secret, b"pghaul batch cursor v1", hashlib.sha256).digest()

    def catalog(self, role: str, fresh: bool = False) -> Catalog:
        """The source's or target's catalog, inspected at most every CATALOG_TTL_SECONDS unless ``fresh``."""
        from pghaul.inspect import inspect_catalog

        now = time.monotonic()
        with self._lock:
            cached = self._catalogs.get(role)
        if not fresh and cached is not None and now - cached[0] < CATALOG_TTL_SECONDS:
            return cached[1]
        with self.pools.connection(role) as conn:
            catalog = inspect_catalog(conn)
        with self._lock:
            self._catalogs[role] = (time.monotonic(), catalog)
        return catalog

    def source_catalog(self, fresh: bool = False) -> Catalog:
        return self.catalog("source", fresh)

    def target_catalog(self, fresh: bool = False) -> Catalog:
        return self.catalog("target", fresh)
