"""Where a gateway may connect: the destination checks run when a channel is configured and
at every connect."""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from typing import Any

from gridserve.sms.gateways.base import MISCONFIGURED, Gateway, GatewayError, _misconfigured

# --- where a gateway may connect -------------------------------------------------------------
#
# A channel's ``url`` / ``host`` is typed by a coordinator; without a check it could make the
# dispatcher talk to the cloud's metadata service (169.254.169.254) or to whatever answers on
# 0.0.0.0. A destination is refused when any address its name resolves to is link-local
# (169.254.0.0/16, fe80::/10), unspecified (0.0.0.0, ::), multicast or the IPv4 broadcast
# address, or, when an allow-list is configured (``GRIDSERVE_SMS_ALLOWED_HOSTS``), when the
# host name matches none of its entries. Loopback and private addresses stay allowed (the
# tests, the demo and carriers' private links use them). The check runs when a channel is
# configured (:func:`check_destination`) and again at every connect (:func:`connect_checked`,
# which resolves once, checks, and connects to the very address it checked: a name that
# changes its answer between the two — DNS rebinding — gains nothing).

_getaddrinfo = socket.getaddrinfo  # tests replace it to simulate names; never the network


def _forbidden(address: str) -> str | None:
    """Why ``address`` may not be connected to, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local (cloud metadata)"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast"
    return None


def host_allowed(host: str, allowed_hosts: tuple[str, ...]) -> bool:
    """Whether ``host`` matches an allow-list entry (exact name or address, or a shell-style
    pattern such as ``*.sms.example.com``; case-insensitive). An empty list allows every host."""
    if not allowed_hosts:
        return True
    name = host.strip("[]").rstrip(".").lower()
    return any(fnmatch.fnmatchcase(name, p.strip("[]").rstrip(".").lower()) for p in allowed_hosts)


def resolve_checked(
    host: str, port: int, allowed_hosts: tuple[str, ...] = ()
) -> list[tuple[int, tuple[Any, ...]]]:
    """Resolve ``host`` once and return its ``(family, sockaddr)`` pairs, all of them allowed.

    ``gateway_misconfigured`` (permanent) for a host outside the allow-list or any forbidden
    address; ``gateway_unreachable`` (transient) when the name does not resolve.
    """
    label = f"{host}:{port}"
    if not host_allowed(host, allowed_hosts):
        raise _misconfigured(
            f"{host} is not in GRIDSERVE_SMS_ALLOWED_HOSTS ({', '.join(allowed_hosts)})"
        )
    try:
        infos = _getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise GatewayError(
            f"{label}: the name does not resolve ({exc})",
            transient=True,
            code="gateway_unreachable",
        ) from exc
    out: list[tuple[int, tuple[Any, ...]]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        reason = _forbidden(str(sockaddr[0]))
        if reason is not None:
            raise _misconfigured(f"{label} resolves to {sockaddr[0]}, a {reason} address: refused")
        out.append((family, sockaddr))
    if not out:
        raise GatewayError(
            f"{label}: the name has no IP address", transient=True, code="gateway_unreachable"
        )
    return out


def connect_checked(
    host: str, port: int, timeout: float | None, allowed_hosts: tuple[str, ...] = ()
) -> socket.socket:
    """A TCP connection to ``host`` through an address checked by :func:`resolve_checked`."""
    last: OSError | None = None
    for family, sockaddr in resolve_checked(host, port, allowed_hosts):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    assert last is not None
    raise last


def check_destination(gateway: Gateway) -> None:
    """Refuse (``gateway_misconfigured``) a gateway whose destination is forbidden now.

    An unresolvable name is refused as well: a channel is configured to be used.
    """
    target = getattr(gateway, "destination", None)
    if target is None:
        return
    host, port, allowed = target
    try:
        resolve_checked(host, port, allowed)
    except GatewayError as exc:
        if exc.code == MISCONFIGURED:
            raise
        raise _misconfigured(exc.message) from exc
