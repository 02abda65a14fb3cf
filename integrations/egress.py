"""The one egress policy for every outbound request whose target a tenant or a supplier chose.

Supplier API base URLs, stock feed URLs, alert webhooks, label and tracking fetches: each
goes through an `EgressPolicy`. The policy refuses targets that are not on the public
internet: loopback, private (RFC 1918), shared (100.64/10), link-local (169.254/16 with the
cloud metadata service, fe80::/10), unique-local (fc00::/7), multicast, reserved and
unspecified addresses, IPv4-mapped and NAT64 forms of those, and every scheme but http(s).
Plain http is accepted only for targets the operator allowed (or in sandbox mode).

The check happens AT CONNECT TIME, inside the HTTP transport: the host name is resolved
once, every answer is checked, and the socket connects to the checked address itself, so
a name that answers "public" to a first lookup and "127.0.0.1" to a second (DNS rebinding)
never reaches loopback. TLS still verifies the certificate against the original name and
the Host header is unchanged. Clients built here follow no redirects, ignore proxy
variables (a proxy would connect for us, unchecked), and cap the total time of a request
(connect to last byte) and the size of its answer.

Local targets are allowed only in sandbox mode or through the operator's allow-list
(`EGRESS_ALLOW`: comma-separated host names and/or CIDRs, e.g. `127.0.0.1/32,::1`).
The process-wide policy is strict until `configure()` is called (build_services does).
"""
from __future__ import annotations

import contextvars
import ipaddress
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

import httpcore
import httpx

from .api_client import ApiClient, ApiTransport, exchange_whole
from .tls_defaults import verify_context

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_TOTAL_SECONDS = 30.0
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_URL_LENGTH = 2048
# IPv6 forms whose last 32 bits are an IPv4 address that the packet may end up at:
# NAT64 (well-known and local-use prefixes), IPv4-compatible (::a.b.c.d, deprecated but
# still routed by some stacks) and IPv4-translated (::ffff:0:a.b.c.d, SIIT).
EMBEDDING_LAST_32_BITS = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96", "::ffff:0:0:0/96"))
SITE_LOCAL = ipaddress.ip_network("fec0::/10")  # deprecated, but routed inside some networks

# The whole-request deadline of the request running in this thread (None: no cap).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("egress_deadline", default=None)
# True while a plain http request runs whose target the operator allowed by address only: a connection the
# pool opens for it must lead to allowed addresses (checked at connect time, on the addresses connected to).
_plain_http_by_address: contextvars.ContextVar[bool] = contextvars.ContextVar("egress_plain_http", default=False)
PLAIN_HTTP_REFUSED = "plain http to a host the operator did not allow"


class EgressRefused(httpx.ConnectError):
    """The egress policy refused the target; `reason` is short and safe to show a merchant."""

    def __init__(self, reason: str):
        super().__init__(f"refused by egress policy: {reason}")
        self.reason = reason


class ResponseTooLarge(httpx.TransportError):
    """The answer was bigger than the cap for this kind of request (reading stopped there)."""


class InvalidTargetUrl(ValueError):
    """A URL a tenant tried to save that the policy would refuse; the message is safe to show."""


def _parse_allow_list(entries: Iterable[str]) -> tuple[tuple[IPNetwork, ...], frozenset[str]]:
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return tuple(networks), frozenset(hosts)


@dataclass(frozen=True)
class EgressPolicy:
    """What outbound targets are allowed, and the caps on each request."""

    sandbox: bool = False  # sandbox mode: local targets allowed (the sandboxes live on 127.0.0.1)
    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    total_seconds: float = DEFAULT_TOTAL_SECONDS
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def from_allow_list(cls, allow: str | Iterable[str] = (), *, sandbox: bool = False, **caps: Any) -> "EgressPolicy":
        """A policy from an EGRESS_ALLOW value ("127.0.0.1/32,::1,sandbox.internal")."""
        entries = allow.split(",") if isinstance(allow, str) else list(allow)
        networks, hosts = _parse_allow_list(entries)
        return cls(sandbox=sandbox, allowed_networks=networks, allowed_hosts=hosts, **caps)

    @classmethod
    def from_settings(cls, settings: Any) -> "EgressPolicy":
        """The policy for the app's Settings (sandbox flag and EGRESS_ALLOW)."""
        return cls.from_allow_list(getattr(settings, "egress_allow", ()) or (), sandbox=bool(getattr(settings, "sandbox", False)))

    # -- decisions -------------------------------------------------------------------------

    def host_is_allowed(self, host: str) -> bool:
        """True when the operator allowed this host name outright (or sandbox mode)."""
        return self.sandbox or host.lower().rstrip(".") in self.allowed_hosts

    def address_refusal(self, address: IPAddress) -> str | None:
        """Why this address may not be contacted (None: it may)."""
        if self.sandbox or self.in_allow_list(address):
            return None
        address = _embedded_ipv4(address) or address
        if address.is_loopback:
            return "a loopback address"
        if address.is_link_local:
            return "a link-local address"
        if address.is_multicast:
            return "a multicast address"
        if address.is_unspecified:
            return "an unspecified address"
        if isinstance(address, ipaddress.IPv6Address) and address in SITE_LOCAL:
            return "a site-local address"
        if not address.is_global:
            return "a private or reserved address"
        return None

    def in_allow_list(self, address: IPAddress) -> bool:
        """True when the address (or the IPv4 address it embeds) is in one of the operator's CIDRs."""
        embedded = _embedded_ipv4(address)
        return any(address in network or (embedded is not None and embedded in network) for network in self.allowed_networks)

    def is_operator_allowed(self, host: str, addresses: Iterable[IPAddress]) -> bool:
        """True when the operator allowed this target (plain http is then accepted too)."""
        if self.host_is_allowed(host):
            return True
        addresses = list(addresses)
        return bool(addresses) and all(self.in_allow_list(address) for address in addresses)

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address the name resolves to, checked; EgressRefused when any is refused."""
        return self.checked(host, resolve(host, port))

    def checked(self, host: str, addresses: list[IPAddress]) -> list[IPAddress]:
        """The addresses `host` resolved to, when none is refused; else EgressRefused."""
        if self.host_is_allowed(host):
            return addresses
        for address in addresses:
            reason = self.address_refusal(address)
            if reason:
                raise EgressRefused(f"{host} is {reason}" if _is_literal(host) else f"{host} resolves to {reason}")
        return addresses

    def check_url(self, url: str, *, what: str = "the URL") -> str:
        """Check a URL a tenant is saving (scheme, no credentials, public host); InvalidTargetUrl says why."""
        if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or any(ch.isspace() for ch in url):
            raise InvalidTargetUrl(f"{what} must be an https:// URL")
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:
            raise InvalidTargetUrl(f"{what} is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not host:
            raise InvalidTargetUrl(f"{what} must be an https:// URL")
        if parts.username is not None or parts.password is not None:
            raise InvalidTargetUrl(f"{what} must not carry a user name or password (put credentials in the supplier's credentials)")
        try:
            addresses = self.resolve(host, port or (443 if parts.scheme == "https" else 80))
        except EgressRefused as exc:
            raise InvalidTargetUrl(f"{what} is refused: {exc.reason} (only public internet hosts are allowed)") from None
        except httpx.ConnectError:
            raise InvalidTargetUrl(f"{what}: the host {host} does not resolve") from None
        if parts.scheme == "http" and not self.is_operator_allowed(host, addresses):
            raise InvalidTargetUrl(f"{what} must be an https:// URL")
        return url

    # -- clients ---------------------------------------------------------------------------

    def transport(self, *, total_seconds: float | None = None, max_bytes: int | None = None, verify: Any = True) -> "EgressTransport":
        """An httpx transport enforcing this policy and its caps."""
        return EgressTransport(self, total_seconds=total_seconds or self.total_seconds, max_bytes=max_bytes or self.max_bytes, verify=verify)

    def client(self, *, total_seconds: float | None = None, max_bytes: int | None = None, transport: httpx.BaseTransport | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client (ApiClient: keeps no cookies) that follows no redirects, ignores proxy variables and goes through the policy.

        `transport` replaces the policy's (tests with httpx.MockTransport only).
        """
        kwargs.setdefault("follow_redirects", False)
        return ApiClient(transport=transport or self.transport(total_seconds=total_seconds, max_bytes=max_bytes), trust_env=False, **kwargs)


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses a name (or an address in any spelling) resolves to; httpx.ConnectError when none."""
    try:
        answers = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise httpx.ConnectError(f"could not resolve {host} ({type(exc).__name__})") from None
    addresses: list[IPAddress] = []
    for family, _, _, _, sockaddr in answers:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise httpx.ConnectError(f"could not resolve {host}")
    return addresses


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if any(address in network for network in EMBEDDING_LAST_32_BITS):
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return None


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _remaining(timeout: float | None) -> float | None:
    """The read/write timeout, shortened to what is left of this request's total time."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request ran out of its total time")
    return left if timeout is None else min(timeout, left)


class _GuardedStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the request's total deadline."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> httpcore.NetworkStream:
        # server_hostname is the URL's host, not the address we connected to: certificates are checked against the name.
        return _GuardedStream(self._inner.start_tls(ssl_context, server_hostname, _remaining(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks, then connects to the checked address itself (no second lookup)."""

    def __init__(self, policy: EgressPolicy):
        self._policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options: Any = None) -> httpcore.NetworkStream:
        if _plain_http_by_address.get():
            # Plain http: the one lookup this connection uses must give only addresses the operator allowed.
            try:
                addresses = resolve(host, port)
            except httpx.ConnectError:
                raise EgressRefused(PLAIN_HTTP_REFUSED) from None
            if not self._policy.is_operator_allowed(host, addresses):
                raise EgressRefused(PLAIN_HTTP_REFUSED)
            addresses = self._policy.checked(host, addresses)
        else:
            addresses = self._policy.resolve(host, port)
        last_error: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(str(address), port, timeout=_remaining(timeout), local_address=local_address, socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            return _GuardedStream(stream)
        raise last_error or httpcore.ConnectError(f"could not connect to {host}")

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> httpcore.NetworkStream:
        raise EgressRefused("unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _CappedBody(httpx.SyncByteStream):
    """The response body, stopped at the byte cap and at the request's deadline."""

    def __init__(self, inner: httpx.SyncByteStream, deadline: float, max_bytes: int):
        self._inner, self._deadline, self._max_bytes = inner, deadline, max_bytes

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        iterator = iter(self._inner)
        while True:
            token = _deadline.set(self._deadline)
            try:
                chunk = next(iterator)
            except StopIteration:
                return
            except httpcore.ReadTimeout:
                raise httpx.ReadTimeout("the request ran out of its total time") from None
            finally:
                _deadline.reset(token)
            received += len(chunk)
            if received > self._max_bytes:
                raise ResponseTooLarge(f"the answer is larger than {self._max_bytes} bytes")
            yield chunk

    def close(self) -> None:
        self._inner.close()


class EgressTransport(ApiTransport):
    """httpx's transport with the policy's checks at connect time, a total deadline and a byte cap."""

    def __init__(self, policy: EgressPolicy, *, total_seconds: float, max_bytes: int, verify: Any = True):
        verify = verify_context(verify, trust_env=False)
        super().__init__(verify=verify, trust_env=False, retries=0)
        self.policy, self.total_seconds, self.max_bytes = policy, total_seconds, max_bytes
        # Same pool httpx would build, with a network backend that checks every address it connects to.
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False), max_connections=20, max_keepalive_connections=10, keepalive_expiry=5.0, network_backend=_GuardedBackend(policy))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Refuse non-http(s) schemes and plain http to hosts the operator did not allow, then send within the caps."""
        plain = _plain_http_by_address.set(self._check_target(request))
        deadline = time.monotonic() + self.total_seconds
        token = _deadline.set(deadline)
        try:
            response = super().handle_request(request)
        finally:
            _deadline.reset(token)
            _plain_http_by_address.reset(plain)
        response.stream = _CappedBody(response.stream, deadline, self.max_bytes)  # type: ignore[arg-type]
        return response

    def handle_whole(self, request: httpx.Request) -> httpx.Response:
        """handle_request with the answer read whole (ApiClient's plain calls): the same checks, deadline, cap and errors."""
        plain = _plain_http_by_address.set(self._check_target(request))
        token = _deadline.set(time.monotonic() + self.total_seconds)
        try:
            return exchange_whole(self._pool, request, self._check_size)
        finally:
            _deadline.reset(token)
            _plain_http_by_address.reset(plain)

    def _check_target(self, request: httpx.Request) -> bool:
        """Refuse what no connection could make allowed; True for plain http allowed only by address (checked when a connection opens).

        Plain http to a host the operator allowed by address is checked once per new connection, on the
        addresses it connects to: a kept-alive connection to that origin was checked when it opened.
        """
        scheme, host = request.url.scheme, request.url.host
        if scheme not in ("http", "https"):
            raise EgressRefused(f"the {scheme or 'missing'} scheme")
        if scheme != "http" or self.policy.host_is_allowed(host):
            return False
        if not self.policy.allowed_networks:
            raise EgressRefused(PLAIN_HTTP_REFUSED)
        return True

    def _check_size(self, received: int) -> None:
        if received > self.max_bytes:
            raise ResponseTooLarge(f"the answer is larger than {self.max_bytes} bytes")


# -- the process-wide policy -------------------------------------------------------------

_current = EgressPolicy()


def configure(policy: EgressPolicy) -> EgressPolicy:
    """Set the process-wide policy (build_services does, from Settings); returns the previous one."""
    global _current
    previous, _current = _current, policy
    return previous


def current() -> EgressPolicy:
    """The process-wide policy (strict until configured)."""
    return _current


def short_reason(exc: BaseException) -> str:
    """A merchant-safe one-liner for an outbound failure: never the remote body, never which ports answer."""
    if isinstance(exc, EgressRefused):
        return "refused by egress policy"
    if isinstance(exc, ResponseTooLarge):
        return "the answer was too large"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return "could not connect"


# -- non-HTTP targets (SFTP, FTP) --------------------------------------------------------


def connect_tcp(host: str, port: int, *, timeout: float, policy: EgressPolicy | None = None) -> socket.socket:
    """A TCP socket to host:port through the policy: resolved once, every address checked, connected to a checked address.

    For protocols httpx does not speak (SFTP, FTP): the caller hands the connected socket to
    its client library, so no second lookup can land somewhere else. EgressRefused when the
    policy refuses the target, httpx.ConnectError when nothing answers.
    """
    policy = policy or current()
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise EgressRefused("a port outside 1-65535")
    last_error: OSError | None = None
    for address in policy.resolve(host, port):
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect((str(address), port))
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        return sock
    raise httpx.ConnectError(f"could not connect to {host}:{port} ({type(last_error).__name__ if last_error else 'no address'})")
