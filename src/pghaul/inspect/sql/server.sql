-- The server and database a session is connected to: what the safety checks and reports need.
-- Parameters: none.
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('server_version') AS version,
       (SELECT s.system_identifier::text FROM pg_catalog.pg_control_system() AS s) AS system_identifier,
       current_database() AS database,
       pg_catalog.pg_encoding_to_char(d.encoding) AS encoding
FROM pg_catalog.pg_database AS d
WHERE d.datname = current_database()
