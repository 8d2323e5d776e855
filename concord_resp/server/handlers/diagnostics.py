"""SLOWLOG, LATENCY, and MEMORY STATS / DOCTOR / MALLOC-STATS / PURGE: this node's diagnostics.

Each node keeps its own, as each Redis server does: the slow log and the latency events
(`metrics.slowlog`, `metrics.latency`, fed by the dispatcher through `ServerState.note_slow`),
the per-command latency histograms (`metrics.histogram`) and its memory (`server.memory`).
Replies have Redis 7.0's shapes and errors.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from ...commands import CommandError, CommandSpec, Route
from ...commands.errors import subcommand_syntax
from ...resp import OK, MapPairs, Reply, Verbatim, string2ll
from ..client import ClientState
from ..memory import memory_figures, memory_report
from .base import HelpText, handler, help_reply

if TYPE_CHECKING:
    from ..dispatch import Dispatcher


SLOWLOG_HELP: Final[HelpText] = [
    (
        "get",
        [
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
        ],
    ),
    ("len", ["LEN", "    Return the length of the slowlog."]),
    ("reset", ["RESET", "    Reset the slowlog."]),
]

LATENCY_HELP: Final[HelpText] = [
    ("doctor", ["DOCTOR", "    Return a human readable latency analysis report."]),
    ("graph", ["GRAPH <event>", "    Return an ASCII latency graph for the <event> class."]),
    ("history", ["HISTORY <event>", "    Return time-latency samples for the <event> class."]),
    ("latest", ["LATEST", "    Return the latest latency samples for all events."]),
    (
        "reset",
        [
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
        ],
    ),
    (
        "histogram",
        [
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram "
            "for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    ),
]


# -- SLOWLOG ---------------------------------------------------------------------------------


@handler("slowlog|get", route=Route.LOCAL)
def slowlog_get(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    if len(argv) > 3:
        raise subcommand_syntax(argv[1], "slowlog")
    entries = d.state.slowlog.entries
    count = 10
    if len(argv) == 3:
        parsed = string2ll(argv[2])
        if parsed is None or parsed < -1:
            raise CommandError("ERR count should be greater than or equal to -1")
        count = len(entries) if parsed == -1 else parsed
    return [
        [e.id, e.time, e.usec, list(e.argv), e.addr, e.name]
        for _, e in zip(range(count), entries, strict=False)
    ]


@handler("slowlog|len", route=Route.LOCAL)
def slowlog_len(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return len(d.state.slowlog.entries)


@handler("slowlog|reset", route=Route.LOCAL)
def slowlog_reset(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    d.state.slowlog.reset()
    return OK


@handler("slowlog|help", route=Route.LOCAL)
def slowlog_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return help_reply(d, "slowlog", SLOWLOG_HELP)


# -- LATENCY ---------------------------------------------------------------------------------


@handler("latency|latest", route=Route.LOCAL)
def latency_latest(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return [
        [name.encode(), series.samples[-1][0], series.samples[-1][1], series.max]
        for name, series in d.state.latency.events.items()
    ]


@handler("latency|history", route=Route.LOCAL)
def latency_history(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    series = d.state.latency.events.get(argv[2].decode("latin-1"))
    return [] if series is None else [[at, ms] for at, ms in series.samples]


@handler("latency|reset", route=Route.LOCAL)
def latency_reset(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    names = [arg.decode("latin-1") for arg in argv[2:]] or None
    return d.state.latency.reset(names)


@handler("latency|graph", route=Route.LOCAL)
def latency_graph(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    event = argv[2].decode("latin-1")
    latency = d.state.latency
    if event not in latency.events:
        raise CommandError(f"ERR No samples available for event '{event}'")
    return Verbatim(latency.graph(event, int(time.time())).encode())


@handler("latency|doctor", route=Route.LOCAL)
def latency_doctor(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return Verbatim(d.state.latency.report().encode())


def _histogram_of(spec: CommandSpec, d: Dispatcher) -> tuple[bytes, Reply] | None:
    stats = d.metrics.commands.get(spec.name)
    if stats is None or not stats.latency:
        return None
    cdf = MapPairs(stats.latency.cumulative_powers_of_two())
    calls = stats.latency.total()
    return spec.name.encode(), MapPairs([(b"calls", calls), (b"histogram_usec", cdf)])


@handler("latency|histogram", route=Route.LOCAL)
def latency_histogram(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    """Every command's latency histogram (those asked for: with their subcommands'), for
    the commands that ran since the last CONFIG RESETSTAT."""
    specs: Iterable[CommandSpec]
    if len(argv) == 2:
        specs = d.table.all_specs()
    else:
        chosen: list[CommandSpec] = []
        for name in argv[2:]:
            spec = d.table.by_name(name)
            if spec is not None:
                chosen.append(spec)
                chosen.extend(spec.subcommands.values())
        specs = chosen
    return MapPairs(found for spec in specs if (found := _histogram_of(spec, d)) is not None)


@handler("latency|help", route=Route.LOCAL)
def latency_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return help_reply(d, "latency", LATENCY_HELP)


# -- MEMORY ----------------------------------------------------------------------------------


@handler("memory|stats", route=Route.LOCAL)
def memory_stats(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return MapPairs(memory_figures(d.state))


@handler("memory|doctor", route=Route.LOCAL)
def memory_doctor(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return Verbatim(memory_report(d.state).encode())


@handler("memory|malloc-stats", route=Route.LOCAL)
def memory_malloc_stats(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return b"Stats not supported for the current allocator"  # (Redis without jemalloc)


@handler("memory|purge", route=Route.LOCAL)
def memory_purge(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return OK
