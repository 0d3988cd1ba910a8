"""``pghaul serve``: the standalone app under uvicorn, bound the way PaaS platforms expect."""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

from pghaul import events
from pghaul.http.scrubbing import LogScrubber, ScrubFilter
from pghaul.settings import Settings

log = logging.getLogger("pghaul.http")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# A platform that sets PORT routes outside traffic to it, so the server must listen on every interface.
PAAS_HOST = "0.0.0.0"


def bind_address(host: str | None, port: int | None, environ: dict[str, str] | None = None) -> tuple[str, int]:
    env = os.environ if environ is None else environ
    env_port = (env.get("PORT") or "").strip()
    if port is None and env_port:
        try:
            port = int(env_port)
        except ValueError:
            from pghaul.errors import UsageError

            raise UsageError(f"PORT is not a number: {env_port[:20]!r}", "set PORT to the port to listen on") from None
    if host is None:
        host = PAAS_HOST if env_port else DEFAULT_HOST
    return host, port if port is not None else DEFAULT_PORT


def log_config(scrubber: LogScrubber) -> dict[str, Any]:
    """uvicorn's logging, with ``scrubber`` as a filter on every handler (the access log records query strings)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["scrub"] = {"()": lambda: ScrubFilter(scrubber)}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).append("scrub")
    return config


def build_server(host: str | None, port: int | None, settings: Settings, *,
                 listener: events.Listener = events.ignore) -> Any:
    """The uvicorn server ``pghaul serve`` runs; ``listener`` also receives the background jobs' events.

    Proxy headers: uvicorn's own handling is off, so the socket's address and scheme reach the app unchanged and
    pghaul alone reads X-Forwarded-For and X-Forwarded-Proto, counting ``settings.trusted_proxy_hops`` from the
    right (pghaul.http.forwarded). uvicorn would believe the leftmost entry, which the client writes, as soon as
    the proxy's address is trusted ("*").
    """
    import uvicorn

    from pghaul.http.router import create_app

    bound_host, bound_port = bind_address(host, port)
    app = create_app(settings, listener=listener)
    config = uvicorn.Config(
        app,
        host=bound_host,
        port=bound_port,
        # The app's own scrubber, on uvicorn's handlers too: the record factory it installs while serving covers
        # records born after start-up, the filter those of uvicorn's own start and stop.
        log_config=log_config(app.state.scrubber),
        proxy_headers=False,
        server_header=False,
    )
    # Said once at startup: it decides whose address the wrong-secret slowdown counts.
    log.info("the client's address is the X-Forwarded-For entry %d place(s) from the right (TRUSTED_PROXY_HOPS; "
             "0 = the connection's own address)", settings.trusted_proxy_hops)
    if settings.forwarded_allow_ips:
        log.warning("FORWARDED_ALLOW_IPS is no longer used and can be removed: pghaul counts TRUSTED_PROXY_HOPS "
                    "proxies from the right of X-Forwarded-For instead")
    return uvicorn.Server(config)


def serve(host: str | None = None, port: int | None = None, settings: Settings | None = None) -> None:
    """Run the admin API and the page until interrupted; honours PORT and binds 0.0.0.0 when it is set."""
    build_server(host, port, settings if settings is not None else Settings()).run()
