-- A read-only group role for dashboards: swiftbolt_reader. USAGE on the data schemas analytics,
-- market, ml and options, SELECT on their tables and views, and the same for tables created later
-- (default privileges of the role running the migrations, which is also the role the pipeline and
-- dbt connect as; dbt additionally re-grants on every model it rebuilds, dbt_project.yml `grants`).
-- Nothing else: no write privilege, no CREATE, no access to ops (quarantine, alerts). A dashboard
-- logs in with its own role that is a member (see the README's security section):
--     CREATE ROLE grafana LOGIN PASSWORD '...' IN ROLE swiftbolt_reader;
--
-- Roles belong to the server, not to a database: several warehouses (or test databases) on one server
-- share it, so creating it must not fail when it exists, even when two databases migrate at once.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'swiftbolt_reader') THEN
        BEGIN
            CREATE ROLE swiftbolt_reader NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created concurrently by a migration of another database on this server
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'creating the role swiftbolt_reader needs CREATEROLE; have an administrator run '
                                'CREATE ROLE swiftbolt_reader NOLOGIN once on this server, then migrate again';
        END;
    END IF;
END
$$;

-- dbt's output schema, created here so its grants exist before dbt's first build
CREATE SCHEMA IF NOT EXISTS analytics;

GRANT USAGE ON SCHEMA analytics, market, ml, options TO swiftbolt_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA analytics, market, ml, options TO swiftbolt_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA analytics, market, ml, options GRANT SELECT ON TABLES TO swiftbolt_reader;
