"""Plain-text lines on the day's top-ranked contracts and their ranking evaluation, for a console (the demo's
last step prints them: `top_ranked_lines(warehouse_url, market)`)."""

from __future__ import annotations

from swiftbolt.db.connection import connect


def top_ranked_lines(url: str, market: str = "us_equity", n: int = 3, mode: str = "entry") -> list[str]:
    """One header line, then per underlying of the market: its `n` best contracts of the newest ranked day
    (rank, contract, composite and components) and one line on the newest ranking evaluation (1 and 5
    sessions: rank IC with fills, p-value, healthy or why not). Empty when nothing is ranked."""
    with connect(url) as conn:
        day = conn.execute(
            "SELECT max(r.snapshot_date) FROM options.options_ranks r JOIN market.symbols s "
            "ON s.id = r.underlying_symbol_id WHERE s.market = %s", (market,)).fetchone()[0]
        if day is None:
            return []
        top = conn.execute(
            """SELECT s.ticker, r.rank, r.contract, r.composite_score, r.liquidity_score, r.value_score,
                      r.greeks_score, r.forecast_alignment_score, q.mark, q.implied_volatility, r.signal
               FROM options.options_ranks r JOIN market.symbols s ON s.id = r.underlying_symbol_id
               LEFT JOIN options.options_chain_snapshots q  -- the ranked snapshot's quote (migration 0023)
                 ON q.underlying_symbol_id = r.underlying_symbol_id AND q.snapshot_date = r.snapshot_date
                AND q.snapshot_ts = r.snapshot_ts AND q.contract = r.contract
               WHERE s.market = %s AND r.snapshot_date = %s AND r.ranking_mode = %s AND r.rank <= %s
               ORDER BY s.ticker, r.rank""", (market, day, mode, n)).fetchall()
        evals = conn.execute(
            """SELECT DISTINCT ON (s.ticker, e.horizon_sessions) s.ticker, e.horizon_sessions, e.snapshot_date,
                      e.rank_ic, e.permutation_p_value, e.is_healthy, e.reasons, e.n_contracts
               FROM options.ranking_evaluations e JOIN market.symbols s ON s.id = e.underlying_symbol_id
               WHERE s.market = %s AND e.ranking_mode = %s
               ORDER BY s.ticker, e.horizon_sessions, e.evaluation_date DESC""", (market, mode)).fetchall()
    lines = [f"top-ranked contracts ({mode}) of {day}, {market}: rank contract composite "
             "[liquidity value greeks alignment] mark IV signal"]
    by_ticker: dict[str, list[str]] = {}
    for t, h, d0, ic, p, ok, reasons, n_c in evals:
        if ic is None:
            text = f"{h}-session ranking of {d0}: not judged ({n_c} contracts)"
        else:
            state = "healthy" if ok else "UNHEALTHY: " + "; ".join(reasons)
            text = f"{h}-session ranking of {d0}: rank IC {ic:+.3f} (p {p:.3f}, {n_c} contracts), {state}"
        by_ticker.setdefault(t, []).append(text)
    current = None
    for t, rank, contract, comp, liq, val, grk, ali, mark, iv, signal in top:
        if t != current:
            current = t
            lines.append(f"  {t}:")
        iv_text = f"{iv:.1%}" if iv is not None else "n/a"
        mark_text = f"{mark:.2f}" if mark is not None else "n/a"
        lines.append(f"    {rank}. {contract} {comp:.3f} [{liq:.2f} {val:.2f} {grk:.2f} {ali:.2f}] "
                     f"{mark_text} {iv_text} {signal}")
        if rank == 1:
            ev = by_ticker.get(t)
            lines.append("       evaluation: " + (" | ".join(ev) if ev else "none yet (needs a later session)"))
    return lines
