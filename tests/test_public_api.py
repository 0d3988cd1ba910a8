"""What `import pghaul` offers a Python program resolves, and a migration through it works end to end."""

from __future__ import annotations

import pghaul
from pghaul.sample import fill_sample_database


def test_every_exported_name_resolves() -> None:
    for name in pghaul.__all__:
        assert getattr(pghaul, name) is not None


def test_migrate_through_the_package_facade(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=2, memories_per_user=1)
    result = pghaul.migrate(source_url, target_url, pghaul.MigrateOptions(workers=1))
    assert result.ok, result.verify_report.differences()
    from pghaul.verify import verify

    report = verify(source_url, target_url, pghaul.VerifyOptions())
    assert report.ok
