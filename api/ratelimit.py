"""Guessing API keys is slowed down: a client address with too many failed keys (Bearer or
the page's sign-in) in the last minute is answered 429 with Retry-After until the oldest
failure leaves the window. Requests that pass aren't counted.

In-process and per API process: with N API processes a client gets N times the budget,
which still makes guessing a 256-bit key hopeless; what it stops is a flood of attempts."""

import ipaddress
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import FastAPI, Request

LIMIT = 10  # failures per client address per window
WINDOW_SECONDS = 60.0
MAX_CLIENTS = 10_000  # clients with failures on record before the expired ones are swept


def client_key(request: Request) -> str:
    """Whom the failures count against. Behind a proxy, uvicorn puts the client's address
    here from X-Forwarded-For when the proxy is trusted (--forwarded-allow-ips). An IPv6
    client is counted by its /64, which one host can fill with addresses."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class FailureLimiter:
    """A sliding window of failure times per client. Thread-safe: sync dependencies run in
    the thread pool."""

    def __init__(
        self,
        limit: int = LIMIT,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """Seconds until `client` may try again; None while it is under the limit. Keeps no
        record of a client without failures: every request asks, most never fail."""
        with self._lock:
            now = self.clock()
            times = self._recent(client, now)
            if times is None or len(times) < self.limit:
                return None
            return max(1, math.ceil(times[0] + self.window - now))

    def failed(self, client: str) -> None:
        with self._lock:
            now = self.clock()
            if len(self._failures) >= MAX_CLIENTS:  # forget clients whose failures expired
                for key in list(self._failures):
                    self._recent(key, now)
            self._failures.setdefault(client, deque()).append(now)

    def _recent(self, client: str, now: float) -> deque[float] | None:
        """`client`'s failures inside the window; a client with none left is forgotten."""
        times = self._failures.get(client)
        while times and times[0] <= now - self.window:
            times.popleft()
        if times is not None and not times:
            del self._failures[client]
            return None
        return times


def retry_message(seconds: int) -> str:
    return (
        f"too many failed API keys from your address; try again in {seconds} s "
        "(check the key: `nudge create-owner NAME` makes a new one)"
    )


def limiter(request: Request) -> FailureLimiter:
    return request.app.state.key_failures


def install(app: FastAPI) -> None:
    app.state.key_failures = FailureLimiter()
