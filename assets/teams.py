"""Owners of the assets (shown in the UI and used for alert routing): one team per kind of work."""

DATA_ENGINEERING = ["team:data-engineering"]
QUANT_RESEARCH = ["team:quant-research"]
ANALYTICS_ENGINEERING = ["team:analytics-engineering"]
