"""One HTTP request of an alpaca-py client: the shared rate limiter, timeout, retries with Retry-After or
exponential backoff and full jitter, and scrubbed one-line errors (see the package docstring)."""

from __future__ import annotations

import collections
import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

log = logging.getLogger(__name__)






class RateLimiter:
    """At most `max_requests` acquisitions in any window of `period_s` seconds (sliding window).

    Thread-safe. A caller reserves its slot under the lock (the earliest time at which the window
    has room) and sleeps outside it, so concurrent callers queue in order without holding the lock.
    `clock` (monotonic seconds) and `sleep` are injectable for tests.
    """

    def __init__(
        self,
        max_requests: int,
        period_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests < 1:
            raise ValueError(f"max_requests must be >= 1, got {max_requests}")
        self.max_requests = max_requests
        self.period_s = period_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # Times of the last `max_requests` slots handed out (some may lie in the future).
        self._slots: collections.deque[float] = collections.deque(maxlen=max_requests)

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = now
            if len(self._slots) == self.max_requests:
                slot = max(now, self._slots[0] + self.period_s)
            self._slots.append(slot)
        wait = slot - now
        if wait > 0:
            log.debug("alpaca rate limiter: waiting %.2fs for a request slot", wait)
            self._sleep(wait)
        return max(wait, 0.0)


class _RequestFailed(Exception):
    """Internal: one HTTP request failed for good. `reason` is one line and holds no secret."""

    def __init__(
        self, reason: str, *, status: int | None, attempts: int, retryable: bool, auth: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.attempts = attempts
        self.retryable = retryable
        self.auth = auth


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Transport:
    """Sends one HTTP request for an alpaca-py client: rate limit, timeout, retries, clean error."""

    def __init__(
        self,
        *,
        secrets: Sequence[str],
        limiter: RateLimiter,
        max_attempts: int,
        backoff_base_s: float,
        backoff_cap_s: float,
        sleep: Callable[[float], None],
        timeout_s: float,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self._secrets = [s for s in secrets if s]
        self.limiter = limiter
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        # Honour Retry-After, but never park a worker longer than this on one response.
        self.max_retry_after_s = max(backoff_cap_s, 60.0)
        self._sleep = sleep
        self._timeout_s = timeout_s
        self._rng = rng or random.Random()

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**(attempt-1)))."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1))
        return self._rng.uniform(0.0, ceiling)

    def _retry_after(self, headers: Mapping[str, str]) -> float | None:
        """Seconds the server asked us to wait (Retry-After, else Alpaca's X-RateLimit-Reset)."""
        raw = headers.get("Retry-After")
        if raw:
            try:
                seconds = float(raw)
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(raw)
                except (TypeError, ValueError, IndexError):
                    when = None
                seconds = (when.timestamp() - time.time()) if when is not None else None
            if seconds is not None:
                return min(max(seconds, 0.0), self.max_retry_after_s)
        reset = headers.get("X-RateLimit-Reset")
        if reset:
            try:
                seconds = float(reset) - time.time()
            except ValueError:
                return None
            if 0.0 <= seconds <= self.max_retry_after_s:
                return seconds
        return None

    def _server_message(self, response: requests.Response) -> str:
        message = ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("message"):
            message = str(body["message"])
        elif response.text:
            message = response.text
        return _one_line(self.scrub(message))

    def send(
        self, session: requests.Session, method: str, url: str, opts: dict[str, Any]
    ) -> Any:
        path = urlsplit(url).path
        reason = ""
        status: int | None = None
        for attempt in range(1, self.max_attempts + 1):
            self.limiter.acquire()
            wait: float | None = None
            try:
                response = session.request(method, url, timeout=self._timeout_s, **opts)
            except requests.Timeout:
                status, reason = None, f"timed out after {self._timeout_s:g}s"
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                # Not str(exc): requests' messages are long and carry objects, never needed here.
                status, reason = None, f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    if not response.content:
                        return None
                    try:
                        return response.json()
                    except ValueError:
                        reason = f"HTTP {status} with a body that is not JSON"
                elif status in (401, 403):
                    raise _RequestFailed(
                        f"HTTP {status}: {self._server_message(response)}".rstrip(": "),
                        status=status, attempts=attempt, retryable=False, auth=True,
                    )
                elif status == 429:
                    reason = "HTTP 429 too many requests"
                    wait = self._retry_after(response.headers)
                elif status >= 500 or status == 408:
                    reason = f"HTTP {status} {self._server_message(response)}".rstrip()
                else:
                    hint = " (redirect; check ALPACA_DATA_URL/ALPACA_TRADING_URL)" if (
                        300 <= status < 400
                    ) else ""
                    raise _RequestFailed(
                        f"HTTP {status} {self._server_message(response)}{hint}".rstrip(),
                        status=status, attempts=attempt, retryable=False,
                    )
            if attempt == self.max_attempts:
                break
            if wait is None:
                wait = self.backoff(attempt)
            log.warning(
                "alpaca %s %s: %s; retrying in %.2fs (attempt %d of %d)",
                method, path, reason, wait, attempt, self.max_attempts,
            )
            self._sleep(wait)
        raise _RequestFailed(
            reason, status=status, attempts=self.max_attempts, retryable=True
        )
