"""Option chains: the Black-Scholes toolkit (options_math), the synthetic chain (its surface, quotes
and calendar) and the Alpaca chain through the local fake (pagination, retries, OCC symbols)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from alpaca.data.requests import OptionChainRequest

from swiftbolt.calendars import sessions as calendar_sessions
from swiftbolt.errors import ConfigError
from swiftbolt.market_data.types import (
    OPTION_CHAIN_COLUMNS,
    MarketDataProvider,
    ProviderError,
    option_chain_frame,
)
from swiftbolt.options.pricing import (
    as_is_call,
    bs_greeks,
    bs_price,
    implied_vol,
    norm_cdf,
)
from swiftbolt.providers.alpaca import (
    AlpacaProvider,
    option_chain_snapshots_frame,
    parse_occ_symbol,
)
from swiftbolt.providers.synthetic import OPTION_RATE, SyntheticProvider
from swiftbolt.symbols import InvalidSymbol
from tests.fake_alpaca import FakeAlpaca, FakeClock, option_snapshot, provider_for, snapshot

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# --------------------------------------------------------------------------------------------- #
# options_math
# --------------------------------------------------------------------------------------------- #


def _grid(n: int = 4000, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "spot": rng.uniform(5.0, 800.0, n),
        "moneyness": np.exp(rng.uniform(-0.5, 0.5, n)),
        "t": np.exp(rng.uniform(math.log(1 / 365), math.log(3.0), n)),
        "vol": rng.uniform(0.05, 1.5, n),
        "rate": rng.uniform(-0.01, 0.08, n),
        "q": rng.uniform(0.0, 0.05, n),
        "is_call": rng.random(n) < 0.5,
    }


def test_norm_cdf_matches_known_values_and_keeps_tail_accuracy() -> None:
    x = np.array([0.0, 1.0, -1.0, 1.959963984540054, -3.0, -8.0, -20.0, -38.5, 40.0, np.nan])
    got = norm_cdf(x)
    known = [
        0.5, 0.8413447460685429, 0.15865525393145705, 0.975, 1.3498980316300946e-03,
        6.22096057427178e-16, 2.7536241186062337e-89,
    ]
    np.testing.assert_allclose(got[:7], known, rtol=1e-13)
    assert 0.0 <= got[7] < 1e-300 and got[8] == 1.0 and np.isnan(got[9])
    z = np.linspace(-10, 10, 20001)
    np.testing.assert_allclose(norm_cdf(z) + norm_cdf(-z), 1.0, rtol=0, atol=2e-16)
    assert (np.diff(norm_cdf(z)) >= 0).all()
    assert norm_cdf(0.3).shape == () and norm_cdf([[0.1, 0.2]]).shape == (1, 2)


def test_put_call_parity() -> None:
    g = _grid()
    strike = g["spot"] * g["moneyness"]
    args = (g["spot"], strike, g["t"], g["vol"], g["rate"], g["q"])
    call, put = bs_price(*args, is_call=True), bs_price(*args, is_call=False)
    parity = g["spot"] * np.exp(-g["q"] * g["t"]) - strike * np.exp(-g["rate"] * g["t"])
    np.testing.assert_allclose(call - put, parity, rtol=0, atol=1e-10 * g["spot"].max())
    assert (call >= 0).all() and (put >= 0).all()
    assert (call <= g["spot"]).all() and (put <= strike).all()


def test_greeks_match_finite_differences() -> None:
    g = _grid(2000)
    s, k, t, v, r, q, c = (
        g["spot"], g["spot"] * g["moneyness"], g["t"], g["vol"], g["rate"], g["q"], g["is_call"]
    )
    greeks = bs_greeks(s, k, t, v, r, q, c)

    def price(ds=0.0, dt_=0.0, dv=0.0):
        return bs_price(s + ds, k, t + dt_, v + dv, r, q, c)

    # Steps scaled to each option's own width (spot x vol x sqrt(t)) and life.
    hs = 1e-3 * s * v * np.sqrt(t)
    delta = (price(hs) - price(-hs)) / (2 * hs)
    gamma = (price(hs) - 2 * price() + price(-hs)) / hs**2
    vega = (price(dv=1e-5) - price(dv=-1e-5)) / 2e-5 / 100
    ht = 1e-4 * t
    theta = -(price(dt_=ht) - price(dt_=-ht)) / (2 * ht) / 365
    tiny = 1e-9 * s  # prices are O(spot)
    np.testing.assert_allclose(greeks.delta, delta, rtol=0, atol=1e-6)
    np.testing.assert_allclose(greeks.gamma * hs, gamma * hs, rtol=1e-4, atol=1e-7)
    assert (np.abs(greeks.vega - vega) <= 1e-5 * np.abs(vega) + tiny).all()
    assert (np.abs(greeks.theta - theta) <= 1e-4 * np.abs(theta) + tiny).all()
    assert (greeks.delta[c] >= 0).all() and (greeks.delta[~c] <= 0).all()
    assert (np.abs(greeks.delta) <= 1).all() and (greeks.gamma >= 0).all() and (greeks.vega >= 0).all()


def test_expired_and_zero_vol_options_are_worth_their_intrinsic_value() -> None:
    price = bs_price([100, 100, 100, 100], [90, 110, 90, 110], 0.0, 0.3, 0.05, 0.0, [True, True, False, False])
    np.testing.assert_allclose(price, [10, 0, 0, 10])
    g = bs_greeks([100, 100], [90, 110], 0.0, 0.3, 0.05, 0.0, ["call", "put"])
    np.testing.assert_allclose(g.delta, [1, -1])
    assert (g.gamma == 0).all() and (g.vega == 0).all() and (g.theta == 0).all()
    fwd = bs_price(100, 90, 1.0, 0.0, 0.05, 0.0, True)
    assert fwd == pytest.approx(100 - 90 * math.exp(-0.05))


def test_implied_vol_round_trip() -> None:
    g = _grid(20000, seed=11)
    s, k, t, v, r, q, c = (
        g["spot"], g["spot"] * g["moneyness"], g["t"], g["vol"], g["rate"], g["q"], g["is_call"]
    )
    price = bs_price(s, k, t, v, r, q, c)
    iv = implied_vol(price, s, k, t, r, q, c)
    meaningful = price > 1e-4
    assert np.isfinite(iv[meaningful]).all()
    back = bs_price(s, k, t, iv, r, q, c)
    assert np.abs(back - price)[meaningful].max() <= 1e-6
    # Where the price is sensitive to vol, the vol itself comes back.
    vega = bs_greeks(s, k, t, v, r, q, c).vega * 100
    sensitive = vega > 0.1  # so a price error of 1e-6 is a vol error of at most 1e-5
    assert sensitive.mean() > 0.5
    assert np.abs(iv - v)[sensitive].max() < 1e-5
    tight = implied_vol(price, s, k, t, r, q, c, tol=1e-11)
    assert np.abs(tight - v)[sensitive].max() < 1e-8


def test_implied_vol_is_nan_outside_the_no_arbitrage_bounds() -> None:
    # call below intrinsic, call above spot, put above strike, expired, negative, nan
    iv = implied_vol(
        [9.0, 101.0, 111.0, 5.0, -1.0, np.nan],
        100.0, [90.0, 90.0, 110.0, 100.0, 100.0, 100.0],
        [0.5, 0.5, 0.5, 0.0, 0.5, 0.5], 0.0, 0.0,
        ["call", "call", "put", "call", "put", "put"],
    )
    assert np.isnan(iv).all()
    assert implied_vol(bs_price(100, 100, 0.25, 0.4), 100, 100, 0.25) == pytest.approx(0.4, abs=1e-6)
    with pytest.raises(ValueError):
        as_is_call(["call", "straddle"])


# --------------------------------------------------------------------------------------------- #
# The synthetic chain
# --------------------------------------------------------------------------------------------- #

AS_OF = utc(2025, 6, 11, 17, 7, 30)  # Wednesday 13:07:30 New York
FRIDAY_AFTER_CLOSE = utc(2025, 6, 13, 21, 0)


@pytest.fixture(scope="module")
def spy_chain() -> pd.DataFrame:
    return SyntheticProvider().option_chain("SPY", AS_OF)


def _years(chain: pd.DataFrame) -> np.ndarray:
    """Time to expiry of each row: expiry at its session's close (independently of the provider)."""
    cal = calendar_sessions.sessions("us_equity", min(chain["expiration"]), max(chain["expiration"]))
    close = chain["expiration"].map(dict(zip(cal["date"], cal["close_utc"], strict=True)))
    return ((pd.to_datetime(close, utc=True) - chain["ts"]).dt.total_seconds() / (365 * 86400)).to_numpy()


def _with_model(chain: pd.DataFrame) -> pd.DataFrame:
    out = chain.copy()
    out["t"] = _years(chain)
    out["mid"] = (out["bid"] + out["ask"]) / 2
    out["model"] = bs_price(
        out["underlying_price"], out["strike"], out["t"], out["implied_volatility"], OPTION_RATE, 0.0,
        out["option_type"] == "call",
    )
    return out


def test_synthetic_chain_frame_contract(spy_chain: pd.DataFrame) -> None:
    chain = spy_chain
    assert isinstance(SyntheticProvider(), MarketDataProvider)
    assert tuple(chain.columns) == OPTION_CHAIN_COLUMNS
    assert str(chain["ts"].dtype) == "datetime64[ns, UTC]"
    for col in (*OPTION_CHAIN_COLUMNS[6:], "strike"):
        assert chain[col].dtype == np.float64, col
    assert all(type(d) is dt.date for d in chain["expiration"])
    assert set(chain["option_type"]) == {"call", "put"}
    assert set(chain["underlying"]) == {"SPY"}
    assert not chain[list(OPTION_CHAIN_COLUMNS)].isna().any().any()
    assert chain["contract"].is_unique
    order = ["expiration", "option_type", "strike"]
    assert chain.equals(chain.sort_values(order).reset_index(drop=True))


def test_synthetic_chain_is_deterministic() -> None:
    a = SyntheticProvider(seed=7).option_chain("AAPL", AS_OF)
    b = SyntheticProvider(seed=7, as_of=AS_OF).option_chain("AAPL")
    pd.testing.assert_frame_equal(a, b)
    c = SyntheticProvider(seed=8).option_chain("AAPL", AS_OF)
    assert not np.allclose(a["underlying_price"], c["underlying_price"][0])
    later = SyntheticProvider(seed=7).option_chain("AAPL", AS_OF + dt.timedelta(hours=1))
    assert later["ts"].iloc[0] == pd.Timestamp(AS_OF + dt.timedelta(hours=1)).floor("min")
    # The listing and open interest are fixed for the session, and volume only grows.
    early, late = a.set_index("contract"), later.set_index("contract")
    assert early.index.equals(late.index)
    assert early["open_interest"].equals(late["open_interest"])
    assert (late["volume"] >= early["volume"]).all() and late["volume"].sum() > early["volume"].sum()
    assert not np.allclose(early["bid"], late["bid"])


def test_synthetic_chain_underlying_price_and_snapshot_time() -> None:
    provider = SyntheticProvider(as_of=AS_OF)
    chain = provider.option_chain("SPY")
    quote = provider.latest_quotes(["SPY"]).iloc[0]
    assert (chain["underlying_price"] == quote["last"]).all()
    assert (chain["ts"] == quote["ts"]).all()
    assert chain["ts"].iloc[0] == pd.Timestamp("2025-06-11 17:07", tz="UTC")

    # After the close (and over the weekend): the session's raw close, stamped at the close.
    for when in (FRIDAY_AFTER_CLOSE, utc(2025, 6, 15, 12)):
        chain = provider.option_chain("NVDA", when)
        d1 = SyntheticProvider(as_of=when).bars(["NVDA"], "d1", utc(2025, 6, 13), utc(2025, 6, 14))
        assert (chain["underlying_price"] == d1["close"].iloc[0]).all()
        assert (chain["ts"] == pd.Timestamp("2025-06-13 20:00", tz="UTC")).all()


def test_synthetic_chain_expirations_follow_the_calendar(spy_chain: pd.DataFrame) -> None:
    d = dt.date
    # Wednesday 2025-06-11: six weeklies (Friday 07-04 is a holiday: Thursday 07-03), then the
    # monthlies after them.
    assert sorted(set(spy_chain["expiration"])) == [
        d(2025, 6, 13), d(2025, 6, 20), d(2025, 6, 27), d(2025, 7, 3), d(2025, 7, 11),
        d(2025, 7, 18), d(2025, 8, 15), d(2025, 9, 19), d(2025, 10, 17),
    ]
    provider = SyntheticProvider()
    # On an expiration Friday the day's options trade until the close, then are gone.
    during = provider.option_chain("SPY", utc(2025, 6, 13, 19, 30))
    after = provider.option_chain("SPY", FRIDAY_AFTER_CLOSE)
    assert min(during["expiration"]) == d(2025, 6, 13)
    assert min(after["expiration"]) == d(2025, 6, 20)
    assert len(set(after["expiration"])) == 9
    assert d(2025, 7, 25) in set(after["expiration"])  # the sixth weekly
    # Good Friday 2024-03-29: the weekly expires on Thursday.
    holiday = provider.option_chain("AAPL", utc(2024, 3, 27, 15))
    assert min(holiday["expiration"]) == d(2024, 3, 28)
    for exp in set(holiday["expiration"]):
        assert exp.weekday() == 4 or exp == d(2024, 3, 28)


def test_synthetic_chain_strikes_and_occ_symbols(spy_chain: pd.DataFrame) -> None:
    spot = spy_chain["underlying_price"].iloc[0]
    strikes = np.sort(spy_chain["strike"].unique())
    assert spot > 200 and (strikes % 5 == 0).all() and set(np.diff(strikes)) == {5.0}
    # listed around the session's open: +-30% of it, so about that of the spot
    assert 0.68 * spot < strikes.min() < 0.75 * spot and 1.25 * spot < strikes.max() < 1.32 * spot
    for _, g in spy_chain.groupby(["expiration", "option_type"]):
        assert np.array_equal(np.sort(g["strike"].to_numpy()), strikes)
    for row in spy_chain.itertuples():
        occ = parse_occ_symbol(row.contract)
        assert (occ.root, occ.expiration, occ.option_type, occ.strike) == (
            "SPY", row.expiration, row.option_type, row.strike
        )
    assert spy_chain["contract"].iloc[0].startswith("SPY250613C00")
    for symbol in ("F", "KO", "TSLA"):  # unknown and known names at various price levels
        chain = SyntheticProvider().option_chain(symbol, AS_OF)
        spot = chain["underlying_price"].iloc[0]
        steps = set(np.round(np.diff(np.sort(chain["strike"].unique())), 6))
        assert len(steps) == 1, symbol
        step = steps.pop()
        grid = 0.5 if spot < 24 else 1.0 if spot < 190 else 5.0
        assert step % grid == 0 and step < max(grid, 0.02 * spot) + 1e-9, (symbol, spot, step)


def test_synthetic_chain_smile_and_term_structure(spy_chain: pd.DataFrame) -> None:
    chain = _with_model(spy_chain)
    spot = chain["underlying_price"].iloc[0]
    for exp, g in chain[chain["option_type"] == "put"].groupby("expiration"):
        iv = g.set_index("strike")["implied_volatility"]
        atm = iv.iloc[np.argmin(np.abs(iv.index - spot))]
        otm_put = iv.iloc[np.argmin(np.abs(iv.index - 0.9 * spot))]
        otm_call = iv.iloc[np.argmin(np.abs(iv.index - 1.1 * spot))]
        assert otm_put > atm * 1.05, exp  # the put skew
        assert otm_put > otm_call, exp
    # Calls and puts of a strike share the vol, so the surface is one smile per expiry.
    pivot = chain.pivot_table(index=["expiration", "strike"], columns="option_type", values="implied_volatility")
    np.testing.assert_allclose(pivot["call"], pivot["put"])
    # ATM total variance grows with time to expiry (no calendar arbitrage at the money).
    atm_rows = chain[(chain["option_type"] == "call")].copy()
    atm_rows["dist"] = np.abs(np.log(atm_rows["strike"] / spot))
    atm = atm_rows.loc[atm_rows.groupby("expiration")["dist"].idxmin()]
    total_var = atm["implied_volatility"] ** 2 * atm["t"]
    assert (np.diff(total_var.to_numpy()) > 0).all()


@pytest.mark.parametrize(
    ("symbol", "when"),
    [
        ("SPY", AS_OF),
        ("TSLA", utc(2022, 6, 16, 14, 31)),
        ("NVDA", utc(2025, 6, 10, 20, 30)),  # the day of the 4:1 split: raw prices
        ("QQQ", utc(2024, 7, 6, 17)),  # a Saturday
        ("BRK.B", utc(2021, 11, 26, 17)),  # an early close
    ],
)
def test_synthetic_chain_has_no_basic_arbitrage(symbol: str, when: dt.datetime) -> None:
    chain = _with_model(SyntheticProvider().option_chain(symbol, when))
    assert not chain.empty
    cents = np.round(chain[["bid", "ask", "last"]] * 100)
    assert np.allclose(cents, chain[["bid", "ask", "last"]] * 100)  # on the 0.01 tick
    assert (chain["bid"] >= 0).all() and (chain["ask"] >= chain["bid"] + 0.01 - 1e-9).all()
    assert ((chain["model"] >= chain["bid"] - 1e-9) & (chain["model"] <= chain["ask"] + 1e-9)).all()
    assert ((chain["last"] >= chain["bid"]) & (chain["last"] <= chain["ask"])).all()
    for (_, kind), g in chain.groupby(["expiration", "option_type"]):
        model, mid = g["model"].to_numpy(), g["mid"].to_numpy()  # sorted by strike
        sign = -1 if kind == "call" else 1
        assert (sign * np.diff(model) > 0).all() or (sign * np.diff(model) >= -1e-12).all()
        assert (sign * np.diff(mid) >= -1e-9).all()
        assert (np.diff(model, 2) >= -1e-9).all()  # convex in strike (butterflies >= 0)
    wide = chain.pivot_table(
        index=["expiration", "strike"], columns="option_type", values=["mid", "bid", "ask", "t"]
    )
    strike = wide.index.get_level_values("strike").to_numpy()
    spot = chain["underlying_price"].iloc[0]
    parity = spot - strike * np.exp(-OPTION_RATE * wide["t"]["call"].to_numpy())
    gap = np.abs(wide["mid"]["call"] - wide["mid"]["put"] - parity)
    half_spreads = (wide["ask"]["call"] - wide["bid"]["call"] + wide["ask"]["put"] - wide["bid"]["put"]) / 2
    assert (gap <= half_spreads + 1e-9).all()
    # greeks are the model's at the quoted vol
    greeks = bs_greeks(
        chain["underlying_price"], chain["strike"], chain["t"], chain["implied_volatility"], OPTION_RATE,
        0.0, chain["option_type"] == "call",
    )
    np.testing.assert_allclose(chain["delta"], greeks.delta, atol=1e-6)
    np.testing.assert_allclose(chain["vega"], greeks.vega, rtol=1e-4, atol=1e-9)


def test_synthetic_spreads_widen_away_from_the_money_and_for_short_expiries(spy_chain) -> None:
    chain = _with_model(spy_chain)
    spot = chain["underlying_price"].iloc[0]
    chain["rel_spread"] = (chain["ask"] - chain["bid"]) / chain["mid"]
    puts = chain[chain["option_type"] == "put"]
    atm_by_exp = {}
    for exp, g in puts.groupby("expiration"):
        g = g.set_index("strike")
        atm = g.iloc[np.argmin(np.abs(g.index - spot))]
        otm = g.iloc[np.argmin(np.abs(g.index - 0.92 * spot))]
        assert otm["rel_spread"] > atm["rel_spread"], exp
        atm_by_exp[exp] = atm["rel_spread"]
    exps = sorted(atm_by_exp)
    assert atm_by_exp[exps[0]] > atm_by_exp[exps[-1]]


def test_synthetic_volume_and_open_interest_concentrate_near_the_money(spy_chain) -> None:
    chain = spy_chain.copy()
    spot = chain["underlying_price"].iloc[0]
    dist = np.abs(np.log(chain["strike"] / spot))
    near, far = chain[dist < 0.03], chain[dist > 0.2]
    assert near["volume"].mean() > 5 * far["volume"].mean()
    assert near["open_interest"].mean() > 3 * far["open_interest"].mean()
    assert (chain["volume"] >= 0).all() and (chain["volume"] == chain["volume"].round()).all()
    assert (chain["open_interest"] == chain["open_interest"].round()).all()
    # the day's volume accrues from the open
    provider = SyntheticProvider()
    early = provider.option_chain("SPY", utc(2025, 6, 11, 13, 35))
    assert early["volume"].sum() < 0.1 * chain["volume"].sum()


def test_synthetic_chain_edge_cases() -> None:
    provider = SyntheticProvider()
    for empty in (provider.option_chain("BTC/USD", AS_OF), provider.option_chain("SPY", utc(1999, 6, 1))):
        assert empty.empty and tuple(empty.columns) == OPTION_CHAIN_COLUMNS
        assert str(empty["ts"].dtype) == "datetime64[ns, UTC]"
    with pytest.raises(InvalidSymbol):
        provider.option_chain("spy/../x", AS_OF)
    # Before the day's first minute completes: the previous session's close.
    pre = provider.option_chain("SPY", utc(2025, 6, 11, 13, 30, 30))
    assert (pre["ts"] == pd.Timestamp("2025-06-10 20:00", tz="UTC")).all()


# --------------------------------------------------------------------------------------------- #
# The Alpaca chain
# --------------------------------------------------------------------------------------------- #

CHAIN_PATH = "/v1beta1/options/snapshots/AAPL"



def _served_chain() -> dict[str, dict]:
    chain: dict[str, dict] = {}
    rng = np.random.default_rng(5)
    for exp in ("250314", "250321", "250620"):
        for strike in (170, 175, 180, 182.5, 185, 190):
            for kind in "CP":
                contract = f"AAPL{exp}{kind}{round(strike * 1000):08d}"
                bid = round(float(rng.uniform(0.5, 10)), 2)
                chain[contract] = option_snapshot(
                    bid=bid, ask=round(bid + 0.05, 2), last=round(bid + 0.02, 2),
                    iv=float(rng.uniform(0.2, 0.4)),
                    greeks={"delta": 0.5 if kind == "C" else -0.5, "gamma": 0.03, "theta": -0.05, "vega": 0.2},
                    volume=float(rng.integers(0, 500)),
                )
    # Contracts as Alpaca sends them for illiquid or adjusted series.
    chain["AAPL250620C00200000"] = option_snapshot(bid=0.0, ask=0.02)  # quote only
    chain["AAPL1250620P00090000"] = option_snapshot(  # an adjusted root; traded on an earlier day
        bid=1.0, ask=1.2, last=1.1, volume=7.0, day="2025-03-07T05:00:00Z"
    )
    return chain


@pytest.fixture
def fake():
    with FakeAlpaca(page_size=7) as server:
        server.option_snapshots = {"AAPL": _served_chain()}
        server.snapshots = {
            "AAPL": snapshot(last=183.21, bid=183.2, ask=183.22, day_high=185, day_low=181, prev_close=182)
        }
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _provider(fake: FakeAlpaca, clock: FakeClock, **kwargs) -> AlpacaProvider:
    return provider_for(fake, clock, **kwargs)


def _expected_rows(served: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for contract, snap in served.items():
        root_len = len(contract) - 15
        quote, trade = snap.get("latestQuote", {}), snap.get("latestTrade", {})
        greeks, daily = snap.get("greeks", {}), snap.get("dailyBar")
        volume = math.nan if daily is None else daily["v"]
        if daily is not None and daily["t"] < "2025-03-10":
            volume = 0.0
        rows.append(
            {
                "underlying": "AAPL",
                "contract": contract,
                "expiration": dt.datetime.strptime(contract[root_len : root_len + 6], "%y%m%d").date(),
                "strike": int(contract[-8:]) / 1000,
                "option_type": "call" if contract[-9] == "C" else "put",
                "ts": pd.Timestamp(quote["t"]),
                "bid": quote["bp"],
                "ask": quote["ap"],
                "last": trade.get("p", math.nan),
                "volume": volume,
                "open_interest": math.nan,
                "implied_volatility": snap.get("impliedVolatility", math.nan),
                **{g: greeks.get(g, math.nan) for g in ("delta", "gamma", "theta", "vega")},
                "underlying_price": 183.21,
            }
        )
    return option_chain_frame(pd.DataFrame(rows).to_dict("list"))


def test_alpaca_chain_served_equals_returned_across_pages(fake, clock) -> None:
    provider = _provider(fake, clock, options_feed="indicative")
    got = provider.option_chain("AAPL", utc(2025, 3, 10, 20))

    served = fake.option_snapshots["AAPL"]
    assert len(served) == 38
    pd.testing.assert_frame_equal(got, _expected_rows(served))
    queries = fake.requests_to(CHAIN_PATH)
    assert len(queries) == math.ceil(38 / 7)
    assert all(q["feed"] == "indicative" and q["limit"] == "1000" for q in queries)
    assert "page_token" not in queries[0] and all("page_token" in q for q in queries[1:])
    assert len(fake.requests_to("/v2/stocks/snapshots")) == 1  # the underlying's price
    assert clock.sleeps == []

    row = got.set_index("contract").loc["AAPL1250620P00090000"]
    assert row["volume"] == 0.0 and row["expiration"] == dt.date(2025, 6, 20) and row["strike"] == 90.0
    bare = got.set_index("contract").loc["AAPL250620C00200000"]
    assert np.isnan(bare[["last", "volume", "implied_volatility", "delta"]].astype(float)).all()


def test_alpaca_chain_honours_retry_after_mid_pagination(fake, clock) -> None:
    provider = _provider(fake, clock)
    calls = {"n": 0}
    original = fake._pop_failure

    def fail_second_request():
        calls["n"] += 1
        if calls["n"] == 2:
            return (429, {"Retry-After": "3"})
        return original()

    fake._pop_failure = fail_second_request
    got = provider.option_chain("AAPL", utc(2025, 3, 10, 20))
    assert len(got) == 38
    assert clock.sleeps == [3.0]
    queries = fake.requests_to(CHAIN_PATH)
    assert len(queries) == math.ceil(38 / 7) + 1
    assert queries[1] == queries[2]  # the same page, asked again
    assert "feed" not in queries[0]  # Alpaca picks the options feed by default


def test_alpaca_chain_failures_and_edge_cases(fake, clock) -> None:
    provider = _provider(fake, clock, max_attempts=2)
    fake.fail_next = [(503, {}), (503, {})]
    with pytest.raises(ProviderError, match="option chain request for AAPL failed after 2 attempts"):
        provider.option_chain("AAPL", utc(2025, 3, 10, 20))

    fake.clear_requests()
    empty = provider.option_chain("BTC/USD", utc(2025, 3, 10, 20))
    assert empty.empty and tuple(empty.columns) == OPTION_CHAIN_COLUMNS and fake.requests == []
    with pytest.raises(InvalidSymbol):
        provider.option_chain("AAPL?feed=sip", utc(2025, 3, 10, 20))
    assert fake.requests == []
    none = provider.option_chain("MSFT", utc(2025, 3, 10, 20))  # no contracts: one request
    assert none.empty and len(fake.requests) == 1
    with pytest.raises(ConfigError):
        _provider(fake, clock, options_feed="sip")

    bad_key = AlpacaProvider("wrong", fake.secret_key, data_url=fake.data_url, sleep=clock.sleep)
    with pytest.raises(ProviderError, match="401"):
        bad_key.option_chain("AAPL", utc(2025, 3, 10, 20))


def test_alpaca_chain_server_side_filters_in_the_fake(fake, clock) -> None:
    # The fake implements Alpaca's filters, so assets can rely on them being exercised later.
    provider = _provider(fake, clock)
    raw = provider._options.get_option_chain(
        OptionChainRequest(underlying_symbol="AAPL", type="put", strike_price_gte=180, expiration_date="2025-03-21")
    )
    assert sorted(raw) == ["AAPL250321P00180000", "AAPL250321P00182500", "AAPL250321P00185000",
                           "AAPL250321P00190000"]


def test_parse_occ_symbol() -> None:
    occ = parse_occ_symbol("AAPL250620C00180000")
    assert occ == ("AAPL", dt.date(2025, 6, 20), "call", 180.0)
    assert parse_occ_symbol("SPY251219P00612500").strike == 612.5
    assert parse_occ_symbol("AAPL1250620P00090000").root == "AAPL1"  # adjusted series
    assert parse_occ_symbol("BRKB  250117C00450000") == ("BRKB", dt.date(2025, 1, 17), "call", 450.0)
    assert parse_occ_symbol("F250117P00000500").strike == 0.5
    for bad in ("", "AAPL", "AAPL250620X00180000", "AAPL251320C00180000", "aapl250620C00180000",
                "TOOLONGX250620C00180000", "AAPL250620C0018000"):
        with pytest.raises(ValueError):
            parse_occ_symbol(bad)


def test_snapshot_frame_skips_contracts_that_are_not_occ_symbols() -> None:
    frame = option_chain_snapshots_frame(
        {"NOT-AN-OPTION": option_snapshot(bid=1, ask=2), "AAPL250620C00180000": option_snapshot(bid=1, ask=2)},
        "AAPL",
    )
    assert list(frame["contract"]) == ["AAPL250620C00180000"]
    assert np.isnan(frame["underlying_price"]).all()
    assert option_chain_snapshots_frame(None, "AAPL").empty
