"""Verify a migration: row counts, per-key-range checksums, sequences, schema, extensions, vector search."""

from pghaul.verify.options import VerifyOptions
from pghaul.verify.progress import TablesToVerify, TableVerified
from pghaul.verify.report import (
    ExtensionCheck,
    KeyRange,
    SchemaDifference,
    SequenceCheck,
    TableCheck,
    VectorCheck,
    VerifyReport,
)
from pghaul.verify.run import verify

__all__ = [
    "ExtensionCheck",
    "KeyRange",
    "SchemaDifference",
    "SequenceCheck",
    "TableCheck",
    "TableVerified",
    "TablesToVerify",
    "VectorCheck",
    "VerifyOptions",
    "VerifyReport",
    "verify",
]
