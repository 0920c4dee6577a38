"""The market-data provider as a Dagster resource: Alpaca when keys are set, synthetic otherwise;
vendor files (CSV/Parquet) when chosen with SWIFTBOLT_PROVIDER=files."""


import dagster as dg
from pydantic import Field

from swiftbolt.errors import SwiftboltError
from swiftbolt.marketdata.types import MarketDataProvider

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
        if self.provider == "auto":
            return "alpaca" if self.alpaca_api_key and self.alpaca_secret_key else "synthetic"
        if self.provider in FILES_PROVIDER_CHOICES:
            return "file"
        if self.provider not in ("synthetic", "alpaca"):
            raise dg.Failure(f"unknown provider {self.provider!r}; expected auto, synthetic, alpaca or files")
        return self.provider

    def get_provider(self) -> MarketDataProvider:
        name = self.provider_name()
        if name == "synthetic":
            from swiftbolt.marketdata.synthetic import SyntheticProvider

            return SyntheticProvider(seed=self.synthetic_seed)
        if name == "file":
            from swiftbolt.marketdata.files import FilesProvider

            if not self.files_dir:
                raise dg.Failure("provider 'files' needs SWIFTBOLT_FILES_DIR: a directory with one CSV or Parquet "
                                 "file of daily bars per symbol")
            try:
                return FilesProvider(self.files_dir)
            except SwiftboltError as exc:
                raise dg.Failure(str(exc)) from None
        if not (self.alpaca_api_key and self.alpaca_secret_key):
            raise dg.Failure("provider 'alpaca' needs ALPACA_API_KEY and ALPACA_SECRET_KEY in the environment")
        if self.feed not in ("iex", "sip"):
            raise dg.Failure(f"unknown Alpaca feed {self.feed!r}; expected iex or sip")
        from swiftbolt.marketdata.alpaca import AlpacaProvider

        return AlpacaProvider(
            self.alpaca_api_key,
            self.alpaca_secret_key,
            data_url=self.data_url,
            trading_url=self.trading_url,
            feed=self.feed,
            options_feed=self.options_feed,
            max_requests_per_minute=self.max_requests_per_minute,
        )


def market_data_from_env() -> MarketDataResource:
    """The resource as configured by the documented environment variables."""
    import os

    from swiftbolt.settings import files_dir

    provider = os.environ.get("SWIFTBOLT_PROVIDER", "auto")
    directory = files_dir() if provider in FILES_PROVIDER_CHOICES else None

    def env(name: str) -> dg.EnvVar | None:
        return dg.EnvVar(name) if os.environ.get(name) else None

    return MarketDataResource(
        provider=provider,
        alpaca_api_key=env("ALPACA_API_KEY"),
        alpaca_secret_key=env("ALPACA_SECRET_KEY"),
        data_url=os.environ.get("ALPACA_DATA_URL") or None,
        trading_url=os.environ.get("ALPACA_TRADING_URL") or None,
        feed=os.environ.get("ALPACA_FEED", "iex"),
        options_feed=os.environ.get("ALPACA_OPTIONS_FEED") or None,
        files_dir=str(directory) if directory else None,
    )
