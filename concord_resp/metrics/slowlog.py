"""SLOWLOG: the commands that took longer than `slowlog-log-slower-than`, newest first.

Pure: the caller passes the time and the client's address and name. An entry is Redis's
(id, unix time, duration in microseconds, arguments, client address, client name), its
arguments trimmed as Redis trims them so a huge command cannot fill the node's memory: at
most 32 arguments (the last one then says how many more there were), each at most 128 bytes
(then followed by how many more bytes it had). Ids grow from 0 and are never reused, RESET
included. The log is this node's, like Redis's is each server's.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

MAX_ARGC: Final = 32  # Redis's SLOWLOG_ENTRY_MAX_ARGC
MAX_STRING: Final = 128  # Redis's SLOWLOG_ENTRY_MAX_STRING
DEFAULT_SLOWER_THAN: Final = 10_000  # microseconds
DEFAULT_MAX_LEN: Final = 128


@dataclass(frozen=True, slots=True)
class SlowEntry:
    id: int
    time: int  # unix seconds
    usec: int
    argv: list[bytes]
    addr: bytes
    name: bytes


def trimmed(argv: list[bytes]) -> list[bytes]:
    """The arguments as a slow log entry keeps them."""
    kept = argv if len(argv) <= MAX_ARGC else argv[: MAX_ARGC - 1]
    out = [
        arg
        if len(arg) <= MAX_STRING
        else b"%s... (%d more bytes)" % (arg[:MAX_STRING], len(arg) - MAX_STRING)
        for arg in kept
    ]
    if len(argv) > MAX_ARGC:
        out.append(b"... (%d more arguments)" % (len(argv) - MAX_ARGC + 1))
    return out


class SlowLog:
    """This node's slow log; `slower_than` < 0 turns it off, 0 logs every command."""

    def __init__(self) -> None:
        self.slower_than = DEFAULT_SLOWER_THAN
        self.max_len = DEFAULT_MAX_LEN
        self.entries: deque[SlowEntry] = deque()  # newest first
        self._next_id = 0

    def wants(self, usec: int) -> bool:
        return 0 <= self.slower_than <= usec

    def add(self, argv: list[bytes], usec: int, now: int, addr: bytes, name: bytes) -> None:
        """Log one command (the caller checked `wants`)."""
        self.entries.appendleft(SlowEntry(self._next_id, now, usec, trimmed(argv), addr, name))
        self._next_id += 1
        self.trim()

    def trim(self) -> None:
        """Drop the oldest entries over `max_len` (also when CONFIG SET lowers it)."""
        while len(self.entries) > self.max_len:
            self.entries.pop()

    def reset(self) -> None:
        self.entries.clear()
