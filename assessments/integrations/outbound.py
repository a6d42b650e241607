"""HTTP calls to addresses our users typed in (webhook URLs, Jira and ServiceNow sites).

A user-supplied URL must not reach the app's own network (SSRF): the address a connection
actually reaches is checked after connecting, so a DNS answer that changes between check and
use (rebinding) is caught too. Loopback, private, link-local, multicast, reserved and
unspecified addresses are refused unless OUTBOUND_ALLOW_PRIVATE is on. Proxies from the
environment are ignored, redirects are not followed, and every call has a timeout.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class BlockedDestination(requests.ConnectionError):
    """The URL resolves to an address outbound calls may not reach."""


def _blocked(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def check_address(ip: str) -> None:
    if not settings.OUTBOUND_ALLOW_PRIVATE and _blocked(ip):
        raise BlockedDestination(
            _("%(ip)s is a private or local address; calls there are not allowed.") % {"ip": ip}
        )


def check_url(url: str) -> None:
    """Refuse a URL that is not http(s) or whose host resolves to a blocked address (a form's
    early check; the connection is checked again when it is made)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedDestination(_("Use an http:// or https:// URL with a host name."))
    if parts.username or parts.password:
        raise BlockedDestination(_("Put no user name or password in the URL."))
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedDestination(
            _("The host %(host)s could not be found.") % {"host": parts.hostname}
        ) from exc
    for info in infos:
        check_address(info[4][0])


class _Checked:
    def _new_conn(self):
        sock = super()._new_conn()  # type: ignore[misc]
        try:
            check_address(sock.getpeername()[0])
        except BlockedDestination:
            sock.close()
            raise
        return sock


class _HTTPConnection(_Checked, HTTPConnection):
    pass


class _HTTPSConnection(_Checked, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def session() -> requests.Session:
    """A requests session whose connections are checked; use `request` for a single call."""
    s = requests.Session()
    s.trust_env = False
    adapter = _Adapter(max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["User-Agent"] = "Kakehashi"
    return s


def request(method: str, url: str, **kwargs) -> requests.Response:
    """One checked call. Raises BlockedDestination for a refused address, requests'
    exceptions for network failures; never follows a redirect."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedDestination(_("Use an http:// or https:// URL with a host name."))
    kwargs.setdefault("timeout", settings.OUTBOUND_TIMEOUT)
    kwargs.setdefault("allow_redirects", False)
    with session() as s:
        try:
            return s.request(method, url, **kwargs)
        except requests.ConnectionError as exc:
            blocked = _blocked_inside(exc)
            if blocked is not None:
                raise blocked from exc
            raise


def _blocked_inside(exc: BaseException, seen: set[int] | None = None) -> BlockedDestination | None:
    """The refusal urllib3 wrapped (in a ProtocolError or MaxRetryError) on its way up."""
    seen = seen if seen is not None else set()
    if id(exc) in seen:
        return None
    seen.add(id(exc))
    if isinstance(exc, BlockedDestination):
        return exc
    inner = [*exc.args, getattr(exc, "reason", None), exc.__cause__, exc.__context__]
    for candidate in inner:
        if isinstance(candidate, BaseException):
            found = _blocked_inside(candidate, seen)
            if found is not None:
                return found
    return None
