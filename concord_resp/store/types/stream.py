"""The stream type: a stored stream is a `StreamValue` (Redis 7.0's t_stream.c data model).

Entries are ordered by ID, a pair (ms, seq) of unsigned 64-bit integers, in a SortedDict of
ID -> flat [field, value, ...]. Redis keeps them in "macro nodes", listpacks in a radix tree
keyed by each node's master ID; what a user can see of them (MAXLEN/MINID `~` trim whole
nodes only, XINFO's radix-tree-keys/nodes, the RDB encoding) is modelled by `StreamNode`: its
master ID and master fields, its live and deleted entry counts, the last ID it ever held and
the listpack's size in bytes, computed with listpack.c's entry sizes, so a node is closed at
the same entry as Redis closes it (`stream-node-max-bytes`/`-entries`, replicated in
`EncodingConfig`). A deleted entry leaves `entries` but stays in its node, flagged, as in
Redis (DUMP writes it), until the node dies with its last live entry. Consumer groups, their
PELs and consumers are kept in SortedDicts (Redis's rax order: groups and consumers by name,
PEL entries by ID); a NACK is shared between the group's PEL and its consumer's. Unlike other
collections, an empty stream is kept.
Pure: no clock (times are passed in), no randomness, no I/O.
"""

from __future__ import annotations

import itertools
from bisect import insort
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, Final

from sortedcontainers import SortedDict

from ...resp import string2ll
from ..fingerprint import mix_digest
from .base import ValueType, register
from .string import OBJECT_HEADER

StreamID = tuple[int, int]
"""(ms, seq), both 0 .. 2**64-1; tuples order as Redis's streamCompareID."""

U64_MAX: Final = (1 << 64) - 1
MIN_ID: Final[StreamID] = (0, 0)
MAX_ID: Final[StreamID] = (U64_MAX, U64_MAX)
LISTPACK_MAX_SIZE: Final = 1 << 30  # STREAM_LISTPACK_MAX_SIZE
FLAG_DELETED: Final = 1
FLAG_SAMEFIELDS: Final = 2
INVALID_ENTRIES_READ: Final = -1  # SCG_INVALID_ENTRIES_READ (ULLONG_MAX in Redis)
# For MEMORY USAGE: the sizes of Redis's structures on 64 bits.
STREAM_STRUCT: Final = 80  # sizeof(stream)
GROUP_STRUCT: Final = 40  # sizeof(streamCG)
NACK_STRUCT: Final = 24  # sizeof(streamNACK)
CONSUMER_STRUCT: Final = 24  # sizeof(streamConsumer)
LISTPACK_PREALLOC: Final = 4096  # STREAM_LISTPACK_MAX_PRE_ALLOCATE
SIZE_SAMPLES: Final = 5  # MEMORY USAGE's default SAMPLES


def format_id(stream_id: StreamID) -> bytes:
    return b"%d-%d" % stream_id


def int_entry_size(number: int) -> int:
    """Bytes of a listpack integer entry (lpEncodeIntegerGetType + back-length); numbers
    past int64 are stored as Redis's uint64 -> int64 cast, 9 bytes."""
    if 0 <= number <= 127:
        return 2
    if -4096 <= number <= 4095:
        return 3
    if -(1 << 15) <= number < 1 << 15:
        return 4
    if -(1 << 23) <= number < 1 << 23:
        return 5
    if -(1 << 31) <= number < 1 << 31:
        return 6
    return 10


def item_entry_size(item: bytes) -> int:
    """Bytes of a listpack entry of a string (lpAppend: an integer text is an integer)."""
    size = len(item)
    if 0 < size <= 20 and item[0] in _NUMBER_START:
        number = string2ll(item)
        if number is not None:
            return int_entry_size(number)
    if size < 64:
        return size + 2  # (the common case: a 1-byte header and a 1-byte back-length)
    data = size + (2 if size < 4096 else 5)
    return data + (1 if data < 128 else 2 if data < 1 << 14 else 3 if data < 1 << 21 else 4)


_NUMBER_START: Final = frozenset(b"-0123456789")


class StreamNode:
    """One macro node as Redis lays it out: the master entry and the entries after it."""

    __slots__ = ("dead", "deleted", "fields", "last", "live", "master", "rest")

    def __init__(self, master: StreamID, fields: tuple[bytes, ...]) -> None:
        self.master = master
        self.fields = fields  # the master entry's fields (the first entry's)
        self.live = 0
        self.deleted = 0  # entries flagged deleted, still in the listpack
        # Those entries, by ID: gone for every command, kept for the RDB encoding (DUMP
        # writes the node as Redis holds it) until the node dies with its last live entry.
        self.dead: list[tuple[StreamID, list[bytes]]] = []
        self.last = master  # the last ID the node holds (deleted or not)
        # Bytes of the listpack other than its header, the two counters and the end byte.
        self.rest = (
            int_entry_size(len(fields)) + sum(item_entry_size(f) for f in fields) + 2
        )  # (the master entry's terminating 0: 2 bytes)

    def bury(self, stream_id: StreamID, pairs: list[bytes]) -> None:
        """One of its live entries is deleted (XDEL, trimming inside the node)."""
        self.live -= 1
        self.deleted += 1
        insort(self.dead, (stream_id, pairs))

    def size(self) -> int:
        """lpBytes of the node's listpack."""
        return 7 + int_entry_size(self.live) + int_entry_size(self.deleted) + self.rest

    def entry_size(self, stream_id: StreamID, pairs: list[bytes]) -> int:
        """Bytes of an entry appended to this node (streamAppendItem's layout)."""
        fields = pairs[::2]
        numfields = len(fields)
        same = numfields == len(self.fields) and tuple(fields) == self.fields
        size = 2 + _u64_size((stream_id[0] - self.master[0]) & U64_MAX)
        size += _u64_size((stream_id[1] - self.master[1]) & U64_MAX)
        size += sum(map(item_entry_size, pairs[1::2]))
        if same:
            return size + int_entry_size(numfields + 3)
        size += int_entry_size(numfields) + sum(map(item_entry_size, fields))
        return size + int_entry_size(2 * numfields + 4)


def _u64_size(number: int) -> int:
    return int_entry_size(number - (1 << 64) if number >= 1 << 63 else number)


class Nack:
    """A pending entry: who has it, when it was last delivered, how many times."""

    __slots__ = ("consumer", "delivery_count", "delivery_time")

    def __init__(self, consumer: Consumer, delivery_time: int, delivery_count: int = 1) -> None:
        self.consumer = consumer
        self.delivery_time = delivery_time
        self.delivery_count = delivery_count


class Consumer:
    __slots__ = ("name", "pel", "seen_time")

    def __init__(self, name: bytes, seen_time: int) -> None:
        self.name = name
        self.seen_time = seen_time
        self.pel: SortedDict = SortedDict()  # StreamID -> Nack (shared with the group's)


class Group:
    __slots__ = ("consumers", "entries_read", "last_id", "name", "pel")

    def __init__(self, name: bytes, last_id: StreamID, entries_read: int) -> None:
        self.name = name
        self.last_id = last_id
        self.entries_read = entries_read
        self.pel: SortedDict = SortedDict()  # StreamID -> Nack
        self.consumers: SortedDict = SortedDict()  # name -> Consumer

    def consumer(self, name: bytes) -> Consumer | None:
        found: Consumer | None = self.consumers.get(name)
        return found

    def create_consumer(self, name: bytes, now: int) -> Consumer:
        consumer = Consumer(name, now)
        self.consumers[name] = consumer
        return consumer

    def delete_consumer(self, consumer: Consumer) -> int:
        """Remove a consumer and its pending entries (from the group's PEL too): how many."""
        pending = len(consumer.pel)
        for stream_id in consumer.pel:
            del self.pel[stream_id]
        del self.consumers[consumer.name]
        return pending


class StreamValue:
    """A stream: entries by ID, their macro nodes, the ID bookkeeping and the groups."""

    __slots__ = (
        "entries",
        "entries_added",
        "first_id",
        "groups",
        "last_id",
        "max_deleted_id",
        "nodes",
    )

    def __init__(self) -> None:
        self.entries: SortedDict = SortedDict()  # StreamID -> [field, value, ...]
        self.nodes: SortedDict = SortedDict()  # master StreamID -> StreamNode
        self.last_id: StreamID = MIN_ID
        self.first_id: StreamID = MIN_ID
        self.max_deleted_id: StreamID = MIN_ID
        self.entries_added = 0
        self.groups: SortedDict = SortedDict()  # name -> Group

    def __len__(self) -> int:
        return len(self.entries)

    # -- entries ----------------------------------------------------------------------------

    def next_id(self, now_ms: int) -> StreamID | None:
        """streamNextID: the time if it is past the last ID's, else the last ID plus one
        (None when that overflows)."""
        last_ms, last_seq = self.last_id
        if now_ms > last_ms:
            return (now_ms, 0)
        if last_seq == U64_MAX:
            if last_ms == U64_MAX:
                return None
            return (last_ms + 1, 0)
        return (last_ms, last_seq + 1)

    def append(
        self, stream_id: StreamID, pairs: list[bytes], max_bytes: int, max_entries: int
    ) -> None:
        """streamAppendItem once the ID is known to be past the last one: into the tail node,
        or a new node when the tail is full."""
        nodes = self.nodes
        node: StreamNode | None = nodes.peekitem(-1)[1] if nodes else None
        if node is not None:
            limit = max_bytes if 0 < max_bytes <= LISTPACK_MAX_SIZE else LISTPACK_MAX_SIZE
            if (max_entries and node.live + node.deleted >= max_entries) or node.size() + sum(
                map(len, pairs)
            ) >= limit:
                node = None
        if node is None:
            node = StreamNode(stream_id, tuple(pairs[::2]))
            nodes[stream_id] = node
        node.rest += node.entry_size(stream_id, pairs)
        node.live += 1
        node.last = stream_id
        self.entries[stream_id] = pairs
        self.entries_added += 1
        self.last_id = stream_id
        if len(self.entries) == 1:
            self.first_id = stream_id

    def node_of(self, stream_id: StreamID) -> StreamNode:
        nodes = self.nodes
        node: StreamNode = nodes.peekitem(nodes.bisect_right(stream_id) - 1)[1]
        return node

    def _forget(self, stream_id: StreamID) -> None:
        """Mark one live entry deleted in its node (a node left with no live entry dies)."""
        node = self.node_of(stream_id)
        node.bury(stream_id, self.entries.pop(stream_id))
        if not node.live:
            del self.nodes[node.master]

    def delete(self, stream_id: StreamID) -> bool:
        """XDEL of one ID: True if it was there."""
        if stream_id not in self.entries:
            return False
        self._forget(stream_id)
        if self.max_deleted_id < stream_id:
            self.max_deleted_id = stream_id
        return True

    def first_entry_id(self) -> StreamID:
        return self.entries.peekitem(0)[0] if self.entries else MIN_ID

    def trim(self, maxlen: int | None, minid: StreamID | None, approx: bool, limit: int) -> int:
        """streamTrim by MAXLEN (`maxlen`) or MINID (`minid`): whole nodes from the head,
        then (unless `approx`) entries inside the first node that cannot go whole; at most
        `limit` entries when it is not 0. Returns how many were removed."""
        removed = 0
        entries, nodes = self.entries, self.nodes
        while nodes:  # (always the head node: it goes whole, or trimming ends in it)
            if maxlen is not None and len(entries) <= maxlen:
                break
            master, node = nodes.peekitem(0)
            live = node.live
            if limit and removed + live > limit:
                break
            if maxlen is not None:
                remove_node = len(entries) - live >= maxlen
            else:
                assert minid is not None
                remove_node = node.last < minid
            if remove_node:
                for stream_id in list(entries.irange(master, node.last)):
                    del entries[stream_id]
                del nodes[master]
                removed += live
                continue
            if approx:
                break
            for stream_id in list(entries.irange(master, node.last)):
                if maxlen is not None and len(entries) <= maxlen:
                    break
                if minid is not None and stream_id >= minid:
                    break
                node.bury(stream_id, entries.pop(stream_id))
                removed += 1
            break
        if not entries:
            self.first_id = MIN_ID
        elif removed:
            self.first_id = entries.peekitem(0)[0]
        return removed

    def range(
        self, start: StreamID, end: StreamID, reverse: bool = False
    ) -> Iterator[tuple[StreamID, list[bytes]]]:
        if start > end:
            return iter(())
        entries = self.entries
        return ((key, entries[key]) for key in entries.irange(start, end, reverse=reverse))

    # -- consumer groups: the lag and entries-read bookkeeping of Redis 7.0 ---------------

    def has_tombstones(self, start: StreamID | None) -> bool:
        """streamRangeHasTombstones(start, +)."""
        if not self.entries or self.max_deleted_id == MIN_ID:
            return False
        if self.first_id > self.max_deleted_id:
            return False
        return (start or MIN_ID) <= self.max_deleted_id

    def estimate_distance(self, stream_id: StreamID) -> int:
        """streamEstimateDistanceFromFirstEverEntry (INVALID_ENTRIES_READ: unknown)."""
        if not self.entries_added:
            return 0
        if not self.entries and stream_id <= self.last_id:
            return self.entries_added
        if stream_id == self.last_id:
            return self.entries_added
        if stream_id > self.last_id:
            return INVALID_ENTRIES_READ
        if self.max_deleted_id == MIN_ID or self.max_deleted_id < self.first_id:
            if stream_id < self.first_id:
                return self.entries_added - len(self.entries)
            if stream_id == self.first_id:
                return self.entries_added - len(self.entries) + 1
        return INVALID_ENTRIES_READ

    def lag(self, group: Group) -> int | None:
        """streamReplyWithCGLag: None when it cannot be known."""
        if not self.entries_added:
            return 0
        if group.entries_read != INVALID_ENTRIES_READ and not self.has_tombstones(group.last_id):
            return self.entries_added - group.entries_read
        entries_read = self.estimate_distance(group.last_id)
        if entries_read != INVALID_ENTRIES_READ:
            return self.entries_added - entries_read
        return None

    def deliver(self, group: Group, stream_id: StreamID) -> None:
        """A group read past its last delivered ID: move it (streamReplyWithRange)."""
        if stream_id > group.last_id:
            if group.entries_read != INVALID_ENTRIES_READ and not self.has_tombstones(stream_id):
                group.entries_read += 1
            elif self.entries_added:
                group.entries_read = self.estimate_distance(stream_id)
            group.last_id = stream_id

    def radix_tree_nodes(self) -> int:
        """XINFO's radix-tree-nodes: rax's node count for the macro nodes' keys."""
        return rax_nodes(list(self.nodes))


def rax_nodes(ids: list[StreamID]) -> int:
    """How many nodes rax uses for these IDs (sorted) as 16-byte big-endian keys, as a
    compressed trie holds them: the root, one node per key, one per branching prefix, and
    one compressed node per edge from a branching node to a prefix that is neither a key
    nor a branch. (Checked against Redis's XINFO for random sets of keys.)"""
    keys = [ms.to_bytes(8, "big") + seq.to_bytes(8, "big") for ms, seq in ids]
    if not keys:
        return 1
    branches: dict[bytes, set[int]] = {}  # (only counted: its order reaches nothing)
    for left, right in itertools.pairwise(keys):
        common = 0
        while left[common] == right[common]:
            common += 1
        prefix = left[:common]
        branches.setdefault(prefix, set()).update((left[common], right[common]))
    count = 1 + len(keys) + len([p for p in branches if p])
    for prefix, children in branches.items():
        for child in children:
            if len(prefix) + 1 < 16 and prefix + bytes((child,)) not in branches:
                count += 1
    return count


def rax_memory(ids: list[StreamID]) -> int:
    """Redis's streamRadixTreeMemoryUsage (which, as written, leaves out sizeof(rax))."""
    return len(ids) * 16 + rax_nodes(ids) * (4 + 8 * 30)


def allocated(size: int) -> int:
    """jemalloc's size class for an allocation of `size` bytes (4 classes per doubling)."""
    if size <= 8:
        return 8
    if size <= 128:
        return (size + 15) // 16 * 16
    step = 1 << (size - 1).bit_length() - 3
    return (size + step - 1) // step * step


def pairs_size(pairs: Iterable[bytes]) -> int:
    return sum(len(item) for item in pairs)


class StreamType(ValueType[StreamValue]):
    name = b"stream"
    redis_type = 6  # OBJ_STREAM
    tag = "stream"
    classes = (StreamValue,)

    def encoding(self, value: StreamValue) -> tuple[bytes, int]:
        return b"stream", 1

    def mix_digest(self, digest: bytes, value: StreamValue) -> bytes:
        # debug.c: each entry's "ms.seq", then its fields and values, in ID order.
        for (ms, seq), pairs in value.entries.items():
            digest = mix_digest(digest, b"%d.%d" % (ms, seq))
            for item in pairs:
                digest = mix_digest(digest, item)
        return digest

    def to_snapshot(self, value: StreamValue) -> Any:
        nodes = [
            [
                list(n.master),
                list(n.fields),
                n.live,
                [[ms, seq, pairs] for (ms, seq), pairs in n.dead],
                list(n.last),
                n.rest,
            ]
            for n in value.nodes.values()
        ]
        entries = [[ms, seq, pairs] for (ms, seq), pairs in value.entries.items()]
        groups = []
        for group in value.groups.values():
            consumers = [[c.name, c.seen_time] for c in group.consumers.values()]
            pel = [
                [ms, seq, n.consumer.name, n.delivery_time, n.delivery_count]
                for (ms, seq), n in group.pel.items()
            ]
            groups.append([group.name, list(group.last_id), group.entries_read, consumers, pel])
        return [
            list(value.last_id),
            list(value.first_id),
            list(value.max_deleted_id),
            value.entries_added,
            nodes,
            entries,
            groups,
        ]

    def from_snapshot(self, payload: Any) -> StreamValue:
        try:
            last, first, max_deleted, added, nodes, entries, groups = payload
            value = StreamValue()
            value.last_id, value.first_id = _id(last), _id(first)
            value.max_deleted_id = _id(max_deleted)
            value.entries_added = _int(added)
            for master, fields, live, dead, node_last, rest in nodes:
                node = StreamNode(_id(master), tuple(_bytes(f) for f in fields))
                node.live, node.last, node.rest = _int(live), _id(node_last), _int(rest)
                node.dead = [
                    (_id([ms, seq]), [_bytes(i) for i in pairs]) for ms, seq, pairs in dead
                ]
                node.deleted = len(node.dead)
                value.nodes[node.master] = node
            for ms, seq, pairs in entries:
                if type(pairs) is not list or len(pairs) % 2:
                    raise ValueError("stream entry")
                value.entries[_id([ms, seq])] = [_bytes(item) for item in pairs]
            for name, last_id, entries_read, consumers, pel in groups:
                group = Group(_bytes(name), _id(last_id), _int(entries_read))
                for consumer_name, seen in consumers:
                    group.create_consumer(_bytes(consumer_name), _int(seen))
                for ms, seq, owner, time, count in pel:
                    consumer = group.consumers[_bytes(owner)]
                    nack = Nack(consumer, _int(time), _int(count))
                    group.pel[_id([ms, seq])] = nack
                    consumer.pel[_id([ms, seq])] = nack
                value.groups[group.name] = group
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"stream payload: {error}") from None
        return value

    def duplicate(self, value: StreamValue) -> StreamValue:
        return self.from_snapshot(self.to_snapshot(value))

    def estimated_size(self, value: StreamValue) -> int:
        # object.c's objectComputeSize for streams: the rax, the first few listpacks'
        # allocations averaged over all but the last, the last one's (preallocated: 4096
        # bytes, as stream-node-max-bytes is by default), the groups' PELs and consumers.
        size: int = OBJECT_HEADER + STREAM_STRUCT + rax_memory(list(value.nodes))
        nodes = value.nodes
        if nodes:
            sampled = [allocated(node.size()) for node in islice(nodes.values(), SIZE_SAMPLES)]
            tail = allocated(max(nodes.peekitem(-1)[1].size(), LISTPACK_PREALLOC))
            if len(nodes) <= SIZE_SAMPLES:
                size += sum(sampled[:-1]) + tail
            else:
                size += sum(sampled) // len(sampled) * (len(nodes) - 1) + tail
        for group in value.groups.values():
            size += GROUP_STRUCT + rax_memory(list(group.pel)) + NACK_STRUCT * len(group.pel)
            for consumer in group.consumers.values():
                size += CONSUMER_STRUCT + len(consumer.name) + rax_memory(list(consumer.pel))
        return size

    def is_empty(self, value: StreamValue) -> bool:
        return False  # Redis keeps an empty stream


def _id(item: Any) -> StreamID:
    if type(item) is not list or len(item) != 2:
        raise TypeError("stream ID")
    ms, seq = item
    if type(ms) is not int or type(seq) is not int or not (0 <= ms <= U64_MAX >= seq >= 0):
        raise TypeError("stream ID")
    return (ms, seq)


def _int(item: Any) -> int:
    if type(item) is not int:
        raise TypeError("stream number")
    return item


def _bytes(item: Any) -> bytes:
    if type(item) is not bytes:
        raise TypeError("stream string")
    return item


STREAM: Final = register(StreamType())
