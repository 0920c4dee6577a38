-- Indexes for the dashboard and chart queries and for the dbt models that feed them (the models' own
-- indexes, on analytics.*, are dbt configs). Already covered by earlier migrations, so not repeated:
--   latest bar per symbol/timeframe, chart ranges: ohlc_bars primary key (symbol_id, timeframe, ts),
--     scanned backwards per monthly partition (ordered Append stops at the newest partition with rows);
--   bars in the last N sessions: bar_datasets primary key (symbol_id, timeframe, session_date);
--   completed sessions of a market: market_calendar_open_sessions_idx;
--   latest S/R levels and SuperTrend signal per symbol: their primary keys, scanned backwards.

-- Python features of a bar whatever the feature set (analytics.indicator_values joins them by bar and
-- takes the newest set): the primary key (symbol_id, timeframe, feature_set_id, ts) cannot serve a
-- lookup by (symbol_id, timeframe, ts).
CREATE INDEX feature_rows_bar_idx ON ml.feature_rows (symbol_id, timeframe, ts, feature_set_id DESC);

-- Sessions (re)written since a point in time: the incremental build of analytics.indicator_values
-- recomputes from them, and data health reports the last write.
CREATE INDEX bar_datasets_as_of_idx ON market.bar_datasets (as_of_ts);
