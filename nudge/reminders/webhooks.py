"""Reminder webhooks: where they may be POSTed, and how each delivery is signed.

Where reminders may be POSTed: by default never to this network's own addresses, so an
owner can't use webhooks to probe internal hosts (NUDGE_WEBHOOK_ALLOW_PRIVATE lifts it)."""

import hashlib
import hmac
import ipaddress
import socket

import httpx


def _internal(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    return (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_reserved
        or addr.is_multicast
        or addr.is_unspecified
    )


def internal_target(url: str, *, resolve: bool) -> str | None:
    """Why the URL points inside (None if it doesn't). `resolve` also checks DNS answers."""
    host = httpx.URL(url).host
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is this machine"
    try:
        if _internal(host):
            return f"{host} is an internal address"
    except ValueError:
        pass  # a name, not an address
    if resolve:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return None  # unresolvable: the POST itself will fail and be retried
        for *_, sockaddr in infos:
            if _internal(str(sockaddr[0])):
                return f"{host} resolves to internal address {sockaddr[0]}"
    return None


SIGNATURE_HEADER = "X-Nudge-Signature"
DELIVERY_HEADER = "X-Nudge-Delivery"


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body>`: what X-Nudge-Signature carries."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, delivery_id: str) -> dict[str, str]:
    """Headers of one delivery; receivers dedupe retries on the delivery id."""
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, body),
        DELIVERY_HEADER: delivery_id,
    }
