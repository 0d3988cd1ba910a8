"""Session settings that make every value print the same way on both servers.

The checksums hash each column's text output, and several output functions read session settings:
timestamptz follows TimeZone, dates follow DateStyle, intervals IntervalStyle, floats extra_float_digits,
bytea bytea_output, money lc_monetary. Pinning them on both sides makes the text a function of the value only.
"""

from __future__ import annotations

import psycopg

STABLE_OUTPUT_SETTINGS: dict[str, str] = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    # 1 is the default since PostgreSQL 12: the shortest text that reads back to the same float.
    "extra_float_digits": "1",
    "bytea_output": "hex",
    "lc_monetary": "C",
}


def pin_output_settings(conn: psycopg.Connection) -> None:
    for name, value in STABLE_OUTPUT_SETTINGS.items():
        conn.execute("SELECT pg_catalog.set_config(%s, %s, false)", (name, value))
