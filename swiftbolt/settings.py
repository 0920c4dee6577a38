"""Project settings, read from the environment only (see the README's configuration table)."""

from __future__ import annotations

import datetime as dt
import os
import re
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


PROVIDERS = ("auto", "synthetic", "alpaca", "files", "file")  # file: the lineage name of files
ALPACA_FEEDS = ("iex", "sip")
ALPACA_OPTIONS_FEEDS = ("opra", "indicative")
_URL_RE = re.compile(r"^https?://[^/\s]+")


@dataclass(frozen=True)
class MarketDataSettings:
    """Which provider serves market data and how to reach Alpaca. The keys themselves are not held here:
    the Dagster resource reads them through dg.EnvVar, so they never enter a config snapshot."""

    provider: str
    alpaca_keys_set: bool
    data_url: str | None
    trading_url: str | None
    feed: str
    options_feed: str | None
    files_dir: Path | None = None

    @property
    def provider_name(self) -> str:
        """The provider `auto` resolves to: Alpaca when both keys are set, else synthetic."""
        if self.provider == "auto":
            return "alpaca" if self.alpaca_keys_set else "synthetic"
        return self.provider


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (os.environ.get(name) or default).strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not valid; use {' or '.join(allowed)}")
    return value


def _url(name: str) -> str | None:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return None
    if not _URL_RE.match(raw):
        raise ConfigError(f"{name}={raw!r} is not an http(s) URL; e.g. https://data.alpaca.markets")
    return raw.rstrip("/")


def market_data_settings() -> MarketDataSettings:
    """SWIFTBOLT_PROVIDER and the ALPACA_* variables, validated: the keys both or neither, the feeds
    and URLs well formed. Every error is one line that names the variable and never shows a key."""
    api_key = bool((os.environ.get("ALPACA_API_KEY") or "").strip())
    secret_key = bool((os.environ.get("ALPACA_SECRET_KEY") or "").strip())
    if api_key != secret_key:
        missing = "ALPACA_SECRET_KEY" if api_key else "ALPACA_API_KEY"
        raise ConfigError(f"{missing} is not set; set both ALPACA_API_KEY and ALPACA_SECRET_KEY")
    provider = _choice("SWIFTBOLT_PROVIDER", "auto", PROVIDERS)
    if provider == "alpaca" and not api_key:
        raise ConfigError("SWIFTBOLT_PROVIDER=alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
    options_feed = (os.environ.get("ALPACA_OPTIONS_FEED") or "").strip()
    directory = files_dir() if provider in ("files", "file") else None
    if provider in ("files", "file") and directory is None:
        raise ConfigError("SWIFTBOLT_PROVIDER=files needs SWIFTBOLT_FILES_DIR: a directory with one CSV or Parquet "
                          "file of daily bars per symbol")
    return MarketDataSettings(
        provider=provider,
        alpaca_keys_set=api_key and secret_key,
        data_url=_url("ALPACA_DATA_URL"),
        trading_url=_url("ALPACA_TRADING_URL"),
        feed=_choice("ALPACA_FEED", "iex", ALPACA_FEEDS),
        options_feed=_choice("ALPACA_OPTIONS_FEED", "", ALPACA_OPTIONS_FEEDS) if options_feed else None,
        files_dir=directory,
    )


AFTER_CLOSE_BUFFER_ENV = "SWIFTBOLT_AFTER_CLOSE_BUFFER_MINUTES"
DEFAULT_AFTER_CLOSE_BUFFER_MINUTES = 20


def after_close_buffer() -> dt.timedelta:
    """SWIFTBOLT_AFTER_CLOSE_BUFFER_MINUTES (0..720), default 20: how long after a session's close its
    daily pipeline starts (the provider's last bars and corrections arrive in that time)."""
    minutes = int_env(AFTER_CLOSE_BUFFER_ENV, DEFAULT_AFTER_CLOSE_BUFFER_MINUTES, 0, 720, "a whole number of minutes")
    return dt.timedelta(minutes=minutes)


def files_dir() -> Path | None:
    """The vendor files directory of SWIFTBOLT_PROVIDER=files (SWIFTBOLT_FILES_DIR); None when unset."""
    raw = (os.environ.get("SWIFTBOLT_FILES_DIR") or "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"SWIFTBOLT_FILES_DIR={raw!r} is not a directory; point it at a directory with one CSV "
                          "or Parquet file of daily bars per symbol")
    return path


# -- executors: one machine (multiprocess) or many (Celery workers, Kubernetes) --------------------------

EXECUTOR_ENV = "SWIFTBOLT_EXECUTOR"
EXECUTORS = ("in_process", "multiprocess", "celery", "celery_k8s")
CELERY_BROKER_ENV = "SWIFTBOLT_CELERY_BROKER_URL"
CELERY_BACKEND_ENV = "SWIFTBOLT_CELERY_BACKEND_URL"
CELERY_NAMESPACE_ENV = "SWIFTBOLT_CELERY_NAMESPACE"
DEFAULT_CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
_BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class ExecutorSettings:
    """Which Dagster executor runs the steps of a run, and where Celery's broker and result backend are.
    The URLs may hold a password: never log them (`swiftbolt.db.urls.redact` hides it)."""

    executor: str
    broker_url: str
    backend_url: str
    namespace: str | None

    @property
    def uses_celery(self) -> bool:
        return self.executor in ("celery", "celery_k8s")


def _broker_url(name: str, default: str) -> str:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    scheme = raw.partition("://")[0].lower() if "://" in raw else ""
    if scheme not in (*_BROKER_SCHEMES, *(("rpc",) if name == CELERY_BACKEND_ENV else ())):
        # the value may carry a password: name the scheme only
        raise ConfigError(f"{name} has scheme {scheme or '(none)'!r}; use redis://host:6379/0 or amqp://user@host:5672//")
    return raw


def executor_settings() -> ExecutorSettings:
    """SWIFTBOLT_EXECUTOR (in_process, multiprocess, celery or celery_k8s; default in_process) and the Celery broker
    (SWIFTBOLT_CELERY_BROKER_URL, default redis://127.0.0.1:6379/0), result backend
    (SWIFTBOLT_CELERY_BACKEND_URL, default: the broker when it is Redis, else rpc://) and key namespace
    (SWIFTBOLT_CELERY_NAMESPACE: prefix of every Redis key, so deployments can share one Redis)."""
    raw = (os.environ.get(EXECUTOR_ENV) or "in_process").strip().lower().replace("-", "_")
    if raw not in EXECUTORS:
        raise ConfigError(f"{EXECUTOR_ENV}={raw!r} is not valid; use {', '.join(EXECUTORS)}")
    broker = _broker_url(CELERY_BROKER_ENV, DEFAULT_CELERY_BROKER_URL)
    backend = _broker_url(CELERY_BACKEND_ENV, broker if broker.startswith(("redis://", "rediss://")) else "rpc://")
    namespace = (os.environ.get(CELERY_NAMESPACE_ENV) or "").strip() or None
    if namespace is not None and not _NAMESPACE_RE.match(namespace):
        raise ConfigError(f"{CELERY_NAMESPACE_ENV}={namespace!r} is not valid; use letters, digits, '_', '.', '-'")
    return ExecutorSettings(executor=raw, broker_url=broker, backend_url=backend, namespace=namespace)


# -- markets beyond the built-in ones: shards of a universe, by configuration -----------------------------

EXTRA_MARKETS_ENV = "SWIFTBOLT_EXTRA_MARKETS"
MARKET_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
RESERVED_MARKET_CODES = frozenset({"market", "analytics", "ml", "ops", "all"})


def extra_markets() -> dict[str, str]:
    """SWIFTBOLT_EXTRA_MARKETS: `code=base` pairs, comma-separated (`us_equity_2=us_equity`): more markets
    that share a built-in market's calendar and rules, each with its own symbols, partitions, assets and
    jobs. Whether `base` is a built-in market is checked by swiftbolt.markets."""
    raw = os.environ.get(EXTRA_MARKETS_ENV) or ""
    out: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        code, sep, base = (s.strip() for s in item.partition("="))
        if not sep or not code or not base:
            raise ConfigError(f"{EXTRA_MARKETS_ENV} has {item!r}; write code=base, e.g. us_equity_2=us_equity")
        if not MARKET_CODE_RE.match(code) or code in RESERVED_MARKET_CODES:
            raise ConfigError(f"{EXTRA_MARKETS_ENV}: {code!r} is not a valid market code; use 2-31 lowercase "
                              "letters, digits and '_', starting with a letter (not market, analytics, ml, ops, all)")
        if code in out:
            raise ConfigError(f"{EXTRA_MARKETS_ENV} names {code!r} twice")
        out[code] = base
    return out
