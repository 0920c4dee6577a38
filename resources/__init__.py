"""Dagster ConfigurableResources: the warehouse and the market-data provider."""

from resources.market_data import MarketDataResource
from resources.warehouse import WarehouseResource

__all__ = ["MarketDataResource", "WarehouseResource"]
