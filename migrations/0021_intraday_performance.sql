-- Intraday figures beside their baselines (issue 13) in ml.model_performance_history (issue 12): the
-- intraday horizons '15m' (one m15 bar) and '1h' (four m15 bars). Their rows are written by
-- <market>/intraday_model_performance, the daily horizons' by <market>/model_performance: each asset
-- replaces only its own horizons of a day. An intraday horizon has the intraday model (LightGBM) and the
-- baselines persistence and zero return (no always-up or up-frequency: the issue names these two).
-- window_sessions / window_start / window_end count sessions of evaluation dates as for the daily rows.
ALTER TABLE ml.model_performance_history
    DROP CONSTRAINT model_performance_history_horizon_check,
    ADD CONSTRAINT model_performance_history_horizon_check
        CHECK (horizon IN ('1D', '5D', '10D', '20D', '15m', '1h')),
    ADD CONSTRAINT model_performance_history_intraday_models
        CHECK (horizon NOT IN ('15m', '1h') OR model IN ('lightgbm', 'persistence', 'zero'));
