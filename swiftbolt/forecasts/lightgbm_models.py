"""Pooled quantile LightGBM: one booster per quantile (0.1, 0.5, 0.9) of the volatility-normalised
forward return, trained on every symbol of a market at once.

Deterministic: fixed seeds, `deterministic=True`, column-wise histograms, a fixed thread count (the
setting SWIFTBOLT_LGBM_THREADS), so the same matrix gives the same trees, the same text and the same
SHA-256. Quantile crossing is removed by sorting the three predictions per row (rearrangement).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # lightgbm (with scipy.sparse, ~0.3 s) is imported where it trains or loads
    import lightgbm as lgb

QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
NUM_BOOST_ROUND = 150
SEED = 20240611
PARAMS: dict[str, object] = {
    "objective": "quantile",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "max_depth": 5,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.7,
    "bagging_freq": 1,
    "lambda_l2": 5.0,
    "max_bin": 63,
    "seed": SEED,
    "bagging_seed": SEED + 1,
    "feature_fraction_seed": SEED + 2,
    "data_random_seed": SEED + 3,
    "deterministic": True,
    "force_col_wise": True,
    "verbosity": -1,
}


def training_params(alpha: float, threads: int) -> dict[str, object]:
    return {**PARAMS, "alpha": alpha, "num_threads": threads}


def public_params(threads: int) -> dict[str, object]:
    """What is stored beside the model (ml.ml_model_versions.parameters)."""
    return {**PARAMS, "quantiles": list(QUANTILES), "num_boost_round": NUM_BOOST_ROUND, "num_threads": threads,
            "target": "log return / (sigma_60 * sqrt(h))", "lightgbm": lightgbm_version()}


def lightgbm_version() -> str:
    import lightgbm as lgb

    return lgb.__version__


@dataclass
class ModelBundle:
    """The boosters of one (market, horizon) model, in QUANTILES order."""

    feature_names: list[str]
    quantiles: tuple[float, ...]
    texts: list[str]
    boosters: list[lgb.Booster] = field(repr=False)

    @property
    def sha256(self) -> str:
        return bundle_sha256(self.feature_names, self.quantiles, self.texts)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n, len(quantiles)) predictions in normalised units, non-decreasing along each row."""
        if len(X) == 0:
            return np.empty((0, len(self.quantiles)))
        raw = np.column_stack([b.predict(X, num_threads=1) for b in self.boosters])
        return np.sort(raw, axis=1)

    def importance(self, top: int | None = None) -> list[tuple[str, float]]:
        """Gain importance of the median booster, as shares of the total, largest first."""
        median = self.boosters[self.quantiles.index(0.5)] if 0.5 in self.quantiles else self.boosters[0]
        gain = median.feature_importance(importance_type="gain")
        total = float(gain.sum()) or 1.0
        ranked = sorted(zip(self.feature_names, gain / total, strict=True), key=lambda kv: (-kv[1], kv[0]))
        return [(name, float(share)) for name, share in ranked[:top]]


def bundle_sha256(feature_names: list[str], quantiles: tuple[float, ...], texts: list[str]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"features": list(feature_names), "quantiles": list(quantiles)},
                             sort_keys=True).encode())
    for text in texts:
        digest.update(b"\n--booster--\n")
        digest.update(text.encode())
    return digest.hexdigest()


def train(X: np.ndarray, y: np.ndarray, feature_names: list[str], threads: int = 1) -> ModelBundle:
    """Fit one booster per quantile on (X, y)."""
    import lightgbm as lgb

    texts, boosters = [], []
    for alpha in QUANTILES:
        data = lgb.Dataset(X, label=y, feature_name=list(feature_names), free_raw_data=True,
                           params={"max_bin": PARAMS["max_bin"], "verbosity": -1})
        booster = lgb.train(training_params(alpha, threads), data, num_boost_round=NUM_BOOST_ROUND)
        text = booster.model_to_string()
        texts.append(text)
        boosters.append(booster)
    return ModelBundle(list(feature_names), QUANTILES, texts, boosters)


def load(feature_names: list[str], quantiles: tuple[float, ...], texts: list[str]) -> ModelBundle:
    """A stored model (ml.ml_model_versions.model_texts) back as boosters."""
    import lightgbm as lgb

    return ModelBundle(list(feature_names), tuple(quantiles), list(texts),
                       [lgb.Booster(model_str=t) for t in texts])
