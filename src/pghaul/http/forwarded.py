"""Who is asking, and over what: the client's address and scheme as the trusted proxies in front of pghaul say.

On a PaaS (Railway, Render, Heroku, Fly) every request arrives from the platform's proxy, which appends the
address it was connected from to ``X-Forwarded-For`` and says in ``X-Forwarded-Proto`` whether that connection was
https. Whatever the client itself wrote into those headers comes *before* the proxies' entries. So the only
entries worth believing are the last ``hops`` ones, ``hops`` being the number of proxies that append
(``TRUSTED_PROXY_HOPS``): the entry ``hops`` places from the right is the address the outermost trusted proxy saw,
which the client cannot choose. A ``hops`` that is too high lets clients choose their address; one that is too low
makes visitors share one (the proxy's or a CDN's) — safe, only coarser.

Addresses become small keys (:func:`client_key`): IPv4 as is, IPv6 by its /64 (one customer's network: a single
machine can use any of its 2^64 addresses), anything unparseable in one shared bucket.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import HTTPConnection

UNPARSEABLE = "unparseable"
IPV6_GROUP_PREFIX = 64
# The longest text form of an address with a port ("[ffff:…:ffff%scope]:65535") is well under this.
_MAX_ADDRESS_TEXT = 80
_LOCAL_NAMES = ("localhost", "localhost.")


def _last_entries(connection: HTTPConnection, header: str, hops: int) -> list[str] | None:
    """The last ``hops`` comma-separated entries of ``header`` (all its lines), or None when there are fewer.

    Splitting from the right with a limit: the client's part of the header (up to the whole 16 KiB a server takes)
    is never split into entries, let alone parsed.
    """
    values = connection.headers.getlist(header)
    if hops <= 0 or not values:
        return None
    pieces = ",".join(values).rsplit(",", hops)
    if len(pieces) < hops:
        return None
    return [p.strip() for p in pieces[-hops:]]


def client_address(connection: HTTPConnection, hops: int) -> str:
    """The client's address as the outermost of ``hops`` trusted proxies saw it; the socket peer when hops is 0.

    A request that carries fewer entries than ``hops`` did not come through all the trusted proxies: its socket
    peer, which it cannot forge, stands for it.
    """
    peer = connection.client.host if connection.client else ""
    entries = _last_entries(connection, "x-forwarded-for", hops)
    return entries[0] if entries else peer


def forwarded_proto(connection: HTTPConnection, hops: int) -> str | None:
    """The scheme the client used as the trusted proxies report it (``http``/``https``), None when none says.

    With ``hops`` 0 nothing in front is trusted, so the header is ignored: a client could write anything in it.
    Proxies that append give one entry each; those that overwrite give one: either way the entry ``hops`` places
    from the right, or the first when there are fewer, is what the outermost trusted proxy was connected with.
    """
    values = connection.headers.getlist("x-forwarded-proto")
    if hops <= 0 or not values:
        return None
    pieces = [p.strip().lower() for p in ",".join(values).rsplit(",", hops)]
    return pieces[-hops] if len(pieces) >= hops else pieces[0]


def _strip_port(text: str) -> str:
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end > 0 else text
    if text.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has at least two colons
        return text.split(":", 1)[0]
    return text


def client_key(address: str) -> str:
    """A small, canonical key for ``address``: IPv4 itself, IPv6 its /64 network, anything else one bucket."""
    text = address.strip()
    if not text or len(text) > _MAX_ADDRESS_TEXT:
        return UNPARSEABLE
    try:
        ip = ipaddress.ip_address(_strip_port(text).split("%", 1)[0])
    except ValueError:
        return UNPARSEABLE
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_GROUP_PREFIX), strict=False))
    return str(ip)


def is_local(connection: HTTPConnection) -> bool:
    """Whether the request was addressed to this machine itself (``localhost``, a loopback address).

    Judged by the Host header: a PaaS proxy routes by it, so a request that says ``localhost`` never came
    through the platform's public address; and a client that lies here only exempts its own request.
    """
    host = _strip_port((connection.headers.get("host") or "").strip().lower())
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
