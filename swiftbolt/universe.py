"""The symbol universe: read the YAML file, validate every ticker, sync it into market.symbols."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg
import yaml

from swiftbolt.errors import ConfigError
from swiftbolt.markets import MARKETS
from swiftbolt.symbols import validate_symbol

DEFAULT_UNIVERSE_FILE = Path(__file__).with_name("universe.yaml")
_ASSET_TYPES = {"stock", "etf", "crypto", "index"}
_ENTRY_KEYS = ("ticker", "asset_type", "name")
_EXAMPLE = "{ticker: SPY, asset_type: etf}"


def _kind(value: object) -> str:
    """How a YAML value reads in an error message: its type and a short repr."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


@dataclass(frozen=True)
class SymbolSpec:
    ticker: str
    market: str
    asset_type: str
    name: str | None = None


def universe_file() -> Path:
    return Path(os.environ.get("SWIFTBOLT_UNIVERSE_FILE") or DEFAULT_UNIVERSE_FILE)


def load_universe(path: Path | None = None) -> list[SymbolSpec]:
    """All symbols of the universe file, validated; a bad entry is refused with its name."""
    path = path or universe_file()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read universe file {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the universe must be a mapping of market to a list of symbols "
                          f"(us_equity: [{_EXAMPLE}]), not {_kind(raw)}")
    specs: list[SymbolSpec] = []
    for market, entries in raw.items():
        if market not in MARKETS:
            raise ConfigError(f"{path}: unknown market {market!r}; expected one of {sorted(MARKETS)}")
        if entries is not None and not isinstance(entries, list):
            raise ConfigError(f"{path}: {market} must be a list of symbols ({market}: [{_EXAMPLE}]), "
                              f"not {_kind(entries)}")
        for i, entry in enumerate(entries or []):
            if not isinstance(entry, dict):
                raise ConfigError(f"{path}: {market} entry {i + 1} must be a mapping like {_EXAMPLE}, "
                                  f"not {_kind(entry)}")
            unknown = sorted(str(k) for k in entry if k not in _ENTRY_KEYS)
            if unknown:
                raise ConfigError(f"{path}: {market} entry {i + 1} has unknown keys {unknown}; "
                                  f"allowed: {', '.join(_ENTRY_KEYS)}")
            ticker = entry.get("ticker")
            if not isinstance(ticker, str):
                raise ConfigError(f"{path}: {market} entry {i + 1} needs a ticker string, not {_kind(ticker)}")
            ticker = validate_symbol(ticker, market)
            asset_type = entry.get("asset_type", "stock")
            if asset_type not in _ASSET_TYPES:
                raise ConfigError(f"{path}: {ticker} has unknown asset_type {asset_type!r}")
            name = entry.get("name")
            if name is not None and not isinstance(name, str | int | float):
                raise ConfigError(f"{path}: {ticker} has a name that is not text ({_kind(name)})")
            specs.append(SymbolSpec(ticker, market, asset_type, None if name is None else str(name)))
    tickers = [s.ticker for s in specs]
    duplicates = sorted({t for t in tickers if tickers.count(t) > 1})
    if duplicates:
        raise ConfigError(f"{path}: duplicate tickers {duplicates}")
    return specs


@dataclass(frozen=True)
class SyncResult:
    inserted: list[str]
    reactivated: list[str]
    deactivated: list[str]
    active: int


def sync_universe(conn: psycopg.Connection, specs: list[SymbolSpec], primary_source: str) -> SyncResult:
    """Upsert the universe into market.symbols and deactivate symbols that left it (history kept).
    Runs inside the caller's transaction."""
    before = {
        t: active for t, active in conn.execute("SELECT ticker, is_active FROM market.symbols").fetchall()
    }
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO market.symbols (ticker, market, asset_type, name, primary_source, is_active)
            VALUES (%s, %s, %s, %s, %s, true)
            ON CONFLICT (ticker) DO UPDATE SET
                market = EXCLUDED.market, asset_type = EXCLUDED.asset_type,
                name = COALESCE(EXCLUDED.name, market.symbols.name),
                primary_source = EXCLUDED.primary_source, is_active = true
            WHERE (market.symbols.market, market.symbols.asset_type, market.symbols.name,
                   market.symbols.primary_source, market.symbols.is_active)
               IS DISTINCT FROM (EXCLUDED.market, EXCLUDED.asset_type,
                   COALESCE(EXCLUDED.name, market.symbols.name), EXCLUDED.primary_source, true)
            """,
            [(s.ticker, s.market, s.asset_type, s.name, primary_source) for s in specs],
        )
    wanted = [s.ticker for s in specs]
    deactivated = [
        r[0]
        for r in conn.execute(
            "UPDATE market.symbols SET is_active = false WHERE is_active AND NOT (ticker = ANY(%s)) "
            "RETURNING ticker",
            (wanted,),
        ).fetchall()
    ]
    active = conn.execute("SELECT count(*) FROM market.symbols WHERE is_active").fetchone()
    return SyncResult(
        inserted=[t for t in wanted if t not in before],
        reactivated=[t for t in wanted if before.get(t) is False],
        deactivated=sorted(deactivated),
        active=int(active[0]) if active else 0,
    )


def active_symbols(conn: psycopg.Connection, market: str) -> dict[str, int]:
    """ticker -> id of the active symbols of a market."""
    rows = conn.execute(
        "SELECT ticker, id FROM market.symbols WHERE market = %s AND is_active ORDER BY ticker", (market,)
    ).fetchall()
    return {t: int(i) for t, i in rows}


def not_in_universe_reason(market: str, symbols: list[str]) -> str:
    """One line for a run asked to materialize symbol partitions that are not active symbols of `market` (e.g.
    a partition added by hand with the UI's "Add partition")."""
    return (
        f"{', '.join(sorted(symbols))}: not in the {market} universe (active rows of market.symbols); a symbol "
        f"partition added by hand is removed by {market}_symbol_universe_sensor. Add the symbol to "
        f"{universe_file().name} (SWIFTBOLT_UNIVERSE_FILE) and materialize market/symbols instead"
    )
