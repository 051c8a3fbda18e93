"""Reminder webhooks: where they may be POSTed, and how each delivery is signed.

Where reminders may be POSTed: by default never to this network's own addresses, so an
owner can't use webhooks to probe internal hosts (NUDGE_WEBHOOK_ALLOW_PRIVATE lifts it).
One check (`internal_target`) runs when the URL is saved and again before every delivery;
it judges the host the way resolvers and browsers read it, so no spelling of an inside
address (2130706433, 0x7f000001, 127.1, ①②⑦.0.0.1, [::ffff:127.0.0.1], a name that
resolves inward) slips through. A delivery connects to the very address it checked (`pin`),
so a name that resolves outward for the check and inward for the connection gets nowhere."""

import hashlib
import hmac
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import idna

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Carrier-grade NAT (RFC 6598): cloud metadata lives here too (100.100.100.200).
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# NAT64 (RFC 6052) embeds an IPv4 address in its last 32 bits; the local-use prefix
# (RFC 8215) is this network's own.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
# Names that never leave this machine or network (RFC 6761, RFC 6762, RFC 8375, ICANN).
_LOCAL_NAMES = ("localhost", "local", "internal", "home.arpa", "localdomain")
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_DIGITS = {10: re.compile(r"[0-9]+"), 8: re.compile(r"[0-7]+"), 16: re.compile(r"[0-9a-f]+")}


def _ipv4_number(part: str) -> int | None:
    """One dotted part as inet_aton reads it: 0x… hex, 0… octal, else decimal."""
    radix = 10
    if part[:2] == "0x":
        part, radix = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, radix = part[1:], 8
    if part == "":
        return 0 if radix != 10 else None
    return int(part, radix) if _DIGITS[radix].fullmatch(part) else None


def _ipv4(host: str) -> ipaddress.IPv4Address | None:
    """`host` as an IPv4 address in any form inet_aton and browsers accept (127.1,
    2130706433, 0x7f000001, 0177.0.0.1); None if it is a name. A host whose last part is
    a number but that is no address (1.2.3.4.5, 256.1.1.1) is malformed: ValueError."""
    parts = host.split(".")
    last = parts[-1]
    if not (last.isascii() and last.isdigit()) and _ipv4_number(last) is None:
        return None
    numbers = [_ipv4_number(p) for p in parts]
    if len(parts) > 4 or None in numbers:
        raise ValueError(f"{host} is neither a host name nor an IPv4 address")
    *head, tail = [n for n in numbers if n is not None]
    if any(n > 255 for n in head) or tail >= 256 ** (5 - len(parts)):
        raise ValueError(f"{host} is out of the IPv4 range")
    value = tail + sum(n << (8 * (3 - i)) for i, n in enumerate(head))
    return ipaddress.IPv4Address(value)


def _host(raw: str) -> str:
    """The host a client connects to: an IP address in its standard form, or a lower-case
    ASCII name without the trailing dot. ValueError (saying what is wrong) if malformed."""
    if ":" in raw:  # only a bracketed IPv6 literal gets past URL parsing with a colon
        if "%" in raw:
            raise ValueError("remove the IPv6 zone (%…) from the host")
        return str(ipaddress.IPv6Address(raw))
    if "%" in raw:
        raise ValueError("write the host without percent-encoding")
    try:
        # UTS 46 mapping (NFKC, case folding, ideographic dots) as browsers apply it.
        host = idna.uts46_remap(raw, std3_rules=False, transitional=False)
    except idna.IDNAError:
        raise ValueError(f"{raw} is not a valid host name") from None
    if host.endswith("."):
        host = host[:-1]
    if not host:
        raise ValueError("the URL needs a host")
    address = _ipv4(host)
    if address is not None:
        return str(address)
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=False).decode("ascii")
        except idna.IDNAError:
            raise ValueError(f"{raw} is not a valid host name") from None
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        raise ValueError(f"{raw} is not a valid host name")
    return host


def webhook_host(url: str) -> str:
    """The host a reminder POST to `url` would reach, normalised (see `_host`); ValueError
    saying what to fix unless it is a plain http(s) URL with a host."""
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise ValueError("remove spaces and control characters from the URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what rejects a bad one
    except ValueError as err:
        raise ValueError(f"not a valid URL ({err})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("use an http:// or https:// URL")
    if "@" in parts.netloc:
        raise ValueError("remove the user:password@ part; deliveries are signed instead")
    if "\\" in parts.netloc:
        raise ValueError("remove the backslash from the host")
    if not parts.hostname:
        raise ValueError("the URL needs a host")
    return _host(parts.hostname)


def _non_global(addr: Address) -> str | None:
    """What kind of non-public address `addr` is (None if it is a public one)."""
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = addr.ipv4_mapped or addr.sixtofour
        if embedded is None and addr in _NAT64:
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is not None:
            why = _non_global(embedded)
            return f"{why} ({embedded})" if why else None
        if addr in _NAT64_LOCAL or addr.is_site_local:
            return "a private address"
    if addr.is_unspecified:
        return "the unspecified address"
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_link_local:
        return "a link-local address"
    if addr.is_multicast:
        return "a multicast address"
    if isinstance(addr, ipaddress.IPv4Address) and addr in _CGNAT:
        return "a carrier-grade NAT address"
    if addr.is_reserved:
        return "a reserved address"
    if addr.is_private or not addr.is_global:
        return "a private address"
    return None


def internal_target(url: str, *, resolve: bool, allow_private: bool = False) -> str | None:
    """Why reminders may not be POSTed to `url` (None if they may): a malformed URL, a host
    inside this network (unless `allow_private`), or one the HTTP client would read
    differently. `resolve` also checks every address the name resolves to."""
    try:
        host = webhook_host(url)
    except ValueError as err:
        return str(err)
    written = urlsplit(url).hostname
    shown = host if written == host else f"{written} ({host})"
    if not allow_private:
        why = _inside(host, resolve=resolve)
        if why:
            return f"{shown} {why}"
    try:
        read = httpx.URL(url)
        agrees = not read.userinfo and _host(read.raw_host.decode("ascii")) == host
    except (httpx.InvalidURL, ValueError):
        agrees = False
    if not agrees:
        return f"the HTTP client can't reach {shown} as written; write the host as {host}"
    return None


def _local_name(host: str) -> bool:
    return any(host == name or host.endswith("." + name) for name in _LOCAL_NAMES)


def _addresses(host: str) -> list[Address]:
    """Every address `host` reaches (itself, if it is one); OSError if the name doesn't resolve."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except UnicodeError as err:
        raise OSError(str(err)) from None
    return [ipaddress.ip_address(str(sockaddr[0]).split("%")[0]) for *_, sockaddr in infos]


def _refused(host: str, addresses: list[Address], literal: bool) -> str | None:
    for address in addresses:
        why = _non_global(address)
        if why:
            return f"is {why}" if literal else f"resolves to {address}, {why}"
    return None


def _inside(host: str, *, resolve: bool) -> str | None:
    literal = _literal(host)
    if literal is None and _local_name(host):
        return "is a local-only name"
    if literal is None and not resolve:
        return None
    try:
        addresses = _addresses(host)
    except OSError:
        # Unresolvable now (a typo, or DNS not set up yet): nothing inside is reachable
        # through it, and every delivery checks again before it connects.
        return None
    return _refused(host, addresses, literal is not None)


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class Unresolvable(OSError):
    """The webhook's name doesn't resolve now: a delivery to retry, not a refusal."""


@dataclass(frozen=True)
class Pinned:
    """Where one delivery connects: the address that was checked, not a second lookup a
    rebinding DNS server could answer differently."""

    url: str  # the URL with its host replaced by the checked address
    host: str  # the Host header: the host (and port) as written
    sni: str | None  # https: the name the server's certificate must carry


def pin(url: str, *, allow_private: bool = False) -> Pinned:
    """Check `url` as `internal_target` does and resolve it once, for the connection itself.
    ValueError saying why it is refused; Unresolvable when the name doesn't resolve now."""
    why = internal_target(url, resolve=False, allow_private=allow_private)
    if why:
        raise ValueError(why)
    host = webhook_host(url)
    try:
        addresses = _addresses(host)
    except OSError as err:
        raise Unresolvable(f"{host} does not resolve now ({err})") from None
    if not allow_private:
        why = _refused(host, addresses, _literal(host) is not None)
        if why:
            raise ValueError(f"{host} {why}")
    written = httpx.URL(url)
    target = written.copy_with(host=str(addresses[0]))
    sni = host if written.scheme == "https" and _literal(host) is None else None
    return Pinned(str(target), written.netloc.decode("ascii"), sni)


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
