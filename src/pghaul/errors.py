"""Errors that reach a user: one sentence saying what is wrong and one saying what to do about it.

Each carries a ``code`` (what kind of failure, for the shells to map: the CLI to an exit code, the API to an
HTTP status) and typed ``details`` (what a shell may list beside the message). Neither the exit code nor the
HTTP status is the domain's business.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    FAILED = "failed"  # pghaul understood the failure; nothing more specific applies
    USAGE = "usage"  # the caller asked for something that cannot work
    NOT_FOUND = "not-found"  # a named thing (a table) does not exist
    CONNECTION = "connection"  # a server could not be reached or refused the login
    SAFETY = "safety"  # a check that protects the user's data refused to go on
    SCHEMA_CONFLICT = "schema-conflict"  # objects on the target differ from the source's
    CANCELLED = "cancelled"  # stopped on request; what was committed stays


@dataclass(frozen=True)
class ErrorDetails:
    """What an error names beyond its message: empty unless the error says otherwise."""

    conflicts: tuple[str, ...] = ()  # objects on the target with another definition ("table public.t")
    valid_names: tuple[str, ...] = ()  # the names that would have been found


class PghaulError(Exception):
    """A failure pghaul understands. ``message`` names the problem, ``hint`` what to do about it.

    Neither may ever contain a password or a secret: build them from redacted URLs only.
    """

    code = ErrorCode.FAILED

    def __init__(self, message: str, hint: str = "", details: ErrorDetails | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or ErrorDetails()

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class UsageError(PghaulError):
    """The caller asked for something that cannot work (a bad URL, an unknown table, a malformed cursor)."""

    code = ErrorCode.USAGE


class NotFoundError(UsageError):
    code = ErrorCode.NOT_FOUND

    def __init__(self, message: str, hint: str = "", valid_names: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(message, hint, ErrorDetails(valid_names=tuple(valid_names)))


class ConnectionFailed(PghaulError):
    """A server could not be reached or refused the login."""

    code = ErrorCode.CONNECTION


class SafetyError(PghaulError):
    """A check that protects the user's data refused to go on (target is the source, missing extension, …)."""

    code = ErrorCode.SAFETY


class SchemaConflict(SafetyError):
    """Objects exist on the target with a definition different from the source's."""

    code = ErrorCode.SCHEMA_CONFLICT

    def __init__(self, message: str, hint: str, conflicts: list[str]) -> None:
        super().__init__(message, hint, ErrorDetails(conflicts=tuple(conflicts)))

    @property
    def conflicts(self) -> list[str]:
        """The same as ``details.conflicts``, under the name callers have always read."""
        return list(self.details.conflicts)


RESUME_HINT = "run the same command again to continue from the last committed chunk"


class Cancelled(PghaulError):
    """The caller asked to stop; every committed chunk stays, the next run continues after it."""

    code = ErrorCode.CANCELLED


def check_cancelled(
    cancel: threading.Event | None, message: str = "stopped on request", hint: str = RESUME_HINT
) -> None:
    """The one place a run looks at its cancel event: raise ``Cancelled`` once it is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(message, hint)
