"""The one schema pghaul keeps its own state in on a target: never part of the user's schema, never copied."""

STATE_SCHEMA = "pghaul"
