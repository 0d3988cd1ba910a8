"""A sample application database: what the demo migrates and what tests and benchmarks can reuse."""

from pghaul.sample.app_database import SAMPLE_TABLES, fill_sample_database

__all__ = ["SAMPLE_TABLES", "fill_sample_database"]
