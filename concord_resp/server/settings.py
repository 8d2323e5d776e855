"""CONFIG GET / CONFIG SET over the configuration table (`config.TABLE`), with Redis 7's names,
types and errors.

Every parameter of the table is here: its value is parsed by its `Kind` (Redis's config.c
rules and error texts). A parameter Concord honours at run time has a binding below (where
its value lives, what setting it does); an immutable one is read from the `Config`; the
ones Concord does not honour (and honoured ones not bound yet) are remembered as text in
`RuntimeSettings.others`, shown by CONFIG GET and written by CONFIG REWRITE; setting one
that is not honoured logs a notice.

The encoding thresholds, notify-keyspace-events and requirepass are replicated state:
CONFIG SET turns them into a log entry, so they are the same on every node. Parameters that
Concord's design fixes are immutable and refused with Redis's "can't set immutable config";
`dir` is `protected`, as in a default Redis. CONFIG SET is all or nothing: every name is
checked first, then every value is parsed, and only when all are valid is any applied.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from .. import config_file
from ..commands import CommandError
from ..commands.glob import glob_match
from ..config import (
    CONFIG_FIELDS,
    LOG_LEVELS,
    TABLE,
    format_memory_or_percent,
    format_output_buffer_limits,
    parse_output_buffer_limits,
)
from ..config import (
    PARAMETERS as CONFIG_LOOKUP,
)
from ..parameters import InvalidValue, Param, format_percentile
from ..state.entries import REQUIREPASS
from ..store.events import format_classes

if TYPE_CHECKING:
    from .state import ServerState

log = logging.getLogger("concord.server")

MIN_HZ: Final = 1
MAX_HZ: Final = 500  # Redis clamps hz to [1, 500]
# Not shown by CONFIG GET nor written by CONFIG REWRITE: the peers' shared secret.
HIDDEN: Final = frozenset({"cluster-secret"})

Getter = Callable[["ServerState"], str]
Applier = Callable[["ServerState", object], None]


@dataclass(frozen=True, slots=True)
class Parameter:
    """A table entry as CONFIG sees it: how to read its value, how to set it."""

    param: Param
    get: Getter
    apply: Applier | None = None  # None: CONFIG SET refuses it (immutable)
    replicated: str | None = None  # the `EncodingConfig` field (or requirepass) it sets, logged

    @property
    def name(self) -> str:
        return self.param.name

    @property
    def alias(self) -> str | None:
        return self.param.alias

    @property
    def protected(self) -> bool:
        return self.param.protected

    def parse(self, text: bytes) -> object:
        return self.param.kind.parse(text)


# -- appliers ------------------------------------------------------------------------------


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


def _ignore(state: ServerState, value: object) -> None:
    """A value accepted that changes nothing (`save ""`, `maxmemory-policy noeviction`)."""


def _format_memory_or_percent(value: object) -> str:
    assert isinstance(value, int)
    return format_memory_or_percent(value)


def _fixed(value: str) -> Getter:
    return lambda state: value


def _runtime(attr: str, formatter: Callable[[object], str] = str) -> Getter:
    return lambda state: formatter(getattr(state.settings, attr))


# Where the values Concord honours at run time live (name: how to read, how to set).
BINDINGS: Final[dict[str, tuple[Getter, Applier | None]]] = {
    "port": (lambda s: str(s.tcp_port), None),
    "tls-port": (lambda s: str(s.tls_port), None),
    "dir": (lambda s: str(s.config.dir.resolve()), None),
    "appendfsync": (lambda s: "always" if s.node.wal.fsync else "no", _apply_appendfsync),
    "save": (_fixed(""), _ignore),
    "maxclients": (_runtime("maxclients"), _setting("maxclients")),
    "maxmemory": (_runtime("maxmemory"), _apply_maxmemory),
    "maxmemory-policy": (_fixed("noeviction"), _ignore),
    "maxmemory-clients": (
        _runtime("maxmemory_clients", _format_memory_or_percent),
        _setting("maxmemory_clients"),
    ),
    "client-output-buffer-limit": (
        lambda s: format_output_buffer_limits(s.settings.client_output_buffer_limit),
        _apply_output_limits,
    ),
    "proto-max-bulk-len": (_runtime("proto_max_bulk_len"), _setting("proto_max_bulk_len")),
    "client-query-buffer-limit": (
        _runtime("client_query_buffer_limit"),
        _setting("client_query_buffer_limit"),
    ),
    "loglevel": (_runtime("loglevel"), _apply_loglevel),
    "hz": (lambda s: str(current_hz(s)), _apply_hz),
    "busy-reply-threshold": (
        _runtime("busy_reply_threshold_ms"),
        _setting("busy_reply_threshold_ms"),
    ),
    "acllog-max-len": (_runtime("acllog_max_len"), _setting("acllog_max_len")),
    # CLIENT TRACKING's table is this node's memory: its bound is this node's.
    "tracking-table-max-keys": (lambda s: str(s.tracking.max_keys), _apply_tracking_max_keys),
    # SLOWLOG, the latency monitor and the latency histograms are this node's.
    "slowlog-log-slower-than": (
        lambda s: str(s.slowlog.slower_than),
        _apply_slowlog("slower_than"),
    ),
    "slowlog-max-len": (lambda s: str(s.slowlog.max_len), _apply_slowlog("max_len")),
    "latency-monitor-threshold": (lambda s: str(s.latency.threshold), _apply_latency_threshold),
    "latency-tracking": (
        lambda s: "yes" if s.metrics.latency_tracking else "no",
        _apply_latency_tracking,
    ),
    "latency-tracking-info-percentiles": (
        lambda s: " ".join(format_percentile(p) for p in s.metrics.latency_percentiles),
        _apply_percentiles,
    ),
    "protected-mode": (
        _runtime("protected_mode", lambda value: "yes" if value else "no"),
        _setting("protected_mode"),
    ),
    # The default user's password is replicated state (the users are): a log entry.
    "requirepass": (
        lambda s: s.machine.users.requirepass.decode("utf-8", "surrogateescape"),
        _ignore,
    ),
    # Which keyspace notifications entries publish: replicated, so every node publishes the
    # same ones for the same writes.
    "notify-keyspace-events": (
        lambda s: format_classes(s.machine.keyspace.config.notify_keyspace_events).decode(),
        _ignore,
    ),
}


def _from_config(param: Param) -> Getter:
    attribute = param.attribute
    return lambda state: param.kind.format(getattr(state.config, attribute))


def _remembered(param: Param, start: Getter) -> Getter:
    """The value set at run time, else the one the node started with."""
    name = param.name

    def get(state: ServerState) -> str:
        value = state.settings.others.get(name)
        return start(state) if value is None else value

    return get


def _remember(param: Param) -> Applier:
    name, formatter = param.name, param.kind.format

    def apply(state: ServerState, value: object) -> None:
        state.settings.others[name] = formatter(value)
        if not param.honoured:
            log.info("CONFIG SET %s: accepted and remembered, but Concord does not honour it", name)

    return apply


def _replicated_getter(param: Param) -> Getter:
    attribute = param.attribute
    return lambda state: str(getattr(state.machine.keyspace.config, attribute))


def _parameter(param: Param) -> Parameter:
    replicated = REQUIREPASS if param.name == "requirepass" else None
    if param.replicated:
        replicated = param.attribute
    if param.name in BINDINGS:
        get, apply = BINDINGS[param.name]
    elif param.replicated:
        get, apply = _replicated_getter(param), _ignore
    elif param.honoured and param.attribute in CONFIG_FIELDS:
        # Set at start-up; one that CONFIG SET may change (and has no binding yet) is
        # remembered like the parameters Concord does not honour.
        get, apply = _from_config(param), _remember(param)
        if param.mutable:
            get = _remembered(param, get)
    else:
        default = param.default
        get, apply = _remembered(param, lambda state: default), _remember(param)
    return Parameter(param, get, apply if param.mutable else None, replicated)


PARAMETERS: Final = [_parameter(param) for param in TABLE if param.name not in HIDDEN]
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
        if parameter.apply is None:
            raise _failed(raw_name, "can't set immutable config")
        if raw_name.lower() in names:
            raise _failed(raw_name, "duplicate parameter")
        names.append(raw_name.lower())
        chosen.append(parameter)
    change = ConfigChange()
    for parameter, (raw_name, raw_value) in zip(chosen, pairs, strict=True):
        try:
            value = parameter.parse(raw_value)
        except InvalidValue as error:
            # Redis names the parameter here as it knows it (lower case; an alias is its own
            # entry), not as typed.
            raise _failed(raw_name.lower(), str(error)) from None
        if parameter.replicated is not None:
            if isinstance(value, str):  # requirepass
                value = value.encode("utf-8", "surrogateescape")
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


def _default_text(param: Param) -> str:
    return param.kind.format(param.value)


def rewrite_config_file(state: ServerState, path: str) -> None:
    """CONFIG REWRITE: the file at `path` with every parameter's current value (Redis's way:
    comments and order kept, changed lines updated in place, new non-default ones appended),
    written atomically (a temporary file fsynced, renamed over it, the directory fsynced).
    The replicated parameters are the cluster's, not a node's file's: they are not written."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as file:
            text = file.read()
    except FileNotFoundError:
        text = ""
    options = []
    for parameter in PARAMETERS:
        if parameter.replicated is not None:
            continue
        param = parameter.param
        value = parameter.get(state)
        words = value.split(" ") if param.multi and value else [value]
        line = config_file.format_line(param.name, words)
        options.append((param.name, line, value == _default_text(param)))
    text = config_file.rewrite(text, options, _canonical)
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.rewrite.{os.getpid()}")
    try:
        with open(temporary, "w", encoding="utf-8", errors="surrogateescape") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _canonical(name: str) -> str | None:
    param = CONFIG_LOOKUP.get(name)
    return param.name if param is not None else None
