"""Entry points: `concord-server` (the server) and `concord` (the operator tool).

The only module that reads argv and the environment and configures logging.
"""

from __future__ import annotations

import argparse
import gc
import locale
import logging
import os
import ssl
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

import trio

from . import operator
from .config import LOG_LEVELS, ConfigError, config_from_args
from .operator import ToolError, call
from .raft.driver import WalCorruptError
from .server.resp_client import Connection, Credentials
from .server.tls import TlsConfigError, TlsSettings, client_context

LOG_FORMAT = "%(process)d:M %(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s"


def pin_c_locale() -> None:
    """Lua's string functions (`string.lower`, `%a` and the other pattern classes) ask the C
    library, which answers by LC_CTYPE: in an 8-bit locale, bytes above 127 are letters. A
    script must give the same result on every replica whatever its environment, so scripts
    see the "C" locale, as in Redis (which never sets LC_CTYPE). Python's own text handling
    does not depend on it (its encodings are chosen at start-up)."""
    locale.setlocale(locale.LC_CTYPE, "C")


def server_main(argv: list[str] | None = None) -> None:
    try:
        config = config_from_args(argv, os.environ)
    except ConfigError as error:
        print(f"concord-server: error: {error}", file=sys.stderr)
        sys.exit(2)
    handler: logging.Handler = (
        logging.FileHandler(config.logfile) if config.logfile else logging.StreamHandler()
    )
    logging.basicConfig(
        level=LOG_LEVELS[config.loglevel],
        format=LOG_FORMAT,
        datefmt="%d %b %Y %H:%M:%S",
        handlers=[handler],
    )
    for name, value in config.others:
        logging.getLogger("concord").info(
            "%s %s: accepted, but Concord does not honour this parameter", name, value
        )
    from .server.app import Server, StartupError

    # The log writer thread needs the GIL for a moment after each fsync; the default 5 ms
    # switch interval can leave it waiting behind the busy event loop (measured: about 15%
    # fewer fsync-bound writes per second). A shorter interval hands the GIL over sooner.
    sys.setswitchinterval(0.001)
    # Every write leaves long-lived objects (its log entry stays in memory until snapshots
    # compact the log), and with the default thresholds a full collection ran about twice a
    # second under load, scanning them all for cycles that are not there: 30-130 ms pauses
    # (measured), a third off pipelined write throughput, p99 up to 5x. Collect far less often.
    gc.set_threshold(50_000, 20, 100)
    pin_c_locale()

    try:
        server = Server(config)
        trio.run(server.serve)
    except (StartupError, WalCorruptError, BaseExceptionGroup) as error:
        # Errors from inside the server's nurseries (the log replay) arrive wrapped in groups.
        failure = _startup_failure(error)
        if failure is None:
            raise
        logging.getLogger("concord").error("cannot start: %s", failure)
        sys.exit(1)
    except KeyboardInterrupt:  # pragma: no cover - a signal arriving before trio handles them
        sys.exit(130)


def _startup_failure(error: BaseException) -> BaseException | None:
    """The StartupError or WalCorruptError that `error` is or wraps alone, if any."""
    from .server.app import StartupError

    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error if isinstance(error, (StartupError, WalCorruptError)) else None


# -- the operator tool ---------------------------------------------------------------------


def _local_cluster(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .local_cluster import LocalClusterError, run_local_cluster

    extra = list(args.server_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    cluster_base = args.cluster_base_port or args.base_port + 10000
    try:
        return run_local_cluster(args.nodes, args.base_port, cluster_base, Path(args.dir), extra)
    except LocalClusterError as error:
        print(f"concord: {error}", file=sys.stderr)
        return 2


OPERATIONS: dict[str, Callable[[operator.Call, argparse.Namespace], int]] = {
    "status": lambda c, a: (
        operator.watch(c, a.host, a.port, interval=a.watch, as_json=a.json)
        if a.watch is not None
        else operator.status(c, a.host, a.port, as_json=a.json)
    ),
    "members": lambda c, a: operator.members(c, a.host, a.port, as_json=a.json),
    "transfer-leader": lambda c, a: operator.transfer_leader(
        c, a.host, a.port, a.name, as_json=a.json
    ),
    "snapshot": lambda c, a: operator.snapshot(c, a.host, a.port, as_json=a.json),
    "join": lambda c, a: operator.join(c, a.host, a.port, a.name, a.address, as_json=a.json),
    "remove": lambda c, a: operator.remove(
        c, a.host, a.port, a.name, force=a.force, as_json=a.json
    ),
}


DATA_COMMANDS = frozenset({"backup", "restore", "import-rdb"})


def _data_command(
    args: argparse.Namespace, auth: Credentials | None, tls: ssl.SSLContext | None
) -> int:
    """backup, restore and import-rdb: one kept-open connection to the node."""
    try:
        return _run_data_command(args, Connection(args.host, args.port, auth=auth, tls=tls))
    except OSError as error:  # the backup directory or a file in it
        name = f" {error.filename}" if error.filename else ""
        raise ToolError(f"{error.strerror or error}{name}") from None


def _run_data_command(args: argparse.Namespace, connection: Connection) -> int:
    from pathlib import Path

    from .tool import backup, rdb_import

    with connection:
        if args.command == "backup":
            manifest = backup.backup(connection, Path(args.dir))
            print(
                f"backup of {connection.address} at index {manifest['index']}:"
                f" {manifest['keys']} keys, {manifest['size']} bytes in"
                f" {Path(args.dir) / manifest['file']} (sha256 {manifest['sha256']})"
            )
        elif args.command == "restore":
            keys = backup.restore(Path(args.dir), connection, force=args.force)
            print(f"restored {keys} keys from {args.dir} into {connection.address}")
        else:
            keys = rdb_import.import_rdb(Path(args.file), connection)
            print(f"imported {keys} keys from {args.file} into {connection.address}")
    return 0


def _tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.tls:
        return None
    settings = TlsSettings(cert_file=args.cert, key_file=args.key, ca_cert_file=args.cacert)
    return client_context(settings, verify=not args.insecure)


def _credentials(args: argparse.Namespace) -> Credentials | None:
    """--user/--pass, or the password in REDISCLI_AUTH (as redis-cli reads it)."""
    password = args.password if args.password is not None else os.environ.get("REDISCLI_AUTH")
    if password is None:
        return None
    return (args.user, password)


def _connection_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """-h/-p/--user/--pass/--tls and the certificate options. They are declared on the tool
    and again on every subcommand, so they work before or after it (`concord status -p
    6380`); the subcommands' copies leave an option alone unless it is given there."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "-h", "--host", default=default("127.0.0.1"), help="server address (default 127.0.0.1)"
    )
    parser.add_argument(
        "-p", "--port", type=int, default=default(6379), help="server port (default 6379)"
    )
    parser.add_argument(
        "--user", default=default(None), help="ACL user to AUTH as (default: default)"
    )
    parser.add_argument(
        "--pass",
        dest="password",
        default=default(None),
        help="password to AUTH with (or set REDISCLI_AUTH, which other users cannot see in ps)",
    )
    parser.add_argument(
        "--tls", action="store_true", default=default(False), help="connect over TLS"
    )
    parser.add_argument(
        "--cacert", default=default(""), help="CA certificate to verify the server with"
    )
    parser.add_argument(
        "--cert", default=default(""), help="client certificate (if the server asks)"
    )
    parser.add_argument("--key", default=default(""), help="the client certificate's private key")
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=default(False),
        help="do not verify the server's certificate",
    )


def tool_main(argv: list[str] | None = None) -> None:
    # -h is the host, as in redis-cli; --help prints the help.
    parser = argparse.ArgumentParser(
        prog="concord", description="Operate a Concord server.", add_help=False
    )
    parser.add_argument("--help", action="help", help="show this help and exit")
    _connection_options(parser, defaults=True)
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--help", action="help", help="show this help and exit")
    _connection_options(connection, defaults=False)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **options: Any) -> argparse.ArgumentParser:
        parents = [connection, *options.pop("parents", [])]
        return sub.add_parser(name, add_help=False, parents=parents, **options)

    command("ping", help="check that the server answers")
    info = command("info", help="print INFO (optionally one section)")
    info.add_argument("section", nargs="?", default=None)
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    status = command(
        "status",
        parents=[json_flag],
        help="every member's role, term, indexes, lag and health, and a verdict line",
    )
    status.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=2.0,
        default=None,
        metavar="SECONDS",
        help="show it again every SECONDS (default 2) until Ctrl-C",
    )
    command("members", parents=[json_flag], help="the members as the leader sees them")
    join = command(
        "join",
        parents=[json_flag],
        help="add node NAME at HOST:PORT@CLUSTER-PORT as a learner (promoted once caught up)",
    )
    join.add_argument("name")
    join.add_argument("address", help="host:port@cluster-port")
    remove = command(
        "remove",
        parents=[json_flag],
        help="remove node NAME (refused if too few reachable voters would be left)",
    )
    remove.add_argument("name")
    remove.add_argument("--force", action="store_true", help="remove it even so")
    transfer = command(
        "transfer-leader",
        parents=[json_flag],
        help="hand leadership to NAME (default: the most up-to-date voter)",
    )
    transfer.add_argument("name", nargs="?", default=None)
    command("snapshot", parents=[json_flag], help="write a snapshot on this node now (SAVE)")
    backup = command(
        "backup",
        help="copy a consistent snapshot of the node into DIR (one with no backup in it yet)",
    )
    backup.add_argument("dir")
    restore = command(
        "restore",
        help="load the backup in DIR into the cluster (normally a new, empty one)",
    )
    restore.add_argument("dir")
    restore.add_argument(
        "--force", action="store_true", help="load it even if the cluster has keys already"
    )
    rdb = command(
        "import-rdb", help="load a Redis RDB file (dump.rdb) into the cluster through its log"
    )
    rdb.add_argument("file")
    local = sub.add_parser(
        "local-cluster",
        help="run N nodes on this machine in the foreground (Ctrl-C stops them)",
        description="Run a cluster of N concord-server processes on 127.0.0.1 in the "
        "foreground; arguments after -- go to every concord-server.",
    )
    local.add_argument("--nodes", type=int, default=3, help="how many nodes (default 3)")
    local.add_argument(
        "--base-port", type=int, default=6379, help="client port of n1; n2 gets the next..."
    )
    local.add_argument(
        "--cluster-base-port",
        type=int,
        default=None,
        help="peer port of n1 (default: --base-port + 10000)",
    )
    local.add_argument(
        "--dir", default="concord-cluster", help="data and logs, one folder per node"
    )
    local.add_argument("server_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.command == "local-cluster":
        sys.exit(_local_cluster(args))
    try:
        tls = _tls_context(args)
    except TlsConfigError as error:
        print(f"concord: {error}", file=sys.stderr)
        sys.exit(2)
    bound = partial(call, auth=_credentials(args), tls=tls)
    try:
        if args.command in OPERATIONS:
            sys.exit(OPERATIONS[args.command](bound, args))
        if args.command in DATA_COMMANDS:
            sys.exit(_data_command(args, _credentials(args), tls))
        if args.command == "ping":
            print(bound(args.host, args.port, "PING"))
        elif args.command == "info":
            extra = [args.section] if args.section else []
            reply = bound(args.host, args.port, "INFO", *extra)
            print(str(reply).replace("\r\n", "\n"), end="")
    except ToolError as error:
        print(f"concord: {error}", file=sys.stderr)
        sys.exit(1)
