"""Every failure leaves the server as JSON ``{success: false, error, hint}`` with its status, never a traceback.

A router cannot install exception handlers on the host app it is mounted in, so the conversion lives in the
router's own route class (:func:`json_error_route`); ``create_app`` adds the same handlers for what happens outside
any route (unknown paths, wrong methods). Both scrub what they answer with the router's :class:`LogScrubber`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from pghaul.errors import ErrorCode, NotFoundError, PghaulError, SchemaConflict
from pghaul.http.scrubbing import LogScrubber

log = logging.getLogger("pghaul.http")

# Tells a browser that reached pghaul over https once to use https only for a year: the page and every request
# after carry the secret. Browsers ignore it when it arrives over plain http (localhost included).
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


# The API's answer to each kind of failure the engine names (the command line maps the same codes to exit codes);
# anything else pghaul understood but cannot blame on the request is 500.
HTTP_STATUS = {
    ErrorCode.USAGE: 400, ErrorCode.NOT_FOUND: 404, ErrorCode.CONNECTION: 502, ErrorCode.SAFETY: 409,
    ErrorCode.SCHEMA_CONFLICT: 409,
}


def status_for(code: ErrorCode) -> int:
    """The status a request failing with an error of ``code`` is answered with; a background job's reply names
    the same status beside its error, so a client reads a job's refusal as it would a request's."""
    return HTTP_STATUS.get(code, 500)


def with_transport_security(response: Response) -> Response:
    response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    return response


class ApiError(Exception):
    """A refusal decided by the HTTP layer itself (locked, unconfigured, unauthorised, throttled)."""

    def __init__(self, status: int, error: str, hint: str = "", headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.hint = hint
        self.headers = headers or {}
        self.extra = extra or {}


def error_response(scrubber: LogScrubber, status: int, error: str, hint: str = "",
                   headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"success": False, "error": scrubber.text(error), "hint": scrubber.text(hint)}
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    response = JSONResponse(body, status_code=status, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "header", "body"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def response_for(exc: Exception, scrubber: LogScrubber) -> JSONResponse:
    if isinstance(exc, ApiError):
        return error_response(scrubber, exc.status, exc.error, exc.hint, exc.headers, exc.extra)
    if isinstance(exc, PghaulError):
        extra: dict[str, Any] = {}
        if isinstance(exc, SchemaConflict) or exc.details.conflicts:
            extra["conflicts"] = [scrubber.text(c) for c in exc.details.conflicts]
        if isinstance(exc, NotFoundError) or exc.details.valid_names:
            extra["validTables"] = list(exc.details.valid_names)
        return error_response(scrubber, status_for(exc.code), exc.message, exc.hint, extra=extra)
    if isinstance(exc, RequestValidationError):
        return error_response(
            scrubber, 400, f"invalid request parameter: {_describe_validation(exc)}",
            "check the parameter names and values against the migration guide (or /api/admin/openapi.json, with "
            "the secret in the X-Migration-Secret header)",
        )
    if isinstance(exc, StarletteHTTPException):
        hints = {
            404: "the page is at /api/admin/migrate; the endpoints are listed in the migration guide (and in "
                 "/api/admin/openapi.json, with the secret in the X-Migration-Secret header)",
            405: "this endpoint does not take that method: what starts or changes something (db-migrate-all, "
                 "db-verify, db-sync, db-cutover, db-unfreeze, db-stop-follow) takes POST with the secret in the "
                 "X-Migration-Secret header; the rest takes GET",
        }
        return error_response(scrubber, exc.status_code, str(exc.detail).lower(), hints.get(exc.status_code, ""),
                              dict(exc.headers or {}))
    log.error("unexpected error in the admin API: %s", scrubber.text(f"{type(exc).__name__}: {exc}"),
              exc_info=exc)
    return error_response(
        scrubber, 500, "internal error in the migration server",
        "see the server log for details, then retry; every step is safe to repeat",
    )


def json_error_route(scrubber: LogScrubber) -> type[APIRoute]:
    """A route class answering every failure of its routes as JSON, scrubbed with ``scrubber``."""

    class JsonErrorRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    response = await handler(request)
                except Exception as exc:
                    response = response_for(exc, scrubber)
                return with_transport_security(response)

            return handle

    return JsonErrorRoute


def install_exception_handlers(app: Any, scrubber: LogScrubber) -> None:
    async def handle(_: Request, exc: Exception) -> Response:
        return with_transport_security(response_for(exc, scrubber))

    for kind in (ApiError, PghaulError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, handle)
