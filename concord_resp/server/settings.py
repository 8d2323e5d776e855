"""CONFIG GET / CONFIG SET over the parameters Concord has, with Redis's names and errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..commands import CommandError
from ..commands.glob import glob_match
from ..config import ConfigError, parse_memory
from ..resp import string2ll

if TYPE_CHECKING:
    from .state import ServerState

LOG_LEVELS = {
    "debug": logging.DEBUG,
    "verbose": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
}


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    get: Callable[[ServerState], str]
    set: Callable[[ServerState, bytes], str | None] | None = None  # returns an error text


def _set_int(attr: str, low: int, high: int) -> Callable[[ServerState, bytes], str | None]:
    def setter(state: ServerState, value: bytes) -> str | None:
        number = string2ll(value)
        if number is None:
            return "argument couldn't be parsed into an integer"
        if not low <= number <= high:
            return f"argument must be between {low} and {high} inclusive"
        setattr(state.settings, attr, number)
        return None

    return setter


def _set_memory(attr: str, low: int) -> Callable[[ServerState, bytes], str | None]:
    def setter(state: ServerState, value: bytes) -> str | None:
        try:
            number = parse_memory(value.decode("latin-1"))
        except ConfigError:
            return "argument must be a memory value"
        if number < low:
            return f"argument must be between {low} and {2**63 - 1} inclusive"
        setattr(state.settings, attr, number)
        return None

    return setter


def _set_loglevel(state: ServerState, value: bytes) -> str | None:
    level = value.decode("latin-1").lower()
    if level not in LOG_LEVELS:
        return "argument(s) must be one of the following: debug, verbose, notice, warning, nothing"
    state.settings.loglevel = level
    logging.getLogger("concord").setLevel(LOG_LEVELS[level])
    return None


def _set_appendfsync(state: ServerState, value: bytes) -> str | None:
    mode = value.decode("latin-1").lower()
    if mode not in ("always", "no"):
        return "argument(s) must be one of the following: always, no"
    state.node.wal.fsync = mode == "always"
    return None


def _set_hz(state: ServerState, value: bytes) -> str | None:
    number = string2ll(value)
    if number is None:
        return "argument couldn't be parsed into an integer"
    if not 1 <= number <= 500:
        return "argument must be between 1 and 500 inclusive"
    state.node.expire_interval = 1 / number
    return None


PARAMETERS: list[Parameter] = [
    Parameter("bind", lambda s: s.config.bind),
    Parameter("port", lambda s: str(s.config.port)),
    Parameter("dir", lambda s: str(s.config.dir.resolve())),
    Parameter("databases", lambda s: "16"),
    Parameter("appendonly", lambda s: "yes"),
    Parameter("appendfsync", lambda s: "always" if s.node.wal.fsync else "no", _set_appendfsync),
    Parameter("save", lambda s: ""),
    Parameter(
        "maxclients", lambda s: str(s.settings.maxclients), _set_int("maxclients", 1, 2**31 - 1)
    ),
    Parameter(
        "proto-max-bulk-len",
        lambda s: str(s.settings.proto_max_bulk_len),
        _set_memory("proto_max_bulk_len", 1024 * 1024),
    ),
    Parameter(
        "client-query-buffer-limit",
        lambda s: str(s.settings.client_query_buffer_limit),
        _set_memory("client_query_buffer_limit", 1024 * 1024),
    ),
    Parameter("loglevel", lambda s: s.settings.loglevel, _set_loglevel),
    Parameter("hz", lambda s: str(round(1 / s.node.expire_interval)), _set_hz),
]
BY_NAME = {p.name: p for p in PARAMETERS}


def config_get(state: ServerState, patterns: list[bytes]) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for pattern in patterns:
        for parameter in PARAMETERS:
            name = parameter.name.encode()
            if name not in out and glob_match(pattern, name, nocase=True):
                out[name] = parameter.get(state).encode()
    return out


def config_set(state: ServerState, pairs: list[tuple[bytes, bytes]]) -> None:
    """Set every pair or none (Redis validates all names first)."""
    seen: set[str] = set()
    for raw_name, _ in pairs:
        name = raw_name.decode("latin-1").lower()
        parameter = BY_NAME.get(name)
        if parameter is None:
            raise CommandError(
                b"ERR Unknown option or number of arguments for CONFIG SET - '%s'" % raw_name
            )
        if name in seen:
            raise _failed(raw_name, "duplicate parameter")
        seen.add(name)
        if parameter.set is None:
            raise _failed(raw_name, "can't set immutable config")
    for raw_name, value in pairs:
        parameter = BY_NAME[raw_name.decode("latin-1").lower()]
        assert parameter.set is not None
        error = parameter.set(state, value)
        if error is not None:
            raise _failed(raw_name, error)


def _failed(name: bytes, reason: str) -> CommandError:
    return CommandError(
        b"ERR CONFIG SET failed (possibly related to argument '%s') - %s" % (name, reason.encode())
    )
