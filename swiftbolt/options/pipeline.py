"""The options domain's runs over partitions (underlying x trading day), framework-free: the Dagster assets
in assets/options.py call one function each, inside one transaction, and turn the report into metadata.

Days of a symbol are processed oldest first, so a range backfill sees its own earlier days (IV rank
windows, IC windows) exactly as day-by-day runs would.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg

from swiftbolt import alerts
from swiftbolt.calendars.sessions import session_dates, sessions
from swiftbolt.market_data.types import MarketDataProvider
from swiftbolt.options import evaluation, store
from swiftbolt.options.chains import NOT_FAULTS, validate_chain
from swiftbolt.options.greeks import chain_iv_greeks
from swiftbolt.options.iv_surface import WINDOW, iv_summary
from swiftbolt.options.ranking import rank_chains, rank_contracts

RANKING_UNHEALTHY = "ranking_unhealthy"
HV_SESSIONS = 61


@dataclass
class PartitionResult:
    symbol: str
    session_date: dt.date
    rows: int = 0
    note: str | None = None          # why nothing (or less) was written
    figures: dict = field(default_factory=dict)


@dataclass
class OptionsReport:
    partitions: list[PartitionResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions)

    def notes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.partitions:
            if p.note:
                key = p.note.split(":")[0]
                out[key] = out.get(key, 0) + 1
        return out


def _iter(by_symbol: dict[str, list[dt.date]]):
    for symbol in sorted(by_symbol):
        for day in sorted(by_symbol[symbol]):
            yield symbol, day


# ------------------------------------------------------------------------------------------ snapshots

def take_snapshots(conn: psycopg.Connection, provider: MarketDataProvider, market: str,
                   by_symbol: dict[str, list[dt.date]], symbol_ids: dict[str, int], now: dt.datetime,
                   run_id: str | None = None) -> OptionsReport:
    """The chain of each (symbol, day): at the session's close once it has closed ('close'), else at `now`
    while it trades ('intraday'). Every row is stored or quarantined with its reason; IV and greeks the
    provider lacks are solved (swiftbolt/options/greeks.py). A chain the provider serves for another day
    (Alpaca keeps no history) is not stored under this day. The chains are fetched one by one, then
    validated, priced and written together (store_snapshots)."""
    started = time.monotonic()
    report = OptionsReport()
    days = sorted({d for ds in by_symbol.values() for d in ds})
    cal = sessions(market, days[0], days[-1]).set_index("date") if days else pd.DataFrame()
    now_ts = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now, tz="UTC")
    taken: list[tuple[PartitionResult, int, dt.date, pd.Timestamp, str, pd.DataFrame]] = []
    for symbol, day in _iter(by_symbol):
        part = PartitionResult(symbol, day)
        report.partitions.append(part)
        if day not in cal.index:
            part.note = f"not a session: {day}"
            continue
        open_utc, close_utc = pd.Timestamp(cal.loc[day, "open_utc"]), pd.Timestamp(cal.loc[day, "close_utc"])
        if now_ts < open_utc:
            part.note = f"session not open yet: {day} opens {open_utc:%Y-%m-%d %H:%M} UTC"
            continue
        kind = "close" if now_ts >= close_utc else "intraday"
        as_of = close_utc if kind == "close" else now_ts
        chain = provider.option_chain(symbol, as_of.to_pydatetime())
        if chain.empty:
            part.note = f"no chain: the {provider.name} provider returned no contracts for {symbol} at {as_of}"
            continue
        snapshot_ts = pd.Timestamp(chain["ts"].max())
        chain_day = snapshot_ts.tz_convert("America/New_York").date()
        if chain_day != day:
            part.note = (f"chain of another day: the {provider.name} provider's chain of {symbol} is of {chain_day}, "
                         f"not {day} (it keeps no history; backfill from vendor files)")
            continue
        taken.append((part, symbol_ids[symbol], day, snapshot_ts, kind, chain))
    store_snapshots(conn, taken, provider.name, run_id)
    report.seconds = time.monotonic() - started
    return report


def store_snapshots(conn: psycopg.Connection,
                    taken: Sequence[tuple[PartitionResult, int, dt.date, pd.Timestamp, str, pd.DataFrame]],
                    provider: str, run_id: str | None) -> pd.DataFrame:
    """Validate, price (IV and greeks) and write many chains at once, each (partition result, underlying id,
    day, snapshot time, kind, chain as the provider returned it): one frame through validation and the IV
    solve, one DELETE and one COPY per table. Fills each partition's rows and figures; returns the priced
    rows (column `_snapshot`: the chain's position in `taken`)."""
    if not taken:
        return pd.DataFrame()
    key = "_snapshot"
    chains = pd.concat([chain.assign(**{key: i}) for i, (*_, chain) in enumerate(taken)], ignore_index=True)
    partitions = pd.DataFrame([{"underlying_symbol_id": sid, "snapshot_date": day, "snapshot_ts": ts,
                                "snapshot_kind": kind} for _, sid, day, ts, kind, _ in taken],
                              index=pd.Index(range(len(taken)), name=key))
    position = chains[key].to_numpy()
    checked = validate_chain(chains, partitions["snapshot_date"].to_numpy()[position], by=key)
    clean = checked.clean
    priced = chain_iv_greeks(clean, pd.Series(pd.to_datetime(partitions["snapshot_ts"], utc=True).to_numpy()
                                              [clean[key].to_numpy()], index=clean.index), by=key)
    store.write_snapshots(conn, partitions, priced, checked.rejected, key, provider, run_id)
    received = chains.groupby(key).size()
    stored = priced.groupby(key).size()
    expirations = priced.groupby(key)["expiration"].nunique()
    sources = priced.groupby([key, "iv_source"]).size()
    first = priced.groupby(key)[["rate", "underlying_price"]].first()
    rejected = checked.rejected
    reasons = rejected.groupby([key, "reason"]).size()
    faults = rejected[~rejected["reason"].isin(NOT_FAULTS)].groupby(key).size()
    for i, (part, _sid, _day, snapshot_ts, kind, _chain) in enumerate(taken):
        part.rows = int(stored.get(i, 0))
        part.figures = {
            "snapshot_ts": snapshot_ts, "snapshot_kind": kind, "received": int(received.get(i, 0)),
            "quarantined": int(reasons.loc[i].sum()) if i in reasons.index.get_level_values(0) else 0,
            "quarantine_faults": int(faults.get(i, 0)),
            "rejected_by_reason": ({str(k): int(v) for k, v in reasons.loc[i].items()}
                                   if i in reasons.index.get_level_values(0) else {}),
            "expirations": int(expirations.get(i, 0)),
            "iv_sources": ({str(k): int(v) for k, v in sources.loc[i].items()}
                           if i in sources.index.get_level_values(0) else {}),
            "rate": float(first.loc[i, "rate"]) if i in first.index else None,
            "underlying_price": float(first.loc[i, "underlying_price"]) if i in first.index else None,
        }
    return priced


# ----------------------------------------------------------------------------------------- iv history

def iv_row_as_of(conn: psycopg.Connection, symbol_id: int, day: dt.date,
                 chain: pd.DataFrame | None = None) -> dict | None:
    """The iv_history row of `day` from data cut at `day`: its snapshot, adjusted closes up to it and the
    stored rows before it."""
    chain = store.load_snapshot(conn, symbol_id, day) if chain is None else chain
    closes = store.load_closes(conn, symbol_id, day, HV_SESSIONS)
    past = store.load_iv_history(conn, symbol_id, day, WINDOW - 1)
    return iv_summary(chain, closes, past["atm_iv_30d"] if not past.empty else pd.Series(dtype="float64"))


def build_iv_history(conn: psycopg.Connection, by_symbol: dict[str, list[dt.date]], symbol_ids: dict[str, int],
                     run_id: str | None = None) -> OptionsReport:
    started = time.monotonic()
    report = OptionsReport()
    for symbol, day in _iter(by_symbol):
        part = PartitionResult(symbol, day)
        report.partitions.append(part)
        row = iv_row_as_of(conn, symbol_ids[symbol], day)
        part.rows = store.write_iv_history(conn, symbol_ids[symbol], day, row, run_id)
        if row is None:
            part.note = f"no chain snapshot: none stored for {symbol} on {day}"
            continue
        part.figures = {k: row[k] for k in ("atm_iv_30d", "atm_call_iv", "atm_put_iv", "skew_25d", "term_slope",
                                            "hv_20", "hv_60", "iv_rank", "iv_percentile", "history_sessions",
                                            "history_complete", "n_contracts")}
    report.seconds = time.monotonic() - started
    return report


# ---------------------------------------------------------------------------------------------- ranks

def ranks_as_of(conn: psycopg.Connection, symbol_id: int, day: dt.date, *, recompute_iv: bool = False) -> pd.DataFrame:
    """Both modes' ranks of `day` from data of `day` and before only: its snapshot, its iv_history row
    (recomputed from data cut at `day` when `recompute_iv`) and the ensemble forecasts made on `day`."""
    chain = store.load_snapshot(conn, symbol_id, day)
    iv_row = iv_row_as_of(conn, symbol_id, day, chain) if recompute_iv else store.load_iv_row(conn, symbol_id, day)
    return rank_contracts(chain, day, iv_row, store.load_ensemble(conn, symbol_id, day))


def build_ranks(conn: psycopg.Connection, by_symbol: dict[str, list[dt.date]], symbol_ids: dict[str, int],
                run_id: str | None = None) -> OptionsReport:
    """The ranks of every (symbol, day): each partition's snapshot, iv_history row and ensemble forecasts of
    D are read, then every chain is ranked in one frame (ranking.rank_chains) and written in one COPY."""
    started = time.monotonic()
    report = OptionsReport()
    key = "_partition"
    chains, contexts, forecasts, keys = [], [], [], []
    for symbol, day in _iter(by_symbol):
        i = len(report.partitions)
        report.partitions.append(PartitionResult(symbol, day))
        sid = symbol_ids[symbol]
        chain = store.load_snapshot(conn, sid, day)
        keys.append({"underlying_symbol_id": sid, "snapshot_date": day,
                     "snapshot_ts": chain["snapshot_ts"].iloc[0] if not chain.empty else pd.NaT})
        if chain.empty:
            continue
        iv_row = store.load_iv_row(conn, sid, day) or {}
        chains.append(chain.assign(**{key: i}))
        contexts.append({key: i, "day": day, **{k: iv_row.get(k) for k in ("hv_20", "iv_rank", "iv_percentile")}})
        forecasts.append(store.load_ensemble(conn, sid, day).assign(**{key: i}))
    partitions = pd.DataFrame(keys, index=pd.Index(range(len(keys)), name=key))
    ranks = pd.DataFrame()
    if chains:
        context = pd.DataFrame(contexts).set_index(key)
        for col in ("hv_20", "iv_rank", "iv_percentile"):
            context[col] = pd.to_numeric(context[col], errors="coerce").astype("float64")
        ranks = rank_chains(pd.concat(chains, ignore_index=True), key, context,
                            pd.concat(forecasts, ignore_index=True))
    store.write_ranks_many(conn, partitions, ranks, key, run_id)
    grouped = dict(tuple(ranks.groupby(key, sort=False))) if not ranks.empty else {}
    for i, part in enumerate(report.partitions):
        mine = grouped.get(i)
        if mine is None:
            part.note = f"no chain snapshot: none stored for {part.symbol} on {part.session_date}"
            continue
        part.rows = len(mine)
        entry = mine[mine["ranking_mode"] == "entry"].sort_values("rank")
        part.figures = {
            "contracts": int(len(mine) / 2),
            "with_forecast": bool(mine["forecast_horizon"].notna().any()),
            "top_entry": [f"{r.contract} {r.composite_score:.3f}" for r in entry.head(3).itertuples()],
            "signals": {str(k): int(v) for k, v in entry["signal"].value_counts().items()},
        }
    report.seconds = time.monotonic() - started
    return report


# ---------------------------------------------------------------------------------------- evaluations

def _sessions_before(market: str, day: dt.date, n: int) -> list[dt.date]:
    """The n sessions before `day`, newest first (empty entries when the calendar starts later)."""
    days = [d for d in session_dates(market, day - dt.timedelta(days=3 * n + 15), day) if d < day]
    return days[::-1][:n]


def ranks_match(stored: pd.DataFrame, recomputed: pd.DataFrame) -> bool:
    if len(stored) != len(recomputed):
        return False
    key = ["ranking_mode", "contract"]
    a = stored.sort_values(key)[[*key, "composite_score", "rank"]].reset_index(drop=True)
    b = recomputed.sort_values(key)[[*key, "composite_score", "rank"]].reset_index(drop=True)
    return bool((a[key].to_numpy() == b[key].to_numpy()).all()
                and np.allclose(a["composite_score"].astype(float), b["composite_score"].astype(float), atol=1e-9)
                and (a["rank"].to_numpy() == b["rank"].to_numpy()).all())


def build_evaluations(conn: psycopg.Connection, market: str, by_symbol: dict[str, list[dt.date]],
                      symbol_ids: dict[str, int], run_id: str | None = None,
                      horizons: Sequence[int] = evaluation.HORIZONS) -> OptionsReport:
    """Partition D evaluates the ranks of D0 = D - h sessions for each h, in both modes; unhealthy rankings
    raise (and healthy ones resolve) an ops.alerts alert of type ranking_unhealthy per underlying, mode and
    horizon."""
    started = time.monotonic()
    report = OptionsReport()
    for symbol, day in _iter(by_symbol):
        sid = symbol_ids[symbol]
        part = PartitionResult(symbol, day)
        report.partitions.append(part)
        before = _sessions_before(market, day, 2 * max(horizons))
        later = store.load_marks(conn, sid, [day])
        rows, missing = [], []
        for h in horizons:
            if len(before) < h:
                missing.append(f"{h}-session: no session {h} before {day} in the calendar")
                continue
            d0 = before[h - 1]
            stored = store.load_ranks(conn, sid, d0)
            if stored.empty:
                missing.append(f"{h}-session: no ranks of {d0}")
                continue
            if later.empty:
                missing.append(f"{h}-session: no chain snapshot of {day}")
                continue
            match = ranks_match(stored, ranks_as_of(conn, sid, d0, recompute_iv=True))
            prior_day = before[2 * h - 1] if len(before) >= 2 * h else None
            prior = store.load_marks(conn, sid, [prior_day]) if prior_day else None
            iv_row = store.load_iv_row(conn, sid, d0)
            for mode in ("entry", "exit"):
                inp = evaluation.EvaluationInputs(
                    mode=mode, horizon=h, ranks=stored[stored["ranking_mode"] == mode],
                    later=later, before=prior,
                    past_ics=store.load_past_ics(conn, sid, mode, h, day, evaluation.IC_WINDOW),
                    features_match=match, iv_rank=None if iv_row is None else iv_row.get("iv_rank"),
                    seed=(sid * 1_000_003 + day.toordinal() * 7 + h) % (2**32))
                row = evaluation.evaluate(inp)
                row["snapshot_date"] = d0
                rows.append(row)
        frame = pd.DataFrame(rows)
        part.rows = store.write_evaluations(conn, sid, day, frame, run_id)
        if missing and not rows:
            part.note = "not evaluated: " + "; ".join(missing)
        unhealthy = [r for r in rows if not r["is_healthy"]]
        for r in rows:
            key = f"{RANKING_UNHEALTHY}:{market}:{symbol}:{r['ranking_mode']}:{r['horizon_sessions']}"
            if r["is_healthy"]:
                alerts.resolve_alerts(conn, dedupe_keys=[key])
            else:
                alerts.raise_alert(conn, market=market, alert_type=RANKING_UNHEALTHY, severity="warning",
                                   symbol=symbol, dedupe_key=key,
                                   details={"ranking_date": str(r["snapshot_date"]), "evaluation_date": str(day),
                                            "mode": r["ranking_mode"], "horizon_sessions": r["horizon_sessions"],
                                            "reasons": r["reasons"]})
        part.figures = {
            "evaluations": [{"mode": r["ranking_mode"], "h": r["horizon_sessions"],
                             "ranked_on": str(r["snapshot_date"]),
                             "n": r["n_contracts"], "rank_ic": _round(r["rank_ic"]),
                             "ic_prior": _round(r["leakage_ic_prior"]),
                             "p_value": _round(r["permutation_p_value"]), "healthy": r["is_healthy"]} for r in rows],
            "missing": missing,
            "unhealthy": [f"{r['ranking_mode']} {r['horizon_sessions']}-session: {'; '.join(r['reasons'])}"
                          for r in unhealthy],
        }
    report.seconds = time.monotonic() - started
    return report


def _round(x: object) -> float | None:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    return round(float(x), 4)
