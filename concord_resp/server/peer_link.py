"""The server's side of the peer link: the cluster secret, where the peer port listens, and
the transport that carries the link.

Peers authenticate by proving the cluster secret (`raft.driver.handshake`). Without one, the
handshake proves nothing, so the peer port listens on loopback only (whatever `--bind` is),
and a node whose members' peer addresses are not all loopback addresses refuses to start:
such a cluster could not work, and silently opening a peer port to the network would let
anyone who learns the cluster id (INFO prints it) act as a member. Names other than
`localhost` are not looked up: give addresses, or a secret.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Callable, Iterable
from dataclasses import replace

from ..cluster import Member
from ..cluster.peer_protocol import PROTOCOL_VERSION
from ..config import Config
from ..raft.driver.transport import PeerTransport
from ..security.peer_auth import ClusterSecret
from .tls import TlsConfigError, client_context, server_context, tls_settings

log = logging.getLogger("concord.server")

LOOPBACK = "127.0.0.1"


class PeerLinkError(ValueError):
    """The peer link cannot be set up as configured (the server does not start)."""


def cluster_secret(config: Config) -> ClusterSecret | None:
    if not config.cluster_secret:
        return None
    try:
        return ClusterSecret(config.cluster_secret)
    except ValueError as error:
        raise PeerLinkError(
            f"the cluster secret is too short: {error} (make one with `openssl rand -hex 32`)"
        ) from None


def is_loopback(host: str) -> bool:
    """Whether `host` (an address, or `localhost`) is this machine (as Redis's
    islocalClient: IPv4-mapped IPv6 loopback counts). Other names are not looked up."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def check_peer_addresses(config: Config, members: Iterable[Member]) -> None:
    """Without a secret, every peer address must be a loopback one."""
    if config.cluster_secret:
        return
    for member in members:
        if not is_loopback(member.host):
            raise PeerLinkError(
                f"member {member.name} has the peer address {member.host}:{member.cluster_port},"
                " which is not a loopback address: without a cluster secret the peer port"
                " listens on loopback only. Give every member the same"
                " --cluster-secret-file (see README, Cluster secret)"
            )


def peer_tls(config: Config) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
    """With tls-cluster, the contexts of mutual TLS on the peer links: both ends show this
    node's certificate and check the other's against the cluster's CA, whatever
    tls-auth-clients says for clients. (None, None) without it."""
    if not config.tls_cluster:
        return None, None
    settings = replace(tls_settings(config), auth_clients="yes")
    try:
        return server_context(settings), client_context(settings)
    except TlsConfigError as error:
        raise PeerLinkError(f"tls-cluster: {error}") from None


def listen_host(config: Config) -> str:
    """Where the peer port listens: `--bind`, or loopback if there is no secret."""
    if config.cluster_secret or is_loopback(config.bind):
        return config.bind
    return LOOPBACK


def open_transport(
    config: Config,
    cluster_id: str,
    peers: dict[str, tuple[str, int]],
    on_frame: Callable[[str, object], None],
    on_link_change: Callable[[str, bool], None],
) -> PeerTransport:
    secret = cluster_secret(config)
    if secret is None and not is_loopback(config.bind):
        log.warning(
            "no cluster secret: the peer port listens on %s only, not on %s",
            LOOPBACK,
            config.bind,
        )
    tls_server, tls_client = peer_tls(config)
    return PeerTransport(
        config.name,
        cluster_id,
        peers,
        on_frame,
        on_link_change=on_link_change,
        version=PROTOCOL_VERSION,
        secret=secret,
        max_frame=config.cluster_max_frame,
        tls_server=tls_server,
        tls_client=tls_client,
    )
