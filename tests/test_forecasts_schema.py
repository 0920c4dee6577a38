"""Constraints of the forecast tables (migration 0015) on a real PostgreSQL: each domain rule rejects a
row that breaks it, and a valid row passes."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from swiftbolt.db.connection import connect
from tests.helpers import add_symbols

pytestmark = pytest.mark.warehouse

D = dt.date(2025, 3, 3)


def _forecast(symbol_id: int, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = dict(
        symbol_id=symbol_id, forecast_date=D, timeframe="d1", horizon="5D", horizon_sessions=5,
        target_date=D + dt.timedelta(days=7), model_type="prophet", base_close=100.0, forecast_return=0.01,
        return_q10=-0.03, return_q50=0.00995, return_q90=0.05, target_price=101.0, ci_lower=97.0, ci_upper=105.0,
        overall_label="bullish", confidence=0.6, prob_up=0.6, volatility=0.01, neutral_band=0.002,
        model_version="a" * 64,
    )
    row.update(overrides)
    return row


def _insert(conn: psycopg.Connection, table: str, row: dict[str, object]) -> None:
    cols = list(row)
    values = [psycopg.types.json.Jsonb(v) if isinstance(v, dict) else v for v in row.values()]
    conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})", values)


@pytest.mark.parametrize(("overrides", "constraint"), [
    ({"confidence": 1.2}, "confidence_check"),
    ({"target_price": 106.0}, "ml_forecasts_interval"),
    ({"ci_lower": 102.0}, "ml_forecasts_interval"),
    ({"horizon": "3D", "horizon_sessions": 20}, "horizon_check"),
    ({"horizon": "10D", "horizon_sessions": 5}, "ml_forecasts_horizon_sessions"),
    ({"overall_label": "up"}, "overall_label_check"),
    ({"model_type": "arima"}, "model_type_check"),
    ({"return_q10": 0.02}, "ml_forecasts_quantiles_ordered"),
    ({"target_date": D}, "ml_forecasts_target_after"),
    ({"model_type": "lightgbm"}, "ml_forecasts_lightgbm_model"),
    ({"model_type": "ensemble"}, "ml_forecasts_ensemble_inputs"),
    ({"weights_as_of": D}, "ml_forecasts_weights_before"),
])
def test_forecast_constraints_reject_out_of_domain_rows(warehouse_url: str, overrides: dict, constraint: str) -> None:
    ids = add_symbols(warehouse_url, {"AAPL": "us_equity"})
    with connect(warehouse_url) as conn:
        _insert(conn, "ml.ml_forecasts", _forecast(ids["AAPL"]))  # the valid row passes
        with pytest.raises(psycopg.errors.CheckViolation) as err:  # another horizon: no key conflict
            _insert(conn, "ml.ml_forecasts", _forecast(ids["AAPL"], **({"horizon": "1D", "horizon_sessions": 1}
                                                                       | overrides)))
        assert constraint in str(err.value)


def test_forecast_natural_key_is_unique_and_points_follow_their_forecast(warehouse_url: str) -> None:
    ids = add_symbols(warehouse_url, {"AAPL": "us_equity"})
    with connect(warehouse_url) as conn:
        _insert(conn, "ml.ml_forecasts", _forecast(ids["AAPL"]))
        fid = conn.execute("SELECT id FROM ml.ml_forecasts").fetchone()[0]
        conn.execute("INSERT INTO ml.forecast_points VALUES (%s, 1, %s, -0.01, 0.001, 0.01, 100.1, 99, 101)",
                     (fid, D + dt.timedelta(days=1)))
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO ml.forecast_points VALUES (%s, 2, %s, -0.01, 0.001, 0.01, 100.1, 101, 102)",
                         (fid, D + dt.timedelta(days=2)))
    with connect(warehouse_url) as conn:
        _insert(conn, "ml.ml_forecasts", _forecast(ids["AAPL"]))
        fid = conn.execute("SELECT id FROM ml.ml_forecasts").fetchone()[0]
        conn.execute("INSERT INTO ml.forecast_points VALUES (%s, 1, %s, -0.01, 0.001, 0.01, 100.1, 99, 101)",
                     (fid, D + dt.timedelta(days=1)))
        with pytest.raises(psycopg.errors.UniqueViolation):
            _insert(conn, "ml.ml_forecasts", _forecast(ids["AAPL"]))
    with connect(warehouse_url) as conn:
        _insert(conn, "ml.ml_forecasts", _forecast(ids["AAPL"]))
        fid = conn.execute("SELECT id FROM ml.ml_forecasts").fetchone()[0]
        conn.execute("INSERT INTO ml.forecast_points VALUES (%s, 1, %s, -0.01, 0.001, 0.01, 100.1, 99, 101)",
                     (fid, D + dt.timedelta(days=1)))
        conn.execute("DELETE FROM ml.ml_forecasts")
        assert conn.execute("SELECT count(*) FROM ml.forecast_points").fetchone()[0] == 0


def _weight(model_type: str, weight: float, symbol_id: int | None = None, **kw: object) -> dict[str, object]:
    return dict(market="us_equity", as_of_date=D, horizon="1D", symbol_id=symbol_id, model_type=model_type,
                weight=weight, reason="test", **kw)


def test_model_weights_sum_to_one_per_scope_at_commit(warehouse_url: str) -> None:
    ids = add_symbols(warehouse_url, {"AAPL": "us_equity"})
    with connect(warehouse_url) as conn:  # market scope and a symbol scope, each summing to 1
        for row in (_weight("lightgbm", 0.7), _weight("prophet", 0.3),
                    _weight("lightgbm", 0.5, ids["AAPL"]), _weight("prophet", 0.5, ids["AAPL"])):
            _insert(conn, "ml.model_weights", row)
        conn.commit()
    with connect(warehouse_url) as conn:
        _insert(conn, "ml.model_weights", _weight("lightgbm", 0.6) | {"as_of_date": D + dt.timedelta(days=1)})
        with pytest.raises(psycopg.errors.CheckViolation, match=r"sum to 0\.6"):
            conn.commit()
    # one row per (scope, model): a NULL symbol_id (the market's scope) counts as a value
    with connect(warehouse_url) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        _insert(conn, "ml.model_weights", _weight("lightgbm", 0.7))
    # the window ends at D at the latest (outcomes known at D's close; 0017), never after it
    with connect(warehouse_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        _insert(conn, "ml.model_weights", _weight("prophet", 0.3) | {"as_of_date": D + dt.timedelta(days=3),
                                                                       "window_end": D + dt.timedelta(days=4)})
