"""The headless demo (`make demo`): the default pipeline run through Dagster on the project's instance
(runner.py), with a quiet console and a summary in dbt's and Dagster's words (console.py)."""
