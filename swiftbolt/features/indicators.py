"""Per-bar technical features of one (symbol, timeframe) bar series.

`compute_features(bars)` takes bars sorted by `ts` (columns ts, open, high, low, close, volume; split-
and dividend-ADJUSTED prices) and returns one row per bar (same index, plus `ts`) with the columns of
`feature_columns()` and `warmup_complete`. Everything is causal: a row uses only its bar and earlier bars.

Sources:

* TA-Lib for every indicator it has: RSI, MACD, ADX, ATR/NATR, Bollinger bands, slow Stochastic,
  Williams %R, CCI (14, not TA-Lib's default 20), MFI, OBV and the ATR under SuperTrend.
* SuperTrend (TA-Lib has none): the standard definition (TradingView's) on top of TA-Lib's ATR; the
  band ratchet is a sequential recursion, so it is one tight Python loop over float lists.
* Qlib Alpha158-style candle shapes (KMID ... KSFT2) and rolling features (ROC, MA, STD, MAX, MIN,
  QTLU, QTLD, RSV, CORR, VMA over 5/10/20 bars) with pandas rolling windows, except STD and CORR:
  two-pass numpy sliding-window versions (`rolling_std`, `rolling_corr`), because pandas' running-sum
  updates drift with the length of history (beyond 1e-9 on long series). Unlike Qlib (min_periods=1)
  a rolling feature is NaN until its window is full.

Raw OBV is not an output: a cumulative sum depends on where the input history starts. `obv_slope_20`
= (OBV_t - OBV_{t-20}) / sum(volume over the 20 bars ending at t) is the window-independent form
(in [-1, 1]: the signed share of recent volume).

Warm-up: EMA- and Wilder-smoothed indicators remember their seed with exponentially decaying weight.
`WARMUP_BARS` is the history length after which that memory is below 1e-9 (see the derivation next
to the constant); rows with fewer prior bars than that in the input have `warmup_complete` False.
Features are NaN where their definition needs more bars than the input has (TA-Lib lookback, rolling
window); beyond that, values of rows with warmup_complete False are defined but seed-dependent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

BAR_INPUT_COLUMNS: tuple[str, ...] = ("ts", "open", "high", "low", "close", "volume")

# Treat as read-only: the feature-set hash is taken over these values, and column names derive from them.
FEATURE_PARAMS: dict[str, object] = {
    "rsi_period": 14,
    "macd_fast": 12,
    "macd_slow": 26,
    "macd_signal": 9,
    "adx_period": 14,
    "atr_period": 14,
    "bb_period": 20,
    "bb_nbdev": 2.0,
    "stoch_fastk": 14,
    "stoch_slowk": 3,
    "stoch_slowd": 3,
    "stoch_matype": 0,  # SMA smoothing of %K and %D
    "willr_period": 14,
    "cci_period": 14,
    "mfi_period": 14,
    "obv_slope_window": 20,
    "supertrend_period": 10,
    "supertrend_multiplier": 3.0,
    "return_horizons": [1, 5, 10, 20],  # log returns
    "volatility_window": 20,  # std (ddof=1) of 1-bar log returns, not annualised
    "volume_window": 20,
    "alpha158_windows": [5, 10, 20],
    "quantile_upper": 0.8,
    "quantile_lower": 0.2,
    "epsilon": 1e-12,
}

# How many prior bars make the seed of every recursive indicator negligible (< 1e-9).
#
# Per-bar decay of a seed error: EMA(n) keeps (n-1)/(n+1) of it, Wilder(n) keeps (n-1)/n.
#   MACD slow EMA 26: 25/27 -> ln = -0.0770     RSI / ATR / ADX Wilder 14: 13/14 -> ln = -0.0741
#   SuperTrend ATR 10: 9/10 -> ln = -0.1054     MACD signal EMA 9 and fast EMA 12 decay faster.
# The slowest rate is Wilder 14 (0.0741 per bar). ADX smooths twice (Wilder of a DX built from Wilder
# sums), which makes the error decay like (n/14) * (13/14)^n. A seed error can be as large as the
# indicator's range (100 for RSI/ADX; about the price for ATR/MACD, compared relatively). So:
#   (n/14) * 100 * (13/14)^n < 1e-9  <=>  n > (ln(100) + ln(1e9) + ln(n/14)) / 0.0741 ~ 390.
# 500 leaves a factor exp(-0.0741 * 110) ~ 3e-4 of margin. Measured on synthetic daily series (5
# symbols, many cut points): with 400 bars ADX still differs by up to 3.8e-10; with 500 the largest
# difference of any column is 4e-11 (float noise of TA-Lib's running window sums), and
# tests/test_features.py checks full history vs the last WARMUP_BARS + 50 bars at 1e-9.
# TA-Lib's "unstable period" (a process-global setting, left at its default 0 here) only hides the
# first outputs; it does not change later values - warmup_complete marks the seed-dependent rows.
# Window-based features (Bollinger, Stochastic, Williams %R, CCI, MFI, OBV slope, Alpha158 rolling
# columns) need only their window. SuperTrend's band ratchet is different: its state is
# path-dependent (memory back to the last band reset), not exponentially decaying, so no finite bound
# holds in theory; measured, value and direction agree within 248 bars at 1,306 cut points of 8
# synthetic symbols (the ATR-10 seed itself needs ~200 bars to fall below 1e-9).
WARMUP_BARS: int = 500

# Columns in price units (compare relatively); all other feature columns are scale-free.
PRICE_SCALED_COLUMNS: tuple[str, ...] = (
    "macd", "macd_signal", "macd_hist", f"atr_{FEATURE_PARAMS['atr_period']}",
    "bb_upper", "bb_middle", "bb_lower", "supertrend",
)


def _p(name: str) -> int:
    return int(FEATURE_PARAMS[name])  # type: ignore[call-overload]


def _windows(name: str) -> list[int]:
    return [int(w) for w in FEATURE_PARAMS[name]]  # type: ignore[attr-defined]


def feature_columns() -> list[str]:
    """The feature columns of `compute_features`, in output order (without `ts`, `warmup_complete`)."""
    cols = [
        f"rsi_{_p('rsi_period')}",
        "macd", "macd_signal", "macd_hist",
        f"adx_{_p('adx_period')}",
        f"atr_{_p('atr_period')}", f"natr_{_p('atr_period')}",
        "bb_upper", "bb_middle", "bb_lower", "bb_pctb", "bb_bandwidth",
        "stoch_k", "stoch_d",
        f"willr_{_p('willr_period')}",
        f"cci_{_p('cci_period')}",
        f"mfi_{_p('mfi_period')}",
        f"obv_slope_{_p('obv_slope_window')}",
        "supertrend", "supertrend_dir",
        *(f"ret_{h}" for h in _windows("return_horizons")),
        f"volatility_{_p('volatility_window')}",
        f"volume_ratio_{_p('volume_window')}",
        "kmid", "klen", "kmid2", "kup", "kup2", "klow", "klow2", "ksft", "ksft2",
    ]
    for d in _windows("alpha158_windows"):
        cols += [f"{k}_{d}" for k in ("roc", "ma", "std", "max", "min", "qtlu", "qtld", "rsv", "corr", "vma")]
    return cols


def supertrend(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 10, multiplier: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """SuperTrend value and direction (+1 up / -1 down, NaN before the first ATR).

    TA-Lib has no SuperTrend: this is the standard (TradingView) definition on TA-Lib's Wilder ATR.
    With hl2 = (high + low) / 2, basic bands hl2 -/+ multiplier * ATR and the previous bar's final
    bands FL', FU':
        FL = max(basic_lower, FL') if close[t-1] > FL' else basic_lower    (lower band only rises)
        FU = min(basic_upper, FU') if close[t-1] < FU' else basic_upper    (upper band only falls)
        dir flips to +1 when close > FU', to -1 when close < FL'; starts at +1 at the first ATR bar.
        value = FL when dir == +1 else FU.
    The ratchet is inherently sequential, hence the loop (over Python floats: the fastest plain loop).
    """
    h, lo, c = (np.ascontiguousarray(a, dtype=np.float64) for a in (high, low, close))
    n = len(c)
    value = np.full(n, np.nan)
    direction = np.full(n, np.nan)
    if n == 0:
        return value, direction
    atr = talib.ATR(h, lo, c, timeperiod=period)
    hl2 = (h + lo) / 2.0
    valid = np.flatnonzero(~np.isnan(atr))
    if len(valid) == 0:
        return value, direction
    s = int(valid[0])
    upper = (hl2 + multiplier * atr).tolist()
    lower = (hl2 - multiplier * atr).tolist()
    cl = c.tolist()
    fu, fl, trend = upper[s], lower[s], 1
    out_v = [fl]
    out_d = [1]
    for i in range(s + 1, n):
        pc = cl[i - 1]
        bu, bl = upper[i], lower[i]
        nfu = (bu if bu < fu else fu) if pc < fu else bu
        nfl = (bl if bl > fl else fl) if pc > fl else bl
        ci = cl[i]
        if trend == 1:
            if ci < fl:
                trend = -1
        elif ci > fu:
            trend = 1
        fu, fl = nfu, nfl
        out_v.append(fl if trend == 1 else fu)
        out_d.append(trend)
    value[s:] = out_v
    direction[s:] = out_d
    return value, direction


_WINDOW_CHUNK = 1 << 16  # rows per block of sliding windows (bounds temporary memory to ~ block * d)


def _centred_windows(x: np.ndarray, d: int):
    """Yield (first output row, windows centred on their own means, |window mean|) in blocks."""
    xw = np.lib.stride_tricks.sliding_window_view(x, d)
    for start in range(0, len(xw), _WINDOW_CHUNK):
        xs = xw[start : start + _WINDOW_CHUNK]
        mean = xs.mean(axis=1, keepdims=True)
        yield start + d - 1, xs - mean, np.abs(mean[:, 0])


def rolling_std(x: np.ndarray, d: int, ddof: int = 1) -> np.ndarray:
    """Standard deviation over the trailing d values (NaN until the window is full), two-pass per
    window. Not pandas' rolling std: its online (add/remove) update carries rounding drift from the
    whole history (measured 5e-9 relative to price after 300k bars at price 40000); here a value
    depends on its window's values only (up to last-bit rounding)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.full(len(x), np.nan)
    if len(x) < d:
        return out
    for row, xc, _ in _centred_windows(x, d):
        out[row : row + len(xc)] = np.sqrt(np.einsum("ij,ij->i", xc, xc) / (d - ddof))
    return out


def rolling_std_corr(x: np.ndarray, y: np.ndarray, d: int, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(`rolling_std(x, d, ddof)`, `rolling_corr(x, y, d)`) in one pass over the windows of x."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    std = np.full(len(x), np.nan)
    corr = np.full(len(x), np.nan)
    if len(x) < d:
        return std, corr
    for (row, xc, xmean), (_, yc, ymean) in zip(_centred_windows(x, d), _centred_windows(y, d), strict=True):
        sxx = np.einsum("ij,ij->i", xc, xc)
        syy = np.einsum("ij,ij->i", yc, yc)
        sxy = np.einsum("ij,ij->i", xc, yc)
        std[row : row + len(sxx)] = np.sqrt(sxx / (d - ddof))
        # constant = spread below the rounding noise of the values themselves
        flat = (sxx <= d * (1e-12 * xmean) ** 2) | (syy <= d * (1e-12 * ymean) ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = sxy / np.sqrt(sxx * syy)
        r[flat] = np.nan
        corr[row : row + len(r)] = np.clip(r, -1.0, 1.0)
    return std, corr


def rolling_corr(x: np.ndarray, y: np.ndarray, d: int) -> np.ndarray:
    """Pearson correlation of x and y over the trailing d values (NaN until the window is full, and
    where either side is constant within the window).

    Not pandas' rolling corr: pandas forms mean(xy) - mean(x) mean(y) from running sums, whose rounding
    drift depends on where the series starts (measured 1.4e-9 at price 40000 after a few thousand bars,
    growing with history). Here each window is centred on its own mean (two-pass), so a value depends
    on its window's values only (up to last-bit rounding), whatever came before.
    """
    return rolling_std_corr(x, y, d)[1]


def _validated(bars: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in BAR_INPUT_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"bars lack columns {missing}")
    ts = bars["ts"]
    if len(bars) > 1 and not (ts.is_monotonic_increasing and ts.is_unique):
        raise ValueError("bars must be sorted by ts with unique timestamps (one symbol and timeframe)")
    values = bars.loc[:, ["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("bars contain NaN or infinite prices/volumes (TA-Lib would propagate them)")
    if (values[:, :4] <= 0).any() or (values[:, 4] < 0).any():
        raise ValueError("bars need positive prices and non-negative volume")
    return bars


def _col(bars: pd.DataFrame, name: str) -> np.ndarray:
    return np.ascontiguousarray(bars[name].to_numpy(dtype=np.float64))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 (instead of inf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    out[~np.isfinite(out) & ~np.isnan(num) & ~np.isnan(den)] = np.nan
    return out


def compute_features(bars: pd.DataFrame) -> pd.DataFrame:
    """Features of one bar series (see the module docstring); same index and length as `bars`.

    Columns: `ts`, then `feature_columns()` (float64), then `warmup_complete` (bool: the row has at
    least WARMUP_BARS bars before it in the input, so no seed memory is left above 1e-9).
    """
    bars = _validated(bars)
    o, h, lo, c, v = (_col(bars, k) for k in ("open", "high", "low", "close", "volume"))
    n = len(c)
    out: dict[str, np.ndarray] = {}
    if n == 0:
        frame = pd.DataFrame({k: pd.Series(dtype="float64") for k in feature_columns()}, index=bars.index)
        frame.insert(0, "ts", bars["ts"])
        frame["warmup_complete"] = pd.Series(dtype=bool, index=bars.index)
        return frame
    eps = float(FEATURE_PARAMS["epsilon"])  # type: ignore[arg-type]

    # --- TA-Lib indicators
    out[f"rsi_{_p('rsi_period')}"] = talib.RSI(c, timeperiod=_p("rsi_period"))
    out["macd"], out["macd_signal"], out["macd_hist"] = talib.MACD(
        c, fastperiod=_p("macd_fast"), slowperiod=_p("macd_slow"), signalperiod=_p("macd_signal")
    )
    out[f"adx_{_p('adx_period')}"] = talib.ADX(h, lo, c, timeperiod=_p("adx_period"))
    out[f"atr_{_p('atr_period')}"] = talib.ATR(h, lo, c, timeperiod=_p("atr_period"))
    out[f"natr_{_p('atr_period')}"] = talib.NATR(h, lo, c, timeperiod=_p("atr_period"))
    nbdev = float(FEATURE_PARAMS["bb_nbdev"])  # type: ignore[arg-type]
    upper, middle, lower = talib.BBANDS(c, timeperiod=_p("bb_period"), nbdevup=nbdev, nbdevdn=nbdev, matype=0)
    out["bb_upper"], out["bb_middle"], out["bb_lower"] = upper, middle, lower
    out["bb_pctb"] = _ratio(c - lower, upper - lower)
    out["bb_bandwidth"] = _ratio(upper - lower, middle)
    out["stoch_k"], out["stoch_d"] = talib.STOCH(
        h, lo, c,
        fastk_period=_p("stoch_fastk"),
        slowk_period=_p("stoch_slowk"), slowk_matype=_p("stoch_matype"),
        slowd_period=_p("stoch_slowd"), slowd_matype=_p("stoch_matype"),
    )
    out[f"willr_{_p('willr_period')}"] = talib.WILLR(h, lo, c, timeperiod=_p("willr_period"))
    out[f"cci_{_p('cci_period')}"] = talib.CCI(h, lo, c, timeperiod=_p("cci_period"))
    out[f"mfi_{_p('mfi_period')}"] = talib.MFI(h, lo, c, v, timeperiod=_p("mfi_period"))
    w = _p("obv_slope_window")
    obv = talib.OBV(c, v)
    obv_delta = np.full(n, np.nan)
    obv_delta[w:] = obv[w:] - obv[:-w]  # sum of signed volume of bars t-w+1..t: start-independent
    vol = pd.Series(v)
    out[f"obv_slope_{w}"] = _ratio(obv_delta, vol.rolling(w, min_periods=w).sum().to_numpy())
    out["supertrend"], out["supertrend_dir"] = supertrend(
        h, lo, c, _p("supertrend_period"), float(FEATURE_PARAMS["supertrend_multiplier"])  # type: ignore[arg-type]
    )

    # --- returns, volatility, volume
    log_c = np.log(c)
    for k in _windows("return_horizons"):
        r = np.full(n, np.nan)
        r[k:] = log_c[k:] - log_c[:-k]
        out[f"ret_{k}"] = r
    r1 = pd.Series(np.concatenate([[np.nan], np.diff(log_c)]))
    vw = _p("volatility_window")
    out[f"volatility_{vw}"] = r1.rolling(vw, min_periods=vw).std(ddof=1).to_numpy()
    mw = _p("volume_window")
    out[f"volume_ratio_{mw}"] = _ratio(v, vol.rolling(mw, min_periods=mw).mean().to_numpy())

    # --- Alpha158 candle shapes
    rng = h - lo + eps
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    out["kmid"] = (c - o) / o
    out["klen"] = (h - lo) / o
    out["kmid2"] = (c - o) / rng
    out["kup"] = (h - top) / o
    out["kup2"] = (h - top) / rng
    out["klow"] = (bottom - lo) / o
    out["klow2"] = (bottom - lo) / rng
    out["ksft"] = (2 * c - h - lo) / o
    out["ksft2"] = (2 * c - h - lo) / rng

    # --- Alpha158 rolling features
    close_s, high_s, low_s = pd.Series(c), pd.Series(h), pd.Series(lo)
    log_v = np.log(v + 1.0)
    q_hi = float(FEATURE_PARAMS["quantile_upper"])  # type: ignore[arg-type]
    q_lo = float(FEATURE_PARAMS["quantile_lower"])  # type: ignore[arg-type]
    for d in _windows("alpha158_windows"):
        roc = np.full(n, np.nan)
        roc[d:] = c[:-d] / c[d:]
        hi_d = high_s.rolling(d, min_periods=d).max().to_numpy()
        lo_d = low_s.rolling(d, min_periods=d).min().to_numpy()
        roll_c = close_s.rolling(d, min_periods=d)
        out[f"roc_{d}"] = roc
        out[f"ma_{d}"] = roll_c.mean().to_numpy() / c
        std_d, out[f"corr_{d}"] = rolling_std_corr(c, log_v, d)
        out[f"std_{d}"] = std_d / c
        out[f"max_{d}"] = hi_d / c
        out[f"min_{d}"] = lo_d / c
        out[f"qtlu_{d}"] = roll_c.quantile(q_hi, interpolation="linear").to_numpy() / c
        out[f"qtld_{d}"] = roll_c.quantile(q_lo, interpolation="linear").to_numpy() / c
        out[f"rsv_{d}"] = (c - lo_d) / (hi_d - lo_d + eps)
        out[f"vma_{d}"] = vol.rolling(d, min_periods=d).mean().to_numpy() / (v + eps)

    frame = pd.DataFrame({k: out[k] for k in feature_columns()}, index=bars.index)
    frame.insert(0, "ts", bars["ts"])
    frame["warmup_complete"] = np.arange(n) >= WARMUP_BARS
    return frame


def seed_free_rows(features: pd.DataFrame) -> pd.DataFrame:
    """The rows of `compute_features` output whose values no longer depend on the input's start."""
    return features.loc[features["warmup_complete"].to_numpy(dtype=bool)]


def required_history(n_rows: int) -> int:
    """Bars to load to compute `n_rows` seed-free rows: the rows plus WARMUP_BARS before them."""
    return int(n_rows) + WARMUP_BARS


__all__ = [
    "BAR_INPUT_COLUMNS",
    "FEATURE_PARAMS",
    "PRICE_SCALED_COLUMNS",
    "WARMUP_BARS",
    "compute_features",
    "feature_columns",
    "required_history",
    "rolling_corr",
    "rolling_std",
    "rolling_std_corr",
    "seed_free_rows",
    "supertrend",
]
