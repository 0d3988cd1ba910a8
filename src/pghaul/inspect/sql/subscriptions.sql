-- The subscriptions of the current database, by name (their connection strings are never read).
SELECT s.subname AS name
FROM pg_catalog.pg_subscription AS s
WHERE s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
ORDER BY 1
