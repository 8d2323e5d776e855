"""ACL LOG: this node's record of refused commands and failed logins (Redis 7.0's rules).

Each node keeps its own log, as each Redis does: it records what was refused on this node.
An entry like a recent one (same reason, context, object and user, within 60 s) is folded into
it: its count goes up and it moves to the front. The caller passes the time (ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..resp import Map, Reply
from .acl import DENIED_AUTH, DENIED_CHANNEL, DENIED_CMD, DENIED_KEY

GROUPING_MS: Final = 60_000
SCAN: Final = 10  # how many recent entries are compared with a new one

REASONS: Final = {
    DENIED_CMD: b"command",
    DENIED_KEY: b"key",
    DENIED_CHANNEL: b"channel",
    DENIED_AUTH: b"auth",
}
TOPLEVEL: Final = b"toplevel"
MULTI: Final = b"multi"
LUA: Final = b"lua"


@dataclass(slots=True)
class LogEntry:
    reason: int
    context: bytes
    object: bytes
    username: bytes
    client_info: bytes
    time_ms: int
    count: int = 1


class AclLog:
    def __init__(self) -> None:
        self.entries: list[LogEntry] = []  # newest first

    def add(self, entry: LogEntry, max_len: int) -> None:
        for i, known in enumerate(self.entries[:SCAN]):
            if (
                known.reason == entry.reason
                and known.context == entry.context
                and abs(known.time_ms - entry.time_ms) <= GROUPING_MS
                and known.object == entry.object
                and known.username == entry.username
            ):
                known.count += 1
                known.client_info, known.time_ms = entry.client_info, entry.time_ms
                del self.entries[i]
                self.entries.insert(0, known)
                return
        self.entries.insert(0, entry)
        del self.entries[max_len:]

    def reset(self) -> None:
        self.entries = []

    def reply(self, count: int, now_ms: int) -> Reply:
        return [
            Map(
                [
                    (b"count", entry.count),
                    (b"reason", REASONS.get(entry.reason, b"unknown")),
                    (b"context", entry.context),
                    (b"object", entry.object),
                    (b"username", entry.username),
                    (b"age-seconds", (now_ms - entry.time_ms) / 1000),
                    (b"client-info", entry.client_info),
                ]
            )
            for entry in self.entries[: max(count, 0)]
        ]
