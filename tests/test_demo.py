"""`swiftbolt demo` (what `make demo` runs) on a real PostgreSQL: a quiet console (one line per step, dbt's
output in the log file it names), a summary in dbt's words, and a fresh demo whose checks pass or whose
warnings are explained in one line each; no critical data_health row."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from swiftbolt.db.connection import connect
from swiftbolt.settings import PROJECT_ROOT

pytestmark = pytest.mark.warehouse


def test_demo_is_quiet_explains_itself_and_ends_healthy(warehouse_url: str, empty_db_url: str,
                                                         tmp_path: Path) -> None:
    env = {**os.environ, "SWIFTBOLT_DATABASE_URL": warehouse_url, "SWIFTBOLT_DAGSTER_DATABASE_URL": empty_db_url,
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "SWIFTBOLT_STATE_DIR": str(tmp_path / "state"),
           "PYTHONPATH": str(PROJECT_ROOT)}
    # 150 sessions of d1 history: enough for every horizon's model (the default, 510, is the README's demo)
    result = subprocess.run([sys.executable, "-m", "swiftbolt.cli", "demo", "--days", "3", "--history", "150"],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1500)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert result.stderr == ""
    # quiet: our lines only; dbt's output, run events and warnings went to the log file the demo names
    for noise in ("Running with dbt", "Unable to do partial parsing", "BetaWarning", " - dagster - ", "START test"):
        assert noise not in out, noise
    lines = out.splitlines()
    steps = [line for line in lines if re.match(r"\[\d+\] ", line)]
    assert len(steps) >= 9 and len(lines) < 70
    daily = next(line for line in steps if "us_equity daily pipeline" in line)
    assert "ohlc_bars " in daily and "feature_rows " in daily and "bars written" in daily  # progress, then result
    history = next(line for line in steps if "us_equity history backfill" in line)
    assert "7 symbols x 150 sessions" in history and "(d1 bars), one run per symbol: AAPL " in history
    assert re.search(r"us_equity forecast models, \d+ weekly training ends .* -> 4 models of the last week", out)
    # the summary ends with the newest ensemble forecast of every symbol, all four horizons
    block = out.split("Latest ensemble forecast per symbol", 1)[1].splitlines()[1:10]
    assert len(block) == 9, out
    for line in block:
        assert re.match(r"  \S+ +\d{4}-\d\d-\d\d close [\d.]+: 1D (bullish|bearish|neutral) [01]\.\d\d 5D .* 10D .* "
                        r"20D (bullish|bearish|neutral) [01]\.\d\d; 5D target [\d.]+ \[[\d.]+, [\d.]+\], SuperTrend "
                        r"(bullish|bearish)$", line), line
    log = Path(re.search(r"^Full log: (.+)$", out, re.M).group(1))
    assert log.parent == tmp_path / "state" / "logs"
    text = log.read_text()
    assert "Running with dbt" in text and "Unable to do partial parsing" not in text
    # the summary uses dbt's words and dbt's own figures
    dbt_done = re.findall(r"Done\. PASS=\d+ WARN=\d+ ERROR=\d+ SKIP=\d+ NO-OP=\d+ TOTAL=\d+", text)[-1]
    assert f"dbt's last build said: {dbt_done}" in out
    assert "ERROR=0" in dbt_done and "failed" not in out.lower()
    summary = re.search(r"Asset checks: PASS=(\d+) WARN=(\d+) ERROR=(\d+)", out)
    assert summary and summary.group(3) == "0"
    warnings = [line for line in lines if line.startswith("  WARN ")]
    assert len(warnings) == int(summary.group(2))
    for line in warnings:  # each warning is explained in its own line
        assert re.match(r"  WARN \S+ \S+: .{20,}", line), line
    # the fresh demo ends healthy: today's open session is refreshed, not counted as missing
    with connect(warehouse_url) as conn:
        critical = conn.execute("SELECT ticker, timeframe, status_reason FROM analytics.data_health "
                                "WHERE health_status = 'critical'").fetchall()
    assert critical == []
    # the option ranks: the best entry contract per underlying with a line on its ranking evaluation
    options = out.split("top-ranked contracts (entry) of ", 1)[1].splitlines()
    assert re.match(r"\d{4}-\d\d-\d\d, us_equity: rank contract composite", options[0]), options[0]
    assert sum(1 for line in options if re.match(r"    1\. [A-Z]+\d{6}[CP]\d{8} ", line)) == 7
    assert sum(1 for line in options if line.startswith("       evaluation: ")) == 7
    # the dashboard: every symbol's newest forecast; the equities' IV summary and best contract
    with connect(warehouse_url) as conn:
        board = conn.execute("SELECT market, count(*), count(forecast_label), count(iv_atm_30d), "
                             "count(top_option_contract) FROM analytics.dashboard_symbol_summary GROUP BY 1 "
                             "ORDER BY 1").fetchall()
    assert board == [("crypto", 2, 2, 0, 0), ("us_equity", 7, 7, 7, 7)]
