"""Alpaca market data through the alpaca-py SDK: bars, snapshot quotes, corporate actions, calendar,
option chains.

How requests are made (read alpaca-py 0.4x `alpaca/common/rest.py` to follow this):

* Pagination is the SDK's: `RESTClient._get_marketdata` follows `next_page_token` until it is null,
  sending `limit` = 10,000 (bars) / 1,000 (corporate actions, option chain snapshots) per page and
  merging the pages. One provider call is one logical request per symbol chunk x timeframe x range.
* Retries are ours. The SDK's own retry (`RESTClient._request`) sleeps a fixed `retry_wait_seconds`
  (3 s) on 429/504 only, ignores `Retry-After`, never retries other 5xx or connection errors, sends
  no timeout, and raises `APIError(response.text)`. It cannot be configured to do what we need (and
  `retry_attempts=0` is ignored by its constructor, the data clients don't even pass it through),
  so each client is a subclass whose `_one_request` -- the SDK's "one HTTP request" hook, called
  once per page with the final URL and options -- is replaced by `_Transport.send`: rate limiter,
  timeout, retries with Retry-After / exponential backoff + full jitter, and scrubbed one-line
  errors. The SDK's loop is disabled (`_retry = 0`, `_retry_codes = []`) so it calls us exactly
  once per page; pagination stays in the SDK, so every page is retried on its own.
* Every HTTP attempt (each page, each retry) first takes a slot from one `RateLimiter` shared by
  all clients of the provider (a sliding window of `max_requests_per_minute`).
* Secrets: keys travel only in the SDK's request headers. Nothing here logs or raises response
  headers, `requests` exceptions or SDK exception text; server messages are scrubbed of the keys.
"""

from swiftbolt.providers.alpaca.frames import option_chain_snapshots_frame, parse_occ_symbol
from swiftbolt.providers.alpaca.provider import AlpacaProvider
from swiftbolt.providers.alpaca.transport import RateLimiter

__all__ = ["AlpacaProvider", "RateLimiter", "option_chain_snapshots_frame", "parse_occ_symbol"]
