"""Errors carry a code and typed details; the shells map the code (the CLI to exit codes)."""

from __future__ import annotations

import threading

import pytest

from pghaul.cli import exit_code
from pghaul.copy.table_data import CopyCancelled
from pghaul.errors import (
    Cancelled,
    ErrorCode,
    NotFoundError,
    PghaulError,
    SafetyError,
    SchemaConflict,
    UsageError,
    check_cancelled,
)


def test_codes_map_to_the_exit_codes_the_cli_always_used() -> None:
    assert exit_code(UsageError("x").code) == 2 and exit_code(NotFoundError("x").code) == 2
    assert exit_code(SafetyError("x").code) == 1 and exit_code(PghaulError("x").code) == 1
    assert exit_code(Cancelled("x").code) == 1


def test_details_are_typed_fields() -> None:
    conflict = SchemaConflict("m", "h", ["table public.t"])
    assert conflict.code == ErrorCode.SCHEMA_CONFLICT and conflict.details.conflicts == ("table public.t",)
    assert conflict.conflicts == ["table public.t"]  # still readable by the HTTP shell's old look-up
    assert NotFoundError("m", valid_names=["a", "b"]).details.valid_names == ("a", "b")
    assert PghaulError("m").details.conflicts == () and not hasattr(SafetyError("m"), "conflicts")


def test_domain_errors_carry_no_exit_code_or_http_status() -> None:
    """The shells map ``code``: the CLI to exit codes (above), the API to HTTP statuses (http/errors.py)."""
    for error in (UsageError("x"), NotFoundError("x"), SafetyError("x"), PghaulError("x"), Cancelled("x")):
        assert not hasattr(error, "exit_code") and not hasattr(error, "http_status")


def test_one_cancellation_error() -> None:
    cancel = threading.Event()
    check_cancelled(cancel)
    check_cancelled(None)
    cancel.set()
    with pytest.raises(Cancelled) as raised:
        check_cancelled(cancel)
    assert raised.value.code == ErrorCode.CANCELLED and raised.value.message == "stopped on request"
    assert CopyCancelled is Cancelled
