"""Table names as the old API spelled them, and finding the table a request names.

``name`` is the bare name for tables in ``public`` and ``schema.table`` otherwise. A request's ``table`` must be
one that inspection found, so no request string ever becomes an identifier in SQL by itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from pghaul.errors import NotFoundError
from pghaul.inspect.model import Table

# Listing thousands of names in one error helps nobody; the first ones show the expected spelling.
MAX_NAMES_IN_ERROR = 200


def api_name(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def find_table(tables: Iterable[Table], requested: str) -> Table:
    """The table ``requested`` names (``name``, ``schema.name`` or ``public.name``), else a 404 listing the names."""
    candidates = list(tables)
    for table in candidates:
        if requested in (api_name(table.schema, table.name), f"{table.schema}.{table.name}"):
            return table
    names = sorted(api_name(t.schema, t.name) for t in candidates)
    shown = ", ".join(names[:MAX_NAMES_IN_ERROR]) + (" …" if len(names) > MAX_NAMES_IN_ERROR else "")
    raise NotFoundError(
        "no such table on the source",
        f"use one of: {shown}" if names else "the source database has no tables to copy",
        valid_names=names,
    )
