"""One way to order version strings ("0.8.2", "1.5-1", "2.0beta"), for extensions and servers alike."""

from __future__ import annotations


def version_key(version: str) -> tuple[tuple[int, str], ...]:
    """A sort key: numeric parts by their value, and a word (a pre-release tag) below any number."""
    parts = version.replace("-", ".").split(".")
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in parts)
