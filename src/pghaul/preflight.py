"""Moved to :mod:`pghaul.engine.preflight` (the engine's preflight stage). Kept so the HTTP shell's imports
work until it switches; new code imports from the engine."""

from pghaul.engine.preflight import (
    check_extensions,
    check_target_is_not_source,
    extension_checks,
    preflight_report,
    run_preflight,
)

__all__ = [
    "check_extensions",
    "check_target_is_not_source",
    "extension_checks",
    "preflight_report",
    "run_preflight",
]
