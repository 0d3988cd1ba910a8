"""Inspect: a live database's catalog as a typed model (see :mod:`pghaul.inspect.model`)."""

from pghaul.inspect.catalog import inspect_catalog, inspect_tables, server_info
from pghaul.inspect.model import Catalog

__all__ = ["Catalog", "inspect_catalog", "inspect_tables", "server_info"]
