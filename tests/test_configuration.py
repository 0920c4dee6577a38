"""Bad configuration gives one line naming the setting, not a traceback: the universe file's shape,
SWIFTBOLT_HISTORY_START, SWIFTBOLT_EXTRA_TIMEFRAMES (refused when the definitions load)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets.reference import symbols
from resources import MarketDataResource, WarehouseResource
from swiftbolt.errors import ConfigError
from swiftbolt.settings import PROJECT_ROOT, extra_timeframes, history_start
from swiftbolt.universe import load_universe

BAD_UNIVERSES = {
    "a list": ("- {ticker: SPY}\n- {ticker: QQQ}\n", "must be a mapping of market to a list of symbols"),
    "a scalar": ("SPY\n", "must be a mapping of market to a list of symbols"),
    "entries as strings": ("us_equity:\n  - SPY\n  - QQQ\n", "us_equity entry 1 must be a mapping like"),
    "entries as one mapping": ("us_equity:\n  ticker: SPY\n", "us_equity must be a list of symbols"),
    "a nested ticker": ("us_equity:\n  - ticker: {symbol: SPY}\n", "us_equity entry 1 needs a ticker string"),
    "a list of lists": ("us_equity:\n  - [SPY, etf]\n", "us_equity entry 1 must be a mapping like"),
    "an unknown key": ("us_equity:\n  - {ticker: SPY, exchange: ARCA}\n", "has unknown keys ['exchange']"),
    "an unknown market": ("forex:\n  - {ticker: EURUSD}\n", "unknown market 'forex'"),
}


@pytest.mark.parametrize("case", list(BAD_UNIVERSES))
def test_malformed_universe_is_one_line(tmp_path: Path, case: str) -> None:
    text, expected = BAD_UNIVERSES[case]
    path = tmp_path / "universe.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_universe(path)
    message = str(info.value)
    assert expected in message and str(path) in message
    assert "\n" not in message


def test_malformed_universe_fails_the_symbols_asset_with_one_line(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "universe.yaml"
    path.write_text(BAD_UNIVERSES["entries as strings"][0])
    monkeypatch.setenv("SWIFTBOLT_UNIVERSE_FILE", str(path))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [symbols], instance=instance, raise_on_error=False,
            resources={"warehouse": WarehouseResource(database_url="postgresql://postgres@127.0.0.1:1/none"),
                       "market_data": MarketDataResource(provider="synthetic")},
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith(f"market/symbols: {path}: us_equity entry 1 must be a mapping like")
    assert "\n" not in description


@pytest.mark.parametrize(("value", "expected"), [
    ("2099-01-01", "SWIFTBOLT_HISTORY_START=2099-01-01 is in the future"),
    ("1990-01-02", "SWIFTBOLT_HISTORY_START=1990-01-02 is before 1998-01-02"),
    ("01/02/2020", "is not a date; use YYYY-MM-DD"),
])
def test_history_start_out_of_range_is_one_line(monkeypatch: pytest.MonkeyPatch, value: str, expected: str) -> None:
    monkeypatch.setenv("SWIFTBOLT_HISTORY_START", value)
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")) as info:
        history_start(today=dt.date(2026, 1, 15))
    assert "\n" not in str(info.value)
    monkeypatch.setenv("SWIFTBOLT_HISTORY_START", "2026-01-15")
    assert history_start(today=dt.date(2026, 1, 15)) == dt.date(2026, 1, 15)


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env})


@pytest.mark.parametrize(("env", "expected"), [
    ({"SWIFTBOLT_EXTRA_TIMEFRAMES": "m3"}, "SWIFTBOLT_EXTRA_TIMEFRAMES has ['m3']; allowed: m1, m5"),
    ({"SWIFTBOLT_HISTORY_START": "2099-01-01"}, "SWIFTBOLT_HISTORY_START=2099-01-01 is in the future"),
])
def test_bad_setting_is_refused_when_the_definitions_load(env: dict[str, str], expected: str) -> None:
    """Loading the code location (what `dagster dev` and `dagster definitions validate` do) raises the
    setting's one-line ConfigError; before, m3 loaded fine and 2099 was a Dagster ValueError."""
    result = _python("import definitions", **env)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(f"swiftbolt.errors.ConfigError: {expected}"), (
        result.stderr[-2000:])


@pytest.mark.parametrize(("env", "expected"), [
    ({"SWIFTBOLT_EXTRA_TIMEFRAMES": "m3"}, "SWIFTBOLT_EXTRA_TIMEFRAMES has ['m3']; allowed: m1, m5"),
    ({"SWIFTBOLT_HISTORY_START": "2099-01-01"}, "SWIFTBOLT_HISTORY_START=2099-01-01 is in the future"),
    ({"SWIFTBOLT_UNIVERSE_FILE": "{bad}"}, "must be a mapping of market to a list of symbols"),
])
def test_bad_setting_is_one_line_on_the_command_line(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    """`swiftbolt demo` checks every setting before it starts or migrates anything (the database URL
    points nowhere: a check that came after connecting would report that instead)."""
    bad_universe = tmp_path / "universe.yaml"
    bad_universe.write_text("- SPY\n")
    env = {k: v.replace("{bad}", str(bad_universe)) for k, v in env.items()}
    result = subprocess.run(
        [sys.executable, "-m", "swiftbolt.cli", "demo"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "SWIFTBOLT_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere",
             "SWIFTBOLT_STATE_DIR": str(tmp_path / "state"), "DAGSTER_HOME": str(tmp_path / "dagster"), **env},
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("swiftbolt: error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_extra_timeframes_accepts_m1_and_m5(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWIFTBOLT_EXTRA_TIMEFRAMES", " m5, m1 ")
    assert extra_timeframes() == {"m1", "m5"}
