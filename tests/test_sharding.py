"""A second equity universe by configuration only (SWIFTBOLT_EXTRA_MARKETS=us_equity_2=us_equity and a
`us_equity_2:` section in the universe file): the code location gets a market us_equity_2 with the NYSE
calendar, its own symbol partitions, assets, jobs, schedules and sensors, and its bars land in the same
warehouse beside us_equity's. Markets are fixed at import, so the code location is loaded in a subprocess
with the setting, the way a deployment sets it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swiftbolt.errors import ConfigError
from swiftbolt.markets import configured_markets
from swiftbolt.settings import PROJECT_ROOT

UNIVERSE = """\
us_equity:
  - {ticker: AAPL, asset_type: stock}
us_equity_2:
  - {ticker: MSFT, asset_type: stock}
  - {ticker: NVDA, asset_type: stock}
crypto:
  - {ticker: BTC/USD, asset_type: crypto}
"""



def _probe(url: str, tmp_path: Path, extra_markets: str) -> dict:
    universe = tmp_path / "universe.yaml"
    universe.write_text(UNIVERSE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWIFTBOLT_", "ALPACA_", "DAGSTER_"))}
    env.update(PYTHONPATH=str(PROJECT_ROOT), DAGSTER_HOME=str(tmp_path), SWIFTBOLT_EXTRA_MARKETS=extra_markets,
               SWIFTBOLT_UNIVERSE_FILE=str(universe), SWIFTBOLT_PROVIDER="synthetic",
               SWIFTBOLT_HISTORY_START=os.environ["SWIFTBOLT_HISTORY_START"])
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("shard_probe.py")), url], cwd=PROJECT_ROOT,
                            env=env, capture_output=True, text=True, timeout=400)
    line = next((li for li in result.stdout.splitlines() if li.startswith("PROBE")), None)
    assert result.returncode == 0 and line, (result.stdout + result.stderr)[-4000:]
    return json.loads(line.removeprefix("PROBE"))


@pytest.mark.warehouse
def test_a_second_equity_universe_by_configuration(warehouse_url: str, tmp_path: Path) -> None:
    out = _probe(warehouse_url, tmp_path, "us_equity_2=us_equity")

    assert out["markets"]["us_equity_2"] == ["XNYS", "America/New_York", "us_equity", True, True]
    assert set(out["markets"]) == {"us_equity", "crypto", "us_equity_2"}
    # every asset and job of the base market, under the shard's code (options included: it lists options)
    assert out["assets"] == out["base_assets"]
    assert {"us_equity_2/ohlc_bars", "us_equity_2/ml_forecasts", "us_equity_2/options_ranks",
            "us_equity_2/intraday_forecasts", "us_equity_2/model_weights"} <= set(out["assets"])
    # its own jobs; the dbt marts read the built-in markets' sources, so they are not in the shard's daily job
    assert set(out["jobs"]) == {"us_equity_2_daily_job", "us_equity_2_intraday_job", "us_equity_2_bars_job"}
    assert out["jobs"] == {name: out["base_jobs"][name] for name in out["jobs"]}
    assert not any(a.startswith("analytics/") for a in out["jobs"]["us_equity_2_daily_job"])
    assert out["schedules"] == ["us_equity_2_intraday_schedule"]
    assert out["sensors"] == ["us_equity_2_after_close_sensor", "us_equity_2_symbol_universe_sensor"]
    assert out["partitions"] == {"us_equity": "us_equity_symbols", "us_equity_2": "us_equity_2_symbols"}
    assert out["same_sessions"] is True  # NYSE sessions for both

    # the shard's new symbols become its partitions and get a history backfill through its own job
    assert out["sensor"] == {"added": ["MSFT", "NVDA"], "partitions_def": "us_equity_2_symbols",
                             "run_jobs": ["us_equity_2_daily_job"]}
    assert out["us_equity_run_ok"] and out["us_equity_2_run_ok"]
    assert out["bars_by_market"] == {"us_equity": ["AAPL"], "us_equity_2": ["MSFT", "NVDA"]}
    assert out["d1_bars"] == 3 * 3  # 3 symbols x 3 sessions, nothing overwritten across markets
    assert out["calendar"]["us_equity_2"] == out["calendar"]["us_equity"] > 0
    assert out["run_market"] == "us_equity_2"  # not us_equity, although the job name starts with it


@pytest.mark.parametrize(("value", "expected"), [
    ("us_equity_2=nasdaq", "names no built-in market"),
    ("us_equity_2", "write code=base"),
    ("Bad-Code=us_equity", "not a valid market code"),
    ("analytics=us_equity", "not a valid market code"),
    ("crypto=us_equity", "is a built-in market already"),
    ("eu_2=crypto, eu_2=crypto", "names 'eu_2' twice"),
])
def test_extra_market_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, value: str, expected: str) -> None:
    monkeypatch.setenv("SWIFTBOLT_EXTRA_MARKETS", value)
    with pytest.raises(ConfigError) as info:
        configured_markets()
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert "SWIFTBOLT_EXTRA_MARKETS" in str(info.value)


def test_a_crypto_shard_takes_crypto_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWIFTBOLT_EXTRA_MARKETS", " crypto_2=crypto ,us_equity_2=us_equity")
    markets = configured_markets()
    assert list(markets) == ["us_equity", "crypto", "crypto_2", "us_equity_2"]
    assert markets["crypto_2"].is_24_7 and markets["crypto_2"].family == "crypto"
    assert markets["crypto_2"].calendar_source == "24x7" and not markets["crypto_2"].has_options
