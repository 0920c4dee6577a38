"""Daily forecasting domain (framework-free): training matrices from feature rows and adjusted closes,
pooled quantile LightGBM per market and horizon, per-symbol Prophet on the trading calendar, a weighted
ensemble, labels and confidence, accuracy metrics with naive baselines, and the warehouse writers.

`pipeline.py` holds the functions the Dagster assets call; every other module has one job.
"""
