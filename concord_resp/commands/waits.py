"""What a blocking command returns when it finds nothing: `Block`, and what it waits for.

Shared by the blocking pops (`blocking`) and the stream reads (`streams`, `stream_groups`),
which `blocking.serve` calls back to serve their waiters: kept apart so neither side imports
the other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

WAITS_FOR_LIST: Final = "list"  # what a waiter waits for: a list,
WAITS_FOR_ZSET: Final = "zset"  # or a sorted set,
WAITS_FOR_STREAM: Final = "stream"  # or new entries of a stream (XREAD, XREADGROUP)


@dataclass(slots=True)
class Block:
    """A blocking command found nothing: block on `keys` for `timeout_ms` (0: forever)."""

    keys: list[bytes]
    timeout_ms: int
    waits_for: str = WAITS_FOR_LIST
    argv: list[bytes] | None = None  # the command the waiter runs again, if not the same
