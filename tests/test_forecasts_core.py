"""Forecast core without a database: metrics on hand-checked cases, labels and confidence, ensemble weights,
session arithmetic, volatility and labels of the training matrix, LightGBM determinism."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from swiftbolt.forecasts import lightgbm_models, metrics
from swiftbolt.forecasts.dataset import forward_returns, past_returns, trailing_std, training_window, with_sessions
from swiftbolt.forecasts.ensemble import combine, ensemble_version, resolve_weights
from swiftbolt.forecasts.horizons import session_index
from swiftbolt.forecasts.labels import Z90, label_and_confidence, neutral_band, split_normal_cdf


def test_wilson_interval_matches_the_published_values() -> None:
    # Wilson (1927) / Newcombe (1998): 8 of 10 -> 0.4902..0.9433; 0 of 10 -> 0..0.2775
    assert metrics.wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert metrics.wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert all(math.isnan(v) for v in metrics.wilson_interval(0, 0))


def test_hit_rate_mae_coverage_and_ece_on_hand_checked_rows() -> None:
    pred = np.array([0.01, -0.02, 0.03, 0.0, 0.01])
    real = np.array([0.02, 0.01, -0.01, 0.05, 0.0])
    # rows 4 (pred 0) and 5 (realised 0) carry no direction; of the others only row 1 is right
    assert metrics.hit_rate(pred, real) == (pytest.approx(1 / 3), 3)
    assert metrics.mae(pred, real) == pytest.approx((0.01 + 0.03 + 0.04 + 0.05 + 0.01) / 5)
    assert metrics.coverage(np.full(4, -0.02), np.full(4, 0.02), np.array([0.0, 0.03, -0.02, 0.019])) == 0.75
    # stated 0.8, realised 3 of 5 = 0.6: ECE 0.2
    assert metrics.expected_calibration_error(np.full(5, 0.8), np.array([1, 1, 1, 0, 0])) == pytest.approx(0.2)


def test_information_coefficients_per_symbol_and_per_day() -> None:
    frame = pd.DataFrame({
        "symbol_id": [1, 1, 1, 2, 2, 2],
        "session_date": ["d1", "d2", "d3"] * 2,
        "pred": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0],
        "realized": [10.0, 20.0, 30.0, 3.0, 2.0, 1.0],  # symbol 1 perfectly, symbol 2 inversely
    })
    assert metrics.time_series_ic(frame, "pred", min_obs=3) == pytest.approx(0.0)  # mean of +1 and -1
    by_day = pd.DataFrame({"session_date": ["a"] * 3 + ["b"] * 3, "pred": [1, 2, 3, 1, 2, 3],
                           "realized": [1, 2, 3, 3, 1, 2]})
    ic, icir, days = metrics.rank_ic_by_day(by_day, "pred")
    # day a: +1; day b: ranks (3,1,2) vs (1,2,3) -> -0.5; mean 0.25, std 1.0607, ICIR 0.2357
    assert (ic, days) == (pytest.approx(0.25), 2) and icir == pytest.approx(0.25 / np.std([1, -0.5], ddof=1))
    assert metrics.spearman(np.array([1, 2, 3, 4]), np.array([1, 3, 2, 4])) == pytest.approx(0.8)


def test_baselines_on_a_constructed_history() -> None:
    frame = pd.DataFrame({
        "symbol_id": [1, 1, 1, 1], "session_date": ["a", "b", "c", "d"],
        "realized": [0.02, -0.01, 0.03, 0.01], "past_return": [0.01, 0.02, -0.01, 0.03],
        "up_frequency": [0.6, 0.6, 0.4, 0.6], "sigma_60": [0.01] * 4,
    })
    out = metrics.score_baselines(frame, 1)
    assert out["always_up"]["hit_rate"] == 0.75
    assert out["persistence"]["hit_rate"] == 0.5  # (+,+) (+,-) (-,+) (+,+)
    assert out["up_frequency"]["hit_rate"] == 0.5  # up, up, down, up vs + - + +
    assert out["zero"]["mae"] == pytest.approx(0.0175)
    assert out["zero"]["coverage"] == 0.5  # |r| <= 1.2816 * 0.01: -0.01 and 0.01
    assert math.isnan(out["zero"]["hit_rate"]) and math.isnan(out["always_up"]["mae"])


def test_split_normal_reproduces_the_quantiles_and_labels_follow_the_band() -> None:
    q10, q50, q90 = np.array([-0.03, -0.02]), np.array([0.01, -0.005]), np.array([0.02, 0.03])
    np.testing.assert_allclose(split_normal_cdf(q10, q10, q50, q90), 0.1, atol=1e-12)
    np.testing.assert_allclose(split_normal_cdf(q50, q10, q50, q90), 0.5, atol=1e-12)
    np.testing.assert_allclose(split_normal_cdf(q90, q10, q50, q90), 0.9, atol=1e-12)
    band = neutral_band(np.array([0.02, 0.02]), 4)  # 0.1 * 0.02 * 2 = 0.004
    labels, confidence, prob_up = label_and_confidence(q10, q50, q90, band)
    assert list(labels) == ["bullish", "bearish"]
    # bullish: P(r > 0) with the left scale 0.04 / z: 1 - Phi(-0.01 / (0.04 / z))
    from scipy.stats import norm
    assert confidence[0] == pytest.approx(1 - norm.cdf(-0.01 / (0.04 / Z90)))
    assert confidence[1] == pytest.approx(norm.cdf(0.005 / (0.035 / Z90)))  # P(r < 0), right side
    assert prob_up[1] == pytest.approx(1 - confidence[1])
    neutral, conf_n, _ = label_and_confidence(np.array([-0.01]), np.array([0.001]), np.array([0.012]),
                                              np.array([0.004]))
    expected = split_normal_cdf(0.004, -0.01, 0.001, 0.012) - split_normal_cdf(-0.004, -0.01, 0.001, 0.012)
    assert neutral[0] == "neutral" and conf_n[0] == pytest.approx(float(expected))


def test_ensemble_weights_equal_without_stored_ones_and_renormalised_when_a_model_is_missing() -> None:
    assert resolve_weights(["lightgbm", "prophet"], None, None) == ({"lightgbm": 0.5, "prophet": 0.5},
                                                                    "equal_no_weights")
    assert resolve_weights(["prophet"], {"lightgbm": 0.7, "prophet": 0.3}, "model_weights_market") == \
        ({"prophet": 1.0}, "renormalized")
    weights, source = resolve_weights(["lightgbm", "prophet"], {"lightgbm": 0.7, "prophet": 0.3},
                                      "model_weights_symbol")
    assert source == "model_weights_symbol" and weights == pytest.approx({"lightgbm": 0.7, "prophet": 0.3})
    q = combine({"lightgbm": np.array([-0.02, 0.0, 0.02]), "prophet": np.array([-0.04, 0.01, 0.03])}, weights)
    np.testing.assert_allclose(q, [-0.026, 0.003, 0.023])
    assert ensemble_version({"lightgbm": "a", "prophet": "b"}, weights) != ensemble_version({"lightgbm": "a"},
                                                                                           {"lightgbm": 1.0})


def test_sessions_count_the_market_calendar() -> None:
    nyse = session_index("us_equity", dt.date(2024, 6, 28), dt.date(2024, 7, 15))
    assert nyse.shift(dt.date(2024, 7, 3), 1) == dt.date(2024, 7, 5)  # Independence Day is not a session
    assert nyse.shift(dt.date(2024, 7, 5), -3) == dt.date(2024, 7, 1)
    assert nyse.position(dt.date(2024, 7, 6)) == nyse.position(dt.date(2024, 7, 5))  # Saturday -> Friday
    crypto = session_index("crypto", dt.date(2024, 6, 28), dt.date(2024, 7, 15))
    assert crypto.shift(dt.date(2024, 7, 3), 3) == dt.date(2024, 7, 6)
    # the purged window: last sample = T - h sessions
    assert training_window(nyse, dt.date(2024, 7, 12), 5, 3) == (2, 4)
    assert nyse.dates[4] == dt.date(2024, 7, 5) and nyse.shift(nyse.dates[4], 5) == dt.date(2024, 7, 12)


def test_volatility_and_labels_are_functions_of_their_own_window() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(0, 0.01, 200)
    groups = np.repeat([1, 2], 100)
    full = trailing_std(values, groups, 60, 20)
    assert np.isnan(full[:19]).all() and np.isnan(full[100:119]).all()
    assert full[150] == pytest.approx(np.std(values[100:151], ddof=1), rel=1e-12)
    assert full[99] == pytest.approx(np.std(values[40:100], ddof=1), rel=1e-12)
    # computed on a shorter history, the last values are bit-identical
    assert np.array_equal(trailing_std(values[30:100], groups[30:100], 60, 20)[-5:], full[95:100])
    index = session_index("us_equity", dt.date(2024, 7, 1), dt.date(2024, 7, 12))
    closes = pd.DataFrame({"symbol_id": 1, "session_date": pd.to_datetime(index.dates), "raw_close": 1.0,
                           "close": np.exp(np.arange(len(index.dates)) * 0.01)})
    closes = closes.drop(index=[4]).reset_index(drop=True)  # a missing bar (2024-07-08)
    s = with_sessions(closes, index)
    fwd, past = forward_returns(s, 2), past_returns(s, 2)
    assert fwd[0] == pytest.approx(0.02) and np.isnan(fwd[2])  # 07-03 + 2 sessions = the missing 07-08
    assert past[4] == pytest.approx(0.02) and np.isnan(past[5])  # 07-10 - 2 sessions = the missing 07-08


def test_lightgbm_is_deterministic_and_its_quantiles_are_ordered() -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(600, 5))
    y = X[:, 0] * 0.5 + rng.normal(size=600)
    names = [f"f{i}" for i in range(5)]
    a = lightgbm_models.train(X, y, names, threads=1)
    b = lightgbm_models.train(X.copy(), y.copy(), names, threads=1)
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    loaded = lightgbm_models.load(a.feature_names, a.quantiles, a.texts)
    assert loaded.sha256 == a.sha256
    pred = loaded.predict(X[:50])
    np.testing.assert_array_equal(pred, a.predict(X[:50]))
    assert (np.diff(pred, axis=1) >= 0).all()
    assert a.importance(1)[0][0] == "f0"
