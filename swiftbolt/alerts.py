"""Operational alerts in ops.alerts (migration 0005): raise, resolve, list. Framework-free.

An alert is identified by its dedupe key while it is open (resolved_at IS NULL; a unique partial
index enforces one open alert per key). Raising an alert whose key is already open does not add a
row: it bumps `occurrences`/`last_seen_at` and refreshes `details`, and `raise_alert` returns False.
Every function runs inside the caller's connection/transaction; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from swiftbolt.market_data.bar_checks import symbols_without_daily_bars
from swiftbolt.markets import MARKETS

SEVERITIES = ("info", "warning", "critical")
ALERT_MARKETS = (*MARKETS, "all")  # configured shards included

RUN_FAILURE = "run_failure"
STALE_SESSION = "stale_session"
CALENDAR_MISMATCH = "calendar_mismatch"


@dataclass(frozen=True)
class Alert:
    id: int
    market: str
    symbol: str | None
    alert_type: str
    severity: str
    details: dict[str, Any]
    dedupe_key: str
    occurrences: int
    created_at: dt.datetime
    last_seen_at: dt.datetime
    resolved_at: dt.datetime | None


def default_dedupe_key(alert_type: str, market: str, symbol: str | None = None) -> str:
    return f"{alert_type}:{market}:{symbol or '-'}"


def _json(details: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(details or {}), default=str, sort_keys=True)


def raise_alert(
    conn: psycopg.Connection,
    *,
    market: str,
    alert_type: str,
    severity: str,
    details: Mapping[str, Any] | None = None,
    symbol: str | None = None,
    dedupe_key: str | None = None,
) -> bool:
    """Open an alert unless one with the same dedupe key is open. Returns True when a row was created."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {SEVERITIES}")
    if market not in ALERT_MARKETS:
        raise ValueError(f"market {market!r} is not one of {ALERT_MARKETS}")
    key = dedupe_key or default_dedupe_key(alert_type, market, symbol)
    row = conn.execute(
        """
        INSERT INTO ops.alerts AS a (market, symbol, alert_type, severity, details, dedupe_key)
        VALUES (%s, %s, %s, %s, %s::jsonb, %s)
        ON CONFLICT (dedupe_key) WHERE resolved_at IS NULL DO UPDATE SET
            occurrences = a.occurrences + 1,
            last_seen_at = greatest(now(), a.created_at),
            details = EXCLUDED.details,
            severity = EXCLUDED.severity
        RETURNING (xmax = 0) AS created
        """,
        (market, symbol, alert_type, severity, _json(details), key),
    ).fetchone()
    return bool(row and row[0])


def resolve_alerts(
    conn: psycopg.Connection,
    *,
    dedupe_keys: Iterable[str] | None = None,
    alert_type: str | None = None,
    market: str | None = None,
    keep: Iterable[str] = (),
) -> list[str]:
    """Resolve the open alerts matching every given filter, except those whose key is in `keep`.
    Returns the resolved dedupe keys. At least one of dedupe_keys / alert_type is required."""
    if dedupe_keys is None and alert_type is None:
        raise ValueError("resolve_alerts needs dedupe_keys or alert_type")
    keys = None if dedupe_keys is None else list(dedupe_keys)
    if keys is not None and not keys:
        return []
    rows = conn.execute(
        """
        UPDATE ops.alerts SET resolved_at = greatest(now(), created_at)
        WHERE resolved_at IS NULL
          AND (%(keys)s::text[] IS NULL OR dedupe_key = ANY(%(keys)s::text[]))
          AND (%(type)s::text IS NULL OR alert_type = %(type)s::text)
          AND (%(market)s::text IS NULL OR market = %(market)s::text)
          AND NOT (dedupe_key = ANY(%(keep)s::text[]))
        RETURNING dedupe_key
        """,
        {"keys": keys, "type": alert_type, "market": market, "keep": list(keep)},
    ).fetchall()
    return sorted(r[0] for r in rows)


def open_alerts(
    conn: psycopg.Connection, *, market: str | None = None, alert_type: str | None = None
) -> list[Alert]:
    """Open alerts, oldest first."""
    rows = conn.execute(
        """
        SELECT id, market, symbol, alert_type, severity, details, dedupe_key, occurrences, created_at,
               last_seen_at, resolved_at
        FROM ops.alerts
        WHERE resolved_at IS NULL
          AND (%(market)s::text IS NULL OR market = %(market)s::text)
          AND (%(type)s::text IS NULL OR alert_type = %(type)s::text)
        ORDER BY created_at, id
        """,
        {"market": market, "type": alert_type},
    ).fetchall()
    return [Alert(*r) for r in rows]


# -- staleness ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreshnessReport:
    market: str
    session: dt.date
    deadline: dt.datetime
    symbols: int
    missing: list[str]
    created: list[str]
    resolved: list[str]

    def summary(self) -> str:
        text = (
            f"{self.market} session {self.session} (deadline {self.deadline:%Y-%m-%d %H:%M} UTC): "
            f"{self.symbols - len(self.missing)}/{self.symbols} symbols have their daily bar"
        )
        if self.missing:
            text += f"; missing {', '.join(self.missing[:10])}{' ...' if len(self.missing) > 10 else ''}"
        if self.created:
            text += f"; {len(self.created)} new alert(s)"
        if self.resolved:
            text += f"; {len(self.resolved)} alert(s) resolved"
        return text


def stale_session_key(market: str, symbol: str, session: dt.date) -> str:
    return f"{STALE_SESSION}:{market}:{symbol}:{session.isoformat()}"


def record_session_freshness(
    conn: psycopg.Connection, market: str, session: dt.date, deadline: dt.datetime
) -> FreshnessReport:
    """After `session`'s deadline: raise a stale_session alert for each active symbol of `market` without
    a daily bar set (market.bar_datasets, timeframe d1) for the session, and resolve the market's open
    stale_session alerts (of any session) whose data has arrived or whose symbol was deactivated."""
    missing, active = symbols_without_daily_bars(conn, market, session)
    created = []
    for ticker in missing:
        key = stale_session_key(market, ticker, session)
        details = {"session": session.isoformat(), "deadline": deadline.isoformat(), "timeframe": "d1",
                   "table": "market.bar_datasets"}
        if raise_alert(conn, market=market, symbol=ticker, alert_type=STALE_SESSION, severity="warning",
                       details=details, dedupe_key=key):
            created.append(key)
    resolved = [
        r[0]
        for r in conn.execute(
            """
            UPDATE ops.alerts a SET resolved_at = greatest(now(), a.created_at)
            WHERE a.resolved_at IS NULL AND a.alert_type = %s AND a.market = %s
              AND NOT EXISTS (
                  SELECT 1 FROM market.symbols s
                  WHERE s.ticker = a.symbol AND s.is_active
                    AND NOT EXISTS (SELECT 1 FROM market.bar_datasets d
                                    WHERE d.symbol_id = s.id AND d.timeframe = 'd1'
                                      AND d.session_date = (a.details ->> 'session')::date))
            RETURNING a.dedupe_key
            """,
            (STALE_SESSION, market),
        ).fetchall()
    ]
    return FreshnessReport(market, session, deadline, active, missing, created, sorted(resolved))
