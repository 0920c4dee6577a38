-- Operational alerts (in the style of the seed's forecast_monitoring_alerts): failed runs, sessions not
-- materialized by their deadline, calendar mismatches with the provider. Written only through
-- swiftbolt/alerts.py. An alert is open while resolved_at IS NULL; resolved alerts stay as history.
CREATE TABLE ops.alerts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    market        text        NOT NULL CHECK (market IN ('us_equity', 'crypto', 'all')),
    symbol        text,       -- ticker, when the alert concerns one symbol
    alert_type    text        NOT NULL CHECK (alert_type ~ '^[a-z][a-z0-9_]*$'),
    severity      text        NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    details       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    dedupe_key    text        NOT NULL CHECK (dedupe_key <> ''),
    occurrences   integer     NOT NULL DEFAULT 1 CHECK (occurrences >= 1),  -- times raised while open
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz,
    CHECK (last_seen_at >= created_at),
    CHECK (resolved_at IS NULL OR resolved_at >= created_at)
);

-- At most one open alert per dedupe key: a second sensor tick raising the same alert updates it.
CREATE UNIQUE INDEX alerts_open_dedupe_key_idx ON ops.alerts (dedupe_key) WHERE resolved_at IS NULL;
CREATE INDEX alerts_open_by_type_idx ON ops.alerts (market, alert_type) WHERE resolved_at IS NULL;
CREATE INDEX alerts_created_at_idx ON ops.alerts (created_at);
