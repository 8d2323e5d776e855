"""The messages an entry publishes: PUBLISH's, and keyspace notifications.

Applying an entry never talks to a subscriber. What it publishes is collected here, in order,
and handed on with the entry's other effects (`state.Applied.messages`); every node delivers
them to its own subscribers from its own apply of the same entries, so the subscribers of
every node see the same messages in the same order. A read collects the key-miss events of
the node serving it the same way.

Keyspace notifications follow Redis's `notify-keyspace-events` classes (the flag values are
Redis's, from server.h). Which classes are on is replicated state (`EncodingConfig`, set by a
`Configure` entry), so every replica publishes the same notifications. `notify` costs one
attribute test when the class is off.
"""

from __future__ import annotations

from typing import Final

from ..resp import Receivers

NOTIFY_KEYSPACE: Final = 1 << 0  # K
NOTIFY_KEYEVENT: Final = 1 << 1  # E
NOTIFY_GENERIC: Final = 1 << 2  # g
NOTIFY_STRING: Final = 1 << 3  # $
NOTIFY_LIST: Final = 1 << 4  # l
NOTIFY_SET: Final = 1 << 5  # s
NOTIFY_HASH: Final = 1 << 6  # h
NOTIFY_ZSET: Final = 1 << 7  # z
NOTIFY_EXPIRED: Final = 1 << 8  # x
NOTIFY_EVICTED: Final = 1 << 9  # e
NOTIFY_STREAM: Final = 1 << 10  # t
NOTIFY_KEY_MISS: Final = 1 << 11  # m (not part of A)
NOTIFY_MODULE: Final = 1 << 13  # d
NOTIFY_NEW: Final = 1 << 14  # n (not part of A)
NOTIFY_ALL: Final = (
    NOTIFY_GENERIC
    | NOTIFY_STRING
    | NOTIFY_LIST
    | NOTIFY_SET
    | NOTIFY_HASH
    | NOTIFY_ZSET
    | NOTIFY_EXPIRED
    | NOTIFY_EVICTED
    | NOTIFY_STREAM
    | NOTIFY_MODULE
)

_CLASS_LETTERS: Final = {
    ord("A"): NOTIFY_ALL,
    ord("g"): NOTIFY_GENERIC,
    ord("$"): NOTIFY_STRING,
    ord("l"): NOTIFY_LIST,
    ord("s"): NOTIFY_SET,
    ord("h"): NOTIFY_HASH,
    ord("z"): NOTIFY_ZSET,
    ord("x"): NOTIFY_EXPIRED,
    ord("e"): NOTIFY_EVICTED,
    ord("K"): NOTIFY_KEYSPACE,
    ord("E"): NOTIFY_KEYEVENT,
    ord("t"): NOTIFY_STREAM,
    ord("m"): NOTIFY_KEY_MISS,
    ord("d"): NOTIFY_MODULE,
    ord("n"): NOTIFY_NEW,
}

# In the order Redis writes them back (CONFIG GET), after "A" or the type classes.
_TYPE_LETTERS: Final = (
    (NOTIFY_GENERIC, b"g"),
    (NOTIFY_STRING, b"$"),
    (NOTIFY_LIST, b"l"),
    (NOTIFY_SET, b"s"),
    (NOTIFY_HASH, b"h"),
    (NOTIFY_ZSET, b"z"),
    (NOTIFY_EXPIRED, b"x"),
    (NOTIFY_EVICTED, b"e"),
    (NOTIFY_STREAM, b"t"),
    (NOTIFY_MODULE, b"d"),
    (NOTIFY_NEW, b"n"),
)
_DESTINATION_LETTERS: Final = (
    (NOTIFY_KEYSPACE, b"K"),
    (NOTIFY_KEYEVENT, b"E"),
    (NOTIFY_KEY_MISS, b"m"),
)


def parse_classes(text: bytes) -> int | None:
    """The flags a `notify-keyspace-events` value names, or None for an unknown letter."""
    flags = 0
    for letter in text:
        flag = _CLASS_LETTERS.get(letter)
        if flag is None:
            return None
        flags |= flag
    return flags


def format_classes(flags: int) -> bytes:
    """The flags as Redis writes them back (CONFIG GET notify-keyspace-events)."""
    if flags & NOTIFY_ALL == NOTIFY_ALL:
        letters = [b"A"]
    else:
        letters = [letter for flag, letter in _TYPE_LETTERS if flags & flag]
    letters.extend(letter for flag, letter in _DESTINATION_LETTERS if flags & flag)
    return b"".join(letters)


# (channel, message, shard channel?, PUBLISH's receivers or None for a notification)
Message = tuple[bytes, bytes, bool, Receivers | None]


class Events:
    """The messages published since the last `take`, in order. Shared by a keyspace and its
    databases; `flags` follows the keyspace's replicated `notify-keyspace-events`."""

    __slots__ = ("flags", "messages")

    def __init__(self) -> None:
        self.flags = 0
        self.messages: list[Message] = []

    def notify(self, kind: int, event: bytes, key: bytes, db: int) -> None:
        """A keyspace notification of class `kind` (Redis's notifyKeyspaceEvent)."""
        flags = self.flags
        if not flags & kind:
            return
        if flags & NOTIFY_KEYSPACE:
            self.messages.append((b"__keyspace@%d__:%s" % (db, key), event, False, None))
        if flags & NOTIFY_KEYEVENT:
            self.messages.append((b"__keyevent@%d__:%s" % (db, event), key, False, None))

    def publish(self, channel: bytes, message: bytes, *, shard: bool = False) -> Receivers:
        """PUBLISH (or SPUBLISH): the message, and its receivers, counted when delivered."""
        receivers = Receivers()
        self.messages.append((channel, message, shard, receivers))
        return receivers

    def take(self) -> list[Message] | tuple[()]:
        """The messages published since the last call, in order (empty tuple if none)."""
        messages = self.messages
        if not messages:
            return ()
        self.messages = []
        return messages
