"""Forecast evaluations and what is learnt from them (issue 12), framework-free: `evaluate` (forecast vs
outcome), `weights` (the ensemble's weights from a window of evaluations), `calibration` (isotonic
calibration of stated confidence), `performance` (figures beside naive baselines), `drift` (population
stability index). `store` reads and writes the warehouse; `pipeline` is what the Dagster assets call."""
