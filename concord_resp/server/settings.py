"""CONFIG GET / CONFIG SET over the parameters Concord has, with Redis 7's names, types and errors.

Each `Parameter` is typed like a Redis config (`bool`, `enum`, integer, memory, string) and
parses its value the way Redis's `config.c` does, with the same error texts. Names Concord does
not have answer like unknown names do in Redis (nothing for GET, an error for SET).

The encoding thresholds (`hash-max-listpack-entries` and the like, `store.encoding`) are
replicated state: CONFIG SET turns them into a log entry, so they are the same on every node.

Parameters that Concord's design fixes (it always logs writes, listens where it was started)
are declared `immutable` and refused with Redis's "can't set immutable config"; `dir` is
`protected`, as in a default Redis. Concord never evicts keys: `maxmemory-policy` takes
Redis's names, and refuses every one but `noeviction` with a reason of its own. CONFIG SET
is all or nothing: every name is checked first, then every value is parsed, and only when
all are valid is any of them applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ..commands import CommandError
from ..commands.glob import glob_match
from ..config import (
    DEFAULT_OUTPUT_LIMITS,
    LOG_LEVELS,
    MAXMEMORY_POLICIES,
    NOEVICTION_ONLY,
    format_memory_or_percent,
    format_output_buffer_limits,
    memtoull,
    parse_maxmemory_clients,
    parse_output_buffer_limits,
)
from ..limits import INT_MAX, LLONG_MAX, UINT_MAX, ULONG_MAX
from ..resp import string2ll
from ..state.entries import REQUIREPASS
from ..store import ENCODING_PARAMETERS, EncodingParameter
from ..store.events import format_classes, parse_classes

if TYPE_CHECKING:
    from .state import ServerState

log = logging.getLogger("concord.server")

MIN_HZ: Final = 1
MAX_HZ: Final = 500  # Redis clamps hz to [1, 500]


class InvalidValue(Exception):
    """A value a parameter refuses; the text is Redis's reason (after the ` - `)."""


Parser = Callable[[bytes], object]
Applier = Callable[["ServerState", object], None]


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    get: Callable[[ServerState], str]
    parse: Parser | None = None  # None: the parameter cannot be set
    apply: Applier | None = None
    protected: bool = False  # Redis's PROTECTED_CONFIG: refused unless enabled (never here)
    alias: str | None = None  # Redis's other name for it (`hash-max-ziplist-entries`)
    replicated: str | None = None  # the `EncodingConfig` field (or requirepass) it sets, logged


def _replicated(parameter: EncodingParameter) -> Parameter:
    """A parameter of the replicated encoding thresholds: read from the state machine, set
    by a log entry (the dispatcher proposes what `config_set` returns)."""
    name = parameter.field
    return Parameter(
        parameter.name,
        lambda s: str(getattr(s.machine.keyspace.config, name)),
        _int_parser(parameter.low, parameter.high, memory=parameter.memory),
        alias=parameter.alias,
        replicated=name,
    )


# -- value parsers (Redis's config.c) ------------------------------------------------------


def _enum_parser(*names: str) -> Parser:
    def parse(text: bytes) -> object:
        lowered = text.decode("latin-1").lower()
        if lowered not in names:
            raise InvalidValue(f"argument(s) must be one of the following: {', '.join(names)}")
        return lowered

    return parse


def _int_parser(low: int, high: int, *, memory: bool = False) -> Parser:
    def parse(text: bytes) -> object:
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

    return parse


def _maxmemory_policy_parser(text: bytes) -> object:
    policy = _enum_parser(*MAXMEMORY_POLICIES)(text)
    if policy != "noeviction":
        raise InvalidValue(NOEVICTION_ONLY)
    return policy


def _maxmemory_clients_parser(text: bytes) -> object:
    try:
        return parse_maxmemory_clients(text)
    except ValueError as error:
        raise InvalidValue(str(error)) from None


def _output_limits_parser(text: bytes) -> object:
    """A multi-argument value, split at each space as Redis splits it ("" changes nothing).
    What it leaves unnamed keeps its current value: the parser returns the groups, checked,
    and the applier lays them over the limits of the moment."""
    words = text.split(b" ") if text else []
    try:
        parse_output_buffer_limits(words, DEFAULT_OUTPUT_LIMITS)
    except ValueError as error:
        raise InvalidValue(str(error)) from None
    return words


def _apply_output_limits(state: ServerState, value: object) -> None:
    assert isinstance(value, list)
    settings = state.settings
    settings.client_output_buffer_limit = parse_output_buffer_limits(
        value, settings.client_output_buffer_limit
    )


def _apply_maxmemory(state: ServerState, value: object) -> None:
    assert isinstance(value, int)
    state.settings.maxmemory = value
    state.buffers.wanted.set()  # (the sampler wakes)
    used = state.sample_used_memory()
    if value and value < used:
        log.warning(
            "WARNING: the new maxmemory value set via CONFIG SET (%d) is smaller than the"
            " current memory usage (%d). This will result in key eviction and/or the inability"
            " to accept new write commands depending on the maxmemory-policy.",
            value,
            used,
        )


def _bool_parser(text: bytes) -> object:
    lowered = text.lower()
    if lowered not in (b"yes", b"no"):
        raise InvalidValue("argument must be 'yes' or 'no'")
    return lowered == b"yes"


def _notify_parser(text: bytes) -> object:
    flags = parse_classes(text)
    if flags is None:
        raise InvalidValue("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    return flags


def _password_parser(text: bytes) -> object:
    return bytes(text)


def _save_parser(text: bytes) -> object:
    """`save` takes `<seconds> <changes>` pairs; Concord writes no RDB files, so only ""."""
    parts = text.split()
    if len(parts) % 2 != 0 or any(string2ll(part) is None for part in parts):
        raise InvalidValue("Invalid save parameters")
    if parts:
        raise InvalidValue('Concord does not write RDB snapshots: only "" is accepted')
    return ""


def _percentiles_parser(text: bytes) -> object:
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


# -- appliers ------------------------------------------------------------------------------


def _apply_slowlog(attr: str) -> Applier:
    def apply(state: ServerState, value: object) -> None:
        setattr(state.slowlog, attr, value)
        state.slowlog.trim()
        state.note_thresholds()

    return apply


def _apply_latency_threshold(state: ServerState, value: object) -> None:
    assert isinstance(value, int)
    state.latency.threshold = value
    state.note_thresholds()


def _apply_latency_tracking(state: ServerState, value: object) -> None:
    state.metrics.track_latency(bool(value))


def _apply_percentiles(state: ServerState, value: object) -> None:
    assert isinstance(value, tuple)
    state.metrics.latency_percentiles = value


def _apply_tracking_max_keys(state: ServerState, value: object) -> None:
    assert isinstance(value, int)
    state.tracking.resize(value)


def _setting(attr: str) -> Applier:
    def apply(state: ServerState, value: object) -> None:
        setattr(state.settings, attr, value)

    return apply


def _apply_loglevel(state: ServerState, value: object) -> None:
    assert isinstance(value, str)
    state.settings.loglevel = value
    logging.getLogger("concord").setLevel(LOG_LEVELS[value])


def _apply_appendfsync(state: ServerState, value: object) -> None:
    state.node.wal.fsync = value == "always"


def _apply_hz(state: ServerState, value: object) -> None:
    assert isinstance(value, int)
    state.node.expiry.interval = 1 / min(max(value, MIN_HZ), MAX_HZ)


def current_hz(state: ServerState) -> int:
    return round(1 / state.node.expiry.interval)


def _fixed(value: str) -> Callable[[ServerState], str]:
    return lambda state: value


PARAMETERS: list[Parameter] = [
    Parameter("bind", lambda s: s.config.bind),
    Parameter("port", lambda s: str(s.tcp_port)),
    Parameter("dir", lambda s: str(s.config.dir.resolve()), protected=True),
    Parameter("databases", _fixed("16")),
    Parameter("daemonize", _fixed("no")),
    Parameter("logfile", lambda s: s.config.logfile),
    Parameter("cluster-enabled", _fixed("no")),
    Parameter("appendonly", _fixed("yes")),
    Parameter(
        "appendfsync",
        lambda s: "always" if s.node.wal.fsync else "no",
        _enum_parser("always", "no"),
        _apply_appendfsync,
    ),
    Parameter("save", _fixed(""), _save_parser, lambda state, value: None),
    Parameter(
        "maxclients",
        lambda s: str(s.settings.maxclients),
        _int_parser(1, UINT_MAX),
        _setting("maxclients"),
    ),
    Parameter(
        "maxmemory",
        lambda s: str(s.settings.maxmemory),
        _int_parser(0, ULONG_MAX, memory=True),
        _apply_maxmemory,
    ),
    Parameter(
        "maxmemory-policy",
        _fixed("noeviction"),
        _maxmemory_policy_parser,
        lambda state, value: None,
    ),
    Parameter(
        "maxmemory-clients",
        lambda s: format_memory_or_percent(s.settings.maxmemory_clients),
        _maxmemory_clients_parser,
        _setting("maxmemory_clients"),
    ),
    Parameter(
        "client-output-buffer-limit",
        lambda s: format_output_buffer_limits(s.settings.client_output_buffer_limit),
        _output_limits_parser,
        _apply_output_limits,
    ),
    Parameter("timeout", _fixed("0")),
    Parameter("tcp-keepalive", _fixed("0")),
    Parameter(
        "proto-max-bulk-len",
        lambda s: str(s.settings.proto_max_bulk_len),
        _int_parser(1024 * 1024, LLONG_MAX, memory=True),
        _setting("proto_max_bulk_len"),
    ),
    Parameter(
        "client-query-buffer-limit",
        lambda s: str(s.settings.client_query_buffer_limit),
        _int_parser(1024 * 1024, LLONG_MAX, memory=True),
        _setting("client_query_buffer_limit"),
    ),
    Parameter(
        "loglevel",
        lambda s: s.settings.loglevel,
        _enum_parser("debug", "verbose", "notice", "warning"),
        _apply_loglevel,
    ),
    Parameter("hz", lambda s: str(current_hz(s)), _int_parser(0, INT_MAX), _apply_hz),
    Parameter(
        "busy-reply-threshold",
        lambda s: str(s.settings.busy_reply_threshold_ms),
        _int_parser(0, LLONG_MAX),
        _setting("busy_reply_threshold_ms"),
        alias="lua-time-limit",
    ),
    *(_replicated(parameter) for parameter in ENCODING_PARAMETERS),
    # The default user's password is replicated state (the users are): a log entry.
    Parameter(
        "requirepass",
        lambda s: s.machine.users.requirepass.decode("utf-8", "surrogateescape"),
        _password_parser,
        replicated=REQUIREPASS,
    ),
    # Which keyspace notifications entries publish: replicated, so every node publishes the
    # same ones for the same writes.
    Parameter(
        "notify-keyspace-events",
        lambda s: format_classes(s.machine.keyspace.config.notify_keyspace_events).decode(),
        _notify_parser,
        replicated="notify_keyspace_events",
    ),
    Parameter("aclfile", lambda s: s.config.aclfile),
    Parameter(
        "acllog-max-len",
        lambda s: str(s.settings.acllog_max_len),
        _int_parser(0, LLONG_MAX),
        _setting("acllog_max_len"),
    ),
    Parameter("acl-pubsub-default", _fixed("resetchannels")),
    # CLIENT TRACKING's table is this node's memory: its bound is this node's.
    Parameter(
        "tracking-table-max-keys",
        lambda s: str(s.tracking.max_keys),
        _int_parser(0, LLONG_MAX),
        _apply_tracking_max_keys,
    ),
    # SLOWLOG and the latency monitor are this node's, as each Redis server's are.
    Parameter(
        "slowlog-log-slower-than",
        lambda s: str(s.slowlog.slower_than),
        _int_parser(-1, LLONG_MAX),
        _apply_slowlog("slower_than"),
    ),
    Parameter(
        "slowlog-max-len",
        lambda s: str(s.slowlog.max_len),
        _int_parser(0, LLONG_MAX),  # (LONG_MAX on 64 bits)
        _apply_slowlog("max_len"),
    ),
    Parameter(
        "latency-monitor-threshold",
        lambda s: str(s.latency.threshold),
        _int_parser(0, LLONG_MAX),
        _apply_latency_threshold,
    ),
    Parameter(
        "latency-tracking",
        lambda s: "yes" if s.metrics.latency_tracking else "no",
        _bool_parser,
        _apply_latency_tracking,
    ),
    Parameter(
        "latency-tracking-info-percentiles",
        lambda s: " ".join(format_percentile(p) for p in s.metrics.latency_percentiles),
        _percentiles_parser,
        _apply_percentiles,
    ),
    Parameter("tls-port", lambda s: str(s.tls_port)),
    Parameter("tls-cert-file", lambda s: s.config.tls_cert_file),
    Parameter("tls-key-file", lambda s: s.config.tls_key_file),
    Parameter("tls-ca-cert-file", lambda s: s.config.tls_ca_cert_file),
    Parameter("tls-ca-cert-dir", lambda s: s.config.tls_ca_cert_dir),
    Parameter("tls-auth-clients", lambda s: s.config.tls_auth_clients),
    Parameter("tls-protocols", lambda s: s.config.tls_protocols),
    Parameter("tls-ciphers", lambda s: s.config.tls_ciphers),
    Parameter("tls-ciphersuites", lambda s: s.config.tls_ciphersuites),
    Parameter("tls-cluster", lambda s: "yes" if s.config.tls_cluster else "no"),
    Parameter("tls-replication", lambda s: "yes" if s.config.tls_replication else "no"),
    Parameter(
        "protected-mode",
        lambda s: "yes" if s.settings.protected_mode else "no",
        _bool_parser,
        _setting("protected_mode"),
    ),
]
BY_NAME: Final = {name: p for p in PARAMETERS for name in (p.name, p.alias) if name is not None}


def _lookup(name: bytes) -> Parameter | None:
    return BY_NAME.get(name.decode("latin-1").lower())


def config_get(state: ServerState, patterns: list[bytes]) -> list[tuple[bytes, Parameter]]:
    """(name shown, parameter) for every parameter matching one of the patterns (Redis's
    rules); `Parameter.get` reads each value.

    A pattern with no glob character is looked up exactly and answered under the name as
    the client spelled it; a glob answers canonical names and aliases. A name is listed once.
    """
    found: dict[str, tuple[bytes, Parameter]] = {}
    for pattern in patterns:
        if not any(ch in pattern for ch in b"[*?"):
            parameter = _lookup(pattern)
            name = pattern.decode("latin-1").lower()
            if parameter is not None and name not in found:
                found[name] = (pattern, parameter)
            continue
        for name, parameter in BY_NAME.items():  # aliases are listed too, as in Redis
            if name not in found and glob_match(pattern, name.encode(), nocase=True):
                found[name] = (name.encode(), parameter)
    return list(found.values())


def config_set(state: ServerState, pairs: list[tuple[bytes, bytes]]) -> ConfigChange:
    """Check every pair; the change to make if all are valid (all or nothing). The first
    problem in argument order is the one reported; of a parameter set under both its names,
    the later value wins, as in Redis."""
    chosen: list[Parameter] = []
    names: list[bytes] = []  # as typed, lowercased: an alias and its name may both be set
    for raw_name, _ in pairs:
        parameter = _lookup(raw_name)
        if parameter is None:
            raise CommandError(
                b"ERR Unknown option or number of arguments for CONFIG SET - '%s'" % raw_name
            )
        if parameter.protected:
            raise _failed(raw_name, "can't set protected config")
        if parameter.parse is None:
            raise _failed(raw_name, "can't set immutable config")
        if raw_name.lower() in names:
            raise _failed(raw_name, "duplicate parameter")
        names.append(raw_name.lower())
        chosen.append(parameter)
    change = ConfigChange()
    for parameter, (_, raw_value) in zip(chosen, pairs, strict=True):
        assert parameter.parse is not None
        try:
            value = parameter.parse(raw_value)
        except InvalidValue as error:
            # Redis names the parameter here by its canonical name, not as typed.
            raise _failed(parameter.name.encode(), str(error)) from None
        if parameter.replicated is not None:
            assert isinstance(value, int | bytes)
            change.replicated.append((parameter.replicated, value))
        else:
            change.local.append((parameter, value))
    return change


@dataclass(slots=True)
class ConfigChange:
    """A checked CONFIG SET: parameters of this node to set (`apply_local`), and replicated
    ones for a log entry (`replicated`: `EncodingConfig` field, value)."""

    local: list[tuple[Parameter, object]] = field(default_factory=list)
    replicated: list[tuple[str, int | bytes]] = field(default_factory=list)

    def apply_local(self, state: ServerState) -> None:
        for parameter, value in self.local:
            assert parameter.apply is not None
            parameter.apply(state, value)


def _failed(name: bytes, reason: str) -> CommandError:
    return CommandError(
        b"ERR CONFIG SET failed (possibly related to argument '%s') - %s" % (name, reason.encode())
    )
