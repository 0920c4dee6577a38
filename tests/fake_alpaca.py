"""A local HTTP server that speaks the slice of Alpaca's REST JSON that alpaca-py parses.

Endpoints (paths and shapes as alpaca-py 0.4x builds and reads them):

    GET /v2/stocks/bars               {"bars": {"AAPL": [{t,o,h,l,c,v,n,vw}, ...]},
                                       "next_page_token"}
    GET /v1beta3/crypto/us/bars       same shape, crypto symbols ("BTC/USD")
    GET /v2/stocks/snapshots          {"AAPL": {"latestTrade", "latestQuote", "minuteBar",
                                                "dailyBar", "prevDailyBar"}}  (no wrapper key)
    GET /v1beta3/crypto/us/snapshots  {"snapshots": {"BTC/USD": {...}}}
    GET /v1/corporate-actions         {"corporate_actions": {"forward_splits": [...],
                                       "reverse_splits": [...], "cash_dividends": [...]},
                                       "next_page_token"}
    GET /v2/calendar                  [{"date", "open": "HH:MM", "close": "HH:MM", ...}]  (trading)
    GET /v1beta1/options/snapshots/{underlying}
                                      {"snapshots": {"AAPL250620C00180000": {"latestQuote",
                                       "latestTrade", "impliedVolatility", "greeks", "dailyBar",
                                       ...}}, "next_page_token"}  (the option chain)

Like Alpaca: `start`/`end` are inclusive; daily equity bars are stamped at midnight New York in
UTC (04:00Z/05:00Z) and daily crypto bars at 00:00Z; results are sorted by symbol then time and
paginated across symbols with an opaque `next_page_token`; corporate actions are filtered on their
`process_date`; option chains are sorted by contract symbol, paginated the same way (default limit
100, like Alpaca) and filtered by `type`, `strike_price_gte/lte`, `expiration_date(_gte/_lte)` and
`root_symbol` as parsed from the OCC symbols; requests without the right APCA key headers get 401.

Usage:

    with FakeAlpaca(page_size=7) as fake:
        fake.bars = frame_in_BAR_COLUMNS
        fake.fail_next = [(429, {"Retry-After": "1"}), (500, {})]
        fake.option_snapshots = {"AAPL": {"AAPL250620C00180000": option_snapshot(bid=1.0, ...)}}
        provider = AlpacaProvider(fake.api_key, fake.secret_key,
                                  data_url=fake.data_url, trading_url=fake.trading_url)
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pandas as pd

from swiftbolt.market_data.types import BAR_COLUMNS, empty_frame

NEW_YORK = "America/New_York"

ALPACA_TIMEFRAMES = {
    "1Min": "m1", "5Min": "m5", "15Min": "m15", "1Hour": "h1", "4Hour": "h4", "1Day": "d1",
}

_DEFAULT_ERROR_MESSAGES = {
    401: "request is not authorized",
    403: "forbidden",
    404: "not found",
    429: "too many requests.",
    500: "internal server error occurred",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}

Failure = tuple[int, dict[str, str]] | tuple[int, dict[str, str], Any]


def snapshot(
    *,
    last: float,
    bid: float,
    ask: float,
    day_high: float,
    day_low: float,
    prev_close: float,
    ts: str = "2025-03-10T19:59:59.5Z",
) -> dict[str, Any]:
    """One symbol's snapshot in Alpaca's camelCase JSON."""
    bar = {"o": prev_close, "h": day_high, "l": day_low, "c": last, "v": 1000, "n": 10, "vw": last}
    return {
        "latestTrade": {"t": ts, "x": "V", "p": last, "s": 100, "c": ["@"], "i": 1, "z": "C"},
        "latestQuote": {
            "t": ts, "ax": "V", "ap": ask, "as": 1, "bx": "V", "bp": bid, "bs": 2, "c": ["R"],
            "z": "C",
        },
        "minuteBar": {**bar, "t": "2025-03-10T19:59:00Z"},
        "dailyBar": {**bar, "t": "2025-03-10T04:00:00Z"},
        "prevDailyBar": {
            "t": "2025-03-07T05:00:00Z", "o": prev_close, "h": prev_close, "l": prev_close,
            "c": prev_close, "v": 1000, "n": 10, "vw": prev_close,
        },
    }


def option_snapshot(
    *,
    bid: float | None,
    ask: float | None,
    last: float | None = None,
    iv: float | None = None,
    greeks: dict[str, float] | None = None,
    volume: float | None = None,
    ts: str = "2025-03-10T19:59:59.5Z",
    trade_ts: str = "2025-03-10T19:41:07.25Z",
    day: str = "2025-03-10T04:00:00Z",
) -> dict[str, Any]:
    """One option contract's snapshot in Alpaca's camelCase JSON (keys left out where None, as
    Alpaca leaves out what it does not have: no trade, no greeks for illiquid contracts...)."""
    out: dict[str, Any] = {}
    if bid is not None or ask is not None:
        out["latestQuote"] = {
            "t": ts, "ax": "C", "ap": ask, "as": 10, "bx": "C", "bp": bid, "bs": 12, "c": "A",
        }
    if last is not None:
        out["latestTrade"] = {"t": trade_ts, "x": "C", "p": last, "s": 1, "c": "I"}
        bar = {"o": last, "h": last, "l": last, "c": last, "n": 3, "vw": last}
        out["minuteBar"] = {**bar, "t": trade_ts[:17] + "00Z", "v": 1}
        if volume is not None:
            out["dailyBar"] = {**bar, "t": day, "v": volume}
    if iv is not None:
        out["impliedVolatility"] = iv
    if greeks is not None:
        out["greeks"] = {"rho": 0.0, **greeks}
    return out


_OCC = re.compile(r"^([A-Z0-9.]{1,6})(\d{2})(\d{2})(\d{2})([CP])(\d{8})$")


def _occ_fields(contract: str) -> tuple[str, str, str, float] | None:
    """(root, YYYY-MM-DD, 'call'|'put', strike) of an OCC symbol, None if it is not one."""
    m = _OCC.match(contract)
    if m is None:
        return None
    root, yy, mm, dd, kind, strike = m.groups()
    return root, f"20{yy}-{mm}-{dd}", "call" if kind == "C" else "put", int(strike) / 1000.0


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])


def _iso_z(ts: pd.Timestamp) -> str:
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: Any) -> Any:
    """A JSON number: ints stay ints (Alpaca sends equity volume and trade counts as integers)."""
    if value is None or pd.isna(value):
        return None
    f = float(value)
    return int(f) if f.is_integer() else f


_OPTION_CHAIN_PREFIX = "/v1beta1/options/snapshots/"


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FakeAlpaca:
    """Alpaca's data and trading REST APIs on 127.0.0.1 (one server; their paths don't clash)."""

    def __init__(
        self,
        *,
        api_key: str = "PKTESTKEY1234567890",
        secret_key: str = "sEcReT-test-0123456789abcdef",
        page_size: int = 1000,
    ) -> None:
        self.api_key = api_key
        self.secret_key = secret_key
        self.page_size = page_size
        self.bars: pd.DataFrame = empty_frame(BAR_COLUMNS)
        self.snapshots: dict[str, dict[str, Any]] = {}
        # Each: {"type": "forward_split"|"reverse_split"|"cash_dividend"|..., "symbol": ...,
        #        plus Alpaca's fields (new_rate/old_rate or rate, ex_date, process_date, ...)}.
        self.corporate_actions: list[dict[str, Any]] = []
        # Each: {"date": "YYYY-MM-DD", "open": "HH:MM", "close": "HH:MM"} (New York local times).
        self.calendar: list[dict[str, Any]] = []
        # Option chains: {underlying: {OCC contract symbol: snapshot JSON (see option_snapshot)}}.
        self.option_snapshots: dict[str, dict[str, dict[str, Any]]] = {}
        # The next requests get these (status, headers[, body]) before the server answers normally.
        self.fail_next: list[Failure] = []
        # Bars sent in successful responses, per Alpaca timeframe ("15Min", "1Day", ...): what a client
        # received, for the received = stored + quarantined accounting.
        self.bars_served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._requests: list[tuple[str, str, dict[str, str]]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeAlpaca:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
            name="fake-alpaca", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAlpaca:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeAlpaca is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def data_url(self) -> str:
        return self.url

    @property
    def trading_url(self) -> str:
        return self.url

    # -- what was received ----------------------------------------------------------------------

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        """(method, path, query) of every request received, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[dict[str, str]]:
        """The query dicts of the requests received on `path`."""
        return [q for _, p, q in self.requests if p == path]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, method: str, path: str, query: dict[str, str]) -> None:
        with self._lock:
            self._requests.append((method, path, query))

    def _pop_failure(self) -> Failure | None:
        with self._lock:
            return self.fail_next.pop(0) if self.fail_next else None

    # -- routes ---------------------------------------------------------------------------------

    def route(self, path: str, query: dict[str, str]) -> Any:
        if path == "/v2/stocks/bars":
            return self._bars(query, daily_tz=NEW_YORK)
        if path == "/v1beta3/crypto/us/bars":
            return self._bars(query, daily_tz=None)
        if path == "/v2/stocks/snapshots":
            return self._snapshots(query)
        if path == "/v1beta3/crypto/us/snapshots":
            return {"snapshots": self._snapshots(query)}
        if path == "/v1/corporate-actions":
            return self._corporate_actions(query)
        if path == "/v2/calendar":
            return self._calendar(query)
        if path.startswith(_OPTION_CHAIN_PREFIX) and "/" not in path[len(_OPTION_CHAIN_PREFIX) :]:
            return self._option_chain(unquote(path[len(_OPTION_CHAIN_PREFIX) :]), query)
        raise _HttpError(404, "not found")

    def _limit(self, query: dict[str, str], default: int) -> int:
        try:
            limit = int(query.get("limit") or default)
        except ValueError:
            raise _HttpError(400, "invalid limit") from None
        return max(1, min(limit, self.page_size))

    @staticmethod
    def _symbols(query: dict[str, str]) -> list[str]:
        raw = query.get("symbols")
        if not raw:
            raise _HttpError(400, "symbols is required")
        return [s for s in raw.split(",") if s]

    @staticmethod
    def _time(query: dict[str, str], key: str) -> pd.Timestamp | None:
        raw = query.get(key)
        if not raw:
            return None
        try:
            ts = pd.Timestamp(raw)
        except ValueError:
            raise _HttpError(400, f"invalid {key}") from None
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")

    def _served_bars(self, query: dict[str, str], daily_tz: str | None) -> pd.DataFrame:
        """The bars matching the query with the `t` Alpaca would stamp, sorted like Alpaca."""
        tf = ALPACA_TIMEFRAMES.get(query.get("timeframe", ""))
        if tf is None:
            raise _HttpError(400, "invalid timeframe")
        symbols = self._symbols(query)
        df = self.bars
        df = df[df["symbol"].isin(symbols) & (df["timeframe"] == tf)].copy()
        ts = pd.to_datetime(df["ts"], utc=True)
        if tf == "d1" and daily_tz:
            # Daily equity bars: the session date at midnight New York, expressed in UTC.
            local_midnight = ts.dt.tz_localize(None).dt.normalize().dt.tz_localize(daily_tz)
            ts = local_midnight.dt.tz_convert("UTC")
        df["t"] = ts
        start, end = self._time(query, "start"), self._time(query, "end")
        if start is not None:
            df = df[df["t"] >= start]
        if end is not None:
            df = df[df["t"] <= end]  # Alpaca's end is inclusive
        return df.sort_values(["symbol", "t"], kind="stable").reset_index(drop=True)

    def _bars(self, query: dict[str, str], daily_tz: str | None) -> dict[str, Any]:
        df = self._served_bars(query, daily_tz)
        offset = self._offset(query)
        limit = self._limit(query, 1000)
        page = df.iloc[offset : offset + limit]
        out: dict[str, list[dict[str, Any]]] = {}
        for row in page.itertuples(index=False):
            out.setdefault(row.symbol, []).append(
                {
                    "t": _iso_z(row.t),
                    "o": _num(row.open),
                    "h": _num(row.high),
                    "l": _num(row.low),
                    "c": _num(row.close),
                    "v": _num(row.volume),
                    "n": _num(row.trade_count),
                    "vw": _num(row.vwap),
                }
            )
        token = _encode_token(offset + limit) if offset + limit < len(df) else None
        with self._lock:
            tf = query.get("timeframe", "")
            self.bars_served[tf] = self.bars_served.get(tf, 0) + len(page)
        return {"bars": out, "next_page_token": token}

    @staticmethod
    def _offset(query: dict[str, str]) -> int:
        try:
            return _decode_token(query.get("page_token"))
        except (ValueError, KeyError, TypeError):
            raise _HttpError(400, "invalid page token") from None

    def _snapshots(self, query: dict[str, str]) -> dict[str, Any]:
        return {s: self.snapshots[s] for s in self._symbols(query) if s in self.snapshots}

    def _corporate_actions(self, query: dict[str, str]) -> dict[str, Any]:
        symbols = set(self._symbols(query)) if query.get("symbols") else None
        types = set(query["types"].split(",")) if query.get("types") else None
        start = query.get("start")  # YYYY-MM-DD compares correctly as text
        end = query.get("end")
        matching = []
        for action in self.corporate_actions:
            if types is not None and action["type"] not in types:
                continue
            if symbols is not None and action.get("symbol") not in symbols:
                continue
            day = str(action.get("process_date") or action.get("ex_date"))
            if (start and day < start) or (end and day > end):
                continue
            matching.append(action)
        matching.sort(key=lambda a: (str(a.get("process_date") or a.get("ex_date")), a["type"]))
        offset = self._offset(query)
        limit = self._limit(query, 100)
        grouped: dict[str, list[dict[str, Any]]] = {}
        for action in matching[offset : offset + limit]:
            body = {k: v for k, v in action.items() if k != "type"}
            body.setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_OID, repr(sorted(body.items())))))
            grouped.setdefault(f"{action['type']}s", []).append(body)
        token = _encode_token(offset + limit) if offset + limit < len(matching) else None
        return {"corporate_actions": grouped, "next_page_token": token}

    def _option_chain(self, underlying: str, query: dict[str, str]) -> dict[str, Any]:
        if not underlying:
            raise _HttpError(404, "not found")
        kind = query.get("type")
        if kind and kind not in ("call", "put"):
            raise _HttpError(400, "invalid type")
        try:
            strike_gte = float(query["strike_price_gte"]) if query.get("strike_price_gte") else None
            strike_lte = float(query["strike_price_lte"]) if query.get("strike_price_lte") else None
        except ValueError:
            raise _HttpError(400, "invalid strike price") from None
        exp_eq, exp_gte, exp_lte = (
            query.get(k) for k in ("expiration_date", "expiration_date_gte", "expiration_date_lte")
        )
        root = query.get("root_symbol")
        matching = []
        for contract in sorted(self.option_snapshots.get(underlying, {})):
            fields = _occ_fields(contract)
            if fields is None:
                matching.append(contract)  # served as is; the client has to cope
                continue
            c_root, c_exp, c_kind, c_strike = fields
            if (kind and c_kind != kind) or (root and c_root != root):
                continue
            if (strike_gte is not None and c_strike < strike_gte) or (
                strike_lte is not None and c_strike > strike_lte
            ):
                continue
            if (exp_eq and c_exp != exp_eq) or (exp_gte and c_exp < exp_gte) or (
                exp_lte and c_exp > exp_lte
            ):
                continue
            matching.append(contract)
        offset = self._offset(query)
        limit = self._limit(query, 100)
        chain = self.option_snapshots.get(underlying, {})
        page = {c: chain[c] for c in matching[offset : offset + limit]}
        token = _encode_token(offset + limit) if offset + limit < len(matching) else None
        return {"snapshots": page, "next_page_token": token}

    def _calendar(self, query: dict[str, str]) -> list[dict[str, Any]]:
        start, end = query.get("start"), query.get("end")
        out = []
        for day in sorted(self.calendar, key=lambda d: d["date"]):
            if (start and day["date"] < start) or (end and day["date"] > end):
                continue
            out.append(
                {"session_open": "0400", "session_close": "2000", "settlement_date": day["date"],
                 **day}
            )
        return out


class _Handler(BaseHTTPRequestHandler):
    owner: FakeAlpaca
    server_version = "FakeAlpaca/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        fake = self.owner
        fake._record("GET", parts.path, query)
        if (
            self.headers.get("APCA-API-KEY-ID") != fake.api_key
            or self.headers.get("APCA-API-SECRET-KEY") != fake.secret_key
        ):
            self._send(401, {"code": 40110000, "message": "request is not authorized"})
            return
        failure = fake._pop_failure()
        if failure is not None:
            status, headers = failure[0], failure[1]
            body = failure[2] if len(failure) > 2 else {
                "code": status * 100000,
                "message": _DEFAULT_ERROR_MESSAGES.get(status, "error"),
            }
            self._send(status, body, headers)
            return
        try:
            body = fake.route(parts.path, query)
        except _HttpError as exc:
            self._send(exc.status, {"code": exc.status * 100000, "message": exc.message})
            return
        self._send(200, body)


def iter_pages(total: int, page_size: int) -> Iterator[int]:
    """Sizes of the pages `total` items are split into (for asserting request counts)."""
    for start in range(0, total, page_size):
        yield min(page_size, total - start)


class FakeClock:
    """Monotonic clock + sleep recorder for the provider's retry and rate limiter: sleeping advances
    the clock instantly, so tests never wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def provider_for(fake: FakeAlpaca, clock: FakeClock, **kwargs: Any) -> Any:
    """A real AlpacaProvider pointed at `fake`, sleeping on `clock` (keys overridable)."""
    from swiftbolt.providers.alpaca import AlpacaProvider

    return AlpacaProvider(
        kwargs.pop("api_key", fake.api_key),
        kwargs.pop("secret_key", fake.secret_key),
        data_url=fake.data_url,
        trading_url=fake.trading_url,
        sleep=clock.sleep,
        clock=clock,
        **kwargs,
    )
