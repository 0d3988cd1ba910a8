"""pghaul: move a live PostgreSQL database, pgvector embeddings included, to another server."""

__version__ = "0.1.0"
