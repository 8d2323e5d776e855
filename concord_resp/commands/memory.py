"""MEMORY USAGE and MEMORY HELP: what a key costs, as an estimate (MEMORY STATS and DOCTOR
are this node's: `server.handlers.diagnostics`).

Python objects are not laid out as Redis's are, so the figure is Redis's model of the key,
not Concord's real footprint: the value's `ValueType.estimated_size` (what Redis's
`objectComputeSize` would count for that encoding, without allocator rounding), plus the key
name's sds string and its hash table entry, as Redis's MEMORY USAGE adds them. SAMPLES is
parsed as Redis parses it; each type estimates in its own way (a big hash or set averages a
few of its entries, as Redis's default of 5 samples does).
"""

from __future__ import annotations

from typing import Final

from ..resp import Reply
from ..store.types import value_type
from .context import Context
from .errors import SYNTAX, CommandError
from .help import help_reply
from .lookup import lookup_notouch
from .parse import option_name, parse_int
from .registry import Route
from .spec import command

DICT_ENTRY: Final = 24  # sizeof(dictEntry) on 64 bits
SDS_HEADER: Final = 3  # an sdshdr8 (a key name under 256 bytes), with its NUL byte below

_MEMORY_HELP: Final = (
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
)


@command("memory|usage")
def memory_usage(ctx: Context, argv: list[bytes]) -> Reply:
    i = 3
    while i < len(argv):
        if option_name(argv[i]) == b"samples" and i + 1 < len(argv):
            if parse_int(argv[i + 1]) < 0:
                raise CommandError(SYNTAX)
            i += 2
        else:
            raise CommandError(SYNTAX)
    key = argv[2]
    value = lookup_notouch(ctx, key, keymiss=False)  # Redis finds it in the dict: no event
    if value is None:
        return None
    return value_type(value).estimated_size(value) + SDS_HEADER + len(key) + 1 + DICT_ENTRY


@command("memory|help", route=Route.LOCAL)
def memory_help(ctx: Context, argv: list[bytes]) -> Reply:
    return help_reply("memory", _MEMORY_HELP)
