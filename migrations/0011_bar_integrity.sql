-- Every served row accounted for (issue 8).
--
-- 1. The bar table refuses non-finite values. Its CHECKs accepted 'Infinity' (and 'NaN', which
--    PostgreSQL orders above every number), so one +inf bar was stored and then broke every later
--    feature run that had it in its warm-up window. Rows already stored with such values are moved to
--    the quarantine first (under a lineage row of this migration), so the constraint can be added.
-- 2. ops.bar_quarantine.partition_date: the requested partition (trading day) a quarantined row
--    arrived with. session_date stays the session the row claims (a Saturday bar keeps its Saturday);
--    a re-run of a partition replaces the quarantine rows it had by partition_date.
-- 3. market.ingestion_runs: rows_received (what the provider returned: = rows stored + rows
--    quarantined), asset_key (which asset's run it was), and status 'abandoned' for runs killed or cut
--    off before they could record their end (marked by a later run of the same asset).

ALTER TABLE ops.bar_quarantine ADD COLUMN partition_date date;
UPDATE ops.bar_quarantine SET partition_date = session_date WHERE partition_date IS NULL;
COMMENT ON COLUMN ops.bar_quarantine.session_date IS 'the session the row claims (NULL: no usable timestamp)';
COMMENT ON COLUMN ops.bar_quarantine.partition_date IS
    'the requested partition (trading day) whose provider request returned the row';
CREATE INDEX bar_quarantine_requested_idx ON ops.bar_quarantine (symbol_id, partition_date);

ALTER TABLE market.ingestion_runs ADD COLUMN rows_received bigint CHECK (rows_received >= 0);
ALTER TABLE market.ingestion_runs ADD COLUMN asset_key text;
ALTER TABLE market.ingestion_runs DROP CONSTRAINT ingestion_runs_status_check;
ALTER TABLE market.ingestion_runs ADD CONSTRAINT ingestion_runs_status_check
    CHECK (status IN ('running', 'success', 'failed', 'abandoned'));
CREATE INDEX ingestion_runs_running_idx ON market.ingestion_runs (asset_key) WHERE status = 'running';

WITH bad AS (
    SELECT b.* FROM market.ohlc_bars b
    WHERE NOT (b.open < 'Infinity' AND b.high < 'Infinity' AND b.low < 'Infinity' AND b.close < 'Infinity'
               AND b.volume < 'Infinity' AND (b.vwap IS NULL OR (b.vwap > '-Infinity' AND b.vwap < 'Infinity')))
), run AS (
    INSERT INTO market.ingestion_runs (provider, code_version, status, finished_at, error, asset_key)
    SELECT 'migration', '0011_bar_integrity', 'success', now(),
           'moved bars with non-finite values to ops.bar_quarantine', 'migrations'
    WHERE EXISTS (SELECT 1 FROM bad)
    RETURNING id
), moved AS (
    INSERT INTO ops.bar_quarantine (symbol_id, timeframe, session_date, partition_date, ts, provider, reason,
                                    raw, ingestion_run_id)
    SELECT b.symbol_id, b.timeframe, b.session_date, b.session_date, b.ts::text, b.provider, 'non-finite value',
           jsonb_build_object('ts', b.ts, 'open', b.open::text, 'high', b.high::text, 'low', b.low::text,
                              'close', b.close::text, 'volume', b.volume::text, 'vwap', b.vwap::text,
                              'trade_count', b.trade_count, 'stored_by_ingestion_run', b.ingestion_run_id),
           run.id
    FROM bad b CROSS JOIN run
)
DELETE FROM market.ohlc_bars b
USING bad
WHERE b.symbol_id = bad.symbol_id AND b.timeframe = bad.timeframe AND b.ts = bad.ts;

ALTER TABLE market.ohlc_bars ADD CONSTRAINT ohlc_bars_finite CHECK (
    open < 'Infinity' AND high < 'Infinity' AND low < 'Infinity' AND close < 'Infinity'
    AND volume < 'Infinity' AND (vwap IS NULL OR (vwap > '-Infinity' AND vwap < 'Infinity'))
);
