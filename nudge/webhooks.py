"""Where reminders may be POSTed: by default never to this network's own addresses, so an
owner can't use webhooks to probe internal hosts (NUDGE_WEBHOOK_ALLOW_PRIVATE lifts it)."""

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
