"""Model performance over a trailing window of evaluations, every figure beside the naive baselines
(swiftbolt.forecasts.metrics: the same definitions as the forecast models' own validation).

Per (horizon, model) on the window's evaluations: n, hit rate (sign of the median vs the sign of the
realised log return) with its 95% Wilson interval, MAE and RMSE of the log return, time-series IC (Pearson
per symbol over its days, averaged), rank IC (Spearman across symbols per forecast day, averaged) and ICIR
(mean / std over days), coverage of the 80% interval, ECE and Brier score of P(up) against the realised up
move. The baselines (persistence, always-up, historical up-frequency, zero return) are scored on the same
(symbol, forecast day, horizon) outcomes and are rows of their own.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from swiftbolt.forecasts.dataset import forward_returns, past_returns
from swiftbolt.forecasts.horizons import HORIZONS
from swiftbolt.forecasts.metrics import Z90, score, score_baselines

WINDOW_SESSIONS = 60
UP_FREQUENCY_SESSIONS = 250
PERFORMANCE_COLUMNS: tuple[str, ...] = (
    "horizon", "model", "is_baseline", "n", "n_symbols", "hit_rate", "hit_low", "hit_high", "mae", "rmse", "ic",
    "rank_ic", "icir", "rank_ic_days", "coverage", "ece", "brier")


def baseline_inputs(sessions: pd.DataFrame, h: int, lookback: int = UP_FREQUENCY_SESSIONS) -> pd.DataFrame:
    """Per row of `with_sessions` output (symbol_id, session_date, pos, close, sigma_60): past_return (the
    last h-session log return) and up_frequency (share of positive h-session returns of the symbol among
    those realised by the row's session, over the last `lookback` sessions)."""
    s = sessions.sort_values(["symbol_id", "pos"], kind="stable").reset_index(drop=True)
    fwd = forward_returns(s, h)
    known = np.isfinite(fwd)
    up = (fwd > 0) & known
    out = s[["symbol_id", "session_date", "sigma_60"]].copy()
    out["past_return"] = past_returns(s, h)
    # the label of row p is realised at p + h: at row P use labels of rows p <= P - h, p > P - h - lookback
    freq = np.full(len(s), np.nan)
    for _, idx in s.groupby("symbol_id").indices.items():
        cu = np.r_[0, np.cumsum(up[idx])]
        ck = np.r_[0, np.cumsum(known[idx])]
        n = len(idx)
        end = np.arange(n) - h + 1            # exclusive end in the symbol's rows
        start = np.maximum(end - lookback, 0)
        end = np.clip(end, 0, n)
        count = ck[end] - ck[start]
        with np.errstate(invalid="ignore", divide="ignore"):
            freq[idx] = np.where(count > 0, (cu[end] - cu[start]) / count, np.nan)
    out["up_frequency"] = freq
    return out


def _row(horizon: str, model: str, baseline: bool, figures: dict, frame: pd.DataFrame, rmse: float,
         brier: float, coverage: float) -> dict:
    return {"horizon": horizon, "model": model, "is_baseline": baseline, "n": int(figures["n"]),
            "n_symbols": int(frame["symbol_id"].nunique()), "hit_rate": figures["hit_rate"],
            "hit_low": figures["hit_low"], "hit_high": figures["hit_high"], "mae": figures["mae"], "rmse": rmse,
            "ic": figures["ic"], "rank_ic": figures["rank_ic"], "icir": figures["rank_icir"],
            "rank_ic_days": int(figures["rank_ic_days"]), "coverage": coverage, "ece": figures["ece"],
            "brier": brier}


def performance(evals: pd.DataFrame, baselines: pd.DataFrame) -> pd.DataFrame:
    """Figures per (horizon, model) and per (horizon, baseline). `evals`: symbol_id, model_type, horizon,
    forecast_date, realized_log_return, predicted_return, inside_interval, prob_up. `baselines`: symbol_id,
    forecast_date, horizon, past_return, up_frequency, sigma_60 (for the baselines' rows)."""
    rows = []
    for (horizon, model), g in evals.groupby(["horizon", "model_type"], sort=True):
        h = HORIZONS[str(horizon)]
        f = g.assign(session_date=g["forecast_date"], realized=g["realized_log_return"].astype(float),
                     pred=np.log1p(g["predicted_return"].to_numpy(float)))
        fig = score(f, "pred", h, prob_up="prob_up")
        err = f["pred"].to_numpy(float) - f["realized"].to_numpy(float)
        up = (f["realized"].to_numpy(float) > 0).astype(float)
        brier = float(np.mean((f["prob_up"].to_numpy(float) - up) ** 2))
        rows.append(_row(str(horizon), str(model), False, fig, f, float(np.sqrt(np.mean(err ** 2))), brier,
                         float(f["inside_interval"].astype(float).mean())))
    outcomes = (evals.sort_values("model_type").groupby(["symbol_id", "forecast_date", "horizon"], as_index=False)
                ["realized_log_return"].first())
    merged = outcomes.merge(baselines, on=["symbol_id", "forecast_date", "horizon"], how="left")
    for horizon, g in merged.groupby("horizon", sort=True):
        h = HORIZONS[str(horizon)]
        f = g.assign(session_date=g["forecast_date"], realized=g["realized_log_return"].astype(float))
        figs = score_baselines(f, h)
        sigma_h = f["sigma_60"].to_numpy(float) * math.sqrt(h)
        real = f["realized"].to_numpy(float)
        zero_cov = np.abs(real) <= Z90 * sigma_h
        preds = {"persistence": f["past_return"].to_numpy(float), "zero": np.zeros(len(f))}
        for name, fig in figs.items():
            rmse = (float(np.sqrt(np.nanmean((preds[name] - real) ** 2))) if name in preds else math.nan)
            cov = float(zero_cov[np.isfinite(sigma_h)].mean()) if name == "zero" and np.isfinite(sigma_h).any() \
                else math.nan
            brier = math.nan
            if name == "always_up":
                brier = float(np.mean((1.0 - (real > 0)) ** 2))
            elif name == "up_frequency":
                p = f["up_frequency"].to_numpy(float)
                ok = np.isfinite(p)
                brier = float(np.mean((p[ok] - (real[ok] > 0)) ** 2)) if ok.any() else math.nan
            rows.append(_row(str(horizon), name, True, fig, f, rmse, brier, cov))
    return pd.DataFrame(rows, columns=list(PERFORMANCE_COLUMNS))
