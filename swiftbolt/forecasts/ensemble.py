"""The ensemble of the base models: quantile averaging with weights.

Weights come from ml.model_weights (written by the evaluation domain) as of the newest as_of_date before
D: the symbol's own if present, else the market's. Without any, the base models get equal weights and the
row says so (weights_source = 'equal_no_weights'). If a weighted model has no forecast for the day, the
remaining weights are renormalised ('renormalized'). The ensemble's quantiles are the weighted averages
of the base quantiles (Vincentization), which keeps them ordered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import numpy as np

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
