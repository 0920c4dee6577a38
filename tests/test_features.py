"""Technical features: shape, warm-up (window independence), no look-ahead, hand-checked values."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest

from swiftbolt.features.indicators import (
    FEATURE_PARAMS,
    PRICE_SCALED_COLUMNS,
    WARMUP_BARS,
    compute_features,
    feature_columns,
    required_history,
    rolling_corr,
    rolling_std,
    seed_free_rows,
)
from swiftbolt.market_data.types import Timeframe
from swiftbolt.providers.synthetic import SyntheticProvider

N_BARS = 2000
TAIL = 50


def _bars(symbol: str, n: int = N_BARS) -> pd.DataFrame:
    # No corporate action of the synthetic market falls before 2024, so raw bars are adjusted bars here.
    raw = SyntheticProvider().bars([symbol], Timeframe.D1, dt.datetime(2012, 1, 1), dt.datetime(2024, 1, 1))
    assert len(raw) >= n
    return raw.iloc[-n:][["ts", "open", "high", "low", "close", "volume"]].reset_index(drop=True)


@pytest.fixture(scope="module")
def aapl() -> pd.DataFrame:
    return _bars("AAPL")


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return _bars("BTC/USD")  # prices ~ 40000: the hardest case for float drift


@pytest.fixture(scope="module")
def aapl_features(aapl: pd.DataFrame) -> pd.DataFrame:
    return compute_features(aapl)


def _max_errors(full: pd.DataFrame, part: pd.DataFrame, close: np.ndarray) -> dict[str, float]:
    """Per feature column: max |difference| over the rows of `part` (aligned on index), relative to
    the close for price-scaled columns. NaN patterns must agree."""
    errors = {}
    ref = full.loc[part.index]
    for col in feature_columns():
        a, b = ref[col].to_numpy(), part[col].to_numpy()
        assert np.array_equal(np.isnan(a), np.isnan(b)), col
        diff = np.abs(a - b)
        if col in PRICE_SCALED_COLUMNS:
            diff = diff / close
        errors[col] = float(np.nanmax(diff)) if np.isfinite(diff).any() else 0.0
    return errors


# ---------------------------------------------------------------------------------------------
# Shape and contract


def test_columns_index_and_dtypes(aapl: pd.DataFrame) -> None:
    bars = aapl.iloc[:700].copy()
    bars.index = pd.RangeIndex(1000, 1700)  # an arbitrary index is kept
    out = compute_features(bars)
    assert list(out.columns) == ["ts", *feature_columns(), "warmup_complete"]
    assert out.index.equals(bars.index)
    assert out["ts"].equals(bars["ts"])
    assert all(out[c].dtype == np.float64 for c in feature_columns())
    assert out["warmup_complete"].dtype == bool
    assert len(set(feature_columns())) == len(feature_columns())
    assert "obv" not in out.columns  # raw cumulative OBV depends on the start of history
    # everything is defined once the longest lookback (ADX: 2 * 14 - 1, MACD: 26 + 9 - 2) has passed
    assert not out[feature_columns()].iloc[40:].isna().any().any()


def test_warmup_complete_marks_the_first_bars(aapl_features: pd.DataFrame) -> None:
    flag = aapl_features["warmup_complete"].to_numpy()
    assert not flag[:WARMUP_BARS].any()
    assert flag[WARMUP_BARS:].all()
    assert not compute_features(_short(100))["warmup_complete"].any()
    assert len(seed_free_rows(aapl_features)) == N_BARS - WARMUP_BARS
    assert required_history(50) == WARMUP_BARS + 50


def _short(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC"),
            "open": close * 1.001, "high": close * 1.01, "low": close * 0.99, "close": close,
            "volume": rng.integers(1000, 5000, n).astype(float),
        }
    )


def test_short_and_empty_inputs() -> None:
    out = compute_features(_short(10))
    assert len(out) == 10
    assert out["rsi_14"].isna().all()  # not enough bars: NaN, never a made-up value
    assert out["kmid"].notna().all()
    empty = compute_features(_short(0))
    assert list(empty.columns) == ["ts", *feature_columns(), "warmup_complete"]
    assert len(empty) == 0


def test_invalid_inputs_are_rejected() -> None:
    bars = _short(50)
    with pytest.raises(ValueError, match="sorted"):
        compute_features(bars.iloc[::-1])
    with pytest.raises(ValueError, match="sorted"):
        compute_features(pd.concat([bars, bars.iloc[[-1]]]))
    bad = bars.copy()
    bad.loc[20, "close"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        compute_features(bad)
    with pytest.raises(ValueError, match="lack"):
        compute_features(bars.drop(columns="volume"))


# ---------------------------------------------------------------------------------------------
# Warm-up: the last rows computed from WARMUP_BARS of history equal the full-history values


@pytest.mark.parametrize("fixture", ["aapl", "btc"])
def test_warmup_bars_reproduce_full_history(fixture: str, request: pytest.FixtureRequest) -> None:
    bars: pd.DataFrame = request.getfixturevalue(fixture)
    full = compute_features(bars)
    # the required check (the last 50 bars) plus earlier cut points, where the series is in other states
    for end in (N_BARS, 1500, 1100, WARMUP_BARS + TAIL + 20):
        part = compute_features(bars.iloc[end - WARMUP_BARS - TAIL : end]).iloc[-TAIL:]
        assert part["warmup_complete"].all()
        errors = _max_errors(full, part, bars["close"].to_numpy()[end - TAIL : end])
        worst = max(errors, key=errors.__getitem__)
        assert errors[worst] <= 1e-9, (end, worst, errors[worst])
        assert np.array_equal(part["supertrend_dir"], full["supertrend_dir"].iloc[end - TAIL : end])


def test_shorter_warmup_is_not_enough(aapl: pd.DataFrame, aapl_features: pd.DataFrame) -> None:
    """The warm-up test is sensitive: with 150 bars of history the Wilder/EMA seeds still show."""
    part = compute_features(aapl.iloc[N_BARS - 150 - TAIL :]).iloc[-TAIL:]
    errors = _max_errors(aapl_features, part, aapl["close"].to_numpy()[-TAIL:])
    assert errors["adx_14"] > 1e-6 and errors["rsi_14"] > 1e-9 and errors["macd"] > 1e-9
    assert errors["kmid"] == 0.0 and errors["roc_20"] == 0.0  # window features need no warm-up


# ---------------------------------------------------------------------------------------------
# No look-ahead


@pytest.mark.parametrize("k", [30, 777, 1500])
def test_no_lookahead(aapl: pd.DataFrame, aapl_features: pd.DataFrame, k: int) -> None:
    changed = aapl.copy()
    after = changed.index > k
    for col in ("open", "high", "low", "close"):
        changed.loc[after, col] *= 1.5
    changed.loc[after, "volume"] = changed.loc[after, "volume"] * 3 + 7
    out = compute_features(changed)
    cols = [*feature_columns(), "warmup_complete"]
    before = aapl_features.loc[:k, cols]
    assert before.equals(out.loc[:k, cols])  # exact, NaNs in the same places
    # and the change is visible from k + 1 on (the comparison above is not vacuous)
    assert out.loc[k + 1, "ret_1"] != aapl_features.loc[k + 1, "ret_1"]
    assert out.loc[k + 1 :, "volume_ratio_20"].ne(aapl_features.loc[k + 1 :, "volume_ratio_20"]).any()


# ---------------------------------------------------------------------------------------------
# Hand-checked values

# Wilder's RSI example as published by StockCharts (ChartSchool "RSI", cs-rsi.xls): 33 closes and
# the RSI(14) values from the 15th close on, rounded to 2 decimals.
WILDER_CLOSES = [
    44.3389, 44.0902, 44.1497, 43.6124, 44.3278, 44.8264, 45.0955, 45.4245, 45.8433, 46.0826, 45.8931,
    46.0328, 45.6140, 46.2820, 46.2820, 46.0028, 46.0328, 46.4116, 46.2222, 45.6439, 46.2122, 46.2521,
    45.7137, 46.4515, 45.7835, 45.3548, 44.0288, 44.1783, 44.2181, 44.5672, 43.4205, 42.6628, 43.1314,
]
PUBLISHED_RSI = [
    70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99, 41.46,
    41.87, 45.46, 37.30, 33.08, 37.77,
]


def _hand_rsi(closes: list[float], n: int = 14) -> list[float]:
    """Wilder's RSI written out: first averages are plain means of the first n changes, then
    avg = (avg * (n - 1) + current) / n."""
    changes = [b - a for a, b in itertools.pairwise(closes)]
    gains = [max(x, 0.0) for x in changes]
    losses = [max(-x, 0.0) for x in changes]
    avg_gain, avg_loss = sum(gains[:n]) / n, sum(losses[:n]) / n
    out = [100 - 100 / (1 + avg_gain / avg_loss)]
    for g, lo in zip(gains[n:], losses[n:], strict=True):
        avg_gain = (avg_gain * (n - 1) + g) / n
        avg_loss = (avg_loss * (n - 1) + lo) / n
        out.append(100 - 100 / (1 + avg_gain / avg_loss))
    return out


def _flat_bars(closes: list[float]) -> pd.DataFrame:
    c = np.asarray(closes, dtype=float)
    return pd.DataFrame(
        {
            "ts": pd.date_range("2010-01-04", periods=len(c), freq="B", tz="UTC"),
            "open": c, "high": c * 1.002, "low": c * 0.998, "close": c, "volume": np.full(len(c), 1000.0),
        }
    )


def test_rsi_matches_wilder_textbook_example() -> None:
    rsi = compute_features(_flat_bars(WILDER_CLOSES))["rsi_14"].to_numpy()
    assert np.isnan(rsi[:14]).all()
    hand = _hand_rsi(WILDER_CLOSES)
    np.testing.assert_allclose(rsi[14:], hand, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.round(rsi[14:], 2), PUBLISHED_RSI, rtol=0, atol=1e-9)


def test_candle_shapes_on_a_three_bar_series() -> None:
    bars = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-02", periods=3, freq="D", tz="UTC"),
            "open": [100.0, 110.0, 50.0],
            "high": [110.0, 112.0, 50.0],
            "low": [95.0, 100.0, 50.0],
            "close": [105.0, 101.0, 50.0],  # up bar, down bar, a flat (doji) bar
            "volume": [1.0, 2.0, 3.0],
        }
    )
    out = compute_features(bars)
    eps = 1e-12
    expected = {
        #        bar 0 (O100 H110 L95 C105)   bar 1 (O110 H112 L100 C101)     bar 2 (all 50)
        "kmid": [5 / 100, -9 / 110, 0.0],
        "klen": [15 / 100, 12 / 110, 0.0],
        "kmid2": [5 / (15 + eps), -9 / (12 + eps), 0.0],
        "kup": [5 / 100, 2 / 110, 0.0],
        "kup2": [5 / (15 + eps), 2 / (12 + eps), 0.0],
        "klow": [5 / 100, 1 / 110, 0.0],
        "klow2": [5 / (15 + eps), 1 / (12 + eps), 0.0],
        "ksft": [(210 - 110 - 95) / 100, (202 - 112 - 100) / 110, 0.0],
        "ksft2": [5 / (15 + eps), -10 / (12 + eps), 0.0],
    }
    for col, values in expected.items():
        np.testing.assert_allclose(out[col].to_numpy(), values, rtol=1e-12, atol=1e-15, err_msg=col)
    np.testing.assert_allclose(out["ret_1"].to_numpy()[1:], np.log([101 / 105, 50 / 101]), rtol=1e-12)
    assert out["ret_5"].isna().all()


def test_rolling_alpha158_features_against_direct_formulas(aapl: pd.DataFrame, aapl_features: pd.DataFrame) -> None:
    c, h, lo, v = (aapl[k].to_numpy() for k in ("close", "high", "low", "volume"))
    row = aapl_features
    for t in (25, 999, N_BARS - 1):
        for d in FEATURE_PARAMS["alpha158_windows"]:
            win = slice(t - d + 1, t + 1)
            expect = {
                "roc": c[t - d] / c[t],
                "ma": c[win].mean() / c[t],
                "std": c[win].std(ddof=1) / c[t],
                "max": h[win].max() / c[t],
                "min": lo[win].min() / c[t],
                "qtlu": np.quantile(c[win], 0.8) / c[t],
                "qtld": np.quantile(c[win], 0.2) / c[t],
                "rsv": (c[t] - lo[win].min()) / (h[win].max() - lo[win].min() + 1e-12),
                "corr": np.corrcoef(c[win], np.log(v[win] + 1))[0, 1],
                "vma": v[win].mean() / (v[t] + 1e-12),
            }
            for key, value in expect.items():
                assert row.at[t, f"{key}_{d}"] == pytest.approx(value, rel=1e-10, abs=1e-12), (t, key, d)
        assert row.at[t, "ret_20"] == pytest.approx(np.log(c[t] / c[t - 20]), rel=1e-12)
        r1 = np.diff(np.log(c[t - 20 : t + 1]))
        assert row.at[t, "volatility_20"] == pytest.approx(r1.std(ddof=1), rel=1e-10)
        assert row.at[t, "volume_ratio_20"] == pytest.approx(v[t] / v[t - 19 : t + 1].mean(), rel=1e-12)
        signed = np.sign(np.diff(c[t - 20 : t + 1])) * v[t - 19 : t + 1]
        assert row.at[t, "obv_slope_20"] == pytest.approx(signed.sum() / v[t - 19 : t + 1].sum(), rel=1e-12)
        assert row.at[t, "natr_14"] == pytest.approx(row.at[t, "atr_14"] / c[t] * 100, rel=1e-12)
        band = row.at[t, "bb_upper"] - row.at[t, "bb_lower"]
        assert row.at[t, "bb_pctb"] == pytest.approx((c[t] - row.at[t, "bb_lower"]) / band, rel=1e-12)
        assert row.at[t, "bb_bandwidth"] == pytest.approx(band / row.at[t, "bb_middle"], rel=1e-12)
        assert row.at[t, "bb_middle"] == pytest.approx(c[t - 19 : t + 1].mean(), rel=1e-12)
        assert band == pytest.approx(4 * c[t - 19 : t + 1].std(ddof=0), rel=1e-8)  # TA-Lib: population std


def test_rolling_std_and_corr_edge_cases() -> None:
    x = np.array([1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 7.0])
    y = np.array([2.0, 4.0, 8.0, 1.0, 1.0, 1.0, 5.0])
    std = rolling_std(x, 3)
    assert np.isnan(std[:2]).all()
    assert std[2] == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert std[4] == 0.0  # a constant window
    corr = rolling_corr(x, y, 3)
    assert corr[2] == pytest.approx(1.0)
    assert np.isnan(corr[5])  # both sides constant: undefined, not garbage
    assert np.isnan(corr[4])  # x constant
    assert np.isnan(rolling_corr(x[:2], y[:2], 3)).all()
