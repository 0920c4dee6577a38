"""PostgreSQL connection URLs: validation, database swapping and password redaction."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit, urlunsplit

from swiftbolt.errors import ConfigError

_SCHEMES = ("postgresql", "postgres")


def validate_url(url: str, source: str = "SWIFTBOLT_DATABASE_URL") -> str:
    """Return the URL if it looks like a PostgreSQL URL with a database name, else a ConfigError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{source} is not a valid URL ({exc}); expected postgresql://user@host:5432/dbname") from None
    if parts.scheme not in _SCHEMES:
        raise ConfigError(
            f"{source} must start with postgresql:// (got {parts.scheme or 'no scheme'!r}); "
            "expected postgresql://user@host:5432/dbname"
        )
    if not parts.hostname:
        raise ConfigError(f"{source} has no host; expected postgresql://user@host:5432/dbname")
    if not database_of(url):
        raise ConfigError(f"{source} names no database; expected postgresql://user@host:{port or 5432}/dbname")
    return url


def database_of(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(dbname), parts.query, parts.fragment))


def redact(url: str) -> str:
    """The URL with any password replaced, safe for logs and metadata."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def describe(url: str) -> str:
    """host:port/db, for one-line messages."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}/{database_of(url)}"
