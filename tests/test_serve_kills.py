"""`pghaul serve` killed (SIGKILL) and restarted three times during one migration driven through the admin API as
the page drives it: the migration ends done and verified, and an independent comparison (counts and digests of
every table, large objects, sequences) finds nothing lost or doubled. The long version, twenty kills and more per
migration, is reliability/scenario_serve_kills.py."""

from __future__ import annotations

import random

from pghaul.sample import fill_sample_database
from tests.conftest import run_sql
from tests.serve_kills import Driver, ServeProcess, compare_databases, new_secret


def test_three_kills_of_serve_during_one_migration(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=40, memories_per_user=10)
    run_sql(source_url, """
        CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL, body text);
        INSERT INTO events SELECT g, '2026-01-01'::timestamptz + g * interval '1 second', repeat(md5(g::text), 2)
          FROM generate_series(1, 80000) g;
        CREATE TABLE keyless (n int, t text);
        INSERT INTO keyless SELECT g % 1000, md5(g::text) FROM generate_series(1, 3000) g;
        SELECT lo_from_bytea(0, convert_to(repeat('large object ', 50000), 'UTF8')) FROM generate_series(1, 2);
        ANALYZE;
    """)
    secret = new_secret()
    serve = ServeProcess(source_url, target_url, secret)
    # The cap (the API's maxRate) holds the copy to at least 8 s: three lives of at most 1.5 s each end before it.
    driver = Driver(serve, secret, random.Random(15), print, body={"maxRate": 1.0}, batch_size=2000, timeout=120)
    try:
        run = driver.run_with_kills(3, delay=(0.3, 1.5))
    finally:
        serve.stop()
    assert run.kills == 3, run
    assert run.starts == 4, run  # the first start and one resume after each kill
    assert run.state == "done" and run.verified is True, run
    assert run.job_errors == []
    compared = compare_databases(source_url, target_url)
    assert compared.mismatches == []
    assert compared.rows > 80000 and compared.large_objects == 2 and compared.sequences > 0
