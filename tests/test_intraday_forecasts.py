"""Intraday forecasts through real Dagster runs at a frozen clock: a live tick forecasts at the newest
ended m15 bar only and a re-run replaces exactly its rows; nothing after the issue bar is read (change
every later bar, the rows are bit-identical; change the issue bar, they change); a backfill forecasts every
bar of the day; evaluations exist only once their horizon bar has ended, in the session it ended in; the
horizon counts bars of the calendar (an early close and the night are skipped)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assets.intraday_forecasts import build_assets
from assets.partitions import RUN_KIND_TAG, symbol_partitions
from resources import WarehouseResource
from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect
from swiftbolt.forecasts import intraday
from swiftbolt.forecasts.config import ForecastSettings
from swiftbolt.forecasts.intraday import _expiries
from swiftbolt.forecasts.intraday_dataset import bar_grid
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import Timeframe
from swiftbolt.markets import US_EQUITY
from swiftbolt.providers.synthetic import SyntheticProvider
from tests.forecast_helpers import MARKET, seed_features
from tests.helpers import add_symbols, spy_2013_bars, utc
from tests.test_bar_integrity import _ingest
from tests.test_dbt import _dbt

pytestmark = pytest.mark.warehouse

D = dt.date(2024, 6, 12)            # a Wednesday
FIRST = dt.date(2024, 4, 15)
MODEL_WEEK = "2024-06-03"           # training end Fri 7 June < D
TICKERS = ("AAA", "BBB", "CCC", "DDD")
TICK = utc(2024, 6, 12, 16, 7)      # 12:07 New York: the bar 11:45-12:00 is the newest ended
ISSUE = pd.Timestamp("2024-06-12 16:00", tz="UTC")


def _seed(url: str) -> dict[str, int]:
    ids = add_symbols(url, dict.fromkeys(TICKERS, MARKET))
    days = session_dates(MARKET, FIRST, D + dt.timedelta(days=7))
    ingest_bars(url, SyntheticProvider(), MARKET, ids, days, [Timeframe.M15, Timeframe.D1], RunInfo())
    seed_features(url, ids, FIRST, days[-1], ("d1", "m15", "h1"))
    return ids


def _rows(url: str, where: str = "TRUE", params: tuple = ()) -> pd.DataFrame:
    with connect(url) as conn:
        cur = conn.execute(
            "SELECT f.*, p.step, p.point_ts, p.price, p.lower, p.upper FROM ml.ml_forecasts_intraday f "
            f"JOIN ml.ml_forecast_paths_intraday p ON p.forecast_id = f.id WHERE {where} "
            "ORDER BY f.symbol_id, f.issued_at, f.horizon, p.step", params)
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def _comparable(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.drop(columns=["id", "created_at", "dagster_run_id"]).astype(str).reset_index(drop=True)


def _run(instance, resources, assets, key, tags=None) -> dg.ExecuteInJobResult:
    result = dg.materialize(assets, instance=instance, resources=resources, partition_key=key, tags=tags)
    assert result.success
    return result


def _recompute_features(url: str, ids: dict[str, int]) -> None:
    seed_features(url, ids, D - dt.timedelta(days=10), D + dt.timedelta(days=7), ("m15", "h1"))


def test_live_ticks_backfill_and_no_look_ahead(warehouse_url: str, frozen, tmp_path: Path) -> None:
    ids = _seed(warehouse_url)
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url)}
    models, forecasts, evaluations = build_assets(US_EQUITY)
    key = dg.MultiPartitionKey({"date": D.isoformat(), "symbol": "AAA"})
    live = {RUN_KIND_TAG: "intraday"}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions(MARKET).name, list(TICKERS))
        trained = _run(instance, resources, [models], MODEL_WEEK)
        meta = trained.get_asset_materialization_events()[0].materialization.metadata
        assert meta["dagster/row_count"].value == 2, meta["reasons"]

        frozen(TICK)
        result = _run(instance, resources, [forecasts], key, live)
        first = _rows(warehouse_url, "f.symbol_id = %s", (ids["AAA"],))
        assert set(first["issued_at"]) == {ISSUE}                      # newest ended bar only
        assert sorted(first.groupby("horizon").size().to_dict().items()) == [("15m", 1), ("1h", 4)]
        one_hour = first[first["horizon"] == "1h"]
        assert list(one_hour["point_ts"]) == [ISSUE + pd.Timedelta(minutes=15 * k) for k in (1, 2, 3, 4)]
        assert (one_hour["expires_at"] == ISSUE + pd.Timedelta(hours=1)).all()
        assert ((first["ci_lower"] <= first["target_price"]) & (first["target_price"] <= first["ci_upper"])).all()
        part = result.get_asset_materialization_events()[0].materialization.metadata
        assert part["dagster/row_count"].value == 2

        # the next tick adds its rows; re-running the first tick replaces exactly its own
        frozen(TICK + dt.timedelta(minutes=15))
        _run(instance, resources, [forecasts], key, live)
        second = _rows(warehouse_url, "f.symbol_id = %s AND f.issued_at = %s", (ids["AAA"], ISSUE + pd.Timedelta(
            minutes=15)))
        assert len(second) == 5
        frozen(TICK)
        _run(instance, resources, [forecasts], key, live)
        again = _rows(warehouse_url, "f.symbol_id = %s", (ids["AAA"],))
        assert set(again["issued_at"]) == {ISSUE, ISSUE + pd.Timedelta(minutes=15)}
        later = again[again["issued_at"] > ISSUE]
        pd.testing.assert_frame_equal(later.reset_index(drop=True), second.reset_index(drop=True))  # untouched
        pd.testing.assert_frame_equal(_comparable(again[again["issued_at"] == ISSUE]), _comparable(first))

        # every bar after the issue bar, prices and volumes, every timeframe: the forecast is bit-identical
        with connect(warehouse_url) as conn:
            n = conn.execute("UPDATE market.ohlc_bars SET open = open * 1.5, high = high * 1.5, low = low * 1.5, "
                             "close = close * 1.5, volume = volume * 3 + 7 WHERE ts >= %s", (ISSUE,)).rowcount
            conn.commit()
        assert n > 0
        _recompute_features(warehouse_url, ids)
        _run(instance, resources, [forecasts], key, live)
        unchanged = _rows(warehouse_url, "f.symbol_id = %s AND f.issued_at = %s", (ids["AAA"], ISSUE))
        pd.testing.assert_frame_equal(_comparable(unchanged), _comparable(first))

        # the issue bar itself: the forecast changes
        with connect(warehouse_url) as conn:
            conn.execute("UPDATE market.ohlc_bars SET close = close * 0.98, low = least(low, close * 0.98) "
                         "WHERE symbol_id = %s AND timeframe = 'm15' AND ts = %s", (ids["AAA"], ISSUE - pd.Timedelta(
                             minutes=15)))
            conn.commit()
        _recompute_features(warehouse_url, ids)
        _run(instance, resources, [forecasts], key, live)
        changed = _rows(warehouse_url, "f.symbol_id = %s AND f.issued_at = %s", (ids["AAA"], ISSUE))
        assert not _comparable(changed).equals(_comparable(first))

        # mid-session, an evaluation exists only for what has expired by now
        frozen(TICK + dt.timedelta(minutes=30))
        _run(instance, resources, [evaluations], key)
        with connect(warehouse_url) as conn:
            evaluated = conn.execute("SELECT f.issued_at, f.horizon FROM ml.ml_forecast_evaluations_intraday e "
                                     "JOIN ml.ml_forecasts_intraday f ON f.id = e.forecast_id").fetchall()
        assert sorted((pd.Timestamp(a), h) for a, h in evaluated) == [
            (ISSUE, "15m"), (ISSUE + pd.Timedelta(minutes=15), "15m")]

        # after the close, a backfill run (no live tag) forecasts every bar of the day and evaluates it
        frozen(utc(2024, 6, 13, 21, 0))
        _run(instance, resources, [forecasts], key)
        day = _rows(warehouse_url, "f.symbol_id = %s AND f.session_date = %s AND p.step = 1", (ids["AAA"], D))
        assert day["issued_at"].nunique() == 26 and len(day) == 52
        next_key = dg.MultiPartitionKey({"date": "2024-06-13", "symbol": "AAA"})
        _run(instance, resources, [evaluations], key)
        _run(instance, resources, [evaluations], next_key)
        with connect(warehouse_url) as conn:
            by_day = dict(conn.execute(
                "SELECT evaluation_date, count(*) FROM ml.ml_forecast_evaluations_intraday GROUP BY 1").fetchall())
            wrong = conn.execute(
                "SELECT count(*) FROM ml.ml_forecast_evaluations_intraday e JOIN ml.ml_forecasts_intraday f "
                "ON f.id = e.forecast_id WHERE e.realized_at <> f.expires_at OR e.direction_correct <> CASE "
                "f.overall_label WHEN 'bullish' THEN e.realized_return > f.neutral_band WHEN 'bearish' THEN "
                "e.realized_return < -f.neutral_band ELSE abs(e.realized_return) <= f.neutral_band END").fetchone()
        # of D's 26 issues: 25 (15m) and 22 (1h) expire on D; the rest at the next session's open
        assert by_day == {D: 25 + 22, dt.date(2024, 6, 13): 1 + 4}
        assert wrong == (0,)

    # a chart gets the bars and the newest path side by side from dbt; the bar table holds no forecast
    _dbt(warehouse_url, tmp_path, "build", "--select", "intraday_chart")
    with connect(warehouse_url) as conn:
        chart = pd.DataFrame(conn.execute(
            "SELECT kind, horizon, count(*), max(issued_at) FROM analytics.intraday_chart WHERE ticker = 'AAA' "
            "GROUP BY 1, 2 ORDER BY 1, 2").fetchall(), columns=["kind", "horizon", "n", "issued"])
    assert chart["kind"].tolist() == ["bar", "forecast", "forecast"]
    assert chart["n"].tolist()[1:] == [1, 4]
    assert (chart["issued"].iloc[1:] == pd.Timestamp("2024-06-12 20:00", tz="UTC")).all()  # the day's last issue


def test_horizon_counts_bars_of_the_calendar_across_an_early_close_and_the_night() -> None:
    grid = bar_grid(MARKET, dt.date(2024, 11, 27), dt.date(2024, 12, 3))
    early = grid[grid["session_date"] == dt.date(2024, 11, 29)]
    assert len(early) == 14                                   # 09:30-13:00 New York
    last = early["grid"].to_numpy()[-1:]
    ends = _expiries(grid, last, 4)[0]
    assert list(pd.to_datetime(ends, utc=True)) == [pd.Timestamp(f"2024-12-02 {t}", tz="UTC") for t in
                                                    ("14:45", "15:00", "15:15", "15:30")]
    assert grid["ts"].is_monotonic_increasing


def test_real_spy_m15_bars_forecasts_and_evaluations(warehouse_url: str) -> None:
    """Real SPY 15-minute bars (2013-10-04..11, pre- and post-market included, as Alpaca serves them): only
    regular-session bars are on the grid, a model trained on the first four sessions forecasts every bar of
    the fifth, and the evaluations land in the session each horizon ends in (the last bars' at the next
    open). The sample is tiny (one symbol, ~80 samples): the figures are printed, not judged."""
    ids = add_symbols(warehouse_url, {"SPY": MARKET}, source="alpaca")
    _ingest(warehouse_url, spy_2013_bars(), ids)
    seed_features(warehouse_url, ids, dt.date(2013, 10, 4), dt.date(2013, 10, 11), ("m15", "h1"))
    day, next_day = dt.date(2013, 10, 10), dt.date(2013, 10, 11)
    with connect(warehouse_url) as conn, conn.transaction():
        trained = intraday.train_intraday_models(conn, MARKET, dt.date(2013, 10, 9),
                                                 settings=ForecastSettings(intraday_train_sessions=4), min_samples=50)
        assert sorted(trained.models) == ["15m", "1h"], trained.reasons
        after = utc(2013, 10, 11, 21, 0)
        made = intraday.intraday_forecasts(conn, MARKET, {"SPY": [day]}, after, latest_only=False)
        first = intraday.evaluate_intraday(conn, MARKET, {"SPY": [day]}, after)
        second = intraday.evaluate_intraday(conn, MARKET, {"SPY": [next_day]}, after)
    assert made.rows_written == 2 * 26 and made.points_written == 26 * (1 + 4)
    assert first.rows_written == 25 + 22 and second.rows_written == 1 + 4
    rows = _rows(warehouse_url, "f.session_date = %s AND f.issued_at = %s AND f.horizon = '1h'",
                 (day, pd.Timestamp("2013-10-10 20:00", tz="UTC")))
    # 15:45-16:00 New York: the 1h path runs through the next session's first four bars
    assert list(rows["point_ts"]) == [pd.Timestamp(f"2013-10-11 {t}", tz="UTC")
                                      for t in ("13:45", "14:00", "14:15", "14:30")]
    print("\n" + first.figures.to_string())


def test_intraday_figures_beside_persistence_and_zero_in_the_performance_history(
        warehouse_url: str, frozen) -> None:
    """intraday_model_performance: the 15m and 1h rows of ml.model_performance_history over the intraday
    evaluations, the model beside persistence and zero return; hit rates equal a recomputation from the
    stored forecasts and the m15 bars; the daily horizons' rows of the same day are not touched."""
    import numpy as np

    from assets.evaluations import build_intraday_model_performance
    from swiftbolt.evaluations import store

    _seed(warehouse_url)
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url)}
    models, forecasts, evaluations = build_assets(US_EQUITY)
    perf = build_intraday_model_performance(US_EQUITY)
    days = (D, dt.date(2024, 6, 13))
    grid = {"dagster/asset_partition_range_start": f"{days[0]}|{TICKERS[0]}",
            "dagster/asset_partition_range_end": f"{days[1]}|{TICKERS[-1]}"}
    daily = pd.DataFrame([{"market": MARKET, "as_of_date": days[1], "horizon": "1D", "model": "zero",
                           "is_baseline": True, "window_sessions": 60, "window_start": D, "window_end": days[1],
                           "n": 1, "n_symbols": 1}]).reindex(columns=list(store.PERFORMANCE_TABLE_COLUMNS))
    with connect(warehouse_url) as conn, conn.transaction():
        store.write_performance(conn, MARKET, [days[1]], daily, ("1D",))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions(MARKET).name, list(TICKERS))
        _run(instance, resources, [models], MODEL_WEEK)
        frozen(utc(2024, 6, 13, 21, 0))
        for asset in (forecasts, evaluations):
            assert dg.materialize([asset], instance=instance, resources=resources, tags=grid).success
        result = dg.materialize([perf], instance=instance, resources=resources, tags={
            "dagster/asset_partition_range_start": days[0].isoformat(),
            "dagster/asset_partition_range_end": days[1].isoformat()})
        assert result.success
    meta = result.get_asset_materialization_events()[-1].materialization.metadata
    assert "accuracy_vs_baselines" in meta and "data:image/png;base64," in meta["accuracy_vs_baselines"].value

    with connect(warehouse_url) as conn:
        table = store.load_performance(conn, MARKET, days[1])
        evals = store.load_intraday_evaluations(conn, MARKET, days[0], days[1])
        bars = pd.DataFrame(conn.execute(
            "SELECT symbol_id, ts, close FROM market.ohlc_bars_adjusted_per_bar WHERE timeframe = 'm15' "
            "ORDER BY symbol_id, ts").fetchall(), columns=["symbol_id", "ts", "close"])
    assert set(table["horizon"]) == {"1D", "15m", "1h"}            # the daily row is still there
    intra = table[table["horizon"] != "1D"].set_index(["horizon", "model"])
    assert set(intra.index) == {(h, m) for h in ("15m", "1h") for m in ("lightgbm", "persistence", "zero")}
    assert (intra["window_sessions"] == 20).all() and (intra["window_end"] == days[1]).all()
    bars["ts"] = pd.to_datetime(bars["ts"], utc=True)
    for horizon, k in (("15m", 1), ("1h", 4)):
        e = evals[evals["horizon"] == horizon]
        assert intra.loc[(horizon, "lightgbm"), "n"] == len(e) > 100
        real = e["realized_log_return"].to_numpy(float)
        q50 = e["return_q50"].to_numpy(float)
        ok = (q50 != 0) & (real != 0)
        assert intra.loc[(horizon, "lightgbm"), "hit_rate"] == pytest.approx(
            float((np.sign(q50[ok]) == np.sign(real[ok])).mean()))
        # persistence: the sign of the k bars before the issue (synthetic bars: every grid bar exists)
        past = bars.assign(past=np.log(bars["close"] / bars.groupby("symbol_id")["close"].shift(k)))
        issue = e.assign(ts=e["issued_at"] - pd.Timedelta(minutes=15)).merge(past, on=["symbol_id", "ts"])
        p, r = issue["past"].to_numpy(float), issue["realized_log_return"].to_numpy(float)
        ok = np.isfinite(p) & (p != 0) & (r != 0)
        assert intra.loc[(horizon, "persistence"), "hit_rate"] == pytest.approx(
            float((np.sign(p[ok]) == np.sign(r[ok])).mean()))
        assert np.isnan(intra.loc[(horizon, "zero"), "hit_rate"])   # zero return has no direction
        assert intra.loc[(horizon, "zero"), "mae"] == pytest.approx(float(np.abs(real).mean()))
