"""The market-data provider as a Dagster resource: Alpaca when keys are set, synthetic otherwise;
vendor files (CSV/Parquet) when chosen with SWIFTBOLT_PROVIDER=files."""

import dagster as dg
from pydantic import Field

from swiftbolt.errors import SwiftboltError
from swiftbolt.market_data.types import MarketDataProvider
from swiftbolt.settings import ALPACA_FEEDS, PROVIDERS, MarketDataSettings, market_data_settings

FILES_PROVIDER_CHOICES = ("files", "file")  # 'file' is the lineage name (market.symbols.primary_source)


class MarketDataResource(dg.ConfigurableResource):
    """Chooses and configures the provider. Keys come from the environment (ALPACA_API_KEY,
    ALPACA_SECRET_KEY) via dg.EnvVar and are never logged or put in metadata."""

    provider: str = Field(default="auto",
                          description="auto | synthetic | alpaca | files (auto: alpaca if keys set)")
    alpaca_api_key: str | None = Field(default=None, description="from ALPACA_API_KEY")
    alpaca_secret_key: str | None = Field(default=None, description="from ALPACA_SECRET_KEY")
    data_url: str | None = Field(default=None, description="Alpaca data API base URL (url_override)")
    trading_url: str | None = Field(default=None, description="Alpaca trading API base URL (url_override)")
    feed: str = Field(default="iex", description="Alpaca stock feed: iex or sip")
    options_feed: str | None = Field(default=None, description="Alpaca options feed: opra or indicative")
    max_requests_per_minute: int = Field(default=200, description="client-side rate limit")
    synthetic_seed: int = Field(default=7, description="seed of the synthetic market")
    files_dir: str | None = Field(default=None, description="directory of vendor files for provider 'files' "
                                  "(SWIFTBOLT_FILES_DIR): one CSV or Parquet per symbol")

    def provider_name(self) -> str:
        if self.provider not in PROVIDERS:
            raise dg.Failure(f"unknown provider {self.provider!r}; expected {', '.join(PROVIDERS)}")
        if self.provider == "auto":
            return "alpaca" if self.alpaca_api_key and self.alpaca_secret_key else "synthetic"
        if self.provider in FILES_PROVIDER_CHOICES:
            return "file"
        return self.provider

    def get_provider(self) -> MarketDataProvider:
        name = self.provider_name()
        if name == "synthetic":
            from swiftbolt.providers.synthetic import SyntheticProvider

            return SyntheticProvider(seed=self.synthetic_seed)
        if name == "file":
            from swiftbolt.providers.files import FilesProvider

            if not self.files_dir:
                raise dg.Failure("provider 'files' needs SWIFTBOLT_FILES_DIR: a directory with one CSV or Parquet "
                                 "file of daily bars per symbol")
            try:
                return FilesProvider(self.files_dir)
            except SwiftboltError as exc:
                raise dg.Failure(str(exc)) from None
        if not (self.alpaca_api_key and self.alpaca_secret_key):
            raise dg.Failure("provider 'alpaca' needs ALPACA_API_KEY and ALPACA_SECRET_KEY in the environment")
        if self.feed not in ALPACA_FEEDS:
            raise dg.Failure(f"unknown Alpaca feed {self.feed!r}; expected iex or sip")
        from swiftbolt.providers.alpaca import AlpacaProvider

        return AlpacaProvider(
            self.alpaca_api_key,
            self.alpaca_secret_key,
            data_url=self.data_url,
            trading_url=self.trading_url,
            feed=self.feed,
            options_feed=self.options_feed,
            max_requests_per_minute=self.max_requests_per_minute,
        )


def market_data_from_env(settings: MarketDataSettings | None = None) -> MarketDataResource:
    """The resource as configured by the documented environment variables (validated once, in
    swiftbolt.settings: a bad value is a one-line error when the definitions load)."""
    s = settings or market_data_settings()
    return MarketDataResource(
        provider=s.provider,
        alpaca_api_key=dg.EnvVar("ALPACA_API_KEY") if s.alpaca_keys_set else None,
        alpaca_secret_key=dg.EnvVar("ALPACA_SECRET_KEY") if s.alpaca_keys_set else None,
        data_url=s.data_url,
        trading_url=s.trading_url,
        feed=s.feed,
        options_feed=s.options_feed,
        files_dir=str(s.files_dir) if s.files_dir else None,
    )
