"""Rows per committed chunk, as each surface documents them: one place, so the surfaces cannot drift apart.

A whole migration (CLI ``--batch-size``, ``MigrateOptions.batch_size``) commits up to a million rows a chunk;
the HTTP API's one-batch copy (``db-migrate-data``) returns within one request, so it allows fewer.
"""

DEFAULT_CHUNK_ROWS = 50_000
MAX_CHUNK_ROWS = 1_000_000

MIN_BATCH_ROWS = 1
MAX_BATCH_ROWS = 50_000
DEFAULT_BATCH_ROWS = 1_000
