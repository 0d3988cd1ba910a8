"""The admin HTTP API and the migration page: mount ``create_router`` in your app, or run ``create_app``."""

from pghaul.http.router import create_app, create_router
from pghaul.http.server import serve

__all__ = ["create_app", "create_router", "serve"]
