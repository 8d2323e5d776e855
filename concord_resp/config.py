"""Server configuration: one frozen object built from command-line flags (the uvicorn shape).

`cli` is the only place that reads argv and the environment; everything below receives a
`Config`. Settings that CONFIG SET may change at run time live in `RuntimeSettings`, seeded
from the Config.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

DEFAULT_PORT: Final = 6379
MB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class OutputBufferLimit:
    """One client class's `client-output-buffer-limit`: a client whose unsent replies reach
    `hard` bytes is closed at once, one that stays at `soft` bytes or more for longer than
    `soft_seconds` is closed then (0 bytes: no such limit)."""

    hard: int = 0
    soft: int = 0
    soft_seconds: int = 0


# The classes in Redis's order (CLIENT_TYPE_NORMAL, _SLAVE, _PUBSUB): CONFIG GET lists them
# so. `replica` is another name for `slave`; `master` is refused, as in Redis.
OUTPUT_CLASSES: Final = ("normal", "slave", "pubsub")
OUTPUT_CLASS_NAMES: Final = {"normal": 0, "slave": 1, "replica": 1, "pubsub": 2}
NORMAL: Final = 0
PUBSUB: Final = 2
OutputBufferLimits = tuple[OutputBufferLimit, OutputBufferLimit, OutputBufferLimit]
DEFAULT_OUTPUT_LIMITS: Final[OutputBufferLimits] = (
    OutputBufferLimit(0, 0, 0),
    OutputBufferLimit(256 * MB, 64 * MB, 60),
    OutputBufferLimit(32 * MB, 8 * MB, 60),
)
NOEVICTION_ONLY: Final = (
    "Concord never evicts keys (they are replicated data): only noeviction is supported"
)
MAXMEMORY_POLICIES: Final = (
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
)


@dataclass(frozen=True, slots=True)
class Config:
    bind: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    dir: Path = Path("data")
    name: str = "n1"
    fsync: str = "always"  # always | never
    accept_data_loss: bool = False  # start even when the log lost what the node promised
    maxclients: int = 10000
    proto_max_bulk_len: int = 512 * MB
    client_query_buffer_limit: int = 1024 * MB
    loglevel: str = "notice"
    logfile: str = ""
    hz: int = 10
    segment_bytes: int = 64 * MB
    shutdown_timeout: float = 10.0
    cluster_port: int = 0  # 0: client port + 10000
    initial_cluster: str = ""  # name=host:port@cluster-port,... ; empty: a one-member cluster
    join: str = ""  # host:port of a member to join through (a new node)
    advertise: str = ""  # host:port@cluster-port the others reach a joining node at
    heartbeat_ms: int = 100
    election_ms: int = 1000
    write_timeout_ms: int = 5000
    read_timeout_ms: int = 5000
    snapshot_entries: int = 100_000  # applied entries between snapshots; 0: no limit
    snapshot_bytes: int = 256 << 20  # applied command bytes between snapshots; 0: no limit
    snapshot_catchup_entries: int = 1000  # entries kept in memory behind the newest snapshot
    maxmemory: int = 0  # bytes of used_memory over which denyoom writes are refused; 0: none
    maxmemory_clients: int = 0  # bytes, or -percent of maxmemory (Redis's encoding); 0: none
    client_output_buffer_limit: OutputBufferLimits = DEFAULT_OUTPUT_LIMITS
    # Security: the start-up users (proposed once to a cluster whose users were never set).
    requirepass: str = ""
    aclfile: str = ""
    acllog_max_len: int = 128
    protected_mode: bool = True  # no password and a non-loopback bind: loopback clients only
    masteruser: str = ""  # --join authenticates as this user (Redis's replica-to-master names)
    masterauth: str = ""
    cluster_secret: bytes = field(default=b"", repr=False)  # b"": none (peers on loopback)
    cluster_max_frame: int = 1024 * MB  # largest peer frame (and so write) after the handshake
    # TLS, with Redis's parameter names (server/tls.py).
    tls_port: int = 0  # a TLS client port (0: none); --port 0 leaves only this one
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_key_file_pass: str = ""
    tls_ca_cert_file: str = ""
    tls_ca_cert_dir: str = ""
    tls_auth_clients: str = "yes"
    tls_protocols: str = ""
    tls_ciphers: str = ""
    tls_ciphersuites: str = ""
    tls_cluster: bool = False  # the peer links use mutual TLS
    tls_replication: bool = False  # --join talks TLS to the member

    @property
    def client_port(self) -> int:
        """The port clients reach this node at: the plain one, or the TLS one if it is alone."""
        return self.port or self.tls_port

    @property
    def peer_port(self) -> int:
        return self.cluster_port or self.client_port + 10000

    @property
    def wal_fsync(self) -> bool:
        return self.fsync == "always"


@dataclass(slots=True)
class RuntimeSettings:
    """The CONFIG SET-able part of the configuration."""

    maxclients: int
    proto_max_bulk_len: int
    client_query_buffer_limit: int
    loglevel: str
    busy_reply_threshold_ms: int = 5000  # Redis's busy-reply-threshold (lua-time-limit)
    maxmemory: int = 0
    maxmemory_clients: int = 0
    client_output_buffer_limit: OutputBufferLimits = DEFAULT_OUTPUT_LIMITS
    acllog_max_len: int = 128
    protected_mode: bool = True

    @classmethod
    def from_config(cls, config: Config) -> RuntimeSettings:
        return cls(
            maxclients=config.maxclients,
            proto_max_bulk_len=config.proto_max_bulk_len,
            client_query_buffer_limit=config.client_query_buffer_limit,
            loglevel=config.loglevel,
            maxmemory=config.maxmemory,
            maxmemory_clients=config.maxmemory_clients,
            client_output_buffer_limit=config.client_output_buffer_limit,
            acllog_max_len=config.acllog_max_len,
            protected_mode=config.protected_mode,
        )

    def client_eviction_limit(self) -> int:
        """The bytes of client buffers over which the biggest client is closed (Redis's
        `getClientEvictionLimit`): maxmemory-clients in bytes, or its percentage of
        maxmemory, never under 128 KB; 0 when there is no such limit."""
        setting = self.maxmemory_clients
        if setting < 0 and self.maxmemory > 0:
            limit = int(self.maxmemory * -setting / 100)
        elif setting > 0:
            limit = setting
        else:
            return 0
        return max(limit, 128 * 1024)


class ConfigError(ValueError):
    """An invalid flag value; the CLI prints it and exits with status 2."""


LOG_LEVELS: Final = {
    "debug": logging.DEBUG,
    "verbose": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
}

_MEMORY_UNITS: Final = {
    b"": 1,
    b"b": 1,
    b"k": 1000,
    b"kb": 1024,
    b"m": 1000**2,
    b"mb": 1024**2,
    b"g": 1000**3,
    b"gb": 1024**3,
}


def memtoull(text: bytes) -> int | None:
    """Redis's `memtoull`: digits and an optional unit (`b`, `k`, `kb`, `m`, `mb`, `g`, `gb`)."""
    digits_end = 0
    while digits_end < len(text) and 48 <= text[digits_end] <= 57:
        digits_end += 1
    unit = _MEMORY_UNITS.get(text[digits_end:].lower())
    if unit is None or (text[:1] == b"-") or digits_end > 20:
        return None  # (more than 20 digits cannot fit: strtoull's ERANGE)
    # strtoull of no digits is 0, as in Redis ("k" is 0 bytes).
    return int(text[:digits_end] or b"0") * unit


def parse_output_buffer_limits(
    words: list[bytes], current: OutputBufferLimits
) -> OutputBufferLimits:
    """`<class> <hard> <soft> <soft seconds>` groups over `current` (Redis's
    `updateClientOutputBufferLimit`: all or nothing). ValueError carries Redis's reason."""
    if len(words) % 4:
        raise ValueError("Wrong number of arguments in buffer limit configuration.")
    limits = list(current)
    for at in range(0, len(words), 4):
        kind = OUTPUT_CLASS_NAMES.get(words[at].decode("latin-1").lower())
        if kind is None:
            raise ValueError("Invalid client class specified in buffer limit configuration.")
        hard, soft = memtoull(words[at + 1]), memtoull(words[at + 2])
        seconds = _strtoll(words[at + 3])
        if hard is None or soft is None or seconds is None or seconds < 0:
            raise ValueError(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
            )
        limits[kind] = OutputBufferLimit(hard, soft, seconds)
    return limits[0], limits[1], limits[2]


def format_output_buffer_limits(limits: OutputBufferLimits) -> str:
    """CONFIG GET's text: every class, in Redis's order and names."""
    return " ".join(
        f"{name} {limit.hard} {limit.soft} {limit.soft_seconds}"
        for name, limit in zip(OUTPUT_CLASSES, limits, strict=True)
    )


def _strtoll(text: bytes) -> int | None:
    """C's `strtoll(text, &end, 10)` with `*end == 0` required, then stored in an `int` (as
    Redis stores soft_seconds): leading blanks and a sign are accepted, "" is 0."""
    stripped = text.lstrip(b" \t\n\v\f\r")
    digits = stripped[1:] if stripped[:1] in (b"+", b"-") else stripped
    if not digits.isdigit():
        return 0 if not text else None
    number = max(min(int(stripped), 2**63 - 1), -(2**63))  # strtoll saturates
    number &= 0xFFFFFFFF  # then the int keeps the low 32 bits
    return number - 2**32 if number >= 2**31 else number


def parse_maxmemory_clients(text: bytes) -> int:
    """A `maxmemory-clients` value (Redis's numericParseString and boundary check for a
    MEMORY | PERCENT ssize_t): bytes, or `N%` of maxmemory stored as -N. ValueError carries
    Redis's reason."""
    size = memtoull(text)
    if size is None:
        digits = text[:-1]
        if not (
            len(text) > 1
            and text.endswith(b"%")
            and (digits == b"0" or (digits[:1] in b"123456789" and digits.isdigit()))
            and len(digits) < 20
        ):
            raise ValueError("argument must be a memory or percent value")
        value = -int(digits)
    else:
        value = size & (2**64 - 1)  # an unsigned long long read as a long long
        value = value - 2**64 if value >= 2**63 else value
    if value < -100:
        raise ValueError("percentage argument must be less or equal to 100")
    return value


def format_memory_or_percent(value: int) -> str:
    return f"{-value}%" if value < 0 else str(value)


def parse_memory(text: str) -> int:
    """A memory size flag in Redis's notation: `512mb`, `1gb`, `100k`, `4096`."""
    size = memtoull(text.strip().encode())
    if size is None or not text.strip()[:1].isdigit():
        raise ConfigError(f"invalid memory size {text!r} (use bytes or a unit: 512mb, 1gb)")
    return size


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="concord-server",
        description="Concord: a Redis-compatible server whose writes go through Raft.",
    )
    parser.add_argument(
        "--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="client port (default 6379)")
    parser.add_argument("--dir", default="data", help="data directory (default ./data)")
    parser.add_argument("--name", default="n1", help="this node's name (default n1)")
    parser.add_argument(
        "--fsync",
        choices=["always", "never"],
        default="always",
        help="fsync the log before acknowledging writes (default always; never is unsafe, for benchmarks)",
    )
    parser.add_argument(
        "--accept-data-loss",
        action="store_true",
        help="start even if the data directory lost acknowledged writes (a damaged or"
        " truncated log, a deleted meta or promise file): they are lost for good, and on a"
        " cluster member committed writes can be lost cluster-wide",
    )
    parser.add_argument(
        "--maxclients", type=int, default=10000, help="maximum connected clients (default 10000)"
    )
    parser.add_argument(
        "--proto-max-bulk-len",
        default="512mb",
        help="largest bulk string in a request (default 512mb)",
    )
    parser.add_argument(
        "--client-query-buffer-limit",
        default="1gb",
        help="largest pending request data per client (default 1gb)",
    )
    parser.add_argument(
        "--loglevel",
        choices=["debug", "verbose", "notice", "warning"],
        default="notice",
        help="log verbosity (default notice)",
    )
    parser.add_argument("--logfile", default="", help="log to this file instead of stderr")
    parser.add_argument(
        "--maxmemory",
        default="0",
        help="refuse writes that may add memory (-OOM) while the node's used_memory (its RSS)"
        " is over this; 0: no limit (default 0)",
    )
    parser.add_argument(
        "--maxmemory-policy",
        default="noeviction",
        help="only noeviction: Concord never evicts keys (default noeviction)",
    )
    parser.add_argument(
        "--maxmemory-clients",
        default="0",
        help="close the client using the most buffer memory while all clients' buffers hold"
        " this much (bytes, or N%% of --maxmemory); 0: no limit (default 0)",
    )
    parser.add_argument(
        "--client-output-buffer-limit",
        action="append",
        default=[],
        metavar="'CLASS HARD SOFT SECONDS'",
        help="close a client whose unsent replies reach HARD bytes, or stay at SOFT bytes or"
        " more for SECONDS (class normal, pubsub or replica; 0: no limit; repeatable;"
        " default: 'normal 0 0 0' 'replica 256mb 64mb 60' 'pubsub 32mb 8mb 60')",
    )
    parser.add_argument(
        "--hz", type=int, default=10, help="active expiry cycles per second (default 10)"
    )
    parser.add_argument(
        "--segment-size", default="64mb", help="log segment size before rolling (default 64mb)"
    )
    parser.add_argument(
        "--cluster-port",
        type=int,
        default=0,
        help="port to listen on for the other members' Raft traffic (default: this node's"
        " cluster port in --initial-cluster, or the client port + 10000)",
    )
    parser.add_argument(
        "--join",
        default="",
        metavar="HOST:PORT",
        help="join a running cluster through any member's client port: added as a learner,"
        " promoted to voter once caught up (needs --name; --bind, --port and --cluster-port"
        " must be the address the others reach this node at). HOST may be a DNS name: one"
        " that does not resolve yet is retried, as a member without a leader is",
    )
    parser.add_argument(
        "--advertise",
        default="",
        metavar="HOST:PORT@CLUSTER-PORT",
        help="with --join: the address the other members reach this node at, if not"
        " --bind:--port@--cluster-port (behind NAT or a proxy)",
    )
    parser.add_argument(
        "--initial-cluster",
        default="",
        help="the founding members, name=host:port@cluster-port,... (default: this node alone)",
    )
    parser.add_argument(
        "--heartbeat-ms", type=int, default=100, help="leader heartbeat interval (default 100)"
    )
    parser.add_argument(
        "--election-ms",
        type=int,
        default=1000,
        help="election timeout, at least 3 heartbeats (default 1000; randomised up to twice)",
    )
    parser.add_argument(
        "--write-timeout-ms",
        type=int,
        default=5000,
        help="a write not committed by then gets -TIMEOUT (default 5000)",
    )
    parser.add_argument(
        "--read-timeout-ms",
        type=int,
        default=5000,
        help="a read that cannot confirm the leader by then gets -TIMEOUT (default 5000)",
    )
    parser.add_argument(
        "--snapshot-entries",
        type=int,
        default=100_000,
        help="snapshot the state after this many applied entries; 0: no limit (default 100000)",
    )
    parser.add_argument(
        "--snapshot-bytes",
        default="256mb",
        help="snapshot the state after this many bytes of applied commands; 0: no limit"
        " (default 256mb)",
    )
    parser.add_argument(
        "--snapshot-catchup-entries",
        type=int,
        default=1000,
        help="log entries kept in memory behind the newest snapshot: a follower further"
        " behind is sent the snapshot (default 1000)",
    )
    security = parser.add_argument_group("security")
    security.add_argument(
        "--requirepass",
        default="",
        help="the default user's password at first start (then it is replicated state:"
        " CONFIG SET requirepass changes it on every node); prefer --aclfile, as argv is"
        " visible to other local users",
    )
    security.add_argument(
        "--aclfile",
        default="",
        metavar="FILE",
        help="users in Redis's ACL file format: loaded at first start, then by ACL LOAD;"
        " ACL SAVE writes it",
    )
    security.add_argument(
        "--acllog-max-len", type=int, default=128, help="entries kept by ACL LOG (default 128)"
    )
    security.add_argument(
        "--masteruser",
        default="",
        help="with --join: the ACL user to authenticate to the member as (default: default)",
    )
    security.add_argument(
        "--masterauth",
        default="",
        help="with --join: the password to authenticate to the member with",
    )
    security.add_argument(
        "--protected-mode",
        choices=["yes", "no"],
        default="yes",
        help="with no password and a non-loopback --bind, serve only loopback clients"
        " (default yes)",
    )
    tls = parser.add_argument_group("TLS (Redis's tls-* parameters)")
    tls.add_argument("--tls-port", type=int, default=0, help="TLS client port (default: none)")
    tls.add_argument("--tls-cert-file", default="", help="this node's certificate (PEM)")
    tls.add_argument("--tls-key-file", default="", help="its private key (PEM)")
    tls.add_argument("--tls-key-file-pass", default="", help="the key's passphrase, if any")
    tls.add_argument("--tls-ca-cert-file", default="", help="CA certificates to trust (PEM)")
    tls.add_argument("--tls-ca-cert-dir", default="", help="a directory of CA certificates")
    tls.add_argument(
        "--tls-auth-clients",
        choices=["yes", "no", "optional"],
        default="yes",
        help="require client certificates signed by the CA (default yes)",
    )
    tls.add_argument("--tls-protocols", default="", help='e.g. "TLSv1.2 TLSv1.3" (the default)')
    tls.add_argument("--tls-ciphers", default="", help="OpenSSL cipher list for TLS 1.2")
    tls.add_argument(
        "--tls-ciphersuites",
        default="",
        help="TLS 1.3 suites (accepted; Python applies OpenSSL's defaults)",
    )
    tls.add_argument(
        "--tls-cluster",
        choices=["yes", "no"],
        default="no",
        help="the peer links use mutual TLS, checked against the CA (default no)",
    )
    tls.add_argument(
        "--tls-replication",
        choices=["yes", "no"],
        default="no",
        help="--join talks TLS to the member it joins through (default no)",
    )
    security.add_argument(
        "--cluster-secret-file",
        default="",
        metavar="FILE",
        help="file holding the secret every member proves to the others (the same on every"
        " member; make one with `openssl rand -hex 32 > FILE`). Without one, the peer port"
        " listens on loopback only",
    )
    security.add_argument(
        "--cluster-secret",
        default="",
        metavar="SECRET",
        help="the cluster secret itself (visible in `ps`: prefer --cluster-secret-file)",
    )
    security.add_argument(
        "--cluster-max-frame",
        default="1gb",
        help="largest frame a member may send on the peer link once authenticated; a write"
        " too large to fit one is refused (default 1gb; the same on every member)",
    )
    return parser


def read_cluster_secret(args: argparse.Namespace) -> bytes:
    """The secret from --cluster-secret-file or --cluster-secret (b"" if neither), without
    the line end a file usually has. Errors never show it."""
    if args.cluster_secret_file and args.cluster_secret:
        raise ConfigError("--cluster-secret and --cluster-secret-file exclude each other")
    if args.cluster_secret_file:
        try:
            with open(args.cluster_secret_file, "rb") as file:
                secret = file.read()
        except OSError as error:
            raise ConfigError(f"--cluster-secret-file: cannot read it: {error.strerror}") from None
        secret = secret.strip()
        if not secret:
            raise ConfigError(f"--cluster-secret-file: {args.cluster_secret_file} is empty")
        return secret
    return str(args.cluster_secret).strip().encode()


def config_from_args(argv: list[str] | None = None) -> Config:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port < 65536 or (args.port == 0 and not args.tls_port):
        raise ConfigError(
            f"--port must be between 1 and 65535 (0 with --tls-port: TLS only), not {args.port}"
        )
    if not 0 <= args.tls_port < 65536:
        raise ConfigError(f"--tls-port must be between 1 and 65535, not {args.tls_port}")
    tls_used = args.tls_port or args.tls_cluster == "yes" or args.tls_replication == "yes"
    if tls_used and not (args.tls_cert_file and args.tls_key_file):
        raise ConfigError("TLS needs --tls-cert-file and --tls-key-file")
    if args.maxclients < 1:
        raise ConfigError("--maxclients must be at least 1")
    if not 1 <= args.hz <= 500:
        raise ConfigError("--hz must be between 1 and 500")
    bulk = parse_memory(args.proto_max_bulk_len)
    if bulk < 1024 * 1024:
        raise ConfigError("--proto-max-bulk-len must be at least 1mb")
    query_buffer = parse_memory(args.client_query_buffer_limit)
    if query_buffer < 1024 * 1024:
        raise ConfigError("--client-query-buffer-limit must be at least 1mb")
    maxmemory, maxmemory_clients, output_limits = _client_limits(args)
    segment = parse_memory(args.segment_size)
    if segment < 64 * 1024:
        raise ConfigError("--segment-size must be at least 64kb")
    if args.heartbeat_ms < 10:
        raise ConfigError("--heartbeat-ms must be at least 10")
    if args.election_ms < 3 * args.heartbeat_ms:
        raise ConfigError("--election-ms must be at least 3 times --heartbeat-ms")
    if args.snapshot_entries < 0:
        raise ConfigError("--snapshot-entries must be 0 (never) or more")
    if args.snapshot_catchup_entries < 0:
        raise ConfigError("--snapshot-catchup-entries must be 0 or more")
    if args.write_timeout_ms < 100 or args.read_timeout_ms < 100:
        raise ConfigError("--write-timeout-ms and --read-timeout-ms must be at least 100")
    if args.cluster_port and not 0 < args.cluster_port < 65536:
        raise ConfigError(f"--cluster-port must be between 1 and 65535, not {args.cluster_port}")
    if args.join:
        if args.initial_cluster:
            raise ConfigError("--join and --initial-cluster exclude each other")
        if not is_host_port(args.join):
            raise ConfigError(f"--join: {args.join!r} is not host:port (a member's client port)")
    if args.advertise:
        try:
            parse_members(f"{args.name}={args.advertise}")
        except ConfigError:
            raise ConfigError(
                f"--advertise: {args.advertise!r} is not host:port@cluster-port"
            ) from None
    if args.acllog_max_len < 0:
        raise ConfigError("--acllog-max-len must be 0 or more")
    if args.aclfile and args.requirepass:
        # One source for the start-up users, so that what a node proposes is unambiguous.
        raise ConfigError(
            "--requirepass and --aclfile exclude each other:"
            " put the default user's password in the ACL file"
        )
    if args.initial_cluster:
        members = parse_members(args.initial_cluster)
        if args.name not in members:
            raise ConfigError(f"--name {args.name!r} is not in --initial-cluster")
    max_frame = parse_memory(args.cluster_max_frame)
    if max_frame < 4 * MB:
        raise ConfigError("--cluster-max-frame must be at least 4mb")
    return Config(
        bind=args.bind,
        port=args.port,
        dir=Path(args.dir),
        name=args.name,
        fsync=args.fsync,
        accept_data_loss=args.accept_data_loss,
        maxclients=args.maxclients,
        proto_max_bulk_len=bulk,
        client_query_buffer_limit=query_buffer,
        loglevel=args.loglevel,
        logfile=args.logfile,
        hz=args.hz,
        segment_bytes=segment,
        cluster_port=args.cluster_port,
        initial_cluster=args.initial_cluster,
        join=args.join,
        advertise=args.advertise,
        heartbeat_ms=args.heartbeat_ms,
        election_ms=args.election_ms,
        write_timeout_ms=args.write_timeout_ms,
        read_timeout_ms=args.read_timeout_ms,
        snapshot_entries=args.snapshot_entries,
        snapshot_bytes=parse_memory(args.snapshot_bytes),
        requirepass=args.requirepass,
        aclfile=args.aclfile,
        acllog_max_len=args.acllog_max_len,
        protected_mode=args.protected_mode == "yes",
        masteruser=args.masteruser,
        masterauth=args.masterauth,
        tls_port=args.tls_port,
        tls_cert_file=args.tls_cert_file,
        tls_key_file=args.tls_key_file,
        tls_key_file_pass=args.tls_key_file_pass,
        tls_ca_cert_file=args.tls_ca_cert_file,
        tls_ca_cert_dir=args.tls_ca_cert_dir,
        tls_auth_clients=args.tls_auth_clients,
        tls_protocols=args.tls_protocols,
        tls_ciphers=args.tls_ciphers,
        tls_ciphersuites=args.tls_ciphersuites,
        tls_cluster=args.tls_cluster == "yes",
        tls_replication=args.tls_replication == "yes",
        snapshot_catchup_entries=args.snapshot_catchup_entries,
        maxmemory=maxmemory,
        maxmemory_clients=maxmemory_clients,
        client_output_buffer_limit=output_limits,
        cluster_secret=read_cluster_secret(args),
        cluster_max_frame=max_frame,
    )


def _client_limits(args: argparse.Namespace) -> tuple[int, int, OutputBufferLimits]:
    """--maxmemory, --maxmemory-policy, --maxmemory-clients, --client-output-buffer-limit."""
    if args.maxmemory_policy.lower() not in MAXMEMORY_POLICIES:
        raise ConfigError(f"--maxmemory-policy must be one of {', '.join(MAXMEMORY_POLICIES)}")
    if args.maxmemory_policy.lower() != "noeviction":
        raise ConfigError(NOEVICTION_ONLY)
    try:
        maxmemory_clients = parse_maxmemory_clients(args.maxmemory_clients.strip().encode())
    except ValueError as error:
        raise ConfigError(f"--maxmemory-clients: {error}") from None
    output_limits = DEFAULT_OUTPUT_LIMITS
    for text in args.client_output_buffer_limit:
        try:
            output_limits = parse_output_buffer_limits(text.encode().split(), output_limits)
        except ValueError as error:
            raise ConfigError(f"--client-output-buffer-limit {text!r}: {error}") from None
    return parse_memory(args.maxmemory), maxmemory_clients, output_limits


def parse_members(text: str) -> dict[str, tuple[str, int, int]]:
    """`n1=127.0.0.1:6379@16379,n2=...` -> {name: (host, port, cluster port)}."""
    members: dict[str, tuple[str, int, int]] = {}
    for item in text.split(","):
        item = item.strip()
        name, sep, address = item.partition("=")
        host_port, at, cluster = address.rpartition("@")
        host, colon, port = host_port.rpartition(":")
        if not (sep and at and colon and name and port.isdigit() and cluster.isdigit()):
            raise ConfigError(f"--initial-cluster: {item!r} is not name=host:port@cluster-port")
        if not is_host(host):
            raise ConfigError(f"--initial-cluster: {item!r}: {host!r} is not an address or name")
        if name in members:
            raise ConfigError(f"--initial-cluster: {name!r} appears twice")
        numbers = (int(port), int(cluster))
        if not all(0 < number < 65536 for number in numbers):
            raise ConfigError(f"--initial-cluster: {item!r} has a port out of range")
        members[name] = (host.strip("[]"), *numbers)
    return members


_HOST_LABEL: Final = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def is_host_port(text: str) -> bool:
    """`host:port`, the host an address or a DNS name (`is_host`)."""
    host, colon, port = text.rpartition(":")
    return bool(colon) and is_host(host) and port.isdigit() and 0 < int(port) < 65536


def is_host(host: str) -> bool:
    """An IP address (IPv6 in brackets or not) or a DNS name (RFC 1123 labels; `_` allowed,
    as container networks use it). Names are looked up only when dialed, and again on each
    try: a name may resolve later than the node starts."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        labels = host.removesuffix(".").split(".")
        return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)
    return True
