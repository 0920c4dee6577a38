"""`swiftbolt evaluate-forecasts --files DIR [--start] [--end]`: the core half (no Dagster).

* `plan_evaluation`: reads the vendor directory through the file provider (every file, so unusable input is
  refused before anything starts, with one line), and turns --start/--end into the ranges the Dagster
  runs cover: bars and d1 feature rows from `history_start` (the training window and the volatility window
  before `start`), forecasts for every session in [start, end], bars up to `bars_end` (h sessions after
  `end`, where the vendor has them) so that the forecasts' horizons realise.
* `scratch_database`: a fresh warehouse database on the configured server (embedded by default), migrated.
* `evaluate`: scores the stored forecasts (ml.ml_forecasts) against the realised adjusted closes of the
  warehouse, per horizon and model, beside the naive baselines on the same rows
  (swiftbolt.forecasts.metrics). This is a plain query and the metrics module, not the evaluation assets.

The Dagster half (materializing the assets) is `demo/evaluate.py`, a child process of the CLI.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect, ensure_database
from swiftbolt.db.migrate import migrate
from swiftbolt.db.urls import database_of, with_database
from swiftbolt.errors import ConfigError
from swiftbolt.forecasts.config import load_forecast_settings
from swiftbolt.forecasts.dataset import MIN_HISTORY_SESSIONS, VOL_WINDOW
from swiftbolt.forecasts.horizons import HORIZONS, MAX_HORIZON
from swiftbolt.forecasts.metrics import score, score_baselines
from swiftbolt.providers.files import FilesProvider, market_of
from swiftbolt.settings import EARLIEST_HISTORY_START

MARKET = "us_equity"
DEFAULT_SESSIONS = 60
"""Without --start: the last 60 sessions whose 20-session horizon has realised in the files."""
MIN_TRAIN_HISTORY = MIN_HISTORY_SESSIONS + MAX_HORIZON + 40
"""Sessions of bars before --start below which no model can be trained (a one-line refusal)."""
MODELS = ("lightgbm", "prophet", "ensemble")
BASELINES = ("persistence", "always_up", "up_frequency", "zero")


class EvaluationInputError(ConfigError):
    """Unusable input of evaluate-forecasts (directory, files or range): one line."""


@dataclass(frozen=True)
class EvaluationPlan:
    directory: Path
    symbols: tuple[str, ...]
    rows: dict[str, int]
    history_start: dt.date  # first session of bars and feature rows
    start: dt.date  # first forecast day
    end: dt.date  # last forecast day
    bars_end: dt.date  # last session of bars (horizons of `end` realise by it when the files reach it)
    train_sessions: int  # training window of the models (capped by the history available)

    @property
    def forecast_sessions(self) -> int:
        return len(session_dates(MARKET, self.start, self.end))

    @property
    def bar_sessions(self) -> int:
        return len(session_dates(MARKET, self.history_start, self.bars_end))

    def describe(self) -> str:
        return (f"{len(self.symbols)} symbols ({', '.join(self.symbols)}) from {self.directory}: bars and d1 features "
                f"{self.history_start}..{self.bars_end} ({self.bar_sessions} sessions), models trained weekly on "
                f"{self.train_sessions} sessions, forecasts {self.start}..{self.end} ({self.forecast_sessions} "
                "sessions)")


def _date(text: str | None, name: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise EvaluationInputError(f"--{name} {text!r} is not a date; use YYYY-MM-DD") from None


def plan_evaluation(directory: str | Path, start: str | None = None, end: str | None = None,
                    train_sessions: int | None = None) -> EvaluationPlan:
    """Check the directory and the range (one-line EvaluationInputError / VendorFileError on unusable input)
    and size the runs. Every symbol's file must cover [history_start, bars_end]: a session without a bar
    fails the bars' blocking coverage check, so the common span of the files bounds the range."""
    provider = FilesProvider(directory)
    rows = provider.check()
    symbols = provider.symbols()
    foreign = [s for s in symbols if market_of(s) != MARKET]
    if foreign:
        raise EvaluationInputError(f"evaluate-forecasts reads US-equity daily bars; {foreign} are not (one market "
                                   "per directory)")
    empty = [s for s in symbols if rows[s] == 0]
    if empty:
        raise EvaluationInputError(f"no rows in the file of {empty} in {directory}")
    spans = {}
    for s in symbols:
        days = pd.to_datetime(provider.daily_bars(s)["session_date"])
        spans[s] = (days.min().date(), days.max().date())
    common_first = max(max(first for first, _ in spans.values()), EARLIEST_HISTORY_START)
    common_last = min(last for _, last in spans.values())
    sessions = session_dates(MARKET, common_first, common_last)
    if len(sessions) < MIN_TRAIN_HISTORY + MAX_HORIZON + 1:
        raise EvaluationInputError(f"the files share only {len(sessions)} sessions ({common_first}..{common_last}); "
                                   f"at least {MIN_TRAIN_HISTORY + MAX_HORIZON + 1} are needed")
    s_end = _date(end, "end")
    s_start = _date(start, "start")
    last_realised = sessions[-1 - MAX_HORIZON]
    if s_end is None:
        s_end = last_realised
    if s_start is None:
        ends = [d for d in sessions if d <= s_end]
        s_start = ends[max(0, len(ends) - DEFAULT_SESSIONS)] if ends else s_end
    if s_start > s_end:
        raise EvaluationInputError(f"--start {s_start} is after --end {s_end}")
    if s_end > sessions[-1] or s_start < sessions[0]:
        raise EvaluationInputError(f"the range {s_start}..{s_end} is outside the sessions every file covers "
                                   f"({common_first}..{common_last})")
    first_pos = next(i for i, d in enumerate(sessions) if d >= s_start)
    if first_pos < MIN_TRAIN_HISTORY:
        raise EvaluationInputError(
            f"--start {s_start} leaves {first_pos} sessions of history in the files (from {common_first}); a model "
            f"needs at least {MIN_TRAIN_HISTORY}: start on or after {sessions[MIN_TRAIN_HISTORY]}")
    forecast_days = [d for d in sessions if s_start <= d <= s_end]
    if not forecast_days:
        raise EvaluationInputError(f"no session of the files in {s_start}..{s_end}")
    window = train_sessions or load_forecast_settings().train_sessions
    need = window + MAX_HORIZON + VOL_WINDOW + 5
    hist_pos = max(0, first_pos - need)
    window = min(window, first_pos - MAX_HORIZON - VOL_WINDOW // 2) if hist_pos == 0 else window
    last_pos = sessions.index(forecast_days[-1])
    return EvaluationPlan(
        directory=Path(directory), symbols=tuple(symbols), rows=rows, history_start=sessions[hist_pos],
        start=forecast_days[0], end=forecast_days[-1],
        bars_end=sessions[min(len(sessions) - 1, last_pos + MAX_HORIZON)], train_sessions=max(100, window))


def universe_yaml(symbols: tuple[str, ...]) -> str:
    """A universe file with the directory's symbols (the scratch warehouse's market.symbols)."""
    lines = [f"{MARKET}:"] + [f"  - {{ticker: {s}, asset_type: stock}}" for s in symbols]
    return "\n".join(lines) + "\n"


def scratch_database(server_url: str, name: str = "swiftbolt_evaluate") -> str:
    """A fresh warehouse database `name` on the server of `server_url` (dropped and created again), migrated.
    Returns its URL. (The Dagster side uses an ephemeral instance: nothing of it outlives the command.)"""
    from psycopg import sql

    url = with_database(server_url, name)
    if database_of(url) == database_of(server_url):
        raise EvaluationInputError(f"--database {name!r} is the configured warehouse; name a scratch database")
    with connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    ensure_database(url)
    migrate(url)
    return url


# ----------------------------------------------------------------------------------------- evaluation

def realised_frame(conn: psycopg.Connection, market: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Stored forecasts of [start, end] (every model type and horizon) with, per row: the realised h-session
    log return of the adjusted close (NaN until it has realised), the past h-session return (persistence),
    the symbol's share of positive h-session returns realised by D (up frequency) and sigma_60."""
    cur = conn.execute(
        "SELECT f.symbol_id, f.forecast_date, f.horizon, f.horizon_sessions, f.model_type, f.return_q10, "
        "f.return_q50, f.return_q90, f.prob_up, f.volatility FROM ml.ml_forecasts f "
        "JOIN market.symbols s ON s.id = f.symbol_id WHERE s.market = %s AND f.timeframe = 'd1' "
        "AND f.forecast_date BETWEEN %s AND %s", (market, start, end))
    forecasts = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description or []])
    if forecasts.empty:
        return forecasts
    ids = sorted(int(i) for i in forecasts["symbol_id"].unique())
    closes = pd.DataFrame(conn.execute(
        "SELECT symbol_id, session_date, close FROM market.ohlc_bars_adjusted WHERE timeframe = 'd1' "
        "AND symbol_id = ANY(%s) ORDER BY symbol_id, session_date", (ids,)).fetchall(),
        columns=["symbol_id", "session_date", "close"])
    closes["close"] = closes["close"].astype(float)
    parts = []
    for h in sorted(forecasts["horizon_sessions"].unique()):
        h = int(h)
        g = closes.groupby("symbol_id", sort=False)["close"]
        log_close = np.log(closes["close"])
        realized = g.shift(-h).pipe(np.log) - log_close
        past = log_close - g.shift(h).pipe(np.log)
        # up frequency known at D: labels of D' <= D - h sessions (realised by D), expanding per symbol
        up = (realized > 0).astype(float).where(realized.notna())
        known = up.groupby(closes["symbol_id"]).shift(h)
        counts = known.notna().astype(float).groupby(closes["symbol_id"]).cumsum()
        ups = known.fillna(0.0).groupby(closes["symbol_id"]).cumsum()
        parts.append(closes.assign(horizon_sessions=h, realized=realized, past_return=past,
                                   up_frequency=(ups / counts.where(counts > 0))))
    table = pd.concat(parts, ignore_index=True).rename(columns={"session_date": "forecast_date"})
    out = forecasts.merge(table.drop(columns=["close"]), on=["symbol_id", "forecast_date", "horizon_sessions"],
                          how="left")
    for col in ("return_q10", "return_q50", "return_q90", "prob_up", "volatility"):
        out[col] = out[col].astype(float)
    return out.rename(columns={"forecast_date": "session_date", "volatility": "sigma_60"})


def evaluate(conn: psycopg.Connection, market: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Per horizon: each model's figures, then the baselines' on the rows of the first model present (the
    same (symbol, day) pairs), on realised forecasts only. Columns: horizon, model, n, hit_rate, hit_low,
    hit_high, ic, rank_ic, coverage, mae."""
    frame = realised_frame(conn, market, start, end)
    rows = []
    if frame.empty:
        return pd.DataFrame(columns=["horizon", "model", "n", "hit_rate", "hit_low", "hit_high", "ic", "rank_ic",
                                     "coverage", "mae"])
    frame = frame[np.isfinite(frame["realized"].to_numpy(float))]
    for horizon, h in HORIZONS.items():
        mine = frame[frame["horizon"] == horizon]
        base_rows = None
        for model in MODELS:
            m = mine[mine["model_type"] == model].reset_index(drop=True)
            if m.empty:
                continue
            base_rows = m if base_rows is None else base_rows
            rows.append({"horizon": horizon, "model": model,
                         **score(m, "return_q50", h, "return_q10", "return_q90", "prob_up")})
        if base_rows is not None:
            for name, figures in score_baselines(base_rows, h).items():
                rows.append({"horizon": horizon, "model": f"baseline: {name}", **figures})
    table = pd.DataFrame(rows)
    return table[["horizon", "model", "n", "hit_rate", "hit_low", "hit_high", "ic", "rank_ic", "coverage", "mae"]]


def format_table(table: pd.DataFrame) -> str:
    """The figures as a fixed-width text table ('-' where a figure does not apply)."""
    def num(v: float, digits: int = 3) -> str:
        return "-" if v is None or not math.isfinite(float(v)) else f"{float(v):.{digits}f}"

    header = (f"{'horizon':<7} {'model':<24} {'n':>6} {'hit rate':>8} {'95% Wilson':>15} {'IC':>7} {'rank IC':>7} "
              f"{'coverage':>8}")
    lines = [header, "-" * len(header)]
    for r in table.itertuples(index=False):
        wilson = "-" if not math.isfinite(float(r.hit_low)) else f"[{r.hit_low:.3f}, {r.hit_high:.3f}]"
        lines.append(f"{r.horizon:<7} {r.model:<24} {int(r.n):>6} {num(r.hit_rate):>8} {wilson:>15} {num(r.ic):>7} "
                     f"{num(r.rank_ic):>7} {num(r.coverage):>8}")
    return "\n".join(lines)
