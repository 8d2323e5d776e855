"""This node's memory in Redis's terms: MEMORY STATS's figures, MEMORY DOCTOR's report, and
the derived INFO memory fields.

A Python process has no allocator to ask: its resident set stands in for every "allocated"
figure, the per-key overheads are Redis's model of them (as MEMORY USAGE's are: a dict entry,
a bucket and an object header per key), and fragmentation ratios are 1 (unknown, not
invented). `startup.allocated` is the resident set when the server started, so dataset
figures are what the process grew by since.
"""

from __future__ import annotations

import resource
from typing import TYPE_CHECKING, Final

from ..commands.memory import DICT_ENTRY
from ..resp import MapPairs, Reply
from .state import rss_bytes

if TYPE_CHECKING:
    from .state import ServerState

ROBJ: Final = 16  # sizeof(robj): Redis's model of a key's value header
BUCKET: Final = 8  # a hash table slot (a pointer)
EMPTY_BELOW: Final = 5 * 1024 * 1024  # MEMORY DOCTOR has nothing to say under this


def peak_rss(current: int) -> int:
    return max(current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def client_buffers(state: ServerState) -> int:
    """The bytes of this node's clients' unsent replies and unparsed queries."""
    return sum(c.omem + c.query_buffer for c in state.clients)


def memory_figures(state: ServerState) -> list[tuple[bytes, Reply]]:
    """MEMORY STATS's fields, in Redis 7.0's order (see the module docstring)."""
    total = rss_bytes()
    peak = peak_rss(total)
    startup = min(state.started_rss, total)
    clients = client_buffers(state)
    scripting = state.machine.scripting
    scripts = scripting.scripts.body_bytes
    functions = sum(len(library.code) for library in scripting.functions.libraries.values())
    out: list[tuple[bytes, Reply]] = [
        (b"peak.allocated", peak),
        (b"total.allocated", total),
        (b"startup.allocated", startup),
        (b"replication.backlog", 0),
        (b"clients.slaves", 0),
        (b"clients.normal", clients),
        (b"cluster.links", 0),
        (b"aof.buffer", 0),
        (b"lua.caches", scripts),
        (b"functions.caches", functions),
    ]
    overhead = startup + clients + scripts + functions
    keys = 0
    for number, db in enumerate(state.machine.keyspace.dbs):
        if not db.data:
            continue
        keys += len(db.data)
        main = len(db.data) * (DICT_ENTRY + BUCKET + ROBJ)
        expires = len(db.expires) * (DICT_ENTRY + BUCKET)
        overhead += main + expires
        out.append(
            (
                b"db.%d" % number,
                MapPairs(
                    [
                        (b"overhead.hashtable.main", main),
                        (b"overhead.hashtable.expires", expires),
                        (b"overhead.hashtable.slot-to-keys", 0),
                    ]
                ),
            )
        )
    overhead = min(overhead, total)
    net = total - startup
    dataset = total - overhead
    out += [
        (b"overhead.total", overhead),
        (b"keys.count", keys),
        (b"keys.bytes-per-key", net // keys if keys else 0),
        (b"dataset.bytes", dataset),
        (b"dataset.percentage", dataset * 100 / net if net > 0 else 0.0),
        (b"peak.percentage", total * 100 / peak if peak else 0.0),
        (b"allocator.allocated", total),
        (b"allocator.active", total),
        (b"allocator.resident", total),
        (b"allocator-fragmentation.ratio", 1.0),
        (b"allocator-fragmentation.bytes", 0),
        (b"allocator-rss.ratio", 1.0),
        (b"allocator-rss.bytes", 0),
        (b"rss-overhead.ratio", 1.0),
        (b"rss-overhead.bytes", 0),
        (b"fragmentation", 1.0),
        (b"fragmentation.bytes", 0),
    ]
    return out


def memory_report(state: ServerState) -> str:
    """MEMORY DOCTOR: the problems Redis looks for that a Concord node can have, in
    Concord's own words."""
    figures = dict(memory_figures(state))
    total = figures[b"total.allocated"]
    peak = figures[b"peak.allocated"]
    assert isinstance(total, int)
    assert isinstance(peak, int)
    if total < EMPTY_BELOW:
        return "This node holds almost no data: there is nothing to diagnose yet.\n"
    problems: list[str] = []
    if peak > total * 3 // 2:
        problems.append(
            f"- Peak memory: the node once used {peak} bytes, over 150% of the {total} it "
            "uses now. Memory the process freed may not go back to the system: size the "
            "machine for the peak."
        )
    clients = len(state.clients)
    buffers = figures[b"clients.normal"]
    assert isinstance(buffers, int)
    if clients and buffers // clients > 200 * 1024:
        problems.append(
            f"- Client buffers: {clients} clients hold {buffers} bytes of replies and "
            "queries, over 200 KB each on average. Slow readers (or MONITOR, or big "
            "pipelines) cause this; client-output-buffer-limit bounds it."
        )
    if not problems:
        return "No memory problem found on this node.\n"
    return "Memory problems found on this node:\n\n" + "\n".join(problems) + "\n"
