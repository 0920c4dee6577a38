"""`make demo` (`swiftbolt demo`, which runs `python -m demo`): materialize the default pipeline headless on
the project's Dagster instance.

The console gets one line per step (a long step's line grows as the steps of its run finish) and a
summary whose words are dbt's and Dagster's (PASS / WARN / ERROR), each warning explained in one line.
Everything else (every run event, dbt's own output, library warnings) goes to the log file the demo
names. This is the Dagster side of the project (it imports definitions.py); the core's CLI starts it as a
child process and never imports it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from swiftbolt.options.report import top_ranked_lines
from swiftbolt.settings import load_settings

DBT_DONE = re.compile(r"Done\. PASS=\d+ WARN=\d+ ERROR=\d+ SKIP=\d+(?: NO-OP=\d+)? TOTAL=\d+")


def log_path(now: dt.datetime | None = None) -> Path:
    """Where a demo writes its log: <state dir>/logs/demo-<UTC time>.log."""
    now = now or dt.datetime.now(dt.UTC)
    return load_settings().state_dir / "logs" / f"demo-{now:%Y%m%d-%H%M%S}.log"


class ConsoleProgress:
    """One line per step: `[n] title: step 1.2s, step 0.4s ... -> result`, flushed as it grows."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0
        self.first = True

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def start(self, title: str) -> None:
        self.count += 1
        self.first = True
        self._write(f"[{self.count}] {title}: ")

    def advance(self, label: str) -> None:
        self._write(("" if self.first else ", ") + label)
        self.first = False

    def done(self, text: str) -> None:
        self._write(("" if self.first else " -> ") + text + "\n")


def check_word(check: Any) -> str:
    """dbt's word for an asset check evaluation: PASS, WARN or ERROR."""
    if check.passed:
        return "PASS"
    return "ERROR" if check.severity.value == "ERROR" else "WARN"


def dbt_summary_line(log_text: str) -> str | None:
    """dbt's own last summary line ("Done. PASS=.. WARN=.. ERROR=.. SKIP=.. NO-OP=.. TOTAL=..")."""
    found = DBT_DONE.findall(log_text)
    return found[-1] if found else None


def explain(check: Any, spec_descriptions: dict[tuple[str, str], str], url: str) -> str:
    """One line saying why a check did not pass."""
    key = (check.asset_key.to_user_string(), check.check_name)
    text = (check.description or spec_descriptions.get(key) or "").strip().splitlines()
    reason = text[0] if text else "no description"
    failed_rows = check.metadata.get("dagster_dbt/failed_row_count")
    if failed_rows is not None:
        reason = f"{failed_rows.value} row(s) fail: {reason}"
    if check.check_name == "data_health_no_critical":
        rows = _critical_health_rows(url)
        if rows:
            reason += " - " + "; ".join(rows[:4]) + (" ..." if len(rows) > 4 else "")
    return f"{check_word(check)} {key[0]} {key[1]}: {reason}"


def _critical_health_rows(url: str) -> list[str]:
    from swiftbolt.db.connection import connect

    with connect(url) as conn:
        rows = conn.execute(
            "SELECT ticker, timeframe, status_reason FROM analytics.data_health "
            "WHERE health_status = 'critical' ORDER BY market, ticker, timeframe"
        ).fetchall()
    return [f"{t} {tf}: {r}" for t, tf, r in rows]


def forecast_lines(url: str, limit: int = 12) -> list[str]:
    """The newest ensemble forecast per symbol (analytics.latest_forecast_summary): one line per symbol with
    the label and confidence of each horizon and the 5D target with its interval; or why there is none."""
    from swiftbolt.db.connection import connect

    with connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('analytics.latest_forecast_summary')").fetchone()[0]
        if exists is None:
            return ["  no forecasts: analytics.latest_forecast_summary was not built"]
        rows = conn.execute(
            "SELECT ticker, forecast_date, horizon, overall_label, confidence, base_close, target_price, ci_lower, "
            "ci_upper, supertrend_state FROM analytics.latest_forecast_summary "
            "ORDER BY market DESC, ticker, horizon_sessions").fetchall()
        why = conn.execute(
            "SELECT count(*) FROM ml.ml_forecasts WHERE model_type IN ('lightgbm', 'prophet')").fetchone()[0]
    if not rows:
        return [f"  no ensemble forecasts ({why} base forecasts): the symbols lack the history to train on; "
                "run the demo with --history 510"]
    by_ticker: dict[str, list[tuple]] = {}
    for row in rows:
        by_ticker.setdefault(row[0], []).append(row)
    lines = []
    for ticker, mine in list(by_ticker.items())[:limit]:
        calls = " ".join(f"{r[2]} {r[3]} {r[4]:.2f}" for r in mine)
        five = next((r for r in mine if r[2] == "5D"), mine[0])
        lines.append(f"  {ticker:<8} {mine[0][1]} close {mine[0][5]:.2f}: {calls}; {five[2]} target {five[6]:.2f} "
                     f"[{five[7]:.2f}, {five[8]:.2f}], SuperTrend {five[9] or '-'}")
    return lines


def demo_notes(days: int) -> dict[str, str]:
    """Why a check is expected to warn in a demo (check name -> note)."""
    return {"warmup_complete": f"expected in a demo of {days} sessions, fewer than the 500-bar warm-up; "
                               "backfill from SWIFTBOLT_HISTORY_START for exact values"}


def run_demo(days: int = 10, out: TextIO | None = None, history: int = 0) -> int:
    out = out or sys.stdout
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    out.write(f"log of every run event and of dbt's output: {path}\n")
    out.flush()
    progress = ConsoleProgress(out)
    with open(path, "a", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        progress.start("loading the code location (definitions.py)")
        loaded = time.monotonic()
        import dagster as dg

        from definitions import defs
        from demo.runner import run_default_pipeline
        from swiftbolt.db.warehouse import warehouse_url

        progress.done(f"{time.monotonic() - loaded:.0f}s")
        try:
            with dg.DagsterInstance.get() as instance:
                outcomes = run_default_pipeline(defs, instance, days=days, progress=progress, history=history)
        except SystemExit:
            progress.done("FAILED")
            out.write(f"Full log: {path}\n")
            raise
        log.flush()
    checks = [c for o in outcomes for c in o.checks]
    # the same check evaluated by several runs (e.g. dbt tests): its last evaluation counts
    last = {(c.asset_key.to_user_string(), c.check_name): c for c in checks}
    words = Counter(check_word(c) for c in last.values())
    graph = defs.resolve_asset_graph()
    specs = {(k.asset_key.to_user_string(), k.name): graph.get_check_spec(k).description or ""
             for k in graph.asset_check_keys}
    dbt_line = dbt_summary_line(path.read_text(encoding="utf-8", errors="replace"))
    out.write(f"\ndemo finished in {time.monotonic() - began:.0f}s. ")
    out.write(f"Asset checks: PASS={words['PASS']} WARN={words['WARN']} ERROR={words['ERROR']} "
              f"(of {len(last)}, dbt tests included)\n")
    if dbt_line:
        out.write(f"dbt's last build said: {dbt_line}\n")
    url = warehouse_url()
    notes = demo_notes(days)
    for check in sorted(last.values(), key=lambda c: (check_word(c), c.asset_key.to_user_string(), c.check_name)):
        if not check.passed:
            note = notes.get(check.check_name)
            out.write(f"  {explain(check, specs, url)}{f' ({note})' if note else ''}\n")
    out.write("Latest ensemble forecast per symbol (label confidence per horizon; 80% interval of the 5D target):\n")
    for line in forecast_lines(url):
        out.write(line + "\n")
    for line in top_ranked_lines(url, "us_equity", n=1):  # the best entry contract per underlying
        out.write(line + "\n")
    out.write(f"Full log: {path}\n")
    out.write("Open the UI with `make ui` (http://127.0.0.1:3000; another port: `make ui PORT=3401`): Assets\n"
              "shows the lineage, each asset's partitions, materializations and checks; Runs lists these runs.\n")
    out.flush()
    return 0 if words["ERROR"] == 0 else 1
