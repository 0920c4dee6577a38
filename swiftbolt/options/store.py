"""Warehouse reads and writes of the options domain (migration 0020). Every write replaces a partition
(underlying x day, and for snapshots the snapshot time) in the caller's transaction: DELETE, then COPY.

Tables and writers: options.options_chain_snapshots and ops.option_chain_quarantine (write_snapshots, one
DELETE and one COPY for many partitions), options.iv_history (write_iv_history), options.options_ranks
(write_ranks_many), options.ranking_evaluations
(write_evaluations); the assets in assets/options.py call them through swiftbolt/options/pipeline.py.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.db.copy import copy_frame

SNAPSHOT_COLUMNS: tuple[str, ...] = (
    "underlying_symbol_id", "snapshot_date", "snapshot_ts", "snapshot_kind", "contract", "expiration", "strike",
    "option_type", "bid", "ask", "mark", "last", "volume", "open_interest", "implied_volatility", "delta", "gamma",
    "theta", "vega", "rho", "underlying_price", "years_to_expiry", "rate", "dividend_yield", "forward", "iv_source",
    "provider", "dagster_run_id",
)
QUARANTINE_COLUMNS: tuple[str, ...] = ("underlying_symbol_id", "snapshot_date", "snapshot_ts", "contract", "reason",
                                       "raw", "provider")
IV_COLUMNS: tuple[str, ...] = (
    "underlying_symbol_id", "snapshot_date", "snapshot_ts", "underlying_price", "atm_iv_30d", "atm_call_iv",
    "atm_put_iv", "skew_25d", "term_slope", "iv_min", "iv_max", "iv_median", "hv_20", "hv_60", "iv_rank",
    "iv_percentile", "history_sessions", "history_complete", "n_contracts", "n_expirations", "dagster_run_id",
)
RANK_COMPONENTS: tuple[str, ...] = (
    "liquidity_spread_score", "liquidity_oi_score", "liquidity_volume_score", "liquidity_score",
    "value_iv_realized_score", "value_iv_forecast_score", "value_iv_rank_score", "value_score",
    "greeks_delta_score", "greeks_theta_score", "greeks_vega_score", "greeks_score", "forecast_alignment_score",
)
# A rank row holds the ranking's own values (migration 0023); the contract's quote, IV and delta are its
# snapshot's (snapshot_ts), joined by load_ranks and by the top_ranked_options model.
RANK_COLUMNS: tuple[str, ...] = (
    "underlying_symbol_id", "snapshot_date", "contract", "ranking_mode", "snapshot_ts", *RANK_COMPONENTS,
    "composite_score", "rank", "signal", "forecast_horizon", "dagster_run_id",
)
RANK_SNAPSHOT_COLUMNS: tuple[str, ...] = ("expiration", "strike", "option_type", "bid", "ask", "mark",
                                          "implied_volatility", "delta")
EVALUATION_COLUMNS: tuple[str, ...] = (
    "underlying_symbol_id", "snapshot_date", "ranking_mode", "horizon_sessions", "evaluation_date", "n_contracts",
    "rank_ic", "rank_ic_mid", "ic_mean", "ic_std", "ic_trend", "ic_stability", "window_sessions", "hit_rate",
    "hit_rate_lower", "hit_rate_upper", "calibration", "calibration_monotonicity", "leakage_ic_prior",
    "features_match", "permutation_p_value", "regime", "is_healthy", "reasons", "dagster_run_id",
)


def _frame(cur: psycopg.Cursor) -> pd.DataFrame:
    assert cur.description is not None
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


# ------------------------------------------------------------------------------------------- snapshots

def write_snapshots(conn: psycopg.Connection, partitions: pd.DataFrame, rows: pd.DataFrame, rejected: pd.DataFrame,
                    by: str, provider: str, run_id: str | None) -> int:
    """Replace many snapshots in one DELETE and one COPY per table. `partitions`: one row per snapshot, indexed
    by its `by` value, with underlying_symbol_id, snapshot_date, snapshot_ts and snapshot_kind (a closing
    snapshot also replaces any earlier closing snapshot of its day); `rows` (chain columns + IV/greeks terms)
    and `rejected` (contract, reason, raw) carry the `by` column. Returns the snapshot rows written."""
    if partitions.empty:
        return 0
    ts = pd.to_datetime(partitions["snapshot_ts"], utc=True)
    keys = (partitions["underlying_symbol_id"].astype("int64").tolist(), list(partitions["snapshot_date"]),
            [t.to_pydatetime() for t in ts])
    conn.execute(
        """DELETE FROM options.options_chain_snapshots s
           USING unnest(%s::bigint[], %s::date[], %s::timestamptz[], %s::boolean[]) AS p(sid, day, ts, is_close)
           WHERE s.underlying_symbol_id = p.sid AND s.snapshot_date = p.day
             AND (s.snapshot_ts = p.ts OR (p.is_close AND s.snapshot_kind = 'close'))""",
        (*keys, (partitions["snapshot_kind"] == "close").tolist()))
    conn.execute(
        """DELETE FROM ops.option_chain_quarantine q
           USING unnest(%s::bigint[], %s::date[], %s::timestamptz[]) AS p(sid, day, ts)
           WHERE q.underlying_symbol_id = p.sid AND q.snapshot_date = p.day AND q.snapshot_ts = p.ts""", keys)
    parts = partitions.assign(snapshot_ts=ts)
    n = copy_frame(conn, "options.options_chain_snapshots", list(SNAPSHOT_COLUMNS), _with_keys(rows, parts, by, (
        "underlying_symbol_id", "snapshot_date", "snapshot_ts", "snapshot_kind"), provider=provider,
        dagster_run_id=run_id))
    if not rejected.empty:
        copy_frame(conn, "ops.option_chain_quarantine", list(QUARANTINE_COLUMNS), _with_keys(
            rejected, parts, by, ("underlying_symbol_id", "snapshot_date", "snapshot_ts"), provider=provider))
    return n


def _with_keys(rows: pd.DataFrame, partitions: pd.DataFrame, by: str, columns: tuple[str, ...],
               **constants: object) -> pd.DataFrame:
    """`rows` with the named columns of their partition (looked up by the `by` column) and constants."""
    if rows.empty:
        return rows
    at = partitions.index.get_indexer(rows[by])
    return rows.assign(**{c: partitions[c].to_numpy()[at] for c in columns}, **constants)


def write_snapshot(conn: psycopg.Connection, symbol_id: int, day: dt.date, snapshot_ts: pd.Timestamp, kind: str,
                   rows: pd.DataFrame, rejected: pd.DataFrame, provider: str, run_id: str | None) -> int:
    """Replace the snapshot (symbol, day, snapshot_ts) and, for a closing snapshot, any earlier closing
    snapshot of the day, with `rows` (chain columns + IV/greeks terms) and `rejected` (contract, reason, raw)."""
    partitions = pd.DataFrame({"underlying_symbol_id": [symbol_id], "snapshot_date": [day],
                               "snapshot_ts": [pd.Timestamp(snapshot_ts)], "snapshot_kind": [kind]},
                              index=pd.Index([0], name="_snapshot"))
    return write_snapshots(conn, partitions, rows.assign(_snapshot=0), rejected.assign(_snapshot=0), "_snapshot",
                           provider, run_id)


def load_snapshot(conn: psycopg.Connection, symbol_id: int, day: dt.date) -> pd.DataFrame:
    """The day's latest snapshot of the underlying (the closing one once taken)."""
    return _frame(conn.execute(
        """SELECT * FROM options.options_chain_snapshots
           WHERE underlying_symbol_id = %(s)s AND snapshot_date = %(d)s AND snapshot_ts = (
               SELECT max(snapshot_ts) FROM options.options_chain_snapshots
               WHERE underlying_symbol_id = %(s)s AND snapshot_date = %(d)s)
           ORDER BY contract""", {"s": symbol_id, "d": day}))


def load_marks(conn: psycopg.Connection, symbol_id: int, days: list[dt.date]) -> pd.DataFrame:
    """contract, snapshot_date, bid, ask, mark of the latest snapshot of each of `days`."""
    return _frame(conn.execute(
        """SELECT s.contract, s.snapshot_date, s.bid, s.ask, s.mark FROM options.options_chain_snapshots s
           JOIN (SELECT snapshot_date, max(snapshot_ts) AS ts FROM options.options_chain_snapshots
                 WHERE underlying_symbol_id = %(s)s AND snapshot_date = ANY(%(d)s) GROUP BY snapshot_date) l
             ON l.snapshot_date = s.snapshot_date AND l.ts = s.snapshot_ts
           WHERE s.underlying_symbol_id = %(s)s""", {"s": symbol_id, "d": list(days)}))


# ----------------------------------------------------------------------------------------- iv history

def write_iv_history(conn: psycopg.Connection, symbol_id: int, day: dt.date, row: dict | None,
                     run_id: str | None) -> int:
    conn.execute("DELETE FROM options.iv_history WHERE underlying_symbol_id = %s AND snapshot_date = %s",
                 (symbol_id, day))
    if row is None:
        return 0
    frame = pd.DataFrame([{**row, "underlying_symbol_id": symbol_id, "snapshot_date": day, "dagster_run_id": run_id}])
    return copy_frame(conn, "options.iv_history", list(IV_COLUMNS), frame)


def load_iv_history(conn: psycopg.Connection, symbol_id: int, before: dt.date, limit: int) -> pd.DataFrame:
    """The newest `limit` rows with snapshot_date < before, oldest first."""
    frame = _frame(conn.execute(
        "SELECT * FROM options.iv_history WHERE underlying_symbol_id = %s AND snapshot_date < %s "
        "ORDER BY snapshot_date DESC LIMIT %s", (symbol_id, before, limit)))
    return frame.iloc[::-1].reset_index(drop=True)


def load_iv_row(conn: psycopg.Connection, symbol_id: int, day: dt.date) -> dict | None:
    frame = _frame(conn.execute("SELECT * FROM options.iv_history WHERE underlying_symbol_id = %s "
                                "AND snapshot_date = %s", (symbol_id, day)))
    return None if frame.empty else frame.iloc[0].to_dict()


def load_closes(conn: psycopg.Connection, symbol_id: int, last: dt.date, n: int) -> pd.Series:
    """The last `n` adjusted daily closes with session_date <= last (nothing later is read), oldest first."""
    rows = conn.execute(
        "SELECT session_date, close FROM market.ohlc_bars_adjusted WHERE symbol_id = %s AND timeframe = 'd1' "
        "AND session_date <= %s ORDER BY session_date DESC LIMIT %s", (symbol_id, last, n)).fetchall()
    return pd.Series([float(r[1]) for r in rows[::-1]], index=[r[0] for r in rows[::-1]], dtype="float64")


def load_ensemble(conn: psycopg.Connection, symbol_id: int, day: dt.date) -> pd.DataFrame:
    """The ensemble forecasts of `day` (ml.ml_forecasts, model_type 'ensemble', forecast_date = day only)."""
    return _frame(conn.execute(
        "SELECT horizon, horizon_sessions, overall_label, confidence, prob_up, return_q10, return_q90 "
        "FROM ml.ml_forecasts WHERE symbol_id = %s AND forecast_date = %s AND model_type = 'ensemble' "
        "AND timeframe = 'd1' ORDER BY horizon_sessions", (symbol_id, day)))


# ---------------------------------------------------------------------------------------------- ranks

def write_ranks_many(conn: psycopg.Connection, partitions: pd.DataFrame, ranks: pd.DataFrame, by: str,
                     run_id: str | None) -> int:
    """Replace the ranks of many (underlying, day) partitions in one DELETE and one COPY. `partitions`: one
    row per partition, indexed by its `by` value, with underlying_symbol_id, snapshot_date and snapshot_ts
    (the snapshot that was ranked); `ranks` carries the `by` column."""
    if partitions.empty:
        return 0
    conn.execute(
        """DELETE FROM options.options_ranks r USING unnest(%s::bigint[], %s::date[]) AS p(sid, day)
           WHERE r.underlying_symbol_id = p.sid AND r.snapshot_date = p.day""",
        (partitions["underlying_symbol_id"].astype("int64").tolist(), list(partitions["snapshot_date"])))
    if ranks.empty:
        return 0
    parts = partitions.assign(snapshot_ts=pd.to_datetime(partitions["snapshot_ts"], utc=True))
    frame = _with_keys(ranks, parts, by, ("underlying_symbol_id", "snapshot_date", "snapshot_ts"),
                       dagster_run_id=run_id)
    return copy_frame(conn, "options.options_ranks", list(RANK_COLUMNS), frame)


def write_ranks(conn: psycopg.Connection, symbol_id: int, day: dt.date, snapshot_ts: pd.Timestamp,
                ranks: pd.DataFrame, run_id: str | None) -> int:
    partitions = pd.DataFrame({"underlying_symbol_id": [symbol_id], "snapshot_date": [day],
                               "snapshot_ts": [pd.Timestamp(snapshot_ts)]}, index=pd.Index([0], name="_partition"))
    return write_ranks_many(conn, partitions, ranks.assign(_partition=0) if not ranks.empty else ranks,
                            "_partition", run_id)


def load_ranks(conn: psycopg.Connection, symbol_id: int, day: dt.date) -> pd.DataFrame:
    """The stored ranks of (underlying, day) with their contracts' quote, IV and delta from the ranked
    snapshot (RANK_SNAPSHOT_COLUMNS), by mode and rank."""
    return _frame(conn.execute(
        f"""SELECT r.*, {', '.join(f's.{c}' for c in RANK_SNAPSHOT_COLUMNS)}
            FROM options.options_ranks r
            LEFT JOIN options.options_chain_snapshots s
              ON s.underlying_symbol_id = r.underlying_symbol_id AND s.snapshot_date = r.snapshot_date
             AND s.snapshot_ts = r.snapshot_ts AND s.contract = r.contract
            WHERE r.underlying_symbol_id = %s AND r.snapshot_date = %s ORDER BY r.ranking_mode, r.rank""",
        (symbol_id, day)))


# ---------------------------------------------------------------------------------------- evaluations

def write_evaluations(conn: psycopg.Connection, symbol_id: int, evaluation_date: dt.date, rows: pd.DataFrame,
                      run_id: str | None) -> int:
    conn.execute("DELETE FROM options.ranking_evaluations WHERE underlying_symbol_id = %s AND evaluation_date = %s",
                 (symbol_id, evaluation_date))
    if rows.empty:
        return 0
    frame = rows.assign(underlying_symbol_id=symbol_id, evaluation_date=evaluation_date, dagster_run_id=run_id)
    frame["calibration"] = [json.dumps(_json_safe(v), sort_keys=True) for v in frame["calibration"]]
    frame["reasons"] = [json.dumps(list(v)) for v in frame["reasons"]]
    return copy_frame(conn, "options.ranking_evaluations", list(EVALUATION_COLUMNS), frame)


def load_past_ics(conn: psycopg.Connection, symbol_id: int, mode: str, horizon: int, before: dt.date,
                  limit: int) -> pd.Series:
    rows = conn.execute(
        "SELECT evaluation_date, rank_ic FROM options.ranking_evaluations WHERE underlying_symbol_id = %s "
        "AND ranking_mode = %s AND horizon_sessions = %s AND evaluation_date < %s AND rank_ic IS NOT NULL "
        "ORDER BY evaluation_date DESC LIMIT %s", (symbol_id, mode, horizon, before, limit)).fetchall()
    return pd.Series([r[1] for r in rows[::-1]], index=[r[0] for r in rows[::-1]], dtype="float64")


def _json_safe(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
