"""Bars and what comes with them: the provider interface (types), validation and quarantine, the COPY
writers and lineage (bar_store, ingest), quality and coverage checks, corporate actions, quotes, and the
bars pipeline the asset runs (pipeline). Providers themselves are in swiftbolt.providers."""
