"""``GET /healthz``: the server is up, and which pghaul it is. What platforms and the image's HEALTHCHECK poll.

It needs no secret, so it says nothing else: not whether the API is unlocked, nor a word about either database
(a health check that connected to them would also restart a healthy server whenever a database hiccups). It is part
of the standalone app (``create_app``, so ``pghaul serve``), at the root; a host app that mounts ``create_router``
keeps its own health check.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from pghaul import __version__

HEALTH_PATH = "/healthz"


def create_health_router() -> APIRouter:
    router = APIRouter()

    @router.get(HEALTH_PATH, include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__}, headers={"Cache-Control": "no-store"})

    return router
