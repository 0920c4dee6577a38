"""alpaca-py REST clients whose one-HTTP-request hook goes through our `_Transport`."""

from __future__ import annotations

from typing import Any

import requests
from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
from alpaca.data.historical.corporate_actions import CorporateActionsClient
from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.trading.client import TradingClient

from swiftbolt.providers.alpaca.transport import _Transport


class _ManagedTransport:
    """Mixin for alpaca-py REST clients: `_one_request` (one HTTP request, called once per page by
    the SDK's `_request`) goes through our `_Transport` instead of the SDK's bare `requests` call.
    """

    _transport: _Transport
    _session: requests.Session

    def _one_request(self, method: str, url: str, opts: dict, retry: int) -> Any:
        return self._transport.send(self._session, method, url, opts)


class _StockClient(_ManagedTransport, StockHistoricalDataClient):
    pass


class _CryptoClient(_ManagedTransport, CryptoHistoricalDataClient):
    pass


class _CorporateActionsClient(_ManagedTransport, CorporateActionsClient):
    pass


class _OptionClient(_ManagedTransport, OptionHistoricalDataClient):
    pass


class _TradingClient(_ManagedTransport, TradingClient):
    pass


def _managed(client: Any, transport: _Transport) -> Any:
    client._transport = transport
    # Disable the SDK's retry loop: with _retry = 0 `_request` calls `_one_request` exactly once.
    client._retry = 0
    client._retry_codes = []
    return client
