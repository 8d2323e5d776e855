"""Server configuration: one frozen object built from the configuration table (the uvicorn shape).

Every parameter is declared once, in `parameters` (plus client-output-buffer-limit here, with
its value type). From that table come the command-line flags, the config file (`--config`,
redis.conf syntax: `config_file`), the environment (`CONCORD_<NAME>`) and the `Config`'s
defaults. Precedence: default < file < environment < command line. `cli` is the only place
that reads argv and the environment and passes them here; everything below receives a
`Config`. Settings that CONFIG SET may change at run time live in `RuntimeSettings`, seeded
from the Config.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from . import config_file
from .parameters import (
    MAXMEMORY_POLICIES,
    NOEVICTION_ONLY,
    OWN,
    REPLICATED,
    InvalidValue,
    Kind,
    Lookup,
    Param,
    build_table,
    format_memory_or_percent,
    memtoull,
    parse_maxmemory_clients,
)

__all__ = [
    "MAXMEMORY_POLICIES",
    "NOEVICTION_ONLY",
    "format_memory_or_percent",
    "memtoull",
    "parse_maxmemory_clients",
]

DEFAULT_PORT: Final = 6379
MB: Final = 1024 * 1024
ENV_PREFIX: Final = "CONCORD_"
CONFIG_ENV: Final = "CONCORD_CONFIG"  # the config file, if --config does not name one


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


def _parse_output_limits(text: bytes) -> object:
    """A multi-argument value, split at each space as Redis splits it ("" changes nothing).
    What it leaves unnamed keeps its value: the words are checked here, and laid over the
    limits of the moment where they are applied."""
    words = text.split(b" ") if text else []
    try:
        parse_output_buffer_limits(words, DEFAULT_OUTPUT_LIMITS)
    except ValueError as error:
        raise InvalidValue(str(error)) from None
    return words


def _format_output_limits(value: object) -> str:
    if isinstance(value, list):  # words, as parsed
        value = parse_output_buffer_limits(value, DEFAULT_OUTPUT_LIMITS)
    assert isinstance(value, tuple)
    return format_output_buffer_limits(value)


OUTPUT_LIMITS: Final = Kind(
    _parse_output_limits, _format_output_limits, "'CLASS HARD SOFT SECONDS'"
)
OUTPUT_LIMITS_PARAM: Final = Param(
    "client-output-buffer-limit",
    OUTPUT_LIMITS,
    "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    "a client class's hard limit, soft limit and soft seconds on replies not taken by its"
    " socket (`normal`, `replica`, `pubsub`); repeatable, each over the last",
    mutable=True,
    multi=True,
)
# Every parameter: Concord's, then Redis's others (accepted, not honoured).
TABLE: Final = build_table([*OWN, OUTPUT_LIMITS_PARAM, *REPLICATED])
PARAMETERS: Final = Lookup(TABLE)
# Set at start-up (file, environment, flags) into `Config`; the replicated ones are not.
START_UP: Final = tuple(p for p in TABLE if not p.replicated)


def _defaults() -> dict[str, Any]:
    values: dict[str, Any] = {p.attribute: p.value for p in START_UP if p.honoured}
    values["dir"] = Path(values["dir"])
    values["client_output_buffer_limit"] = DEFAULT_OUTPUT_LIMITS
    values["cluster_secret"] = b""
    return values


_D: Final = _defaults()


@dataclass(frozen=True, slots=True)
class Config:
    """The start-up configuration. Field defaults come from the table (`parameters`)."""

    bind: str = _D["bind"]
    port: int = _D["port"]
    dir: Path = _D["dir"]
    name: str = _D["name"]
    fsync: str = _D["fsync"]  # appendfsync: always | no (never)
    accept_data_loss: bool = _D["accept_data_loss"]
    maxclients: int = _D["maxclients"]
    proto_max_bulk_len: int = _D["proto_max_bulk_len"]
    client_query_buffer_limit: int = _D["client_query_buffer_limit"]
    loglevel: str = _D["loglevel"]
    logfile: str = _D["logfile"]
    hz: int = _D["hz"]
    segment_bytes: int = _D["segment_bytes"]
    shutdown_timeout: float = _D["shutdown_timeout"]
    cluster_port: int = _D["cluster_port"]  # 0: client port + 10000
    metrics_port: int = _D["metrics_port"]  # the Prometheus endpoint (0: none)
    initial_cluster: str = _D["initial_cluster"]
    join: str = _D["join"]
    advertise: str = _D["advertise"]
    heartbeat_ms: int = _D["heartbeat_ms"]
    election_ms: int = _D["election_ms"]
    write_timeout_ms: int = _D["write_timeout_ms"]
    read_timeout_ms: int = _D["read_timeout_ms"]
    snapshot_entries: int = _D["snapshot_entries"]
    snapshot_bytes: int = _D["snapshot_bytes"]
    snapshot_catchup_entries: int = _D["snapshot_catchup_entries"]
    maxmemory: int = _D["maxmemory"]
    maxmemory_clients: int = _D["maxmemory_clients"]
    client_output_buffer_limit: OutputBufferLimits = _D["client_output_buffer_limit"]
    busy_reply_threshold: int = _D["busy_reply_threshold"]
    tracking_table_max_keys: int = _D["tracking_table_max_keys"]
    slowlog_log_slower_than: int = _D["slowlog_log_slower_than"]
    slowlog_max_len: int = _D["slowlog_max_len"]
    latency_monitor_threshold: int = _D["latency_monitor_threshold"]
    latency_tracking: bool = _D["latency_tracking"]
    latency_tracking_info_percentiles: tuple[float, ...] = _D["latency_tracking_info_percentiles"]
    # Security: the start-up users (proposed once to a cluster whose users were never set).
    requirepass: str = _D["requirepass"]
    aclfile: str = _D["aclfile"]
    acllog_max_len: int = _D["acllog_max_len"]
    protected_mode: bool = _D["protected_mode"]
    masteruser: str = _D["masteruser"]
    masterauth: str = _D["masterauth"]
    cluster_secret: bytes = field(default=_D["cluster_secret"], repr=False)  # b"": none
    cluster_max_frame: int = _D["cluster_max_frame"]
    # TLS, with Redis's parameter names (server/tls.py).
    tls_port: int = _D["tls_port"]  # a TLS client port (0: none); port 0 leaves only this one
    tls_cert_file: str = _D["tls_cert_file"]
    tls_key_file: str = _D["tls_key_file"]
    tls_key_file_pass: str = _D["tls_key_file_pass"]
    tls_ca_cert_file: str = _D["tls_ca_cert_file"]
    tls_ca_cert_dir: str = _D["tls_ca_cert_dir"]
    tls_auth_clients: str = _D["tls_auth_clients"]
    tls_protocols: str = _D["tls_protocols"]
    tls_ciphers: str = _D["tls_ciphers"]
    tls_ciphersuites: str = _D["tls_ciphersuites"]
    tls_cluster: bool = _D["tls_cluster"]  # the peer links use mutual TLS
    tls_replication: bool = _D["tls_replication"]  # --join talks TLS to the member
    # The config file (CONFIG REWRITE writes it; "": none), and the parameters Concord does
    # not honour that it set (name, value as written), for CONFIG GET.
    config_file: str = ""
    others: tuple[tuple[str, str], ...] = ()

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


CONFIG_FIELDS: Final = frozenset(f.name for f in fields(Config))


@dataclass(slots=True)
class RuntimeSettings:
    """The CONFIG SET-able part of the configuration."""

    maxclients: int
    proto_max_bulk_len: int
    client_query_buffer_limit: int
    loglevel: str
    busy_reply_threshold_ms: int = _D["busy_reply_threshold"]  # (lua-time-limit)
    maxmemory: int = _D["maxmemory"]
    maxmemory_clients: int = _D["maxmemory_clients"]
    client_output_buffer_limit: OutputBufferLimits = _D["client_output_buffer_limit"]
    acllog_max_len: int = _D["acllog_max_len"]
    protected_mode: bool = _D["protected_mode"]
    # Parameters without a run-time binding: their values as CONFIG GET shows them.
    others: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> RuntimeSettings:
        return cls(
            maxclients=config.maxclients,
            proto_max_bulk_len=config.proto_max_bulk_len,
            client_query_buffer_limit=config.client_query_buffer_limit,
            loglevel=config.loglevel,
            busy_reply_threshold_ms=config.busy_reply_threshold,
            maxmemory=config.maxmemory,
            maxmemory_clients=config.maxmemory_clients,
            client_output_buffer_limit=config.client_output_buffer_limit,
            acllog_max_len=config.acllog_max_len,
            protected_mode=config.protected_mode,
            others=dict(config.others),
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


def parse_memory(text: str) -> int:
    """A memory size flag in Redis's notation: `512mb`, `1gb`, `100k`, `4096`."""
    size = memtoull(text.strip().encode())
    if size is None or not text.strip()[:1].isdigit():
        raise ConfigError(f"invalid memory size {text!r} (use bytes or a unit: 512mb, 1gb)")
    return size


def build_parser() -> argparse.ArgumentParser:
    """The flags, one per parameter of the table (and its older names): `--NAME VALUE`.
    Values stay text here: they are parsed with the table's rules, like the file's."""
    parser = argparse.ArgumentParser(
        prog="concord-server",
        description="Concord: a Redis-compatible server whose writes go through Raft."
        " Every parameter is also a config file line (NAME VALUE) and an environment"
        " variable (CONCORD_NAME); precedence: default < file < environment < flags.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--config",
        default="",
        metavar="FILE",
        help="a config file in redis.conf syntax (NAME VALUE lines, # comments); CONFIG"
        f" REWRITE writes it (default: ${CONFIG_ENV}, if set)",
    )
    for param in START_UP:
        names = [f"--{param.name}", *param.flags]
        if param.alias:
            names.append(f"--{param.alias}")
        shown = param.default if param.default else "none"
        text = argparse.SUPPRESS if not param.honoured else f"{param.help} (default {shown})"
        if param.honoured:  # the README's markdown, as plain text
            text = re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", text)
            text = text.replace("%", "%%").replace("`", "").replace("**", "")
        if param.switch:
            parser.add_argument(
                *names, dest=param.attribute, action="store_const", const="yes", help=text
            )
        else:
            parser.add_argument(
                *names,
                dest=param.attribute,
                action="append" if param.multi else "store",
                metavar=param.kind.placeholder,
                help=text,
            )
    return parser


@dataclass(slots=True)
class _Sources:
    """What each parameter was given as, in precedence order: (where, text)."""

    given: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def add(self, param: Param, where: str, text: str) -> None:
        given = self.given.setdefault(param.name, [])
        if param.multi:
            text = " ".join(text.split())  # (CONFIG SET splits at each single space)
        else:
            given.clear()  # a later source replaces an earlier one
        given.append((where, text))


def read_config_file(path: str, sources: _Sources) -> None:
    """The file's lines into `sources`; ConfigError names the file, the line and the
    parameter of anything wrong."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as file:
            text = file.read()
    except OSError as error:
        raise ConfigError(f"cannot read the config file {path}: {error.strerror}") from None
    try:
        lines = config_file.parse(text)
    except config_file.FileError as error:
        raise ConfigError(f"config file {path}, line {error.line}: {error}") from None
    for line in lines:
        where = f"config file {path}, line {line.number}"
        param = PARAMETERS.get(line.name)
        if param is None:
            raise ConfigError(f"{where}: unknown parameter '{line.name}'")
        if param.replicated:
            raise ConfigError(
                f"{where}: '{line.name}' is replicated cluster state: set it with CONFIG SET"
            )
        if len(line.args) != 1 and not param.multi:
            raise ConfigError(f"{where}: '{line.name}' takes one argument")
        sources.add(param, where, " ".join(line.args))


def env_name(param: Param) -> str:
    return ENV_PREFIX + param.name.replace("-", "_").upper()


def read_environment(environ: Mapping[str, str], sources: _Sources) -> None:
    for param in START_UP:
        text = environ.get(env_name(param))
        if text is not None:
            sources.add(param, env_name(param), text)


def _parse(param: Param, where: str, text: str) -> object:
    try:
        return param.kind.parse(text.encode("utf-8", "surrogateescape"))
    except InvalidValue as error:
        shown = "" if param.sensitive else f" {text!r}"
        named = where if where.startswith("--") else f"{where}: {param.name}"
        raise ConfigError(f"{named}{shown}: {error}") from None


def config_from_args(
    argv: list[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """The Config from the defaults, the file (`--config`), `environ` and the flags."""
    args = build_parser().parse_args(argv)
    environ = environ or {}
    args.config = args.config or environ.get(CONFIG_ENV, "")
    sources = _Sources()
    if args.config:
        read_config_file(args.config, sources)
    read_environment(environ, sources)
    for param in START_UP:
        given = getattr(args, param.attribute)
        for text in given if isinstance(given, list) else [given]:
            if text is not None:
                sources.add(param, f"--{param.name}", text)
    values: dict[str, Any] = {}
    others: list[tuple[str, str]] = []
    output_limits = DEFAULT_OUTPUT_LIMITS
    for name, given in sources.given.items():
        param = PARAMETERS.by_name[name]
        parsed = [_parse(param, where, text) for where, text in given]
        if param is OUTPUT_LIMITS_PARAM:
            for words in parsed:
                assert isinstance(words, list)
                output_limits = parse_output_buffer_limits(words, output_limits)
        elif not param.honoured:
            others.append((name, param.kind.format(parsed[-1])))
        else:
            values[param.attribute] = parsed[-1]
    values["client_output_buffer_limit"] = output_limits
    config = Config(
        **{key: value for key, value in values.items() if key in CONFIG_FIELDS},
        config_file=str(Path(args.config).resolve()) if args.config else "",
        others=tuple(others),
    )
    return _checked(config, values)


def _checked(config: Config, values: dict[str, Any]) -> Config:
    """The rules between parameters, and the values made from others."""
    if config.port == 0 and not config.tls_port:
        raise ConfigError("--port must be between 1 and 65535 (0 with --tls-port: TLS only)")
    tls_used = config.tls_port or config.tls_cluster or config.tls_replication
    if tls_used and not (config.tls_cert_file and config.tls_key_file):
        raise ConfigError("TLS needs --tls-cert-file and --tls-key-file")
    if not 1 <= config.hz <= 500:
        raise ConfigError("--hz must be between 1 and 500")
    if config.election_ms < 3 * config.heartbeat_ms:
        raise ConfigError("--election-ms must be at least 3 times --heartbeat-ms")
    if config.join:
        if config.initial_cluster:
            raise ConfigError("--join and --initial-cluster exclude each other")
        if not is_host_port(config.join):
            raise ConfigError(f"--join: {config.join!r} is not host:port (a member's client port)")
    if config.advertise:
        try:
            parse_members(f"{config.name}={config.advertise}")
        except ConfigError:
            raise ConfigError(
                f"--advertise: {config.advertise!r} is not host:port@cluster-port"
            ) from None
    if config.aclfile and config.requirepass:
        # One source for the start-up users, so that what a node proposes is unambiguous.
        raise ConfigError(
            "--requirepass and --aclfile exclude each other:"
            " put the default user's password in the ACL file"
        )
    if config.initial_cluster:
        members = parse_members(config.initial_cluster)
        if config.name not in members:
            raise ConfigError(f"--name {config.name!r} is not in --initial-cluster")
    secret = read_cluster_secret(
        str(values.get("cluster_secret_file", "")), str(values.get("cluster_secret", ""))
    )
    return replace(config, dir=Path(config.dir), cluster_secret=secret)


def read_cluster_secret(secret_file: str, secret: str) -> bytes:
    """The secret from cluster-secret-file or cluster-secret (b"" if neither), without
    the line end a file usually has. Errors never show it."""
    if secret_file and secret:
        raise ConfigError("--cluster-secret and --cluster-secret-file exclude each other")
    if secret_file:
        try:
            with open(secret_file, "rb") as file:
                content = file.read()
        except OSError as error:
            raise ConfigError(f"--cluster-secret-file: cannot read it: {error.strerror}") from None
        content = content.strip()
        if not content:
            raise ConfigError(f"--cluster-secret-file: {secret_file} is empty")
        return content
    return secret.strip().encode()


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
