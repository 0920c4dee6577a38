"""The synthetic market: an offline, deterministic stand-in for a market-data vendor (see prices.py for
what is modelled)."""

from swiftbolt.providers.synthetic.option_chains import OPTION_RATE
from swiftbolt.providers.synthetic.prices import DEFAULT_ACTIONS, SyntheticAction
from swiftbolt.providers.synthetic.provider import SyntheticProvider

__all__ = ["DEFAULT_ACTIONS", "OPTION_RATE", "SyntheticAction", "SyntheticProvider"]
