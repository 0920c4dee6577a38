"""The dbt project end to end on a real PostgreSQL: synthetic bars ingested by the real ingestion code,
`dbt build` run by Dagster (dbt tests as asset checks) or in-process by dbt's runner, and the models'
values checked against pandas."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets import dbt_plan
from assets.dbt import swiftbolt_dbt_models
from resources.dbt import DBT_PROJECT_DIR, ENV_PASSWORD, dbt_env, dbt_project, dbt_resource
from swiftbolt.calendars.sessions import sessions
from swiftbolt.calendars.store import write_market_calendar
from swiftbolt.db.connection import connect
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import FETCHED_TIMEFRAMES
from swiftbolt.providers.synthetic import SyntheticProvider
from tests.helpers import add_symbols, dbt_output, run_dbt

pytestmark = pytest.mark.warehouse

AS_OF = "2024-03-01T00:30:00+00:00"  # just after the last session loaded below
OP = swiftbolt_dbt_models.op.name
ANALYTICS = dg.AssetKey(["analytics", "indicator_values"])


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def _calendar(url: str) -> None:
    with connect(url) as conn, conn.transaction():
        for market in ("us_equity", "crypto"):
            write_market_calendar(conn, market, dt.date(2023, 12, 1), dt.date(2024, 4, 30), "test")


def _ingest(url: str, market: str, symbols: dict[str, int], first: dt.date, last: dt.date) -> None:
    dates = list(sessions(market, first, last)["date"])
    ingest_bars(url, SyntheticProvider(), market, symbols, dates, list(FETCHED_TIMEFRAMES), RunInfo())


def _frame(url: str, query: str, params: tuple = ()) -> pd.DataFrame:
    with connect(url) as conn:
        cur = conn.execute(query, params)
        rows = cur.fetchall()
        columns = [c.name for c in cur.description]
    return pd.DataFrame(rows, columns=columns)


def _adjusted(url: str) -> pd.DataFrame:
    return _frame(url, "SELECT symbol_id, timeframe, ts, session_date, high, low, close, volume, vwap "
                       "FROM market.ohlc_bars_adjusted ORDER BY symbol_id, timeframe, ts")


def _write_features(url: str, symbol_id: int, timeframe: str) -> None:
    """What the Python feature code writes (swiftbolt/features keys): a feature set and rows with ma_20
    (pandas rolling mean of 20 adjusted closes / close), volatility_20 (rolling std of log returns), an RSI."""
    bars = _frame(url, "SELECT ts, session_date, close FROM market.ohlc_bars_adjusted "
                       "WHERE symbol_id = %s AND timeframe = %s ORDER BY ts", (symbol_id, timeframe))
    ma = bars["close"].rolling(20).mean() / bars["close"]
    vol = np.log(bars["close"] / bars["close"].shift(1)).rolling(20).std()
    with connect(url) as conn, conn.transaction():
        fs_id = conn.execute(
            "INSERT INTO ml.feature_sets (name, definition_hash, code_version, feature_keys, params, warmup_bars) "
            "VALUES ('test', %s, '1', ARRAY['rsi_14', 'ma_20', 'volatility_20'], '{}', 20) "
            "ON CONFLICT (definition_hash) DO UPDATE SET name = EXCLUDED.name RETURNING id",
            ("test-definition",),
        ).fetchone()[0]
        rows = [
            (symbol_id, timeframe, ts, day, fs_id, not math.isnan(v),
             [40.0 + (i % 20), None if math.isnan(m) else m, None if math.isnan(v) else v])
            for i, (ts, day, m, v) in enumerate(zip(bars["ts"], bars["session_date"], ma, vol, strict=True))
        ]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO ml.feature_rows (symbol_id, timeframe, ts, session_date, feature_set_id, "
                "warmup_complete, feature_values) VALUES (%s, %s, %s, %s, %s, %s, %s::float8[])", rows)


def _build(url: str, instance: dg.DagsterInstance, **config) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [swiftbolt_dbt_models], instance=instance, raise_on_error=False,
        resources={"dbt": dbt_resource(url)},
        run_config={"ops": {OP: {"config": {"dbt_vars": {"data_health_as_of": AS_OF}, **config}}}},
    )


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _with_password(url: str, password: str) -> str:
    """The URL with a password added (the test servers trust local connections, so it is not checked)."""
    parts = urlsplit(url)
    if parts.password is not None:
        return url
    netloc = f"{parts.username or 'postgres'}:{password}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# --- without a database ---------------------------------------------------------------------------------


def test_dbt_env_from_url() -> None:
    env = dbt_env("postgresql://ana%40lytics:p%3Ass@db.internal:6543/wh?sslmode=require")
    assert env == {
        "SWIFTBOLT_DBT_HOST": "db.internal", "SWIFTBOLT_DBT_PORT": "6543", "SWIFTBOLT_DBT_USER": "ana@lytics",
        ENV_PASSWORD: "p:ss", "SWIFTBOLT_DBT_DBNAME": "wh", "SWIFTBOLT_DBT_SSLMODE": "require",
    }
    assert dbt_env("postgresql://postgres@127.0.0.1/swiftbolt")["SWIFTBOLT_DBT_PORT"] == "5432"
    assert ENV_PASSWORD.startswith("DBT_ENV_SECRET_")  # dbt scrubs these values from its logs


def test_one_lineage_graph_from_bars_to_marts() -> None:
    from definitions import defs as project_defs

    keys = {k for a in project_defs.assets or [] if isinstance(a, dg.AssetsDefinition) for k in a.keys}
    defs = project_defs if ANALYTICS in keys else dg.Definitions.merge(
        project_defs, dg.Definitions(assets=[swiftbolt_dbt_models], resources={"dbt": dbt_resource()}))
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()

    def parents(name: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey(["analytics", name])).parent_keys}

    # both markets' bar assets (real assets of this code location) feed the adjusted bars
    assert {"us_equity/ohlc_bars", "crypto/ohlc_bars", "us_equity/corporate_actions", "market/symbols"} <= parents(
        "bars_adjusted")
    assert graph.get(dg.AssetKey(["us_equity", "ohlc_bars"])).is_materializable
    assert {"analytics/bars_adjusted", "us_equity/feature_rows", "crypto/feature_rows"} <= parents("indicator_values")
    assert {"analytics/indicator_values", "analytics/latest_forecast_summary"} <= parents("dashboard_symbol_summary")
    assert {"us_equity/ml_forecasts", "crypto/ml_forecasts", "market/symbols"} <= parents("latest_forecast_summary")
    assert {"market/market_calendar", "us_equity/ohlc_bars", "crypto/ohlc_bars"} <= parents("data_health")

    # the evaluation marts read the tables of the evaluation assets of both markets (issue 12)
    assert {f"{m}/{a}" for m in ("us_equity", "crypto") for a in ("model_performance", "intraday_model_performance")
            } <= parents("model_accuracy")
    assert {"us_equity/confidence_calibration", "crypto/confidence_calibration"} <= parents("calibration_curve")

    specs = {s.key.to_user_string(): s for s in swiftbolt_dbt_models.specs}
    for name in ("bars_adjusted", "indicator_values", "dashboard_symbol_summary", "data_health", "model_accuracy",
                 "calibration_curve", "latest_forecast_summary"):
        spec = specs[f"analytics/{name}"]
        assert spec.group_name == "analytics" and spec.owners and spec.kinds == {"dbt", "postgres"}
        assert spec.description and "select" not in spec.description.lower()
    checks = {c.name for c in swiftbolt_dbt_models.check_specs}
    assert {"indicator_values_high_gte_low", "sma_20_matches_python", "volatility_20_matches_python",
            "indicator_values_unique_bar",
            "data_health_no_critical", "unique_dashboard_symbol_summary_symbol_id",
            "model_accuracy_one_row_per_model", "calibration_curve_monotone"} <= checks


# --- with a database ------------------------------------------------------------------------------------


def test_dbt_build_through_dagster(warehouse_url: str, instance: dg.DagsterInstance) -> None:
    url = warehouse_url
    ids = add_symbols(url, {"AAPL": "us_equity", "QQQ": "us_equity", "MSFT": "us_equity", "BTC/USD": "crypto"})
    _calendar(url)
    _ingest(url, "us_equity", {"AAPL": ids["AAPL"]}, dt.date(2024, 1, 2), dt.date(2024, 2, 29))
    _ingest(url, "us_equity", {"QQQ": ids["QQQ"]}, dt.date(2024, 1, 16), dt.date(2024, 2, 27))  # 2 sessions late
    _ingest(url, "us_equity", {"MSFT": ids["MSFT"]}, dt.date(2024, 1, 16), dt.date(2024, 2, 9))  # stale
    _ingest(url, "crypto", {"BTC/USD": ids["BTC/USD"]}, dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    with connect(url) as conn, conn.transaction():  # AAPL's dividend: adjusted closes differ from raw ones
        conn.execute("INSERT INTO market.corporate_actions (symbol_id, action_type, ex_date, cash_amount, provider) "
                     "VALUES (%s, 'cash_dividend', '2024-02-09', 0.24, 'synthetic')", (ids["AAPL"],))
    _write_features(url, ids["AAPL"], "d1")
    _write_features(url, ids["AAPL"], "h1")

    secret = "pw-never-logged-7f3a"
    result = _build(_with_password(url, secret), instance)
    assert result.success
    materialized = {e.event_specific_data.materialization.asset_key.to_user_string()
                    for e in result.get_asset_materialization_events()}
    assert materialized == {f"analytics/{p.stem}" for p in (DBT_PROJECT_DIR / "models" / "marts").glob("*.sql")}
    assert {"analytics/bars_adjusted", "analytics/indicator_values", "analytics/dashboard_symbol_summary",
            "analytics/data_health", "analytics/latest_forecast_summary"} <= materialized
    with connect(url) as conn:  # a table with its indexes, not a view (README: the p95 of top_ranked_options)
        assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'analytics.top_ranked_options'::regclass"
                            ).fetchone()[0] == "r"
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = 'analytics' "
                            "AND tablename = 'top_ranked_options'").fetchone()[0] == 2
    checks = _checks(result)
    failed = {name for name, c in checks.items() if not c.passed}
    assert failed == {"data_health_no_critical"}  # MSFT is stale: a WARN check, the build goes on
    assert checks["data_health_no_critical"].severity == dg.AssetCheckSeverity.WARN
    assert checks["sma_20_matches_python"].passed and checks["volatility_20_matches_python"].passed
    assert checks["indicator_values_high_gte_low"].passed
    logs = "\n".join(str(e.user_message) for e in instance.all_logs(result.run_id))
    assert "dbt build" in logs and secret not in logs
    assert not any(secret in p.read_text(errors="replace") for p in (DBT_PROJECT_DIR / "target").rglob("*.log"))

    # SQL indicators equal pandas on the same adjusted bars
    iv = _frame(url, "SELECT * FROM analytics.indicator_values ORDER BY symbol_id, timeframe, ts")
    bars = _adjusted(url)
    assert len(iv) == len(bars) and (iv["close"].to_numpy() == bars["close"].to_numpy()).all()
    aapl_d1 = iv[(iv["symbol_id"] == ids["AAPL"]) & (iv["timeframe"] == "d1")]
    raw_first_close = _frame(url, "SELECT close FROM market.ohlc_bars WHERE symbol_id = %s AND timeframe = 'd1' "
                                  "ORDER BY ts LIMIT 1", (ids["AAPL"],))["close"].iloc[0]
    assert aapl_d1["close"].iloc[0] < raw_first_close  # dividend-adjusted before the ex-date
    compared = 0
    for (_, _), b in bars.groupby(["symbol_id", "timeframe"], sort=False):
        mine = iv.loc[b.index]
        close = b["close"]
        expected = {
            "sma_20": close.rolling(20).mean(),
            "sma_50": close.rolling(50).mean(),
            "volatility_20": np.log(close / close.shift(1)).rolling(20).std(),
            "return_5": close / close.shift(5) - 1,
            "return_20": close / close.shift(20) - 1,
            "pivot_pp": (b["high"].shift(1) + b["low"].shift(1) + close.shift(1)) / 3,
        }
        for column, want in expected.items():
            got = mine[column].astype(float).to_numpy()
            np.testing.assert_allclose(got, want.to_numpy(), rtol=0, atol=1e-9, equal_nan=True, err_msg=column)
            compared += int(np.isfinite(got).sum())
    assert compared > 10_000
    # session VWAP: cumulative within the session for intraday bars
    m15 = bars[(bars["symbol_id"] == ids["AAPL"]) & (bars["timeframe"] == "m15")]
    day = m15[m15["session_date"] == m15["session_date"].iloc[-1]]
    price = day["vwap"].fillna((day["high"] + day["low"] + day["close"]) / 3)
    np.testing.assert_allclose(iv.loc[day.index, "session_vwap"].to_numpy(),
                               ((price * day["volume"]).cumsum() / day["volume"].cumsum()).to_numpy(), rtol=1e-12)
    # Python features joined where they exist, NULL elsewhere
    assert aapl_d1["rsi_14"].notna().all() and aapl_d1["feature_set_id"].notna().all()
    assert iv.loc[iv["timeframe"] == "m15", "rsi_14"].isna().all()

    health = _frame(url, "SELECT ticker, timeframe, health_status, freshness_status, sessions_behind, hours_behind, "
                         "coverage_ratio FROM analytics.data_health").set_index(["ticker", "timeframe"])
    assert set(health.loc["AAPL", "health_status"]) == {"healthy"}
    assert set(health.loc["BTC/USD", "health_status"]) == {"healthy"}
    assert set(health.loc["QQQ", "freshness_status"]) == {"warning"}  # 2 sessions behind
    assert set(health.loc["QQQ", "sessions_behind"]) == {2}
    assert set(health.loc["MSFT", "health_status"]) == {"critical"}
    assert set(health.loc["MSFT", "sessions_behind"]) == {13}  # Feb 12 .. Feb 29 less Presidents' Day
    assert health.loc[("BTC/USD", "m15"), "hours_behind"] == pytest.approx(0.5)

    summary = _frame(url, "SELECT * FROM analytics.dashboard_symbol_summary").set_index("ticker")
    assert set(summary.index) == {"AAPL", "QQQ", "MSFT", "BTC/USD"}
    aapl = summary.loc["AAPL"]
    last_two = aapl_d1["close"].iloc[-2:].to_numpy()
    assert aapl["latest_session"] == dt.date(2024, 2, 29) and aapl["latest_close"] == last_two[1]
    assert aapl["change"] == pytest.approx(last_two[1] - last_two[0])
    assert aapl["change_pct"] == pytest.approx(100 * (last_two[1] / last_two[0] - 1))
    assert aapl["rsi_14"] is not None and aapl["forecast_label"] is None and aapl["top_option_score"] is None

    # a disagreement between the Python features and SQL, and an impossible RSI, fail their asset checks
    with connect(url) as conn, conn.transaction():
        conn.execute("UPDATE ml.feature_rows SET feature_values[1] = 150 "  # rsi_14 is the first key
                     "WHERE symbol_id = %s AND timeframe = 'd1' AND session_date = '2024-02-28'", (ids["AAPL"],))
        conn.execute("UPDATE ml.feature_rows SET feature_values[2] = feature_values[2] * 1.01 "  # ma_20
                     "WHERE symbol_id = %s AND timeframe = 'h1' AND ts = (SELECT max(ts) FROM ml.feature_rows "
                     "WHERE symbol_id = %s AND timeframe = 'h1')", (ids["AAPL"], ids["AAPL"]))
    instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey(["us_equity", "feature_rows"])))
    failed_run = _build(url, instance)
    assert not failed_run.success
    checks = _checks(failed_run)
    assert not checks["rsi_14_in_0_100"].passed and checks["rsi_14_in_0_100"].severity == dg.AssetCheckSeverity.ERROR
    assert not checks["sma_20_matches_python"].passed
    assert checks["sma_20_matches_python"].severity == dg.AssetCheckSeverity.WARN
    materialized = [e.event_specific_data.materialization.asset_key.to_user_string()
                    for e in failed_run.get_asset_materialization_events()]
    assert "analytics/dashboard_symbol_summary" not in materialized  # downstream of a failed blocking check


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.event_specific_data.materialization.asset_key.path[-1] for e in result.get_asset_materialization_events()}


def test_a_models_fingerprint_is_the_same_whatever_profile_parsed_the_manifest() -> None:
    """dbt stores hooks rendered with the profile's database ({{ this }}); the manifest is re-parsed per profile
    (a test database, the demo's server), and a fingerprint that followed would rebuild indicator_values
    after every such parse (seen in the full suite). Its SQL does change it."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    other = json.loads(json.dumps(manifest))
    hooked = 0
    for node in other["nodes"].values():
        for hook in ("pre-hook", "post-hook"):
            for h in (node.get("config") or {}).get(hook) or []:
                renamed = h["sql"].replace(f'"{node["database"]}".', '"another_database".')
                hooked += renamed != h["sql"]
                h["sql"] = renamed
    assert hooked >= 1  # indicator_values' post-hook names its relation
    project = (DBT_PROJECT_DIR / "dbt_project.yml").read_text()
    models = [u for u in manifest["nodes"] if u.startswith("model.")]
    for unique_id in models:
        assert (dbt_plan.definition_fingerprint(manifest, unique_id, project, {})
                == dbt_plan.definition_fingerprint(other, unique_id, project, {})), unique_id
    other["nodes"]["model.swiftbolt.indicator_values"]["checksum"]["checksum"] = "changed"
    assert (dbt_plan.definition_fingerprint(manifest, "model.swiftbolt.indicator_values", project, {})
            != dbt_plan.definition_fingerprint(other, "model.swiftbolt.indicator_values", project, {}))


def test_nothing_new_skips_dbt_and_new_bars_rebuild_their_dependents(
    warehouse_url: str, instance: dg.DagsterInstance
) -> None:
    """A build with nothing new upstream (no materialization of a source's asset since the models' last
    build) starts no dbt; new bars rebuild the models downstream of them, with their tests, and nothing else;
    a changed definition (a dbt var) rebuilds every model; a dropped relation is rebuilt."""
    url = warehouse_url
    ids = add_symbols(url, {"AAPL": "us_equity"})
    _calendar(url)
    _ingest(url, "us_equity", {"AAPL": ids["AAPL"]}, dt.date(2024, 1, 2), dt.date(2024, 2, 27))
    first = _build(url, instance)
    assert first.success
    every_model = {p.stem for p in (DBT_PROJECT_DIR / "models" / "marts").glob("*.sql")}
    assert _materialized(first) == every_model

    again = _build(url, instance)
    assert again.success and _materialized(again) == set() and not again.get_asset_check_evaluations()
    logs = "\n".join(str(e.user_message) for e in instance.all_logs(again.run_id))
    assert "dbt models to build: none" in logs

    # one more session of bars, as the daily job's ohlc_bars step writes and reports it
    _ingest(url, "us_equity", {"AAPL": ids["AAPL"]}, dt.date(2024, 2, 28), dt.date(2024, 2, 29))
    instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey(["us_equity", "ohlc_bars"])))
    after_close = _build(url, instance)
    assert after_close.success
    # bars_adjusted is a view without tests (its SQL did not change); the forecast, option and evaluation
    # marts read nothing that changed
    assert _materialized(after_close) == {"indicator_values", "dashboard_symbol_summary", "data_health",
                                          "intraday_chart"}
    checked = {e.asset_key.path[-1] for e in after_close.get_asset_check_evaluations()}
    assert checked == {"indicator_values", "dashboard_symbol_summary", "data_health", "intraday_chart"}
    latest = _frame(url, "SELECT max(session_date) AS d FROM analytics.indicator_values")["d"].iloc[0]
    assert latest == dt.date(2024, 2, 29)
    assert _materialized(_build(url, instance)) == set()
    # indicator_values rebuilt on its own (a subset run): the next step rebuilds the models on it
    alone = dg.materialize(
        [swiftbolt_dbt_models], instance=instance, resources={"dbt": dbt_resource(url)}, selection=[ANALYTICS],
        run_config={"ops": {OP: {"config": {"dbt_vars": {"data_health_as_of": AS_OF}, "rebuild_all": True}}}})
    assert _materialized(alone) == {"indicator_values"}
    assert _materialized(_build(url, instance)) == {"dashboard_symbol_summary"}
    # the marts that read the clock (freshness) are rebuilt once older than their rebuild_after_minutes
    manifest = json.loads(dbt_project.manifest_path.read_text())
    with connect(url) as conn:
        relations = {(s, n) for s, n in conn.execute(
            "SELECT schemaname, viewname FROM pg_views UNION ALL SELECT schemaname, tablename FROM pg_tables")}
    later = dbt_plan.plan_build(instance, swiftbolt_dbt_models, swiftbolt_dbt_models.keys, manifest, relations,
                                (DBT_PROJECT_DIR / "dbt_project.yml").read_text(), {"data_health_as_of": AS_OF},
                                now=time.time() + 2 * 3600)
    assert {k.path[-1] for k in later.build} == {"data_health", "options_health"}, later.build
    assert all("reads the clock" in why for why in later.build.values())

    # a changed definition (here a dbt var of the run) rebuilds everything; so does a missing relation
    changed = dg.materialize(
        [swiftbolt_dbt_models], instance=instance, resources={"dbt": dbt_resource(url)},
        run_config={"ops": {OP: {"config": {"dbt_vars": {"data_health_as_of": "2024-03-01T01:00:00+00:00"}}}}})
    assert _materialized(changed) == every_model
    with connect(url) as conn, conn.transaction():
        conn.execute("DROP TABLE analytics.latest_forecast_summary CASCADE")
    assert "latest_forecast_summary" in _materialized(_build(url, instance))


# --- incremental indicator_values ------------------------------------------------------------------------


def _dbt(url: str, tmp: Path, *args: str) -> None:
    """`dbt <args>` by the project's dbt executable, into a scratch target; it must succeed."""
    result = run_dbt(url, tmp, *args)
    assert result.returncode == 0, dbt_output(result)


def _indicators(url: str) -> pd.DataFrame:
    return _frame(url, "SELECT * FROM analytics.indicator_values ORDER BY symbol_id, timeframe, ts")


def _assert_same_values(incremental: pd.DataFrame, full: pd.DataFrame) -> None:
    assert len(incremental) == len(full)
    for column in full.columns.drop("_built_at"):
        a, b = incremental[column], full[column]
        if pd.api.types.is_float_dtype(b) or column in ("rsi_14", "py_ma_20", "py_volatility_20", "sma_20"):
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-12, atol=0, equal_nan=True,
                                       err_msg=column)
        else:
            assert a.equals(b), column


def test_incremental_indicator_values_equal_a_full_rebuild(
    warehouse_url: str, tmp_path: Path
) -> None:
    url = warehouse_url
    ids = add_symbols(url, {"AAPL": "us_equity", "BTC/USD": "crypto"})
    _calendar(url)
    _ingest(url, "us_equity", {"AAPL": ids["AAPL"]}, dt.date(2024, 1, 2), dt.date(2024, 2, 15))
    _ingest(url, "crypto", {"BTC/USD": ids["BTC/USD"]}, dt.date(2024, 2, 1), dt.date(2024, 2, 15))
    select = ("build", "--select", "bars_adjusted", "indicator_values",
              "--vars", '{"indicator_recompute_overlap_hours": 0}')
    _dbt(url, tmp_path, *select)
    first = _indicators(url)

    _dbt(url, tmp_path, *select)  # nothing changed: nothing recomputed
    pd.testing.assert_frame_equal(_indicators(url), first)

    # new sessions: only the tail of each series is recomputed
    _ingest(url, "us_equity", {"AAPL": ids["AAPL"]}, dt.date(2024, 2, 16), dt.date(2024, 2, 29))
    _ingest(url, "crypto", {"BTC/USD": ids["BTC/USD"]}, dt.date(2024, 2, 16), dt.date(2024, 2, 29))
    _dbt(url, tmp_path, *select)
    incremental = _indicators(url)
    kept = incremental.merge(first[["symbol_id", "timeframe", "ts", "_built_at"]], on=["symbol_id", "timeframe", "ts"],
                             suffixes=("", "_first"))
    unchanged = kept["_built_at"] == kept["_built_at_first"]
    assert unchanged.mean() > 0.5  # January's bars were not recomputed
    # (w1/mo1 are re-derived for the periods the new sessions touch, so January's mo1 bar is recomputed)
    january = kept[(kept["ts"] < pd.Timestamp("2024-02-01", tz="UTC")) & ~kept["timeframe"].isin(["w1", "mo1"])]
    assert len(january) > 500 and january["_built_at"].eq(january["_built_at_first"]).all()
    _dbt(url, tmp_path, *select, "--full-refresh")
    _assert_same_values(incremental, _indicators(url))

    # a dividend (moves AAPL's whole adjusted history), feature rows, and a re-ingested old session
    with connect(url) as conn, conn.transaction():
        conn.execute("INSERT INTO market.corporate_actions (symbol_id, action_type, ex_date, cash_amount, provider) "
                     "VALUES (%s, 'cash_dividend', '2024-02-09', 0.24, 'synthetic')", (ids["AAPL"],))
    _write_features(url, ids["BTC/USD"], "h1")
    _ingest(url, "crypto", {"BTC/USD": ids["BTC/USD"]}, dt.date(2024, 2, 5), dt.date(2024, 2, 5))
    _dbt(url, tmp_path, *select)
    incremental = _indicators(url)
    aapl = incremental[incremental["symbol_id"] == ids["AAPL"]]
    before = aapl[aapl["session_date"] < dt.date(2024, 2, 9)]
    # the week and the month holding the ex-date aggregate adjusted days from both sides of it and carry
    # the factor of their last day, which is after the dividend
    holding = before["timeframe"].eq("w1") & before["session_date"].eq(dt.date(2024, 2, 5)) | (
        before["timeframe"].eq("mo1") & before["session_date"].eq(dt.date(2024, 2, 1)))
    assert holding.sum() == 2 and (before.loc[holding, "adjustment_factor"] == 1).all()
    assert (before.loc[~holding, "adjustment_factor"] < 1).all()
    assert incremental.loc[incremental["timeframe"] == "h1", "py_ma_20"].notna().any()
    _dbt(url, tmp_path, *select, "--full-refresh")
    _assert_same_values(incremental, _indicators(url))


# --- evaluation marts (issue 12) ----------------------------------------------------------------------------


def test_model_accuracy_and_calibration_curve_read_the_newest_window(
    warehouse_url: str, tmp_path: Path
) -> None:
    """Performance rows of two as-of days (daily and intraday horizons) and calibration curves, written by the
    evaluation domain's store: the marts show the newest window only, each model beside the window's best
    baseline, and the monotonicity test fails on a curve that goes down."""
    from swiftbolt.evaluations import store

    url = warehouse_url
    old, new = dt.date(2024, 3, 1), dt.date(2024, 3, 4)
    hits = {"lightgbm": 0.58, "prophet": 0.49, "persistence": 0.52, "always_up": 0.55, "up_frequency": 0.53,
            "zero": None}

    def rows(day: dt.date, horizons: tuple[str, ...], models: dict, shift: float) -> pd.DataFrame:
        def hit_at(hit: float | None, d: float) -> float | None:
            return None if hit is None else hit + shift + d

        out = [{"market": "us_equity", "as_of_date": day, "horizon": h, "model": m,
                "is_baseline": m not in ("lightgbm", "prophet", "ensemble"), "window_sessions": 60,
                "window_start": day - dt.timedelta(days=80), "window_end": day, "n": 240, "n_symbols": 6,
                "hit_rate": hit_at(hit, 0.0), "hit_low": hit_at(hit, -0.06), "hit_high": hit_at(hit, 0.06),
                "mae": 0.01 if m != "zero" else 0.0125, "ic": 0.05} for h in horizons for m, hit in models.items()]
        return pd.DataFrame(out).reindex(columns=list(store.PERFORMANCE_TABLE_COLUMNS))

    intraday = {"lightgbm": 0.60, "persistence": 0.47, "zero": None}
    with connect(url) as conn, conn.transaction():
        store.write_performance(conn, "us_equity", [old], rows(old, ("1D", "5D"), hits, -0.1), ("1D", "5D"))
        store.write_performance(conn, "us_equity", [new], rows(new, ("1D", "5D"), hits, 0.0), ("1D", "5D"))
        store.write_performance(conn, "us_equity", [new], rows(new, ("15m", "1h"), intraday, 0.0), ("15m", "1h"))
        for day, calibrated in ((old, [0.3, 0.2]), (new, [0.52, 0.61])):
            curve = pd.DataFrame({"market": "us_equity", "as_of_date": day, "horizon": "1D", "model_type": "ensemble",
                                  "method": "isotonic", "bucket": [5, 6], "bucket_lower": [0.5, 0.6],
                                  "bucket_upper": [0.6, 0.7], "predicted": [0.55, 0.65], "actual": [0.5, 0.6],
                                  "n": [40, 30], "calibrated": calibrated, "n_window": 70, "ece_before": 0.05,
                                  "ece_after": 0.01, "window_start": day - dt.timedelta(days=300),
                                  "window_end": day, "dagster_run_id": None})
            curve["adjustment"] = curve["calibrated"] - curve["predicted"]
            store.write_calibration(conn, "us_equity", [day], curve)
    _dbt(url, tmp_path, "build", "--select", "model_accuracy", "calibration_curve")

    acc = _frame(url, "SELECT * FROM analytics.model_accuracy").set_index(["horizon", "model"])
    assert len(acc) == 2 * 6 + 2 * 3 and set(acc["as_of_date"]) == {new}
    lgbm = acc.loc[("1D", "lightgbm")]
    assert lgbm["best_baseline"] == "always_up" and lgbm["best_baseline_hit_rate"] == pytest.approx(0.55)
    assert lgbm["hit_rate_vs_best_baseline"] == pytest.approx(0.03) and not lgbm["beats_best_baseline"]
    assert lgbm["mae_skill_vs_zero"] == pytest.approx(0.2)
    assert acc.loc[("1h", "lightgbm"), "best_baseline"] == "persistence"
    assert acc.loc[("1h", "lightgbm"), "beats_best_baseline"]   # Wilson lower bound 0.54 > 0.47
    curve = _frame(url, "SELECT * FROM analytics.calibration_curve ORDER BY bucket")
    assert curve["as_of_date"].tolist() == [new, new] and curve["calibrated"].tolist() == [0.52, 0.61]

    # a curve that goes down fails the monotonicity test
    with connect(url) as conn, conn.transaction():
        conn.execute("UPDATE ml.ml_confidence_calibration SET calibrated = 0.4, adjustment = 0.4 - predicted "
                     "WHERE as_of_date = %s AND bucket = 6", (new,))
    result = run_dbt(url, tmp_path, "test", "--select", "calibration_curve_monotone")
    assert result.returncode == 1, dbt_output(result)  # the test failed; dbt itself did not


# --- forecasts in the marts ------------------------------------------------------------------------------


def test_forecast_marts_after_a_forecast_run(warehouse_url: str, instance: dg.DagsterInstance) -> None:
    """After the forecast assets ran for two days, latest_forecast_summary holds the newest ensemble row per
    symbol and horizon (the later day) and dashboard_symbol_summary its 1D label and confidence."""
    from assets.features import build_supertrend_signals
    from assets.forecasts import build_assets
    from assets.partitions import symbol_partitions
    from resources import WarehouseResource
    from swiftbolt.markets import US_EQUITY
    from tests.forecast_helpers import seed_bars, seed_features

    first, last = dt.date(2023, 6, 1), dt.date(2024, 6, 14)
    days = ("2024-06-12", "2024-06-13")
    ids = seed_bars(warehouse_url, dict.fromkeys(("AAA", "BBB", "CCC"), (first, last)))
    seed_features(warehouse_url, ids, first, last)
    _calendar(warehouse_url)
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url)}
    models, lgbm, prophet, ensemble = build_assets(US_EQUITY)
    instance.add_dynamic_partitions(symbol_partitions("us_equity").name, list(ids))
    assert dg.materialize([models], instance=instance, resources=resources, partition_key="2024-06-03").success
    tags = {"dagster/asset_partition_range_start": dg.MultiPartitionKey({"date": days[0], "symbol": "AAA"}),
            "dagster/asset_partition_range_end": dg.MultiPartitionKey({"date": days[1], "symbol": "CCC"})}
    assert dg.materialize([build_supertrend_signals(US_EQUITY), lgbm, prophet, ensemble], instance=instance,
                          resources=resources, tags=tags).success
    result = _build(warehouse_url, instance)
    checks = _checks(result)
    forecast_checks = {n: c for n, c in checks.items() if "forecast" in n}
    assert {"latest_forecast_summary_unique_symbol_horizon", "latest_forecast_interval_contains_target",
            "latest_forecast_confidence_in_0_1"} <= set(forecast_checks)
    assert all(c.passed for c in forecast_checks.values()), forecast_checks
    latest = _frame(warehouse_url, "SELECT * FROM analytics.latest_forecast_summary ORDER BY ticker, horizon_sessions")
    stored = _frame(warehouse_url, "SELECT symbol_id, horizon, overall_label, confidence, target_price, ci_lower, "
                                   "ci_upper, model_version, supertrend_state FROM ml.ml_forecasts "
                                   "WHERE model_type = 'ensemble' AND forecast_date = %s", (dt.date(2024, 6, 13),))
    assert len(latest) == 12 and set(latest["forecast_date"]) == {dt.date(2024, 6, 13)}
    assert list(latest.groupby("ticker")["horizon"].apply(list)) == [["1D", "5D", "10D", "20D"]] * 3
    merged = latest.merge(stored, on=["symbol_id", "horizon"], suffixes=("", "_stored"))
    assert len(merged) == 12
    for column in ("overall_label", "confidence", "target_price", "ci_lower", "ci_upper", "model_version"):
        assert (merged[column] == merged[f"{column}_stored"]).all(), column
    assert merged["supertrend_state"].isin(["bullish", "bearish"]).all()
    summary = _frame(warehouse_url, "SELECT ticker, forecast_label, forecast_confidence, forecast_date, "
                                    "forecast_target_price FROM analytics.dashboard_symbol_summary ORDER BY ticker")
    one_day = latest[latest["horizon"] == "1D"].set_index("ticker")
    assert list(summary["ticker"]) == ["AAA", "BBB", "CCC"]
    for row in summary.itertuples(index=False):
        assert row.forecast_label == one_day.at[row.ticker, "overall_label"]
        assert row.forecast_confidence == one_day.at[row.ticker, "confidence"]
        assert row.forecast_date == dt.date(2024, 6, 13) and row.forecast_target_price > 0
