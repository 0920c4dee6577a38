-- Domain schemas. dbt writes its models to `analytics` (created by dbt itself).
CREATE SCHEMA IF NOT EXISTS market;   -- symbols, calendar, bars, corporate actions, quotes, lineage
CREATE SCHEMA IF NOT EXISTS ml;       -- feature sets, features, forecasts, evaluations, weights
CREATE SCHEMA IF NOT EXISTS options;  -- option chain snapshots, IV history, ranks
CREATE SCHEMA IF NOT EXISTS ops;      -- quarantine, alerts

-- Keeps updated_at honest on tables that are upserted.
CREATE OR REPLACE FUNCTION ops.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
