"""Market data providers, one package or module per vendor (synthetic, Alpaca, vendor files)."""
