-- Extensions the server could create, with every version it ships and the default one.
-- Parameters: none.
SELECT a.name,
       a.default_version,
       ARRAY(SELECT v.version FROM pg_catalog.pg_available_extension_versions AS v
             WHERE v.name = a.name ORDER BY v.version) AS versions,
       a.installed_version
FROM pg_catalog.pg_available_extensions AS a
ORDER BY a.name
