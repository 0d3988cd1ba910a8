"""Errors that reach a user: one sentence saying what is wrong and one saying what to do about it."""

from __future__ import annotations


class PghaulError(Exception):
    """A failure pghaul understands. ``message`` names the problem, ``hint`` what to do about it.

    Neither may ever contain a password or a secret: build them from redacted URLs only.
    """

    exit_code = 1
    http_status = 500

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class UsageError(PghaulError):
    """The caller asked for something that cannot work (a bad URL, an unknown table, a malformed cursor)."""

    exit_code = 2
    http_status = 400


class NotFoundError(UsageError):
    http_status = 404


class ConnectionFailed(PghaulError):
    """A server could not be reached or refused the login."""

    http_status = 502


class SafetyError(PghaulError):
    """A check that protects the user's data refused to go on (target is the source, missing extension, …)."""

    http_status = 409


class SchemaConflict(SafetyError):
    """Objects exist on the target with a definition different from the source's."""

    def __init__(self, message: str, hint: str, conflicts: list[str]) -> None:
        super().__init__(message, hint)
        self.conflicts = conflicts
