"""Server configuration: one frozen object built from command-line flags (the uvicorn shape).

`cli` is the only place that reads argv and the environment; everything below receives a
`Config`. Settings that CONFIG SET may change at run time live in `RuntimeSettings`, seeded
from the Config.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DEFAULT_PORT: Final = 6379
MB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Config:
    bind: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    dir: Path = Path("data")
    name: str = "n1"
    fsync: str = "always"  # always | never
    maxclients: int = 10000
    proto_max_bulk_len: int = 512 * MB
    client_query_buffer_limit: int = 1024 * MB
    loglevel: str = "notice"
    logfile: str = ""
    hz: int = 10
    segment_bytes: int = 64 * MB
    shutdown_timeout: float = 10.0

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

    @classmethod
    def from_config(cls, config: Config) -> RuntimeSettings:
        return cls(
            maxclients=config.maxclients,
            proto_max_bulk_len=config.proto_max_bulk_len,
            client_query_buffer_limit=config.client_query_buffer_limit,
            loglevel=config.loglevel,
        )


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
        "--hz", type=int, default=10, help="active expiry cycles per second (default 10)"
    )
    parser.add_argument(
        "--segment-size", default="64mb", help="log segment size before rolling (default 64mb)"
    )
    return parser


def config_from_args(argv: list[str] | None = None) -> Config:
    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, not {args.port}")
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
    segment = parse_memory(args.segment_size)
    if segment < 64 * 1024:
        raise ConfigError("--segment-size must be at least 64kb")
    return Config(
        bind=args.bind,
        port=args.port,
        dir=Path(args.dir),
        name=args.name,
        fsync=args.fsync,
        maxclients=args.maxclients,
        proto_max_bulk_len=bulk,
        client_query_buffer_limit=query_buffer,
        loglevel=args.loglevel,
        logfile=args.logfile,
        hz=args.hz,
        segment_bytes=segment,
    )
