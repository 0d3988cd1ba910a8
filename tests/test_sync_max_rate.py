"""``pghaul sync --max-rate``: a sync reads the source through the same kind of bucket as migrate — rows staged by
key range, rows written since the last sync, the keys it compares for deletes and large objects all count — and
still brings the target level. Only a lower bound on time is asserted (load makes a run slower, never faster)."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from pghaul.cli.commands import app
from pghaul.copy.rate_limit import MB
from pghaul.engine import MigrateOptions, migrate
from pghaul.errors import UsageError
from pghaul.sync import SyncOptions, sync
from tests.conftest import run_sql
from tests.fixtures_data import database_digest

CAP_MB = 1.0


def test_a_capped_sync_reads_through_its_bucket_and_levels_the_target(source_url: str, target_url: str) -> None:
    run_sql(source_url, """
        CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL);
        INSERT INTO notes SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 20000) g;
        CREATE TABLE tags (n int, t text);
        INSERT INTO tags SELECT g, md5(g::text) FROM generate_series(1, 2000) g;
    """)
    assert migrate(source_url, target_url, MigrateOptions(workers=2)).ok
    run_sql(source_url, """
        UPDATE notes SET body = repeat(md5((-id)::text), 4) WHERE id % 2 = 0;
        DELETE FROM notes WHERE id % 97 = 0;
        INSERT INTO tags VALUES (-1, 'new');
        SELECT lo_from_bytea(0, convert_to(repeat('x', 300000), 'UTF8'));
    """)
    options = SyncOptions(workers=2, max_rate=CAP_MB)
    started = time.monotonic()
    report = sync(source_url, target_url, options)
    elapsed = time.monotonic() - started
    rate = options.source_rate
    assert rate is not None
    # Even keys updated (less the deleted ones among them); the keyless table is replaced whole.
    assert report.rows_updated == 10_000 - 20000 // 194
    assert report.rows_deleted == 20000 // 97 + 2000 and report.rows_inserted == 2001
    assert report.large_objects is not None and report.large_objects.added == 1
    # The updated half of the table alone is over 1.3 MB of rows: more than the bucket's burst, so readers waited.
    assert rate.taken > 1.3 * MB and rate.waited > 0
    assert elapsed >= (rate.taken - rate.burst) / (CAP_MB * MB)
    assert database_digest(target_url) == database_digest(source_url)


def test_a_bad_rate_is_refused_before_anything_is_read(source_url: str, target_url: str) -> None:
    with pytest.raises(UsageError, match="max rate"):
        sync(source_url, target_url, SyncOptions(max_rate=0))
    result = CliRunner().invoke(app, ["sync", "--source", source_url, "--target", target_url, "--max-rate", "-3"])
    assert result.exit_code == 2 and "max rate" in result.output and "Traceback" not in result.output
