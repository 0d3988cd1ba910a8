"""pghaul: move a live PostgreSQL database, pgvector embeddings included, to another server.

The names below are the API a Python program may rely on; everything else may move between releases::

    from pghaul import MigrateOptions, migrate

    result = migrate(source_url, target_url, MigrateOptions(workers=4))
    assert result.ok, result.verify_report.differences()

Verification on its own is ``pghaul.verify.verify(source_url, target_url)`` (``pghaul.verify`` is also the
package's name, so it is not re-exported here). To serve the admin API inside your own FastAPI app, use
``pghaul.http.create_router``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# Loaded on first use, so `import pghaul` (and the CLI's --help) stays quick.
_EXPORTS = {
    "migrate": "pghaul.engine",
    "make_plan": "pghaul.engine",
    "MigrateOptions": "pghaul.engine",
    "MigrationResult": "pghaul.engine",
    "VerifyOptions": "pghaul.verify",
    "VerifyReport": "pghaul.verify",
    "inspect_catalog": "pghaul.inspect",
    "list_tables": "pghaul.tables",
    "PghaulError": "pghaul.errors",
    "redact_url": "pghaul.urls",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pghaul' has no attribute {name!r}")
    return getattr(import_module(module), name)
