"""Project settings, read from the environment only (see the README's configuration table)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from swiftbolt.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_PG_PORT = 55432
WAREHOUSE_DB = "swiftbolt"
DAGSTER_DB = "dagster"


def int_env(name: str, default: int, low: int, high: int, what: str) -> int:
    """An integer setting in [low, high]; a bad value is a one-line ConfigError naming the variable."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {what}; set it to an integer {low}-{high}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is outside {low}-{high}")
    return value


def _port(name: str, default: int) -> int:
    return int_env(name, default, 1024, 65535, "a port number")


@dataclass(frozen=True)
class Settings:
    """Where state lives and which PostgreSQL to use."""

    state_dir: Path
    dagster_home: Path
    database_url: str | None
    dagster_database_url: str | None
    pg_port: int

    @property
    def uses_embedded_server(self) -> bool:
        return self.database_url is None

    @property
    def pg_data_dir(self) -> Path:
        return self.state_dir / "pg"


def load_settings() -> Settings:
    """Read settings from the environment; nothing is read from files in the repository."""
    state_dir = Path(os.environ.get("SWIFTBOLT_STATE_DIR") or PROJECT_ROOT / ".swiftbolt").resolve()
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home").resolve()
    database_url = os.environ.get("SWIFTBOLT_DATABASE_URL") or None
    dagster_database_url = os.environ.get("SWIFTBOLT_DAGSTER_DATABASE_URL") or None
    return Settings(
        state_dir=state_dir,
        dagster_home=dagster_home,
        database_url=database_url,
        dagster_database_url=dagster_database_url,
        pg_port=_port("SWIFTBOLT_PG_PORT", DEFAULT_PG_PORT),
    )


# The calendars (swiftbolt/calendars.py) hold NYSE sessions from this day on.
EARLIEST_HISTORY_START = dt.date(1998, 1, 2)


def history_start(today: dt.date | None = None) -> dt.date:
    """First partition date: SWIFTBOLT_HISTORY_START (YYYY-MM-DD), default two years back. It must lie
    between EARLIEST_HISTORY_START and today (partitions start there and run up to today)."""
    raw = (os.environ.get("SWIFTBOLT_HISTORY_START") or "").strip()
    today = today or dt.date.today()
    if raw:
        try:
            start = dt.date.fromisoformat(raw)
        except ValueError:
            raise ConfigError(f"SWIFTBOLT_HISTORY_START={raw!r} is not a date; use YYYY-MM-DD") from None
        if start > today:
            raise ConfigError(f"SWIFTBOLT_HISTORY_START={raw} is in the future; history must start on or before "
                              f"today ({today})")
        if start < EARLIEST_HISTORY_START:
            raise ConfigError(f"SWIFTBOLT_HISTORY_START={raw} is before {EARLIEST_HISTORY_START}, the first session "
                              "the calendars hold")
        return start
    return today.replace(year=today.year - 2, day=1)


def check_settings() -> None:
    """Read every setting the code location reads at load time, so a bad one is refused up front
    with its one-line ConfigError (the CLI calls this before it starts or migrates anything)."""
    load_settings()
    history_start()
    extra_timeframes()


def extra_timeframes() -> set[str]:
    """Optional fetched timeframes (m1, m5) from SWIFTBOLT_EXTRA_TIMEFRAMES, comma-separated."""
    raw = os.environ.get("SWIFTBOLT_EXTRA_TIMEFRAMES", "")
    values = {v.strip() for v in raw.split(",") if v.strip()}
    bad = values - {"m1", "m5"}
    if bad:
        raise ConfigError(f"SWIFTBOLT_EXTRA_TIMEFRAMES has {sorted(bad)}; allowed: m1, m5")
    return values
