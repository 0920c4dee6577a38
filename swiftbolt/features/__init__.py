"""Framework-free feature math on bar frames: technical indicators, support/resistance levels and
SuperTrend signals. No Dagster or database imports here; assets wrap these functions."""
