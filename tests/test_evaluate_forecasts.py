"""`swiftbolt evaluate-forecasts`: real vendor bars (tests/fixtures/vendor_forecast_daily, see its ORIGIN.md)
through the file provider into a scratch warehouse, the forecast assets through Dagster, figures beside the
baselines; unusable input refused with one line before anything starts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swiftbolt.db.connection import connect
from swiftbolt.db.urls import with_database
from swiftbolt.settings import PROJECT_ROOT

FIXTURE = Path(__file__).parent / "fixtures" / "vendor_forecast_daily"


def _run(*args: str, timeout: int = 120, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env}
    return subprocess.run([sys.executable, "-m", "swiftbolt.cli", "evaluate-forecasts", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, env=full_env, timeout=timeout)


def _one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_unusable_input_is_refused_with_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(_run("--files", str(empty)), "no vendor bar files in")
    _one_line_error(_run("--files", str(tmp_path / "missing")), "does not exist or is not a directory")
    broken = tmp_path / "broken"
    shutil.copytree(FIXTURE, broken)
    (broken / "IBM.csv").write_text("date,open,high,low\n2019-01-02,1,2,0.5\n")
    _one_line_error(_run("--files", str(broken)), "IBM.csv: missing close, volume")
    (broken / "IBM.csv").write_bytes(b"\xff\xfe\x00garbage\x00\x00")
    _one_line_error(_run("--files", str(broken)), "IBM.csv")
    _one_line_error(_run("--files", str(FIXTURE), "--start", "2019-08-16", "--end", "2019-08-05"),
                    "--start 2019-08-16 is after --end 2019-08-05")
    _one_line_error(_run("--files", str(FIXTURE), "--start", "16/08/2019"), "--start '16/08/2019' is not a date")
    _one_line_error(_run("--files", str(FIXTURE), "--start", "2019-02-01", "--end", "2019-03-01"),
                    "leaves 21 sessions of history in the files")
    _one_line_error(_run("--files", str(FIXTURE), "--start", "2019-08-05", "--end", "2020-06-01"),
                    "is outside the sessions every file covers")


@pytest.mark.warehouse
@pytest.mark.slow  # 3 symbols: 188 sessions of bars and features, 10 sessions of forecasts (~2-3 min)
def test_evaluate_forecasts_on_real_vendor_bars(warehouse_url: str, tmp_path: Path) -> None:
    scratch = f"swiftbolt_evaluate_t{os.getpid()}"
    try:
        result = _run("--files", str(FIXTURE), "--start", "2019-08-05", "--end", "2019-08-16", "--database", scratch,
                      timeout=1200, SWIFTBOLT_DATABASE_URL=warehouse_url, SWIFTBOLT_STATE_DIR=str(tmp_path / "state"),
                      SWIFTBOLT_PROPHET_PROCESSES="1")
        out = result.stdout
        assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
        assert "3 symbols (IBM, QQQ, SPY)" in out and "forecasts 2019-08-05..2019-08-16 (10 sessions)" in out
        assert re.search(r"bars and d1 features, 3 symbols x \d+ sessions .* -> \d+ bars written, 0 rejected", out)
        assert re.search(r"forecasts, 3 symbols x 10 sessions .*lgbm_forecasts 120, prophet_forecasts 120, "
                         r"ml_forecasts 120", out)
        table = {(m.group(1), m.group(2).strip()): m.group(3) for m in
                 re.finditer(r"^(1D|5D|10D|20D)\s+(\S+(?: \S+)?)\s+(\d+) ", out, re.M)}
        for horizon in ("1D", "5D", "10D", "20D"):
            for model in ("lightgbm", "prophet", "ensemble", "baseline: persistence", "baseline: always_up",
                          "baseline: up_frequency", "baseline: zero"):
                assert table[(horizon, model)] == "30", (horizon, model, out)  # 3 symbols x 10 days, all realised
        with connect(with_database(warehouse_url, scratch)) as conn:
            rows = conn.execute("SELECT model_type, count(*) FROM ml.ml_forecasts GROUP BY 1").fetchall()
            providers = conn.execute("SELECT DISTINCT provider FROM market.ohlc_bars").fetchall()
        assert dict(rows) == {"lightgbm": 120, "prophet": 120, "ensemble": 120}
        assert providers == [("file",)]
    finally:
        with connect(with_database(warehouse_url, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
