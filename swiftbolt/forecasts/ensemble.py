"""The ensemble of the base models: quantile averaging with weights.

Weights come from ml.model_weights (written by the evaluation domain) as of the newest as_of_date before
D: the symbol's own if present, else the market's. Without any, the base models get equal weights and the
row says so (weights_source = 'equal_no_weights'). If a weighted model has no forecast for the day, the
remaining weights are renormalised ('renormalized'). The ensemble's quantiles are the weighted averages
of the base quantiles (Vincentization), which keeps them ordered.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

BASE_MODELS: tuple[str, ...] = ("lightgbm", "prophet")


def resolve_weights(available: list[str], stored: Mapping[str, float] | None, stored_source: str | None
                    ) -> tuple[dict[str, float], str]:
    """Weights over the available base models and the source label recorded on the row."""
    if not available:
        raise ValueError("no base forecasts to combine")
    if stored:
        usable = {m: float(stored.get(m, 0.0)) for m in available}
        total = sum(usable.values())
        if total > 0:
            source = stored_source or "model_weights_market"
            if set(available) != {m for m, w in stored.items() if w > 0}:
                source = "renormalized"
            return {m: w / total for m, w in sorted(usable.items())}, source
    return {m: 1.0 / len(available) for m in sorted(available)}, "equal_no_weights"


def combine(quantiles: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Weighted average of same-shaped quantile arrays (last axis = quantiles, ordered)."""
    out = sum(weights[m] * np.asarray(q, dtype=np.float64) for m, q in quantiles.items() if weights.get(m, 0) > 0)
    return np.sort(np.asarray(out), axis=-1)


def ensemble_version(base_versions: Mapping[str, str], weights: Mapping[str, float]) -> str:
    """The ensemble's model_version: SHA-256 of the base models' versions and the weights used."""
    payload = json.dumps({"base": dict(sorted(base_versions.items())),
                          "weights": {m: round(w, 12) for m, w in sorted(weights.items())}}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def stored_weights(weights: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Per key row (symbol_id, forecast_date, horizon): the stored weight per base model (w_<model>), the
    as_of_date used and the scope, from the newest as_of_date < forecast_date; on that date the symbol's
    own weights are preferred over the market's."""
    tables: dict[tuple, list[tuple[dt.date, dict[str, float]]]] = {}
    for (as_of, horizon, sid), g in weights.groupby(["as_of_date", "horizon", weights["symbol_id"].fillna(-1)]):
        tables.setdefault((horizon, int(sid)), []).append((as_of, dict(zip(g["model_type"], g["weight"],
                                                                           strict=True))))
    for series in tables.values():
        series.sort(key=lambda t: t[0])
    dates_of = {k: [t[0] for t in v] for k, v in tables.items()}

    def newest(k: tuple, day: dt.date) -> tuple[dt.date, dict[str, float]] | None:
        i = bisect.bisect_left(dates_of.get(k, []), day) - 1
        return tables[k][i] if i >= 0 else None

    as_of, scope, stored = [], [], []
    for sid, day, horizon in zip(keys["symbol_id"], keys["forecast_date"], keys["horizon"], strict=True):
        market = newest((horizon, -1), day)
        own = newest((horizon, int(sid)), day)
        pick, label = ((own, "model_weights_symbol") if own and (not market or own[0] >= market[0])
                       else (market, "model_weights_market"))
        as_of.append(pick[0] if pick else None)
        scope.append(label if pick else None)
        stored.append([pick[1].get(m, 0.0) if pick else np.nan for m in BASE_MODELS])
    out = pd.DataFrame(np.array(stored, dtype=float).reshape(len(keys), len(BASE_MODELS)),
                       columns=[f"w_{m}" for m in BASE_MODELS])
    out["as_of"] = as_of
    out["scope"] = scope
    return out


def weight_matrix(avail: np.ndarray, stored: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Weights per key row over BASE_MODELS (rows sum to 1 over the available models) and the source label,
    from `avail` (n x models, the model has a forecast) and `stored_weights` output. Stored weights are
    renormalised over the available models ('renormalized' when a weighted model is missing or a model
    without weight is present); without stored weights, or none usable, equal weights ('equal_no_weights')."""
    values = stored[[f"w_{m}" for m in BASE_MODELS]].to_numpy(float)
    has_stored = np.isfinite(values).any(axis=1)
    values = np.nan_to_num(values)
    masked = np.where(avail, values, 0.0)
    total = masked.sum(axis=1)
    use_stored = has_stored & (total > 0)
    equal = avail / np.maximum(avail.sum(axis=1, keepdims=True), 1)
    weights = np.where(use_stored[:, None], masked / np.where(total > 0, total, 1.0)[:, None], equal)
    complete = ((values > 0) == avail).all(axis=1)
    source = np.where(~use_stored, "equal_no_weights",
                      np.where(complete, stored["scope"].fillna("model_weights_market").to_numpy(), "renormalized"))
    return weights, source


def combine_rows(base: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Per row, the weighted average of the base models' (n, 3) log-return quantiles (NaN rows of a model
    count as 0 with weight 0), sorted: the ensemble's quantiles."""
    qs = np.zeros((len(weights), 3))
    for j, m in enumerate(BASE_MODELS):
        if m in base:
            qs += weights[:, j:j + 1] * np.nan_to_num(np.asarray(base[m], dtype=np.float64))
    return np.sort(qs, axis=1)

