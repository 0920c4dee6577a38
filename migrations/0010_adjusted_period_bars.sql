-- Adjusted weekly and monthly bars = the aggregation of the adjusted daily bars of their period.
--
-- Until now market.ohlc_bars_adjusted scaled every bar by the factor of its own session_date. For a w1
-- or mo1 bar that is the first session of the period, so a split or dividend inside the period scaled
-- the whole period, the days after the event included (AAPL week of 2000-06-19, 2:1 split on 06-21:
-- adjusted low/close 12.39/12.73 against 22.13/25.47 from the adjusted daily bars). A period bar mixes
-- days on both sides of an event, so no single factor can be right: it is rebuilt from the adjusted d1
-- bars instead (open first, high max, low min, close last, volume summed in adjusted shares, vwap
-- weighted by adjusted volume). adjustment_factor of a period bar is the factor of its last day (so
-- close = raw close x adjustment_factor still holds). Every other timeframe is unchanged.
--
-- market.ohlc_bars_adjusted_per_bar is the per-bar adjustment (the previous definition, for every
-- timeframe); the view keeps its columns, so dependants (dbt's analytics.bars_adjusted) stay valid.

CREATE VIEW market.ohlc_bars_adjusted_per_bar AS
SELECT b.symbol_id, b.timeframe, b.ts, b.session_date,
       b.open * COALESCE(f.price_factor, 1.0)  AS open,
       b.high * COALESCE(f.price_factor, 1.0)  AS high,
       b.low * COALESCE(f.price_factor, 1.0)   AS low,
       b.close * COALESCE(f.price_factor, 1.0) AS close,
       b.volume * COALESCE(f.volume_factor, 1.0) AS volume,
       b.vwap * COALESCE(f.price_factor, 1.0)  AS vwap,
       COALESCE(f.price_factor, 1.0) AS adjustment_factor
FROM market.ohlc_bars b
LEFT JOIN market.adjustment_factor_ranges f
  ON f.symbol_id = b.symbol_id AND b.session_date >= f.valid_from AND b.session_date < f.valid_to;

COMMENT ON VIEW market.ohlc_bars_adjusted_per_bar IS
    'each raw bar times the adjustment factor of its own session; right for bars within one session '
    '(intraday, d1), not for w1/mo1: use market.ohlc_bars_adjusted';

CREATE OR REPLACE VIEW market.ohlc_bars_adjusted AS
SELECT a.symbol_id, a.timeframe, a.ts, a.session_date, a.open, a.high, a.low, a.close, a.volume, a.vwap,
       a.adjustment_factor
FROM market.ohlc_bars_adjusted_per_bar a
WHERE a.timeframe NOT IN ('w1', 'mo1')
UNION ALL
SELECT p.symbol_id, p.timeframe, p.ts, p.session_date, d.open, d.high, d.low, d.close, d.volume, d.vwap,
       d.adjustment_factor
FROM market.ohlc_bars p
CROSS JOIN LATERAL (
    SELECT (array_agg(a.open ORDER BY a.ts))[1] AS open,
           max(a.high) AS high,
           min(a.low) AS low,
           (array_agg(a.close ORDER BY a.ts DESC))[1] AS close,
           sum(a.volume) AS volume,
           sum(a.vwap * a.volume) / NULLIF(sum(a.volume), 0) AS vwap,
           (array_agg(a.adjustment_factor ORDER BY a.ts DESC))[1] AS adjustment_factor
    FROM market.ohlc_bars_adjusted_per_bar a
    WHERE a.symbol_id = p.symbol_id AND a.timeframe = 'd1'
      -- the period by dates (no time-zone arithmetic); the ts bounds only prune monthly partitions
      AND a.session_date >= p.session_date
      AND a.session_date < (p.session_date + CASE p.timeframe WHEN 'w1' THEN interval '7 days'
                                                               ELSE interval '1 month' END)::date
      AND a.ts >= p.ts - interval '1 day' AND a.ts < p.ts + interval '33 days'
    HAVING count(*) > 0
) d
WHERE p.timeframe IN ('w1', 'mo1');

COMMENT ON VIEW market.ohlc_bars_adjusted IS
    'split- and dividend-adjusted bars: intraday and d1 bars times their session''s factor; w1/mo1 '
    'the aggregation of the adjusted d1 bars of the period';
