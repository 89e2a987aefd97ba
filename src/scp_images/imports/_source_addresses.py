"""Which network addresses an import may connect to.

Every address a host resolves to is checked, not just the first: the connection may land on any of them.
Private and loopback addresses are fine for hosts an operator allowlisted (internal mirrors), but
link-local (cloud metadata at 169.254.169.254), unspecified, multicast and reserved addresses are never
a mirror, so they are refused even then: an allowlisted public name whose DNS is turned against us must
not reach the metadata service.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

from scp_images.domain.errors import ImportSourceRejected

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], list[str]]

ALLOWLIST_SETTING = "SCP_IMAGES_IMPORT_ALLOWED_HOSTS"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NEVER_USED = frozenset({"unspecified", "link-local", "multicast", "reserved"})
_ARTICLES = {"unspecified": "an", "link-local": "a", "multicast": "a", "reserved": "a"}


def parse_address(text: str) -> IPAddress | None:
    """An IP address, or None when ``text`` is a name. IPv6 zone ids are dropped: they only pick a route."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv6 one, which is where a connection really goes."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_kind(ip: IPAddress) -> str | None:
    """The first special-purpose class ``ip`` falls in, or None for a public address."""
    ip = _embedded_ipv4(ip)
    kinds = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    )
    return next((name for name, matches in kinds if matches), None)


def address_refusal(ip: IPAddress, *, allowlisted: bool) -> str | None:
    """Why ``ip`` may not be used (a phrase to follow "is"/"resolves to"), or None when it may."""
    kind = address_kind(ip)
    if kind is None:
        return None
    if kind in _NEVER_USED:
        return f"{ip}, {_ARTICLES[kind]} {kind} address, which imports never connect to"
    if allowlisted:
        return None
    return f"{ip}, a {kind} address, which only hosts listed in {ALLOWLIST_SETTING} may use"


def resolve_with_getaddrinfo(host: str) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, without duplicates."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(host: str, resolve: Resolver) -> list[str]:
    """The addresses to try for an allowlisted ``host``; refuses if any of them may not be used."""
    literal = parse_address(host)
    if literal is not None:
        found = [host]
    else:
        try:
            found = resolve(host)
        except (OSError, UnicodeError) as exc:
            raise ImportSourceRejected(reason=f"the host {host} could not be resolved ({exc})") from None
    if not found:
        raise ImportSourceRejected(reason=f"the host {host} resolves to no address")
    for text in found:
        _check_one(host, text)
    return found


def _check_one(host: str, text: str) -> None:
    ip = parse_address(text)
    if ip is None:
        raise ImportSourceRejected(reason=f"the host {host} resolves to {text!r}, which is not an IP address")
    refusal = address_refusal(ip, allowlisted=True)
    if refusal is not None:
        raise ImportSourceRejected(reason=f"the host {host} resolves to {refusal}")
