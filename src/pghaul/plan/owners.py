"""``ALTER … OWNER TO`` for an archive entry, for runs that carry owners (``--owners``).

pg_dump records each object's owner beside its definition instead of in it; an object that has no DROP
statement of its own (a column default, a comment, a constraint) has no owner of its own either.
"""

from __future__ import annotations

from psycopg import sql

from pghaul.dump import ArchiveEntry

# Kinds whose name alone (schema-qualified where they have a schema) follows ALTER <kind>.
_NAMED = frozenset({
    "COLLATION", "CONVERSION", "DOMAIN", "FOREIGN TABLE", "MATERIALIZED VIEW", "SEQUENCE", "STATISTICS", "TABLE",
    "TEXT SEARCH DICTIONARY", "TEXT SEARCH CONFIGURATION", "TYPE", "VIEW", "PROCEDURAL LANGUAGE", "SCHEMA",
    "EVENT TRIGGER", "FOREIGN DATA WRAPPER", "SERVER", "PUBLICATION",
})
# Kinds named with their argument types, exactly as their DROP statement names them.
_NAMED_BY_SIGNATURE = frozenset({"AGGREGATE", "FUNCTION", "OPERATOR", "OPERATOR CLASS", "OPERATOR FAMILY",
                                 "PROCEDURE"})


def owner_statement(entry: ArchiveEntry) -> str | None:
    if not entry.owner or not entry.drop_stmt.strip():
        return None
    if entry.desc in _NAMED:
        name = sql.Identifier(entry.namespace, entry.tag) if entry.namespace else sql.Identifier(entry.tag)
        target = sql.SQL("{} {}").format(sql.SQL(entry.desc), name).as_string(None)
    elif entry.desc in _NAMED_BY_SIGNATURE:
        target = entry.drop_stmt.strip().rstrip(";").strip().removeprefix("DROP ")
    else:
        return None
    owner = sql.Identifier(entry.owner).as_string(None)
    return f"ALTER {target} OWNER TO {owner};"
