"""A forecast against its outcome. Pure: one row per forecast, given the adjusted closes of its forecast
date and of its target session.

* realized log return r = log(adjusted close(T) / adjusted close(D)); the realised price in the forecast's
  units (the close of D as traded on D) is base_close x exp(r), so a split between D and T is no error;
* realized_return = exp(r) - 1 (simple), realized_label = bullish/bearish/neutral with the forecast's own
  neutral band; direction_correct = the event the forecast's label states happened (bullish: r > 0,
  bearish: r < 0, neutral: |r| <= band), the event whose probability `confidence` is; sign_correct = the
  sign of the median equals the sign of r (None when either is 0);
* price_error = target_price - realized_price, price_error_pct = price_error / realized_price;
  inside_interval = ci_lower <= realized_price <= ci_upper.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from swiftbolt.evaluations.calibration import realized_correct

EVALUATION_COLUMNS: tuple[str, ...] = (
    "forecast_id", "symbol_id", "model_type", "horizon", "forecast_date", "evaluation_date", "base_close",
    "target_price", "realized_price", "realized_return", "realized_log_return", "predicted_return",
    "predicted_label", "realized_label", "direction_correct", "sign_correct", "price_error", "price_error_pct",
    "inside_interval", "confidence", "prob_up", "dagster_run_id",
)


def evaluate(forecasts: pd.DataFrame, run_id: str | None = None) -> pd.DataFrame:
    """Evaluation rows of `forecasts` (columns of ml.ml_forecasts: id, symbol_id, model_type, horizon,
    forecast_date, target_date, base_close, forecast_return, return_q50, target_price, ci_lower, ci_upper,
    overall_label, confidence, prob_up, neutral_band; plus close_base and close_target, the adjusted closes
    of D and T). Rows without both closes are left out: no outcome, no evaluation."""
    f = forecasts[np.isfinite(forecasts["close_base"].to_numpy(float))
                  & np.isfinite(forecasts["close_target"].to_numpy(float))].reset_index(drop=True)
    r = np.log(f["close_target"].to_numpy(float) / f["close_base"].to_numpy(float))
    base = f["base_close"].to_numpy(float)
    realized = base * np.exp(r)
    band = f["neutral_band"].to_numpy(float)
    label = f["overall_label"].to_numpy()
    q50 = f["return_q50"].to_numpy(float)
    sign_ok = np.sign(q50) == np.sign(r)
    target = f["target_price"].to_numpy(float)
    error = target - realized
    return pd.DataFrame({
        "forecast_id": f["id"].to_numpy(np.int64), "symbol_id": f["symbol_id"].to_numpy(np.int64),
        "model_type": f["model_type"].to_numpy(), "horizon": f["horizon"].to_numpy(),
        "forecast_date": f["forecast_date"].to_numpy(), "evaluation_date": f["target_date"].to_numpy(),
        "base_close": base, "target_price": target, "realized_price": realized,
        "realized_return": np.expm1(r), "realized_log_return": r,
        "predicted_return": f["forecast_return"].to_numpy(float), "predicted_label": label,
        "realized_label": np.where(r > band, "bullish", np.where(r < -band, "bearish", "neutral")),
        "direction_correct": realized_correct(label, r, band),
        "sign_correct": pd.array(np.where((q50 == 0) | (r == 0), None, sign_ok), dtype="boolean"),
        "price_error": error, "price_error_pct": error / realized,
        "inside_interval": (f["ci_lower"].to_numpy(float) <= realized) & (realized <= f["ci_upper"].to_numpy(float)),
        "confidence": f["confidence"].to_numpy(float), "prob_up": f["prob_up"].to_numpy(float),
        "dagster_run_id": run_id,
    }, columns=list(EVALUATION_COLUMNS))
