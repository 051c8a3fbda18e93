"""Reminder webhooks never reach this network: every spelling of an inside address, and
every name that resolves inside, is refused at save and again before delivery."""

import ipaddress
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.reminders import ReminderActivities
from nudge.core.errors import WEBHOOK_REFUSED
from nudge.core.models import Owner
from nudge.platform.db import transaction
from nudge.reminders.webhooks import Unresolvable, internal_target, pin, webhook_host
from nudge.tasks.payloads import NewTask
from nudge.tasks.writer import write_task_once
from tests.conftest import Tenant

# Each is refused without any DNS lookup: what the URL names is already inside.
INSIDE = [
    ("http://127.0.0.1:9/x", "loopback"),
    ("http://2130706433/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://0177.0.0.1/", "loopback"),
    ("http://①②⑦.0.0.1/", "loopback"),
    ("http://127。0。0。1/", "loopback"),
    ("http://127.0.0.1./", "loopback"),
    ("http://0/", "unspecified"),
    ("http://0.0.0.0:8000/", "unspecified"),
    ("http://localhost/", "local-only name"),
    ("http://localhost./", "local-only name"),
    ("http://LOCALHOST:8000/", "local-only name"),
    ("http://hooks.localhost/", "local-only name"),
    ("http://metadata.google.internal/", "local-only name"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 of 127.0.0.1
    ("http://[64:ff9b::a00:1]/", "private"),  # NAT64 of 10.0.0.1
    ("http://[64:ff9b:1::1]/", "private"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fc00::1]/", "private"),
    ("http://[ff02::1]/", "multicast"),
    ("http://[::]/", "unspecified"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://0xa9fea9fe/", "link-local"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://100.100.100.200/", "carrier-grade NAT"),
    ("http://10.0.0.1/", "private"),
    ("http://10.1/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://0300.0250.0.1/", "private"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
]

# Not URLs a delivery can go to: refused whatever the host.
MALFORMED = [
    ("ftp://example.com/", "http:// or https://"),
    ("file:///etc/passwd", "http:// or https://"),
    ("http:///hook", "needs a host"),
    ("http://[/", "not a valid URL"),
    ("http://93.184.216.34:99999/", "not a valid URL"),
    ("http://user:pw@93.184.216.34/", "user:password@"),
    ("http://93.184.216.34@127.0.0.1/", "user:password@"),
    ("http://93.184.216.34\\@127.0.0.1/", "user:password@"),
    ("http://127.0.0.1\\.example.com/", "backslash"),
    ("http://%31%32%37.0.0.1/", "percent-encoding"),
    ("http://[fe80::1%25eth0]/", "zone"),
    ("http://1.2.3.4.5/", "neither a host name nor an IPv4 address"),
    ("http://256.0.0.1/", "out of the IPv4 range"),
    ("http://exa mple.com/", "spaces"),
    ("http://a\tb.example.com/", "control characters"),
    # A public address the HTTP client can't parse: the delivery could never be made.
    ("http://0135.0270.0330.042/", "write the host as 93.184.216.34"),
]

PUBLIC = [
    "http://93.184.216.34/hook",
    "https://93.184.216.34:8443/hooks/nudge?x=1",
    "http://1572395042/",  # 93.184.216.34 as one number: the client reaches it as such
    "http://[2606:2800:220:1:248:1893:25c8:1946]/",
    "http://[::ffff:93.184.216.34]/",
    "https://example.com/hook",
    "https://bücher.example/hook",
]


@pytest.mark.parametrize("resolve", [False, True])
@pytest.mark.parametrize(("url", "why"), INSIDE)
def test_inside_addresses_are_refused_in_every_spelling(url: str, why: str, resolve: bool):
    refusal = internal_target(url, resolve=resolve)
    assert refusal is not None and why in refusal, (url, refusal)


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize(("url", "why"), MALFORMED)
def test_malformed_urls_are_refused_even_where_private_hosts_are_allowed(
    url: str, why: str, allow_private: bool
):
    refusal = internal_target(url, resolve=True, allow_private=allow_private)
    assert refusal is not None and why in refusal, (url, refusal)


@pytest.mark.parametrize("resolve", [False, True])
@pytest.mark.parametrize("url", PUBLIC)
def test_public_targets_are_accepted(url: str, resolve: bool):
    # example.com resolves to public addresses, or (without DNS) not at all: accepted both ways.
    assert internal_target(url, resolve=resolve) is None


@pytest.mark.parametrize(("url", "_"), INSIDE)
def test_allow_private_lifts_the_address_check(url: str, _: str):
    refusal = internal_target(url, resolve=True, allow_private=True)
    # Only spellings the HTTP client can't parse stay refused: no delivery could be made.
    assert refusal is None or "write the host as" in refusal, refusal


def test_allowed_private_targets_must_still_be_reachable_as_written():
    assert internal_target("http://127.0.0.1:9/x", resolve=True, allow_private=True) is None
    for url in ("http://0177.0.0.1/", "http://①②⑦.0.0.1/"):
        refusal = internal_target(url, resolve=True, allow_private=True)
        assert refusal is not None and "write the host as 127.0.0.1" in refusal, refusal


def _inward_name() -> tuple[str, str]:
    """A name of this machine (from /etc/hosts, no DNS needed) and where it resolves."""
    name = socket.gethostname()
    try:
        address = socket.getaddrinfo(name, None)[0][4][0]
    except OSError:
        pytest.skip(f"this machine's name {name} doesn't resolve")
    if ipaddress.ip_address(str(address)).is_global:
        pytest.skip(f"this machine's name {name} resolves to a public address")
    return name, str(address)


def test_a_name_that_resolves_inside_is_refused_when_resolving():
    name, address = _inward_name()
    for url in (f"http://{name}/hook", f"http://{name.upper()}./hook"):
        refusal = internal_target(url, resolve=True)
        assert refusal is not None and f"resolves to {address}" in refusal, refusal
        # Without resolving, only the name is judged: that is why delivery resolves.
        assert internal_target(url, resolve=False) is None


def test_an_unresolvable_name_is_not_refused():
    assert internal_target("http://no-such-host.invalid/hook", resolve=True) is None


def test_the_host_is_read_as_resolvers_read_it():
    assert webhook_host("http://①②⑦.0.0.1/") == "127.0.0.1"
    assert webhook_host("http://0x7f.1/") == "127.0.0.1"
    assert webhook_host("http://[::FFFF:7F00:1]/") == "::ffff:7f00:1"
    assert webhook_host("https://Bücher.Example./x") == "xn--bcher-kva.example"
    with pytest.raises(ValueError, match="http:// or https://"):
        webhook_host("gopher://127.0.0.1/")


def _spellings(addr: ipaddress.IPv4Address) -> st.SearchStrategy[str]:
    """The forms inet_aton accepts: 1 to 4 parts, each decimal, octal or hex."""
    octets = addr.packed

    def part(value: int) -> st.SearchStrategy[str]:
        return st.sampled_from([str(value), hex(value), "0" + oct(value)[2:]])

    def split(parts: int) -> st.SearchStrategy[str]:
        head = list(octets[: parts - 1])
        tail = int.from_bytes(octets[parts - 1 :])
        return st.tuples(*(part(v) for v in [*head, tail])).map(".".join)

    return st.integers(1, 4).flatmap(split)


def _within(network: str) -> st.SearchStrategy[ipaddress.IPv4Address]:
    net = ipaddress.IPv4Network(network)
    return st.integers(int(net[0]), int(net[-1])).map(ipaddress.IPv4Address)


INSIDE_NETWORKS = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                   "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4"]  # fmt: skip
addresses = st.one_of(_within("0.0.0.0/0"), *(_within(n) for n in INSIDE_NETWORKS))


@given(addresses.flatmap(lambda a: st.tuples(st.just(a), _spellings(a))))
def test_every_ipv4_spelling_is_judged_by_the_address_it_means(case):
    addr, spelling = case
    assert webhook_host(f"http://{spelling}/") == str(addr)
    refusal = internal_target(f"http://{spelling}/", resolve=False)
    public = addr.is_global and not (addr.is_multicast or addr.is_reserved)
    if not public or addr in ipaddress.ip_network("100.64.0.0/10"):
        assert refusal is not None and "write the host as" not in refusal, (spelling, addr)
    else:
        # A public address is refused only in a spelling the HTTP client can't parse.
        assert refusal is None or f"write the host as {addr}" in refusal, (spelling, refusal)


class Receiver:
    """A local HTTP server counting the POSTs it gets."""

    def __init__(self) -> None:
        self.posts = 0
        self.hosts: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.posts += 1
                receiver.hosts.append(self.headers.get("Host"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _task_with_webhook(sessions: sessionmaker[Session], tenant: Tenant, url: str) -> int:
    """A task whose owner's webhook is `url`, stored directly as an old row might hold it."""
    written = write_task_once(
        sessions,
        NewTask(
            idempotency_key=f"ssrf-{tenant.owner_id}-{url}",
            owner_id=tenant.owner_id,
            contact_id=tenant.contact_id,
            source="test",
            title="Call back",
            due_at=datetime(2027, 3, 1, 9, 0, tzinfo=UTC),
        ),
    )
    with transaction(sessions) as session:
        owner = session.get(Owner, tenant.owner_id)
        assert owner is not None
        owner.webhook_url, owner.webhook_secret = url, "s"
    return written.task_id


def test_delivery_refuses_an_inside_target_before_connecting(sessions, make_tenant, receiver):
    name, _ = _inward_name()
    for host in ("2130706433", "127.1", "0x7f000001", name):
        url = f"http://{host}:{receiver.port}/hook"
        task_id = _task_with_webhook(sessions, make_tenant(), url)
        acts = ReminderActivities(sessions)
        with pytest.raises(ApplicationError) as err:
            ActivityEnvironment().run(acts.post_webhook, task_id, "{}")
        assert err.value.type == WEBHOOK_REFUSED and err.value.non_retryable, url
        assert receiver.posts == 0, url
        # The same target is reachable: only the check stood in the way.
        allowed = ReminderActivities(sessions, allow_private=True)
        assert ActivityEnvironment().run(allowed.post_webhook, task_id, "{}") == 204
        receiver.posts = 0


OUTWARD = "93.184.216.34"


def test_a_delivery_connects_to_the_address_it_checked(monkeypatch):
    """DNS rebinding: the name answers outward for the check and inward for a second lookup.
    There is no second lookup: the connection goes to the checked address, the name rides in
    the Host header and (https) the certificate check."""
    answers = iter([OUTWARD, "127.0.0.1"])
    lookups: list[str] = []

    def getaddrinfo(host: str, *args: object, **kwargs: object) -> list[tuple]:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    target = pin("https://hooks.rebind.example:8443/nudge?x=1")
    assert lookups == ["hooks.rebind.example"]
    assert target.url == f"https://{OUTWARD}:8443/nudge?x=1"
    assert (target.host, target.sni) == ("hooks.rebind.example:8443", "hooks.rebind.example")
    with pytest.raises(ValueError, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        pin("http://hooks.rebind.example/")  # the next lookup, inward, is refused


def test_pinning_refuses_what_the_check_refuses_and_retries_what_does_not_resolve():
    with pytest.raises(ValueError, match="carrier-grade NAT"):
        pin("http://100.100.100.200/latest/meta-data/")
    with pytest.raises(Unresolvable):
        pin("http://no-such-host.invalid/hook")


def test_a_pinned_delivery_keeps_the_host_as_written(sessions, make_tenant, receiver):
    name, _ = _inward_name()
    task_id = _task_with_webhook(sessions, make_tenant(), f"http://{name}:{receiver.port}/hook")
    allowed = ReminderActivities(sessions, allow_private=True)
    assert ActivityEnvironment().run(allowed.post_webhook, task_id, "{}") == 204
    assert receiver.hosts == [f"{name}:{receiver.port}"]
