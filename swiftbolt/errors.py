"""Errors that carry a one-line, actionable message for the person at the terminal."""


class SwiftboltError(Exception):
    """An error whose message is one line that says what went wrong and what to do."""


class ConfigError(SwiftboltError):
    """A setting (environment variable or config file) is invalid."""


class DatabaseUnavailable(SwiftboltError):
    """The warehouse database cannot be reached."""


class EmbeddedServerError(SwiftboltError):
    """The embedded PostgreSQL server could not be started, stopped or inspected."""


class MigrationError(SwiftboltError):
    """A migration could not be applied, or an applied migration was changed."""
