"""Option maths: Black-Scholes-Merton prices, greeks and implied volatility (vectorised numpy)."""
