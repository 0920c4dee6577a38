"""Market data: the provider interface, providers (synthetic, Alpaca), bar validation and writing."""
