"""Sync: catch a migrated target up with what changed on the source since, comparing checksums range by range."""

from pghaul.sync.options import SyncOptions
from pghaul.sync.report import SyncReport
from pghaul.sync.run import sync

__all__ = ["SyncOptions", "SyncReport", "sync"]
