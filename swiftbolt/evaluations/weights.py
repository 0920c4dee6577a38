"""The ensemble's weights from a window of evaluations (a function of the window only, never of earlier
weights: a self-dependent asset would make every backfill one run per day).

Per horizon, over the forecasts that every base model made (same symbol, day and horizon, so the models
are compared on the same outcomes), each model's mean squared error of the log return (median vs realised)
gives an inverse-MSE weight, w_m = (1 / MSE_m) / sum_k (1 / MSE_k) (Bates and Granger's combination of
forecasts with uncorrelated errors): a model that is always right gains the weight, one that is always
wrong loses it. Each model keeps at least WEIGHT_FLOOR (w = floor + (1 - k floor) w_raw for k models), so no
model is dropped on one window's evidence alone.

* market scope (symbol_id NULL): all symbols' paired evaluations, at least MIN_MARKET_PAIRS;
* symbol scope: a symbol with at least MIN_SYMBOL_PAIRS pairs gets its own weights, shrunk toward the
  market's: w = lambda w_symbol + (1 - lambda) w_market, lambda = n / (n + SHRINK_PAIRS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from swiftbolt.forecasts.ensemble import BASE_MODELS

WINDOW_SESSIONS = 60
MIN_MARKET_PAIRS = 30
MIN_SYMBOL_PAIRS = 20
SHRINK_PAIRS = 60
WEIGHT_FLOOR = 0.05


@dataclass(frozen=True)
class WeightsConfig:
    window_sessions: int = WINDOW_SESSIONS
    min_market_pairs: int = MIN_MARKET_PAIRS
    min_symbol_pairs: int = MIN_SYMBOL_PAIRS
    shrink_pairs: int = SHRINK_PAIRS
    floor: float = WEIGHT_FLOOR


def paired(evals: pd.DataFrame) -> pd.DataFrame:
    """One row per (symbol_id, forecast_date, horizon) evaluated for every base model: sq_<model> (squared
    error of the log return) and hit_<model> (direction_correct)."""
    e = evals[evals["model_type"].isin(BASE_MODELS)].assign(
        sq=(np.log1p(evals["predicted_return"].to_numpy(float)) - evals["realized_log_return"].to_numpy(float)) ** 2,
        hit=evals["direction_correct"].astype(float))
    key = ["symbol_id", "forecast_date", "horizon"]
    wide = e.pivot_table(index=key, columns="model_type", values=["sq", "hit"], aggfunc="first")
    wide.columns = [f"{v}_{m}" for v, m in wide.columns]
    needed = [f"sq_{m}" for m in BASE_MODELS]
    if any(c not in wide for c in needed):
        return pd.DataFrame(columns=[*key, *needed, *(f"hit_{m}" for m in BASE_MODELS)])
    return wide.dropna(subset=needed).reset_index()


def inverse_mse(pairs: pd.DataFrame, floor: float) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(weights, accuracies per model) of a set of pairs."""
    mse = {m: float(pairs[f"sq_{m}"].mean()) for m in BASE_MODELS}
    inv = {m: 1.0 / max(v, 1e-12) for m, v in mse.items()}
    total = sum(inv.values())
    raw = {m: v / total for m, v in inv.items()}
    weights = {m: floor + (1.0 - floor * len(raw)) * v for m, v in raw.items()}
    acc = {m: {"n": len(pairs), "rmse": math.sqrt(mse[m]), "hit_rate": float(pairs[f"hit_{m}"].mean())}
           for m in BASE_MODELS}
    return weights, acc


DEFAULT_CONFIG = WeightsConfig()


def compute_weights(evals: pd.DataFrame, config: WeightsConfig = DEFAULT_CONFIG
                    ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rows (horizon, symbol_id (None = market), model_type, weight, reason, n_evaluations, accuracies) from
    the window's evaluations, and per horizon the reason when it has no weights."""
    pairs = paired(evals)
    rows: list[dict] = []
    skipped: dict[str, str] = {}
    for horizon in sorted(evals["horizon"].unique()) if not evals.empty else []:
        ph = pairs[pairs["horizon"] == horizon]
        if len(ph) < config.min_market_pairs:
            skipped[horizon] = (f"too few evaluations: {len(ph)} forecasts evaluated for every base model in the "
                                f"window, {config.min_market_pairs} needed (the ensemble keeps equal weights)")
            continue
        market_w, market_acc = inverse_mse(ph, config.floor)
        reason = (f"inverse-MSE of the log return over {len(ph)} paired evaluations "
                  f"(floor {config.floor})")
        rows += [{"horizon": horizon, "symbol_id": None, "model_type": m, "weight": market_w[m], "reason": reason,
                  "n_evaluations": len(ph), "accuracies": market_acc} for m in BASE_MODELS]
        for sid, g in ph.groupby("symbol_id"):
            if len(g) < config.min_symbol_pairs:
                continue
            own, acc = inverse_mse(g, config.floor)
            lam = len(g) / (len(g) + config.shrink_pairs)
            w = {m: lam * own[m] + (1 - lam) * market_w[m] for m in BASE_MODELS}
            s = sum(w.values())
            why = (f"inverse-MSE over the symbol's {len(g)} paired evaluations, shrunk toward the market's "
                   f"(lambda = {lam:.3f})")
            rows += [{"horizon": horizon, "symbol_id": int(sid), "model_type": m, "weight": w[m] / s, "reason": why,
                      "n_evaluations": len(g), "accuracies": acc} for m in BASE_MODELS]
    return pd.DataFrame(rows, columns=["horizon", "symbol_id", "model_type", "weight", "reason", "n_evaluations",
                                       "accuracies"]), skipped
