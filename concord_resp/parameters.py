"""The configuration table: every parameter declared once.

A `Param` is a name (Redis's where Redis has one, Concord's own with dashes), a `Kind` that
parses a value the way Redis's config.c does (same error texts) and writes it back, a
default (as text, in the notation of the config file and CONFIG GET), whether CONFIG SET may
change it, its help, and whether Concord honours it. The command-line flags, the config
file, the environment (`config`), CONFIG GET/SET (`server.settings`) and the README's table
(`scripts/dev/gen_config_table.py`) are all made from `TABLE`.

`TABLE` is Concord's parameters, then every other parameter Redis 7.0 has
(`redis_parameters.json`, captured from Redis by `scripts/dev/gen_config_specs.py`): those are
accepted with Redis's parsing, remembered and shown, but do nothing here (`honoured=False`).
Pure: no I/O but reading that package data file at import.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

from .limits import INT_MAX, LLONG_MAX, UINT_MAX, ULONG_MAX
from .resp import string2ll
from .store import ENCODING_PARAMETERS, EncodingConfig
from .store.events import format_classes, parse_classes

MB: Final = 1024 * 1024


class InvalidValue(ValueError):
    """A value a parameter refuses; the text is Redis's reason (after CONFIG SET's ` - `)."""


# -- Redis's value notations ---------------------------------------------------------------

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
            raise InvalidValue("argument must be a memory or percent value")
        value = -int(digits)
    else:
        value = size & (2**64 - 1)  # an unsigned long long read as a long long
        value = value - 2**64 if value >= 2**63 else value
    if value < -100:
        raise InvalidValue("percentage argument must be less or equal to 100")
    return value


def format_memory_or_percent(value: int) -> str:
    return f"{-value}%" if value < 0 else str(value)


# -- kinds: how a value is parsed and written back -----------------------------------------


@dataclass(frozen=True, slots=True)
class Kind:
    """Parse a value (InvalidValue with Redis's reason), and write one back as CONFIG GET
    and the config file show it. `placeholder` names the value in help texts."""

    parse: Callable[[bytes], object]
    format: Callable[[object], str] = str
    placeholder: str = "VALUE"


def _parse_bool(text: bytes) -> object:
    lowered = text.lower()
    if lowered not in (b"yes", b"no"):
        raise InvalidValue("argument must be 'yes' or 'no'")
    return lowered == b"yes"


BOOL: Final = Kind(_parse_bool, lambda value: "yes" if value else "no", "yes|no")
STRING: Final = Kind(lambda text: text.decode("utf-8", "surrogateescape"), placeholder="TEXT")


def enum(*names: str, synonyms: dict[str, str] | None = None) -> Kind:
    """One of `names` (any case); `synonyms` are other spellings accepted (not listed)."""
    accepted = {name: name for name in names} | (synonyms or {})

    def parse(text: bytes) -> object:
        lowered = text.decode("latin-1").lower()
        if lowered not in accepted:
            raise InvalidValue(f"argument(s) must be one of the following: {', '.join(names)}")
        return accepted[lowered]

    return Kind(parse, placeholder="|".join(names))


def integer(low: int, high: int, *, memory: bool = False, octal: bool = False) -> Kind:
    """Redis's numeric configs: strict integers (or memory sizes), inclusive bounds."""

    def parse(text: bytes) -> object:
        if octal:
            number = int(text, 8) if text and all(48 <= c <= 55 for c in text) else None
        else:
            number = memtoull(text) if memory else string2ll(text)
        if number is None:
            raise InvalidValue(
                "argument must be a memory value"
                if memory
                else "argument couldn't be parsed into an integer"
            )
        if not low <= number <= high:
            raise InvalidValue(f"argument must be between {low} and {high} inclusive")
        return number

    formatter: Callable[[object], str] = (lambda value: f"{value:o}") if octal else str
    return Kind(parse, formatter, "SIZE" if memory else "N")


def _parse_notify(text: bytes) -> object:
    flags = parse_classes(text)
    if flags is None:
        raise InvalidValue("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    return flags


def _format_notify(value: object) -> str:
    assert isinstance(value, int)
    return format_classes(value).decode()


def _parse_save(text: bytes) -> object:
    """`save` takes `<seconds> <changes>` pairs; Concord writes no RDB files, so only ""."""
    parts = text.split()
    if len(parts) % 2 != 0 or any(string2ll(part) is None for part in parts):
        raise InvalidValue("Invalid save parameters")
    if parts:
        raise InvalidValue('Concord does not write RDB snapshots: only "" is accepted')
    return ""


def _parse_memory_or_percent(text: bytes) -> object:
    return parse_maxmemory_clients(text)


def _format_memory_or_percent(value: object) -> str:
    assert isinstance(value, int)
    return format_memory_or_percent(value)


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
_POLICY_ENUM: Final = enum(*MAXMEMORY_POLICIES)


def _parse_policy(text: bytes) -> object:
    policy = _POLICY_ENUM.parse(text)
    if policy != "noeviction":
        raise InvalidValue(NOEVICTION_ONLY)
    return policy


def _words(text: bytes) -> object:
    """A multi-argument value Concord does not interpret: kept as written."""
    return text.decode("utf-8", "surrogateescape")


def fixed(kind: Kind, only: str) -> Kind:
    """A Redis parameter Concord's design fixes: `kind`'s notation, only the value `only`."""
    wanted = kind.parse(only.encode())

    def parse(text: bytes) -> object:
        if kind.parse(text) != wanted:
            raise InvalidValue(f"Concord supports only {only}")
        return wanted

    return Kind(parse, kind.format, only)


def _parse_percentiles(text: bytes) -> object:
    """latency-tracking-info-percentiles: numbers in [0, 100] separated by spaces."""
    values: list[float] = []
    for part in text.split():
        try:
            value = float(part) if b"_" not in part else float("nan")
        except ValueError:
            value = float("nan")
        if value != value:  # (strtod's nan is refused by Redis too)
            raise InvalidValue("Invalid latency-tracking-info-percentiles parameters")
        if not 0.0 <= value <= 100.0:
            raise InvalidValue(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
            )
        values.append(value)
    return tuple(values)


def format_percentile(value: float) -> str:
    """Redis's "%f" with its trailing zeros trimmed (`50`, `99.9`)."""
    return f"{value:f}".rstrip("0").rstrip(".")


def _format_percentiles(value: object) -> str:
    assert isinstance(value, tuple)
    return " ".join(format_percentile(p) for p in value)


NOTIFY: Final = Kind(_parse_notify, _format_notify, "CLASSES")
PERCENTILES: Final = Kind(_parse_percentiles, _format_percentiles, "'P ...'")
SAVE: Final = Kind(_parse_save, placeholder='""')
MEMORY_OR_PERCENT: Final = Kind(_parse_memory_or_percent, _format_memory_or_percent, "SIZE|N%")
MAXMEMORY_POLICY: Final = Kind(_parse_policy, placeholder="noeviction")
WORDS: Final = Kind(_words, placeholder="WORDS")
# client-output-buffer-limit's kind lives with its type in `config` (OUTPUT_LIMITS).


# -- the table -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: Kind
    default: str  # as the config file and CONFIG GET write it
    help: str
    mutable: bool = False  # CONFIG SET may change it at run time
    honoured: bool = True  # False: accepted and shown, but Concord does nothing with it
    alias: str | None = None  # Redis's other name (`hash-max-ziplist-entries`)
    flags: tuple[str, ...] = ()  # more command-line names kept working (`--fsync`)
    field: str | None = None  # the `Config` attribute; None: `name` with underscores
    replicated: bool = False  # cluster state: only CONFIG SET (a log entry) changes it
    protected: bool = False  # Redis's PROTECTED_CONFIG: CONFIG SET refuses it
    sensitive: bool = False  # not shown in errors
    switch: bool = False  # a flag without a value on the command line (means yes)
    multi: bool = False  # several lines/flags add up (client-output-buffer-limit)
    redis: bool = True  # a Redis 7.0 parameter (False: Concord's own)

    @property
    def attribute(self) -> str:
        return self.field or self.name.replace("-", "_")

    @property
    def value(self) -> object:
        """The default, parsed."""
        return self.kind.parse(self.default.encode())


_concord: Final = partial(Param, redis=False)


PORT: Final = integer(0, 65535)
MS: Final = integer(0, INT_MAX)

# Concord's parameters, in the order of the README's table.
OWN: list[Param] = [
    Param("bind", STRING, "127.0.0.1", "address to listen on"),
    Param("port", PORT, "6379", "client port (0 with tls-port: TLS only)"),
    Param(
        "dir",
        STRING,
        "data",
        "data directory (log segments, snapshots, `meta`, `promise`, `LOCK`); one server per"
        " directory",
        protected=True,
    ),
    _concord("name", STRING, "n1", "this node's name (recorded in the data directory)"),
    Param(
        "appendfsync",
        enum("always", "no", synonyms={"never": "no"}),
        "always",
        "`always`: a write is acknowledged only after the log is fsynced. `no` (or `never`): no"
        " fsync, **unsafe**: an OS crash or power loss loses acknowledged writes; for"
        " benchmarks only",
        mutable=True,
        flags=("--fsync",),
        field="fsync",
    ),
    _concord(
        "accept-data-loss",
        BOOL,
        "no",
        "start even though the data directory lost acknowledged writes (see [Damaged"
        " disks](#damaged-disks)): **they are lost for good**, and on a cluster member"
        " committed writes can be lost cluster-wide",
        switch=True,
    ),
    Param(
        "maxclients",
        integer(1, UINT_MAX),
        "10000",
        "connections beyond this get `-ERR max number of clients reached`",
        mutable=True,
    ),
    Param(
        "proto-max-bulk-len",
        integer(MB, LLONG_MAX, memory=True),
        "512mb",
        "largest bulk string a request may carry",
        mutable=True,
    ),
    Param(
        "client-query-buffer-limit",
        integer(MB, LLONG_MAX, memory=True),
        "1gb",
        "largest pending request data per client",
        mutable=True,
    ),
    Param(
        "loglevel",
        enum("debug", "verbose", "notice", "warning"),
        "notice",
        "log verbosity",
        mutable=True,
    ),
    Param("logfile", STRING, "", "log to this file (empty: stderr)"),
    Param(
        "hz",
        integer(0, INT_MAX),
        "10",
        "active-expiry cycles per second (CONFIG SET clamps to 1..500)",
        mutable=True,
    ),
    _concord(
        "segment-size",
        integer(64 * 1024, LLONG_MAX, memory=True),
        "64mb",
        "log segment size before a new segment is started",
        field="segment_bytes",
    ),
    Param(
        "shutdown-timeout",
        integer(0, INT_MAX),
        "10",
        "seconds a graceful shutdown waits for in-flight commands",
    ),
    _concord(
        "initial-cluster",
        STRING,
        "",
        "the founding members, `name=host:port@cluster-port,...` (Redis Cluster's address"
        " notation); every member gets the same list, and `name` must be in it; empty: this"
        " node alone",
    ),
    Param(
        "cluster-port",
        PORT,
        "0",
        "where this node listens for its peers, if not where the others reach it (0: the"
        " `@port` of this node in `initial-cluster`, or `port` + 10000)",
    ),
    _concord(
        "metrics-port",
        PORT,
        "0",
        "serve Prometheus metrics over HTTP at `http://bind:metrics-port/metrics` (0: off)",
    ),
    _concord(
        "join",
        STRING,
        "",
        "join a running cluster through any member's client port (`host:port`): added as a"
        " learner, promoted to voter once caught up. `host` may be a DNS name: one that does"
        " not resolve yet is retried, as a member without a leader is",
    ),
    _concord(
        "advertise",
        STRING,
        "",
        "with `join`: the `host:port@cluster-port` the other members reach this node at, if"
        " not `bind:port@cluster-port`",
    ),
    _concord("heartbeat-ms", integer(10, INT_MAX), "100", "leader heartbeat interval"),
    _concord(
        "election-ms",
        MS,
        "1000",
        "election timeout (randomised between it and twice it; at least 3 heartbeats)",
    ),
    _concord(
        "write-timeout-ms",
        integer(100, INT_MAX),
        "5000",
        "a write not applied by then is answered with an error (see [Errors](#errors-clients-see))",
    ),
    _concord(
        "read-timeout-ms",
        integer(100, INT_MAX),
        "5000",
        "a read that cannot get a read point by then is answered with an error",
    ),
    _concord(
        "snapshot-entries",
        integer(0, LLONG_MAX),
        "100000",
        "after this many applied entries a forked child writes a snapshot of the state to"
        " `DIR/snapshots/` (the newest two are kept) and the log behind the older one is"
        " deleted; `0`: no limit",
    ),
    _concord(
        "snapshot-bytes",
        integer(0, LLONG_MAX, memory=True),
        "256mb",
        "also snapshot after this many bytes of applied commands; `0`: no limit",
    ),
    _concord(
        "snapshot-catchup-entries",
        integer(0, LLONG_MAX),
        "1000",
        "log entries kept in memory behind the newest snapshot; a follower further behind is"
        " sent the snapshot",
    ),
    _concord(
        "cluster-secret-file",
        STRING,
        "",
        "file holding the secret every member proves to the others on the peer port (see"
        " [Cluster secret](#cluster-secret)); without one the peer port listens on loopback"
        " only",
    ),
    _concord(
        "cluster-secret",
        STRING,
        "",
        "the secret itself (on the command line it is visible in `ps`: prefer the file)",
        sensitive=True,
    ),
    _concord(
        "cluster-max-frame",
        integer(4 * MB, LLONG_MAX, memory=True),
        "1gb",
        "largest frame a member may send on the peer link once authenticated (the same on"
        " every member); a write too large to fit one is refused",
    ),
    Param(
        "maxmemory",
        integer(0, ULONG_MAX, memory=True),
        "0",
        "writes that may grow memory are refused with `-OOM` while this node's used memory is"
        " over it; 0: none (see [Limits](#limits))",
        mutable=True,
    ),
    Param(
        "maxmemory-policy",
        MAXMEMORY_POLICY,
        "noeviction",
        "the only policy: Concord never evicts keys",
        mutable=True,
    ),
    Param(
        "maxmemory-clients",
        MEMORY_OR_PERCENT,
        "0",
        "all clients' buffers together, in bytes or `N%` of `maxmemory`: over it, the biggest"
        " client is closed; 0: none",
        mutable=True,
    ),
    # (client-output-buffer-limit is added by `config`, which owns its value type.)
    Param(
        "busy-reply-threshold",
        integer(0, LLONG_MAX),
        "5000",
        "milliseconds a script or function runs before other clients get `-BUSY`",
        mutable=True,
        alias="lua-time-limit",
    ),
    Param(
        "tracking-table-max-keys",
        integer(0, LLONG_MAX),
        "1000000",
        "keys CLIENT TRACKING remembers on this node (0: no limit)",
        mutable=True,
    ),
    Param(
        "slowlog-log-slower-than",
        integer(-1, LLONG_MAX),
        "10000",
        "SLOWLOG records commands slower than this many microseconds (-1: none, 0: all)",
        mutable=True,
    ),
    Param("slowlog-max-len", integer(0, LLONG_MAX), "128", "entries SLOWLOG keeps", mutable=True),
    Param(
        "latency-monitor-threshold",
        integer(0, LLONG_MAX),
        "0",
        "LATENCY records events of at least this many milliseconds (0: none)",
        mutable=True,
    ),
    Param(
        "latency-tracking",
        BOOL,
        "yes",
        "keep each command's latency histogram (INFO latencystats, LATENCY HISTOGRAM)",
        mutable=True,
    ),
    Param(
        "latency-tracking-info-percentiles",
        PERCENTILES,
        "50 99 99.9",
        "the percentiles INFO latencystats shows",
        mutable=True,
        multi=True,
    ),
    Param("save", SAVE, "", 'Concord writes no RDB snapshots: only `""`', mutable=True),
    Param("appendonly", fixed(BOOL, "yes"), "yes", "always yes: every write is in the Raft log"),
    Param("databases", fixed(integer(1, INT_MAX), "16"), "16", "always 16"),
    Param("daemonize", fixed(BOOL, "no"), "no", "always no: run it under a supervisor"),
    Param("cluster-enabled", fixed(BOOL, "no"), "no", "always no: Concord is not Redis Cluster"),
    # Security
    Param(
        "requirepass",
        STRING,
        "",
        "the default user's password at first start (then it is replicated: CONFIG SET"
        " changes it on every node); prefer `aclfile`",
        mutable=True,
        sensitive=True,
    ),
    Param(
        "aclfile",
        STRING,
        "",
        "users in Redis's ACL file format: loaded at first start, then by ACL LOAD; ACL SAVE"
        " writes it",
    ),
    Param("acllog-max-len", integer(0, LLONG_MAX), "128", "entries ACL LOG keeps", mutable=True),
    Param(
        "protected-mode",
        BOOL,
        "yes",
        "with no password and a non-loopback `bind`, serve only loopback clients",
        mutable=True,
    ),
    Param("masteruser", STRING, "", "with `join`: the ACL user to authenticate to the member as"),
    Param(
        "masterauth",
        STRING,
        "",
        "with `join`: the password to authenticate to the member with",
        sensitive=True,
    ),
    # TLS (server/tls.py)
    Param("tls-port", PORT, "0", "TLS client port (0: none)"),
    Param("tls-cert-file", STRING, "", "this node's certificate (PEM)"),
    Param("tls-key-file", STRING, "", "its private key (PEM)"),
    Param("tls-key-file-pass", STRING, "", "the key's passphrase, if any", sensitive=True),
    Param("tls-ca-cert-file", STRING, "", "CA certificates to trust (PEM)"),
    Param("tls-ca-cert-dir", STRING, "", "a directory of CA certificates"),
    Param(
        "tls-auth-clients",
        enum("yes", "no", "optional"),
        "yes",
        "require client certificates signed by the CA",
    ),
    Param("tls-protocols", STRING, "", 'e.g. `"TLSv1.2 TLSv1.3"` (the default)'),
    Param("tls-ciphers", STRING, "", "OpenSSL cipher list for TLS 1.2"),
    Param(
        "tls-ciphersuites",
        STRING,
        "",
        "TLS 1.3 suites (accepted; Python applies OpenSSL's defaults)",
    ),
    _concord("tls-cluster", BOOL, "no", "the peer links use mutual TLS, checked against the CA"),
    _concord("tls-replication", BOOL, "no", "`join` talks TLS to the member it joins through"),
]

# The replicated parameters: cluster state, set by CONFIG SET only (a log entry).
REPLICATED: list[Param] = [
    *(
        Param(
            parameter.name,
            integer(parameter.low, parameter.high, memory=parameter.memory),
            str(getattr(EncodingConfig(), parameter.field)),
            "replicated: decides OBJECT ENCODING on every replica"
            if parameter.name.startswith(("hash", "list", "set", "zset"))
            else "replicated: the same on every replica",
            mutable=True,
            alias=parameter.alias,
            replicated=True,
            field=parameter.field,
            redis=parameter.name not in ("script-instruction-limit", "script-memory-limit"),
        )
        for parameter in ENCODING_PARAMETERS
    ),
    Param(
        "notify-keyspace-events",
        NOTIFY,
        "",
        "replicated: which keyspace notifications every node publishes",
        mutable=True,
        replicated=True,
    ),
]


def _redis_kind(entry: dict[str, Any]) -> Kind:
    kind = entry["type"]
    if kind == "bool":
        return BOOL
    if kind == "enum":
        if entry["multi"]:
            return WORDS
        shown: dict[str, str] = {}  # value -> the first name (what CONFIG GET shows)
        for name, value in entry["values"]:
            shown.setdefault(value, name)
        names = [name for name, _ in entry["values"]]
        synonyms = {name: shown[value] for name, value in entry["values"]}
        return enum(*names, synonyms=synonyms)
    if kind == "int":
        if entry["percent"]:
            return MEMORY_OR_PERCENT
        return integer(entry["min"], entry["max"], memory=entry["memory"], octal=entry["octal"])
    return STRING if kind == "string" else WORDS


def _redis_parameters(known: set[str]) -> list[Param]:
    """Redis 7.0's parameters Concord does not have, from the captured data."""
    path = Path(__file__).with_name("redis_parameters.json")
    params = []
    for entry in json.loads(path.read_text()):
        if entry["name"] in known:
            continue
        params.append(
            Param(
                entry["name"],
                _redis_kind(entry),
                entry["default"],
                "Redis's; accepted, not honoured",
                mutable=not entry["immutable"],
                honoured=False,
                alias=entry["alias"],
                protected=entry["protected"],
                sensitive=entry["sensitive"],
                multi=entry["multi"],
            )
        )
    return params


def build_table(own: list[Param]) -> tuple[Param, ...]:
    known = {name for p in own for name in (p.name, p.alias) if name}
    return (*own, *_redis_parameters(known))


@dataclass(frozen=True, slots=True)
class Lookup:
    """Parameters by name and alias (lower case)."""

    table: tuple[Param, ...]
    by_name: dict[str, Param] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for param in self.table:
            for name in (param.name, param.alias):
                if name:
                    self.by_name[name] = param

    def get(self, name: str) -> Param | None:
        return self.by_name.get(name.lower())
